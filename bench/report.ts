/** Small helpers every bench module shares: progress lines, rounding, percentiles, load. */

const t0 = Date.now();

/** Seconds since the bench process started. */
export const elapsedSeconds = () => (Date.now() - t0) / 1000;

/** A progress line on stderr (the result table goes to stdout). */
export function progress(msg: string): void {
  console.error(`[bench +${elapsedSeconds().toFixed(0).padStart(4)}s] ${msg}`);
}

export const round = (x: number, digits = 2) => Number(x.toFixed(digits));

export const percentile = (sorted: number[], q: number) =>
  sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];

/** p50 / p95 / p99 / max of unsorted samples. */
export function latencySummary(samples: number[]) {
  const s = [...samples].sort((a, b) => a - b);
  return {
    p50: percentile(s, 0.5),
    p95: percentile(s, 0.95),
    p99: percentile(s, 0.99),
    max: s[s.length - 1] ?? 0,
  };
}

/** The 1/5/15-minute load averages: the machine is shared, every figure carries them. */
export const loadavg = () => Deno.loadavg().map((x) => round(x));
