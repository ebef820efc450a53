/**
 * Fail static on a fault, and no dead connection unnoticed (docs/contract.md#fail-static,
 * docs/contract.md#dead-connections), with faults injected in front of the in-process
 * controller's transport (tests/harness/faults.ts) on the run's real API server:
 *
 * - 60 s of 503 for the legacy discovery document of `inference.networking.k8s.io/v1` (the
 *   controller walking legacy discovery), then 60 s of aggregated discovery bent in turn (that
 *   group-version Stale, the whole `/apis` answering 503, the group-version left out), while
 *   bindings on that group-version are Ready: no ClusterSPIFFEID is deleted, no status changes;
 * - every LIST and watch of InferencePools answering 503 and 429 in turn for 30 s: nothing
 *   changes either, the failures are logged at warn once per kind, the cache stays synced;
 * - a watch on InferencePools that stalls without closing: a pool change made during the stall
 *   reaches its binding within the idle limit plus one reconcile.
 *
 * A CRD really removed still gives `*CRDMissing`: tests/integration/reconcile_crds_test.ts.
 * The 60 s windows are the property itself ("for 60 s nothing changes"), hence `delay`.
 */
import assert from "node:assert/strict";
import { testEnv } from "../harness/env.ts";
import { Faults } from "../harness/faults.ts";
import { delay } from "../harness/poll.ts";
import { waitSettled } from "../harness/settle.ts";
import {
  type Clients as OracleClients,
  clients,
  compare,
  snapshot,
} from "../resilience/contract.ts";
import {
  adminClients,
  apply,
  binding,
  type Clients,
  managedOf,
  objective,
  pollUntil,
  poolV1,
  type RunningController,
  startController,
} from "./reconcile_helpers.ts";

const GV = "inference.networking.k8s.io/v1";
const WINDOW_MS = 60_000;
/** Short, so the stall test is quick; documented default: 150 s (docs/operations.md). */
const IDLE_MS = 5_000;

/** What must not move during a fault: every binding's and managed object's resourceVersion. */
async function fingerprint(c: Clients, ns: string): Promise<string[]> {
  const bindings = await c.bindings.list({ namespace: ns });
  const csids = await managedOf(c, ns);
  return [
    ...bindings.items.map((b) => `binding ${b.metadata.name} rv ${b.metadata.resourceVersion}`),
    ...csids.map((o) =>
      `csid ${o.metadata.name} ${o.metadata.uid} rv ${o.metadata.resourceVersion}`
    ),
  ].sort();
}

async function assertExact(o: OracleClients, ns: string): Promise<void> {
  let last: string[] = ["not checked"];
  try {
    await pollUntil(`${ns} holds exactly the contract`, 60_000, async () => {
      last = compare(await snapshot(o, [ns]));
      return last.length === 0;
    });
  } catch (error) {
    throw new Error(`${error}:\n  ${last.slice(0, 10).join("\n  ")}`);
  }
}

const csidDeletes = (op: RunningController) =>
  op.requests.count({ verb: "delete", resource: "clusterspiffeids" });

/** A fault window: settled first, then `WINDOW_MS` with nothing changed and nothing deleted. */
async function faultWindow(
  c: Clients,
  op: RunningController,
  ns: string,
  what: string,
  inject: () => void,
  lift: () => void,
  windowMs = WINDOW_MS,
): Promise<void> {
  await waitSettled(`settled before ${what}`, () => op.activity());
  const before = await fingerprint(c, ns);
  const deletes = csidDeletes(op);
  const writes = op.writes();
  inject();
  try {
    await delay(windowMs);
  } finally {
    lift();
  }
  assert.equal(csidDeletes(op), deletes, `no ClusterSPIFFEID deleted during ${what}`);
  assert.deepEqual(await fingerprint(c, ns), before, `nothing changed during ${what}`);
  console.log(`  ${what}: ${op.writes() - writes} writes by the controller (any namespace)`);
}

