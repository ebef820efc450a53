/**
 * The operator as the bench runs it (as shipped: deploy.yaml's ServiceAccount, exactly its
 * permissions and V8 flags, /metrics over HTTPS with reviewed scrapes) and what the bench reads
 * from it: its queue, its counters, its memory, how fast it answers /healthz.
 */
import type { ControlPlane } from "../tests/harness/controlplane.ts";
import { apiRequests, sample } from "../tests/harness/metrics.ts";
import { type MetricsScraper, metricsScraper } from "../tests/harness/operator.ts";
import { delay, pollUntil } from "../tests/harness/poll.ts";
import {
  applyDeploy,
  type Operator,
  serviceAccountKubeconfig,
  startOperator,
} from "../tests/resilience/operator.ts";

/** The scraper of each control plane's operators, by their kubeconfig (`deployAsServiceAccount`). */
const scrapers = new Map<string, MetricsScraper>();

/** deploy.yaml's RBAC applied; a kubeconfig that authenticates as its ServiceAccount. */
export async function deployAsServiceAccount(cp: ControlPlane): Promise<string> {
  await applyDeploy(cp.kubectl);
  const kubeconfig = await serviceAccountKubeconfig(
    cp.kubectl,
    cp.server,
    cp.caPem,
    `${cp.dir}/kubeconfig-kleym`,
  );
  scrapers.set(kubeconfig, await metricsScraper(cp.kubectl, "kleym-system", cp.dir));
  return kubeconfig;
}

/** The scraper `deployAsServiceAccount` made for this kubeconfig's control plane. */
export const scraperOf = (saKubeconfig: string) => scrapers.get(saKubeconfig);

/**
 * The operator as shipped: /metrics over HTTPS with every scrape reviewed by the API server, so
 * its memory includes the TLS server. The reviews (at most two per 10 s of scraping) are not the
 * operator's writes: `requestsByVerb` leaves them out and the results report them apart.
 */
export function startBenchOperator(
  saKubeconfig: string,
  args: string[] = [],
  v8Flags?: string,
): Operator {
  return startOperator(saKubeconfig, args, v8Flags, scrapers.get(saKubeconfig));
}

/** A sample without labels (NaN when absent). */
export const sampleOf = (text: string, name: string): number => sample(text, name) ?? NaN;

/** Sum of every series of `name` (any labels). */
export function sumOf(text: string, name: string): number {
  let n = 0;
  for (const m of text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, "gm"))) {
    n += Number(m[1]);
  }
  return n;
}

/** Sum of `kleym_api_requests_total` samples with `code`. */
export const requestsWithCode = (text: string, code: string): number =>
  apiRequests(text).filter((r) => r.code === code).reduce((n, r) => n + r.count, 0);

/** Event writes (creates and series patches) the operator made. */
export const eventsWritten = (text: string): number => sumOf(text, "kleym_events_written_total");

/** `kleym_events_dropped_total` by reason. */
export function eventsDropped(text: string): Record<string, number> {
  return Object.fromEntries(
    [...text.matchAll(/^kleym_events_dropped_total\{reason="([^"]+)"\} (\S+)$/gm)].map((m) => [
      m[1],
      Number(m[2]),
    ]),
  );
}

/** Waits until the operator reconciled at least `keys` keys and its queue is empty; ms taken. */
export async function initialPass(op: Operator, keys: number, deadlineMs: number): Promise<number> {
  const start = Date.now();
  await pollUntil(`initial pass of ${keys} keys`, deadlineMs, async () => {
    const text = await op.metrics();
    const depth = sampleOf(text, "kleym_workqueue_depth");
    const reconciles = sample(text, "kleym_reconcile_duration_seconds_count") ?? 0;
    return reconciles >= keys && depth === 0;
  }, { intervalMs: 200, exited: op.exited });
  return Date.now() - start;
}

/**
 * Polls `/healthz` every 100 ms until `stop` aborts; resolves with the slowest answer in ms. A
 * slow answer means the operator's single JavaScript thread was busy (not the network: loopback).
 */
export async function slowestHealthz(op: Operator, stop: AbortSignal): Promise<number> {
  const url = `${await op.healthUrl()}/healthz`;
  let worst = 0;
  while (!stop.aborted) {
    const t = Date.now();
    try {
      const r = await fetch(url, { signal: stop });
      await r.body?.cancel();
    } catch { /* stopped, or not listening yet */ }
    if (!stop.aborted) worst = Math.max(worst, Date.now() - t);
    await delay(100, stop).catch(() => {});
  }
  return worst;
}

/** RSS from /proc and from the operator's own /metrics, read back to back. */
export async function rssNow(op: Operator): Promise<Record<string, number>> {
  const proc = op.memory();
  const metricsRss = sampleOf(await op.metrics(), "process_resident_memory_bytes");
  return { procRssBytes: proc.rss, metricsRssBytes: metricsRss, procPeakRssBytes: proc.hwm };
}
