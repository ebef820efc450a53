/**
 * Steady state (zero writes in steady state, docs/contract.md#ownership; no event for a no-op,
 * docs/contract.md#events), made deterministic by waiting until the operator has settled
 * (docs/testing.md): 50 bindings converge (Ready ones, and colliding pairs), then 10 seconds pass
 * in which the controller sends not a single write request (counted by its own request hook) and no
 * event appears.
 *
 * When the window opens (why no scheduling can put a legitimate write inside it):
 *   1. every binding's status has its final reason and the 40 ClusterSPIFFEIDs exist;
 *   2. every binding's newest event has that same reason (the controller writes a binding's event
 *      AFTER its status, so 1 alone can hold while the last event is still on its way);
 *   3. the controller has settled (tests/harness/settle.ts): queue depth 0 and in-flight 0 (its
 *      own gauges), no write request in flight in its transport, and an unchanged write counter
 *      over three reads in a row.
 * Each is a property of the API server's or the controller's state, not a duration: a slow
 * machine delays the window, it cannot open it early. The second case proves it by delaying every
 * event write of the controller (fault injected in its transport), which makes the last events land
 * well after status converged; the window still sees zero writes.
 */
import assert from "node:assert/strict";
import { testEnv } from "../harness/env.ts";
import { delay } from "../harness/poll.ts";
import { isEventWrite, waitSettled } from "../harness/settle.ts";
import {
  adminClients,
  apply,
  binding,
  type Clients,
  conditionOf,
  managedOf,
  objective,
  pollUntil,
  poolV1,
  type RunningController,
  startController,
} from "./reconcile_helpers.ts";

const K8S = "inference.networking.k8s.io";
/** The window length is the property under test ("10 seconds pass with zero writes"). */
const WINDOW_MS = 10_000;

/**
 * 20 PoolOnly bindings, 20 Ready PerObjective ones, 5 colliding pairs; name -> final reason.
 * pool-only-0 shares pool-0 and the service account with the 20 Ready PerObjective bindings: they
 * overlap (docs/contract.md#overlap), stay Ready in the default warn mode, and each gets a Warning
 * IdentityOverlap event once per change — so their newest event is `Reconciled` or
 * `IdentityOverlap` (`overlapping`), and the quiet window proves those warnings settle too.
 */
function scenario(
  ns: string,
): { objects: unknown[]; expected: Map<string, string>; overlapping: Set<string> } {
  const overlapping = new Set<string>(["pool-only-0"]);
  const objects: unknown[] = [];
  const expected = new Map<string, string>();
  for (let i = 0; i < 20; i++) {
    objects.push(poolV1(ns, `pool-${i}`, { app: `app-${i}` }));
    objects.push(
      binding(ns, `pool-only-${i}`, { poolRef: { name: `pool-${i}` }, mode: "PoolOnly" }),
    );
    expected.set(`pool-only-${i}`, "Reconciled");
  }
  for (let i = 0; i < 30; i++) {
    objects.push(objective(`${K8S}/v1`, ns, `objective-${i}`, { name: "pool-0" }));
    const container = i < 20 ? `c-${i}` : `pair-${Math.floor((i - 20) / 2)}`;
    objects.push(binding(ns, `per-objective-${i}`, {
      poolRef: { name: "pool-0" },
      objectiveRef: { name: `objective-${i}` },
      containerName: container,
    }));
    expected.set(`per-objective-${i}`, i < 20 ? "Reconciled" : "IdentityCollision");
    if (i < 20) overlapping.add(`per-objective-${i}`);
  }
  return { objects, expected, overlapping };
}

async function statusConverged(c: Clients, ns: string, expected: Map<string, string>) {
  const list = await c.bindings.list({ namespace: ns });
  if (list.items.length !== expected.size) return false;
  const done = list.items.every((b) =>
    conditionOf(b, "Ready")?.reason === expected.get(b.metadata.name ?? "")
  );
  return done && (await managedOf(c, ns)).length === 40;
}

async function eventsConverged(
  c: Clients,
  ns: string,
  expected: Map<string, string>,
  overlapping: Set<string>,
) {
  const newest = new Map<string, { at: string; reason?: string }>();
  for (const e of (await c.events.list({ namespace: ns })).items) {
    const name = e.regarding?.name ?? "";
    const at = String(e.eventTime);
    if ((newest.get(name)?.at ?? "") <= at) newest.set(name, { at, reason: e.reason });
  }
  return [...expected].every(([name, reason]) => {
    const got = newest.get(name)?.reason;
    return got === reason || (overlapping.has(name) && got === "IdentityOverlap");
  });
}

async function convergeThenStayQuiet(
  c: Clients,
  op: RunningController,
  ns: string,
  apply50: () => Promise<void>,
  expected: Map<string, string>,
  overlapping: Set<string>,
): Promise<void> {
  const start = performance.now();
  await apply50();
  await pollUntil("50 bindings' status converged", 120_000, () => statusConverged(c, ns, expected));
  const statusMs = Math.round(performance.now() - start);
  const eventWritesAtStatus = op.transport.writesInFlight();
  await pollUntil(
    "every binding's newest event",
    120_000,
    () => eventsConverged(c, ns, expected, overlapping),
  );
  await waitSettled("the controller", () => op.activity());
  const settledMs = Math.round(performance.now() - start);

  const eventsBefore = (await c.events.list({ namespace: ns })).items.length;
  const writesBefore = op.writes();
  const writeSummary = op.requests.snapshot()
    .filter((r) => r.verb !== "get" && r.verb !== "list" && r.verb !== "watch")
    .map((r) => `${r.verb} ${r.resource} ${r.code}: ${r.count}`).join("; ");
  await delay(WINDOW_MS);
  const writesDuring = op.writes() - writesBefore;
  const eventsAfter = (await c.events.list({ namespace: ns })).items.length;

  // Printed, not asserted: they depend on the machine.
  console.log(
    `  status converged after ${statusMs} ms (${eventWritesAtStatus} writes still in flight ` +
      `then), settled after ${settledMs} ms; ${writesBefore} writes (${writeSummary}); ` +
      `${writesDuring} writes and ${
        eventsAfter - eventsBefore
      } events in the ${WINDOW_MS} ms after`,
  );
  assert.equal(
    writesDuring,
    0,
    `writes in steady state: ${JSON.stringify(op.requests.snapshot())}`,
  );
  assert.equal(eventsAfter, eventsBefore, "events in steady state");
}

Deno.test("after 50 bindings converge and the controller settles, 10 seconds pass with zero writes and zero events", async (t) => {
  const env = await testEnv();
  const c = await adminClients(env.kubeconfigPath);
  const op = await startController(env.kubeconfigPath);
  try {
    const cases = [
      { name: "as the controller runs", eventDelayMs: 0 },
      // 500 ms per event write: the last events land seconds after the last status write.
      { name: "with every event write delayed by 500 ms", eventDelayMs: 500 },
    ];
    for (const { name, eventDelayMs } of cases) {
      await t.step(name, async () => {
        const ns = await env.newNamespace("steady");
        const { objects, expected, overlapping } = scenario(ns);
        assert.equal(expected.size, 50);
        op.transport.delayWhere(isEventWrite, eventDelayMs);
        try {
          await convergeThenStayQuiet(
            c,
            op,
            ns,
            () => apply(env.kubectl, ...objects),
            expected,
            overlapping,
          );
        } finally {
          op.transport.delayWhere(undefined, 0);
        }
      });
    }
  } finally {
    await op.stop();
    c.close();
  }
});
