/**
 * Racing a foreign writer (docs/contract.md#ownership, docs/contract.md#status,
 * docs/contract.md#lifecycle: status never claims what the cluster does not hold; drift is repaired
 * within seconds): the operator runs as a process (exact permissions, deploy.yaml's ServiceAccount)
 * while another client writes to its ClusterSPIFFEIDs within milliseconds of kleym's own writes
 * (tests/resilience/fast_writer.ts), or while a second operator process without leader election
 * contends for the same bindings. After the foreign actor stops, the cluster must equal the
 * independent model (tests/resilience/model.ts) — every binding's five conditions and status
 * identity, every managed ClusterSPIFFEID's full spec, labels and annotation, none missing, no
 * orphan — and the operator must not have restarted. The repair must come from the watch: the
 * operators run with a sync period far longer than the test, so no resync can do it. How fast it
 * comes depends on the machine: the deadline is a generous failure bound, the time each round took
 * is printed.
 *
 * Each round's binding is new, in a namespace of its own (with its pool, and objective when
 * PerObjective), so every round is a fresh create that the writer races and a failed round cannot
 * fail the next. Rounds pass or fail one by one (`t.step`); the test wants 20/20.
 */
import assert from "node:assert/strict";
import { type Clients, clients, compare, snapshot } from "../resilience/contract.ts";
import { FastForeignWriter, type FastWriterMode } from "../resilience/fast_writer.ts";
import {
  applyDeploy,
  type OperatorProcess,
  pollUntil,
  serviceAccountKubeconfig,
  startOperator,
  tempDir,
  testEnv,
} from "./operator_support.ts";
import { apply, binding, objective, poolV1 } from "./reconcile_helpers.ts";

const ROUNDS = 20;
/**
 * A failure bound, not a measurement: generous for a loaded machine (docs/testing.md), and far
 * below `SYNC_PERIOD`, so a repair within it was made by the watch, not a resync.
 */
const REPAIR_DEADLINE_MS = 60_000;
/** No resync during the test: only the watch of the managed objects can repair them. */
const SYNC_PERIOD = "--sync-period=1h";
/** How long the writer may take to see its target (creation under a loaded machine). */
const ACT_DEADLINE_MS = 60_000;

/** Round `i`'s inputs: even rounds PerObjective, odd rounds PoolOnly. */
function roundObjects(ns: string, i: number): unknown[] {
  const pool = poolV1(ns, `pool-${i}`, { app: `app-${i}` });
  if (i % 2 === 1) {
    return [pool, binding(ns, `b-${i}`, { poolRef: { name: `pool-${i}` }, mode: "PoolOnly" })];
  }
  return [
    pool,
    objective("inference.networking.k8s.io/v1", ns, `objective-${i}`, { name: `pool-${i}` }),
    binding(ns, `b-${i}`, {
      poolRef: { name: `pool-${i}` },
      objectiveRef: { name: `objective-${i}` },
      containerName: "main",
    }),
  ];
}

/**
 * Polls until the namespaces equal the model and each binding in `mustExist` has a managed
 * ClusterSPIFFEID (the model says so too; this names the failure plainly); else throws with the
 * differences.
 */
async function contractHolds(
  c: Clients,
  namespaces: string[],
  deadlineMs: number,
  what: string,
  mustExist: string[] = [],
): Promise<void> {
  let last: string[] = ["not checked"];
  try {
    await pollUntil(what, deadlineMs, async () => {
      const s = await snapshot(c, namespaces);
      last = compare(s);
      for (const name of mustExist) {
        const owned = s.csids.some((o) =>
          o.metadata.labels?.["kleym.sonda.red/binding-name"] === name
        );
        if (!owned) last.push(`${name}: no managed ClusterSPIFFEID`);
      }
      return last.length === 0;
    }, 50);
  } catch (error) {
    throw new Error(`${error}:\n  ${last.slice(0, 20).join("\n  ")}`);
  }
}

async function operatorFixture(): Promise<{ kubeconfig: string }> {
  const env = await testEnv();
  await applyDeploy(env);
  return { kubeconfig: await serviceAccountKubeconfig(env, await tempDir()) };
}