Deno.test("discovery faults and a stalled watch change no output and no status; a change during the stall still arrives", async (t) => {
  const env = await testEnv();
  const c = await adminClients(env.kubeconfigPath);
  const o = await clients(env.kubeconfigPath);
  const faults = new Faults();
  faults.legacyDiscovery = true;
  const op = await startController(env.kubeconfigPath, {
    crdRetryMs: 2_000, // discovery is read every 2 s: ~30 faulty reads per window
    watchIdleMs: IDLE_MS,
    syncPeriodMs: 600_000, // no resync can explain what the stall test sees
    transport: faults.wrap,
  });
  const ns = await env.newNamespace("faults");
  try {
    await apply(
      env.kubectl,
      poolV1(ns, "p", { app: "m" }),
      objective("inference.networking.k8s.io/v1", ns, "o", { name: "p" }),
      binding(ns, "pool-only", { poolRef: { name: "p" }, mode: "PoolOnly" }),
      binding(ns, "per-objective", {
        poolRef: { name: "p" },
        objectiveRef: { name: "o" },
        containerName: "main",
      }),
    );
    await assertExact(o, ns);

    await t.step(
      "legacy discovery: the group-version's document answers 503 for 60 s",
      async () => {
        await faultWindow(c, op, ns, "legacy 503", () => {
          faults.failGroupVersion = GV;
        }, () => {
          faults.failGroupVersion = undefined;
        });
        assert.ok(faults.injected.gv503 > 0, "the controller read the failing document");
        await assertExact(o, ns);
      },
    );

    await t.step("aggregated discovery: Stale, 503, left out, in turn for 60 s", async () => {
      faults.legacyDiscovery = false;
      await faultWindow(c, op, ns, "aggregated faults", () => {
        faults.aggregatedFault = GV;
      }, () => {
        faults.aggregatedFault = undefined;
      });
      const { stale, root503, omitted } = faults.injected;
      assert.ok(stale > 0 && root503 > 0 && omitted > 0, JSON.stringify(faults.injected));
      await assertExact(o, ns);
    });

    await t.step(
      "every pool LIST and watch answering 503 / 429 for 30 s: nothing changes, one warn per kind",
      async () => {
        const prefix = `/apis/${GV}/inferencepools`;
        const firstLog = op.logs.length;
        await faultWindow(c, op, ns, "pool requests failing", () => {
          faults.failRequests = prefix;
          faults.stallWatches(prefix); // the open watch goes quiet: reopened into the fault
        }, () => {
          faults.failRequests = undefined;
        }, 30_000);
        assert.ok(faults.injected.failed > 0, "the controller met the fault");
        const failures = op.logs.slice(firstLog).filter((l) =>
          l.resource === "pools.v1" && String(l.msg).startsWith("list/watch failed")
        );
        const warned = failures.filter((l) => l.level === "warn").map((l) => String(l.kind));
        assert.deepEqual(warned, [...new Set(warned)], "at most one warn line per kind");
        assert.ok(warned.some((k) => k.startsWith("HTTP 503")), JSON.stringify(warned));
        console.log(
          `  ${failures.length} pool list/watch failures logged, ${warned.length} at warn`,
        );
        assert.match(
          op.metrics.expose(),
          /kleym_informer_synced\{resource="pools.v1"\} 1/,
          "the cache stayed synced",
        );
        await pollUntil(
          "the pool watch recovered",
          60_000,
          () =>
            op.logs.slice(firstLog).some((l) =>
              l.resource === "pools.v1" && l.msg === "list/watch recovered"
            ),
        );
        await apply(env.kubectl, poolV1(ns, "p", { app: "m4" }));
        await assertExact(o, ns);
      },
    );

    await t.step("a stalled pool watch: a change made during the stall arrives", async () => {
      await waitSettled("settled before the stall", () => op.activity());
      const [before] = await managedOf(c, ns, "pool-only");
      const deletes = csidDeletes(op);
      const stalled = faults.stallWatches(`/apis/${GV}/inferencepools`);
      assert.ok(stalled > 0, "a pool watch was open to stall");
      const changed = performance.now();
      await apply(env.kubectl, poolV1(ns, "p", { app: "m3" }));
      await pollUntil("the pool change reaches the binding", 60_000, async () => {
        const [object] = await managedOf(c, ns, "pool-only");
        return object?.spec.podSelector?.matchLabels?.app === "m3";
      });
      const latency = performance.now() - changed;
      console.log(`  pool change reached the binding ${Math.round(latency)} ms after it was made`);
      // Only the idle reopen explains this: the server's watch timeout is >= 300 s and the
      // resync 10 min; the bound is the idle limit plus a generous allowance for one reconcile.
      assert.ok(latency < IDLE_MS + 15_000, `${latency} ms`);
      const [after] = await managedOf(c, ns, "pool-only");
      assert.equal(after.metadata.uid, before.metadata.uid, "updated in place");
      assert.equal(csidDeletes(op), deletes, "nothing deleted");
      await assertExact(o, ns);
    });
  } finally {
    await op.stop();
    c.close();
    o.close();
  }
});
