/** LATENCY_CREATES single creates one after the other on an idle cluster: create -> Ready. */
import { Informer } from "../apis/watch.ts";
import { delay, pollUntil } from "../tests/harness/poll.ts";
import type { Obj } from "../tests/resilience/model.ts";
import type { Clients } from "./clients.ts";
import { LATENCY_CREATES } from "./config.ts";
import { isReady } from "./converge.ts";
import { binding, createNamespace, pool } from "./population.ts";
import { latencySummary, progress } from "./report.ts";

export async function singleCreates(admin: Clients): Promise<Record<string, unknown>> {
  const ns = "bench-latency";
  await createNamespace(admin, ns);
  for (let i = 0; i < LATENCY_CREATES; i++) {
    await admin.pools.create(pool(ns, `pool-${i}`, { app: `single-${i}` }));
  }
  const stop = new AbortController();
  const ready = new Map<string, number>();
  const informer = new Informer<Obj>(admin.bindings, { namespace: ns });
  const on = (b: Obj) => {
    if (!ready.has(b.metadata.name ?? "") && isReady(b)) {
      ready.set(b.metadata.name ?? "", Date.now());
    }
  };
  informer.addHandler({ onAdd: on, onUpdate: (_, b) => on(b) });
  const watching = informer.run(stop.signal);
  await informer.waitForSync();
  await delay(2000); // idle: nothing in flight when the first create goes out
  const latencies: number[] = [];
  for (let i = 0; i < LATENCY_CREATES; i++) {
    const name = `single-${i}`;
    const t = Date.now();
    await admin.bindings.create(
      binding(ns, name, { poolRef: { name: `pool-${i}` }, mode: "PoolOnly" }),
    );
    // Polled every 1 ms: the latency itself is the measure.
    await pollUntil(`${name} Ready`, 60_000, () => ready.has(name), 1);
    latencies.push(ready.get(name)! - t);
  }
  stop.abort();
  await watching.catch(() => {});
  const { p50, p99, max } = latencySummary(latencies);
  const out = { creates: LATENCY_CREATES, p50Ms: p50, p99Ms: p99, maxMs: max };
  progress(`single creates: ${JSON.stringify(out)}`);
  return out;
}
