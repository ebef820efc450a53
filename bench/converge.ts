/**
 * One convergence run: a fresh population's inputs, an operator with the given flags, N bindings
 * created 16 at a time against it; a watch in the bench records each binding's first Ready=True.
 * Exactness is checked, not assumed: every binding Ready, exactly one managed ClusterSPIFFEID per
 * binding, a Reconciled event per binding.
 */
import { Informer } from "../apis/watch.ts";
import { delay, pollUntil } from "../tests/harness/poll.ts";
import type { Obj } from "../tests/resilience/model.ts";
import {
  diffCounts,
  type Operator,
  requestsByVerb,
  scrapeReviews,
  waitReady,
  writesOf,
} from "../tests/resilience/operator.ts";
import type { Clients } from "./clients.ts";
import {
  eventsDropped,
  requestsWithCode,
  rssNow,
  sampleOf,
  startBenchOperator,
} from "./operator.ts";
import { createAll, keyOf, parallel, type Population, population } from "./population.ts";
import { latencySummary, progress, round } from "./report.ts";

export function isReady(b: Obj): boolean {
  const st = b.status as { conditions?: { type: string; status: string }[] } | undefined;
  return st?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;
}

/** Reconciled events about the population's bindings (distinct bindings). */
async function reconciledEvents(c: Clients, p: Population): Promise<number> {
  const names = new Set<string>();
  for (const ns of p.namespaces) {
    const list = await c.events.list({ namespace: ns });
    for (const e of list.items) {
      const ev = e as Obj & { reason?: string; regarding?: { name?: string } };
      if (ev.reason === "Reconciled") names.add(`${ns}/${ev.regarding?.name}`);
    }
  }
  return names.size;
}

/** Bindings of `p` that have a managed ClusterSPIFFEID (by its binding labels). */
async function managedOf(c: Clients, p: Population): Promise<Set<string>> {
  const managed = new Set<string>();
  for (const ns of p.namespaces) {
    const list = await c.csids.list({ labelSelector: `kleym.sonda.red/binding-namespace=${ns}` });
    for (const o of list.items) {
      managed.add(`${ns}/${o.metadata.labels?.["kleym.sonda.red/binding-name"]}`);
    }
  }
  return managed;
}

/** Returns the operator (still running; also pushed on `ops`) and the measures. */
export async function convergeRun(
  label: string,
  admin: Clients,
  saKubeconfig: string,
  prefix: string,
  n: number,
  args: string[],
  ops: Operator[],
  v8Flags?: string,
): Promise<{ op: Operator; out: Record<string, unknown>; keys: string[] }> {
  const p = population(prefix, n);
  await createAll(admin, p, label);
  const op = startBenchOperator(saKubeconfig, args, v8Flags);
  ops.push(op);
  await waitReady(op, Date.now(), 120_000);
  const createdAt = new Map<string, number>();
  const readyAt = new Map<string, number>();
  const stop = new AbortController();
  const informer = new Informer<Obj>(admin.bindings);
  const onBinding = (b: Obj) => {
    const k = keyOf(b);
    if (!readyAt.has(k) && isReady(b)) readyAt.set(k, Date.now());
  };
  informer.addHandler({ onAdd: onBinding, onUpdate: (_, b) => onBinding(b) });
  const watching = informer.run(stop.signal);
  await informer.waitForSync();
  const beforeText = await op.metrics();
  const before = requestsByVerb(beforeText);
  const first = Date.now();
  const ticker = setInterval(() => {
    const ready = [...createdAt.keys()].filter((k) => readyAt.has(k)).length; // this population
    progress(`${label}: ${createdAt.size} created, ${ready}/${n} Ready`);
  }, 5000);
  const keys = p.bindings.map(keyOf);
  try {
    await parallel(p.bindings, 16, async (b) => {
      createdAt.set(keyOf(b), Date.now());
      await admin.bindings.create(b);
    });
    await pollUntil(`${label}: every binding Ready`, 30 * 60_000, () => {
      return keys.every((k) => readyAt.has(k));
    });
  } finally {
    clearInterval(ticker);
  }
  const last = Math.max(...keys.map((k) => readyAt.get(k)!));
  const seconds = (last - first) / 1000;
  const rss = await rssNow(op);
  stop.abort();
  await watching.catch(() => {});
  // Events are asynchronous: wait (bounded, then measured anyway) for an empty recorder buffer.
  await pollUntil(
    "event recorder buffer empty",
    120_000,
    async () => sampleOf(await op.metrics(), "kleym_events_buffered") === 0,
    200,
  ).catch(() => {});
  // The last write's answer: a fixed settling window before the counters are read (a measure).
  await delay(1000);
  const afterText = await op.metrics();
  const requests = diffCounts(requestsByVerb(afterText), before);
  const events = await reconciledEvents(admin, p);
  const managed = await managedOf(admin, p);
  const { p50, p95, p99 } = latencySummary(keys.map((k) => readyAt.get(k)! - createdAt.get(k)!));
  const out = {
    n,
    args,
    convergeSeconds: round(seconds),
    latencyMs: { p50, p95, p99 },
    requestsByVerb: requests,
    requestsPerBinding: round(Object.values(requests).reduce((a, b) => a + b, 0) / n, 3),
    writesPerBinding: round(writesOf(requests) / n, 3),
    throttled429: requestsWithCode(afterText, "429") - requestsWithCode(beforeText, "429"),
    scrapeReviews: scrapeReviews(afterText) - scrapeReviews(beforeText),
    reconciledEvents: events,
    eventsDropped: eventsDropped(afterText),
    bindingsWithOneClusterSPIFFEID: keys.filter((k) => managed.has(k)).length,
    managedClusterSPIFFEIDs: managed.size,
    errorLines: op.errorLines.length,
    logLevels: { ...op.levels },
    logNotices: { ...op.notices },
    ...rss,
  };
  progress(`${label}: ${JSON.stringify(out)}`);
  return { op, out, keys };
}
