/**
 * The operator as a separate process for the resilience suite and the benchmarks: the one handle of
 * tests/harness/operator.ts at `--log-level=info` with bounded logs (counts by level, the last
 * lines, the first error lines), so a long run cannot grow the test process without limit; plus
 * the request-count helpers and the seeded PRNG both use.
 */
export {
  applyDeploy,
  operatorPermissions,
  serviceAccountKubeconfig,
  TRUST_DOMAIN,
  waitReady,
} from "../harness/operator.ts";
import { type MetricsScraper, type OperatorProcess, spawnOperator } from "../harness/operator.ts";
export type { LogRecord as LogLine } from "../harness/operator.ts";

/** The operator process as the long runs need it: info level, bounded logs, RSS readable. */
export type Operator = OperatorProcess;

/**
 * `v8Flags`: see `OperatorSpawnOptions.v8Flags` (bench/v8flags.ts compares flag sets).
 * `secureMetrics`: /metrics as shipped (HTTPS, reviewed scrapes); the benchmarks measure that.
 */
export function startOperator(
  kubeconfig: string,
  extra: string[] = [],
  v8Flags?: string,
  secureMetrics?: MetricsScraper,
  root?: string,
): Operator {
  return spawnOperator({
    name: "kleym-resilience",
    kubeconfig,
    args: extra,
    logLevel: "info",
    logs: "bounded",
    v8Flags,
    secureMetrics,
    root,
  });
}

export { requestsByVerb, scrapeReviews, WRITE_VERBS, writesOf } from "../harness/metrics.ts";

/** Series-by-series difference of two `requestsByVerb` results. */
export function diffCounts(
  after: Record<string, number>,
  before: Record<string, number>,
): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(after)) {
    const d = v - (before[k] ?? 0);
    if (d !== 0) out[k] = d;
  }
  return out;
}

/** Seeded PRNG (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6D2B79F5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
