/**
 * Namespace scale (docs/contract.md#exclusivity-cost): the exclusivity checks must cost in
 * proportion to the bindings a reconcile can conflict with, not to the size of its namespace. The
 * same SCALE_N converged bindings (one ServiceAccount, each binding its own pool, half PoolOnly,
 * half PerObjective) restarted once all in ONE namespace and once spread over SCALE_SPREAD
 * namespaces; the ratio of the two first passes is the figure (target <= 1.5).
 *
 * Also an entry point of its own (`make bench-scale`): this phase alone, results on stdout and in
 * bench/results/scale-<time>.json.
 */
import { SCALE_N, SCALE_SPREAD } from "./config.ts";
import { population } from "./population.ts";
import { loadavg, progress, round } from "./report.ts";
import { convergedRestart } from "./restart.ts";
import { commit } from "./machine.ts";

export async function namespaceScale(): Promise<Record<string, unknown>> {
  const one = await convergedRestart("scale (1 namespace)", population("one", SCALE_N, 1));
  const spread = await convergedRestart(
    `scale (${SCALE_SPREAD} namespaces)`,
    population("spread", SCALE_N, SCALE_SPREAD),
  );
  const out = {
    n: SCALE_N,
    oneNamespace: one,
    spread,
    firstPassRatio: round(Number(one.initialPassSeconds) / Number(spread.initialPassSeconds)),
    readyzRatio: round(Number(one.startupSeconds) / Number(spread.startupSeconds)),
  };
  progress(`scale: first pass one/spread = ${out.firstPassRatio}`);
  return out;
}

const MiB = (b: unknown) => `${(Number(b) / 1048576).toFixed(1)} MiB`;

/** One row per layout: the figures and the load around them. */
export function scaleRows(s: Record<string, unknown>): [string, string][] {
  const row = (r: Record<string, unknown>) => {
    const load = r.load as { start: number[]; end: number[] };
    return `/readyz ${r.startupSeconds} s (caches synced ${r.cachesSyncedSeconds} s), first pass ${r.initialPassSeconds} s after, ${r.writesAfterStartup} writes, slowest /healthz ${r.slowestHealthzMs} ms, peak RSS ${
      MiB(r.peakRssBytes)
    } (load ${load.start.join(" ")} -> ${load.end.join(" ")})`;
  };
  const one = s.oneNamespace as Record<string, unknown>;
  const spread = s.spread as Record<string, unknown>;
  return [
    [`scale: ${s.n} bindings in 1 namespace`, row(one)],
    [`scale: ${s.n} bindings over ${spread.namespaces} namespaces`, row(spread)],
    ["scale: first pass 1 ns / spread (target <= 1.5)", String(s.firstPassRatio)],
  ];
}

if (import.meta.main) {
  const started = new Date().toISOString();
  const loadStart = loadavg();
  const result = { startedAt: started, commit: await commit(), ...(await namespaceScale()) };
  const md = [
    `## kleym namespace-scale bench (${started}, commit ${result.commit})`,
    "",
    "| measure | value |",
    "| --- | --- |",
    `| load average start / end | ${loadStart.join(" ")} / ${loadavg().join(" ")} |`,
    ...scaleRows(result).map(([a, b]) => `| ${a} | ${b} |`),
  ].join("\n");
  console.log(md);
  const dir = new URL("./results/", import.meta.url).pathname;
  await Deno.mkdir(dir, { recursive: true });
  const stamp = started.replace(/[:.]/g, "-");
  await Deno.writeTextFile(`${dir}scale-${stamp}.json`, `${JSON.stringify(result, null, 2)}\n`);
  await Deno.writeTextFile(`${dir}scale-${stamp}.md`, `${md}\n`);
}