async function started(op: OperatorProcess): Promise<void> {
  await op.waitForLog((l) => l.msg === "controller started", 60_000, "controller started");
}

function assertNoRestart(op: OperatorProcess): void {
  assert.equal(op.exitCode, undefined, `${op.name} exited (${op.exitCode})`);
  assert.equal(op.logs.filter((l) => l.msg === "controller started").length, 1);
}

async function racedRounds(t: Deno.TestContext, mode: FastWriterMode, prefix: string) {
  const env = await testEnv();
  const { kubeconfig } = await operatorFixture();
  const c = await clients(env.kubeconfigPath);
  const op = startOperator({ name: `${prefix}-operator`, kubeconfig, args: [SYNC_PERIOD] });
  // One namespace per round: a failed round cannot fail the next ones.
  const namespaces: string[] = [];
  // An edit races kleym's *update*: wait for the edit that follows kleym's first repair.
  const actsPerRound = mode === "delete" ? 1 : 2;
  let passed = 0;
  const reactions: number[] = [];
  const repairs: number[] = [];
  try {
    await started(op);
    for (let i = 0; i < ROUNDS; i++) {
      const ok = await t.step(
        `round ${i + 1}: b-${i} (${i % 2 ? "PoolOnly" : "PerObjective"})`,
        async () => {
          const ns = await env.newNamespace(`${prefix}-${i}`);
          namespaces.push(ns);
          const writer = new FastForeignWriter(c.csids, {
            mode,
            selector: `kleym.sonda.red/binding-namespace=${ns}`,
          });
          await writer.start();
          try {
            await apply(env.kubectl, ...roundObjects(ns, i));
            await pollUntil(
              `the ${mode} writer hit b-${i}'s ClusterSPIFFEID ${actsPerRound}x`,
              ACT_DEADLINE_MS,
              () => writer.actedOn(`${ns}/b-${i}`) >= actsPerRound,
              20,
            );
          } finally {
            await writer.stop();
          }
          const r = writer.reaction();
          if (r) reactions.push(r.medianMs);
          const stopped = Date.now();
          await contractHolds(
            c,
            [ns],
            REPAIR_DEADLINE_MS,
            `round ${i + 1}: exact ClusterSPIFFEIDs and Ready=True after the ${mode} writer's stop`,
            [`b-${i}`],
          );
          repairs.push(Date.now() - stopped);
          assertNoRestart(op);
        },
      );
      if (ok) passed++;
    }
    console.log(
      `${mode} writer: ${passed}/${ROUNDS} rounds repaired, in ${
        repairs.sort((a, b) => a - b).join("/")
      } ms after the writer stopped; ` +
        `its writes answered ${
          reactions.sort((a, b) => a - b).map((ms) => ms.toFixed(0)).join("/")
        } ms (per-round medians) after the watch event`,
    );
    assert.equal(passed, ROUNDS);
    // Later rounds left the earlier ones alone.
    await contractHolds(c, namespaces, REPAIR_DEADLINE_MS, "every round's binding still holds");
  } finally {
    await op.stop();
    c.close();
  }
}

Deno.test("a client deleting every new managed ClusterSPIFFEID on its ADDED event: after it stops, the watch repairs every binding, 20/20 rounds, without restart", async (t) => {
  await racedRounds(t, "delete", "race-delete");
});

Deno.test("a client overwriting kleym's fields on every ADDED/MODIFIED: after it stops, the watch repairs every binding, 20/20 rounds, without restart", async (t) => {
  await racedRounds(t, "edit", "race-edit");
});

