/**
 * Churn: CHURN_POOLS shared pools with CHURN_PER_POOL bindings each (half PoolOnly, half
 * PerObjective with distinct containers); CHURN_RATE merge patches per second for CHURN_SECONDS,
 * each bumping a `rev` label in a random pool's selector. A change is done when every binding of
 * its pool has a ClusterSPIFFEID carrying that rev or a later one (the work queue legitimately
 * collapses a burst of changes to one reconcile per binding).
 */
import { Informer } from "../apis/watch.ts";
import { delay, paced, pollUntil } from "../tests/harness/poll.ts";
import type { Obj } from "../tests/resilience/model.ts";
import {
  diffCounts,
  type Operator,
  requestsByVerb,
  rng,
  writesOf,
} from "../tests/resilience/operator.ts";
import type { Clients } from "./clients.ts";
import { CHURN_PER_POOL, CHURN_POOLS, CHURN_RATE, CHURN_SECONDS, SEED } from "./config.ts";
import { binding, createNamespace, objective, pool } from "./population.ts";
import { latencySummary, progress, round } from "./report.ts";

/** The shared pools and their bindings; which pool each binding is on. */
async function createShared(admin: Clients, ns: string): Promise<Map<string, number>> {
  await createNamespace(admin, ns);
  const poolOf = new Map<string, number>();
  for (let p = 0; p < CHURN_POOLS; p++) {
    await admin.pools.create(pool(ns, `shared-${p}`, { app: `shared-${p}`, rev: "0" }));
    for (let j = 0; j < CHURN_PER_POOL; j++) {
      const name = `s${p}-${j}`;
      poolOf.set(name, p);
      if (j % 2 === 0) {
        await admin.bindings.create(
          binding(ns, name, { poolRef: { name: `shared-${p}` }, mode: "PoolOnly" }),
        );
      } else {
        await admin.objectives.create(objective(ns, `o-${name}`, `shared-${p}`));
        await admin.bindings.create(binding(ns, name, {
          poolRef: { name: `shared-${p}` },
          objectiveRef: { name: `o-${name}` },
          containerName: `c${j}`,
        }));
      }
    }
  }
  return poolOf;
}

export async function churn(admin: Clients, op: Operator): Promise<Record<string, unknown>> {
  const ns = "bench-churn";
  const poolOf = await createShared(admin, ns);
  // Per binding: the highest rev its ClusterSPIFFEID carries.
  const revOf = new Map<string, number>();
  const pending: { pool: number; rev: number; at: number }[] = [];
  const latencies: number[] = [];
  const stop = new AbortController();
  const informer = new Informer<Obj>(admin.csids, {
    labelSelector: `kleym.sonda.red/binding-namespace=${ns}`,
  });
  const settle = () => {
    for (let p = 0; p < CHURN_POOLS; p++) {
      let min = Infinity;
      for (const [b, bp] of poolOf) if (bp === p) min = Math.min(min, revOf.get(b) ?? -1);
      for (let i = pending.length - 1; i >= 0; i--) {
        if (pending[i].pool === p && pending[i].rev <= min) {
          latencies.push(Date.now() - pending[i].at);
          pending.splice(i, 1);
        }
      }
    }
  };
  const onCsid = (o: Obj) => {
    const b = o.metadata.labels?.["kleym.sonda.red/binding-name"] ?? "";
    const spec = o.spec as { podSelector?: { matchLabels?: Record<string, string> } };
    const rev = Number(spec.podSelector?.matchLabels?.rev ?? -1);
    if (rev > (revOf.get(b) ?? -1)) revOf.set(b, rev);
    settle();
  };
  informer.addHandler({ onAdd: onCsid, onUpdate: (_, o) => onCsid(o) });
  const run = informer.run(stop.signal);
  const total = CHURN_POOLS * CHURN_PER_POOL;
  await pollUntil(
    "churn bindings Ready",
    600_000,
    () => [...poolOf.keys()].every((b) => (revOf.get(b) ?? -1) >= 0),
    200,
  );
  await delay(2000); // a quiet start: the setup's last writes are not counted as churn
  progress(
    `churn: ${total} bindings on ${CHURN_POOLS} shared pools ready; ${CHURN_RATE} updates/s for ${CHURN_SECONDS} s`,
  );
  const before = requestsByVerb(await op.metrics());
  const random = rng(SEED);
  const revs = new Array(CHURN_POOLS).fill(0);
  const start = Date.now();
  const changes = await paced(start, CHURN_RATE, start + CHURN_SECONDS * 1000, async (i) => {
    const p = Math.floor(random() * CHURN_POOLS);
    const rev = ++revs[p];
    const at = Date.now();
    await admin.pools.patch(`shared-${p}`, "merge", {
      spec: { selector: { matchLabels: { rev: String(rev) } } },
    }, { namespace: ns });
    pending.push({ pool: p, rev, at });
    if (i % (CHURN_RATE * 10) === 0) progress(`churn: ${i + 1} changes, ${pending.length} pending`);
  });
  const drainStart = Date.now();
  await pollUntil("every churn change landed", 600_000, () => pending.length === 0);
  const drainSeconds = (Date.now() - drainStart) / 1000;
  await delay(2000); // the last writes' answers reach the counters
  const req = diffCounts(requestsByVerb(await op.metrics()), before);
  stop.abort();
  await run.catch(() => {});
  const out = {
    seconds: CHURN_SECONDS,
    ratePerSecond: CHURN_RATE,
    pools: CHURN_POOLS,
    bindingsPerPool: CHURN_PER_POOL,
    changes,
    latencyMs: latencySummary(latencies),
    drainSecondsAfterLastChange: round(drainSeconds),
    requestsByVerb: req,
    requestsPerChange: round(Object.values(req).reduce((a, b) => a + b, 0) / changes),
    writesPerChange: round(writesOf(req) / changes),
  };
  progress(`churn: ${JSON.stringify(out)}`);
  return out;
}