Deno.test("two operators without leader election contend for up to 10 s; after one is killed, the survivor converges to exactly the contract", async () => {
  const env = await testEnv();
  const { kubeconfig } = await operatorFixture();
  const c = await clients(env.kubeconfigPath);
  const ns = await env.newNamespace("contend");
  const a = startOperator({ name: "contend-a", kubeconfig, args: [SYNC_PERIOD] });
  const b = startOperator({ name: "contend-b", kubeconfig, args: [SYNC_PERIOD] });
  try {
    await Promise.all([started(a), started(b)]);
    const objects: unknown[] = [];
    for (let i = 0; i < 8; i++) objects.push(...roundObjects(ns, i));
    // A second objective per pool, so flipping a ref (or the mode) renames the identity.
    for (let i = 0; i < 8; i++) {
      objects.push(
        objective("inference.networking.k8s.io/v1", ns, `objective-${i}-alt`, {
          name: `pool-${i}`,
        }),
      );
    }
    await apply(env.kubectl, ...objects);

    // 10 s of contention: every binding flips between two identities about 10 times a second
    // (objective A <-> B; PoolOnly <-> PerObjective), each flip renaming its ClusterSPIFFEID, so
    // each operator keeps deleting what the other has just created. The pause paces the flips;
    // nothing waits on it.
    const begun = Date.now();
    const end = begun + 10_000;
    let stopped = false;
    const going = () => !stopped && Date.now() < end;
    let changes = 0;
    const flipper = async (i: number) => {
      for (let flip = false; going(); flip = !flip) {
        const spec = i % 2 === 0
          ? { objectiveRef: { name: flip ? `objective-${i}-alt` : `objective-${i}` } }
          : flip
          ? {
            mode: "PerObjective",
            objectiveRef: { name: `objective-${i}-alt` },
            containerName: "c",
          }
          : { mode: "PoolOnly", objectiveRef: null, containerName: null };
        await c.bindings.patch(`b-${i}`, "merge", { spec }, { namespace: ns });
        changes++;
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    // Meanwhile new bindings keep arriving: an operator whose bindings watch lags sees the other's
    // fresh ClusterSPIFFEID first and removes it as an orphan, milliseconds after its creation.
    let created = 0;
    const creator = async () => {
      while (going()) {
        await c.bindings.create(
          binding(ns, `new-${created}`, {
            poolRef: { name: `pool-${created % 8}` },
            mode: "PoolOnly",
          }),
          { namespace: ns },
        );
        created++;
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    // One operator is stopped the hard way at the worst moment we can see: right after it removed
    // a live binding's ClusterSPIFFEID as an orphan (no binding is deleted here, so every such
    // removal is one), before it can put it back; if that never happens, when the 10 s are over.
    // Whatever it did last is the survivor's to put right.
    const ORPHAN = "deleted orphaned ClusterSPIFFEID (its binding is gone)";
    const removedOrphan = (op: OperatorProcess) => op.logs.some((l) => l.msg === ORPHAN);
    let trigger = "the end of the 10 s";
    const killer = async () => {
      const victim = await pollUntil(
        "an operator removes a live binding's ClusterSPIFFEID as an orphan",
        end - Date.now(),
        () => [a, b].find(removedOrphan),
        2,
      ).then((op) => {
        trigger = `+${Date.now() - begun} ms, right after it removed a live binding's ` +
          "ClusterSPIFFEID as an orphan";
        return op;
      }, () => a);
      victim.kill("SIGKILL");
      stopped = true;
      return victim;
    };
    const [victim] = await Promise.all([
      killer(),
      creator(),
      ...Array.from({ length: 8 }, (_, i) => flipper(i)),
    ]);
    const survivor = victim === a ? b : a;
    assert.equal(await victim.exited, 137);
    // "reconciled" is logged only by a reconcile that wrote.
    const wrote = (op: OperatorProcess) => op.logs.filter((l) => l.msg === "reconciled").length;
    console.log(
      `contention: ${changes} binding changes and ${created} new bindings; killed ${victim.name} at ${trigger}; ` +
        `reconciles that wrote: a ${wrote(a)}, b ${wrote(b)}`,
    );
    assert.ok(
      removedOrphan(victim) || (wrote(a) > 0 && wrote(b) > 0),
      "the operators contended (both wrote, or one removed the other's fresh object)",
    );

    await contractHolds(
      c,
      [ns],
      REPAIR_DEADLINE_MS,
      "the survivor converges to the contract after the other's exit",
    );
    assertNoRestart(survivor);
  } finally {
    await Promise.all([a.stop(), b.stop()]);
    c.close();
  }
});
