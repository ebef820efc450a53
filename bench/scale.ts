/**
 * Namespace scale (docs/contract.md#exclusivity-cost): the exclusivity checks must cost in
 * proportion to the bindings a reconcile can conflict with, not to the size of its namespace. The
 * same SCALE_N converged bindings (one ServiceAccount, each binding its own pool, half PoolOnly,
 * half PerObjective) restarted once all in ONE namespace and once spread over SCALE_SPREAD
 * namespaces; the ratio of the two first passes is the figure (target <= 1.5).
 *
 * Also an entry point of its own (`make bench-scale`): this phase alone, results on stdout and in
 * bench/results/scale-<time>.{md,json}; with SCALE_ROOTS, several checkouts restarted on each
 * layout's one setup.
 */
import { pollUntil } from "../tests/harness/poll.ts";
import { SCALE_GATE, SCALE_N, SCALE_PASS_DEADLINE_S, SCALE_ROOTS, SCALE_SPREAD } from "./config.ts";
import { commit } from "./machine.ts";
import { population } from "./population.ts";
import { loadavg, progress, round } from "./report.ts";
import { convergedCluster, restartOn } from "./restart.ts";

type Run = Record<string, unknown>;

/**
 * Per checkout (`roots`; default this one): its restart on each layout and the ratio. Both
 * layouts are set up first and stay up, then each checkout restarts on both back to back.
 */
export async function namespaceScale(
  roots: { label: string; root?: string }[] = [{ label: "this checkout" }],
): Promise<Record<string, unknown>> {
  const layouts = [
    { key: "oneNamespace", label: "1 namespace", p: population("one", SCALE_N, 1) },
    {
      key: "spread",
      label: `${SCALE_SPREAD} namespaces`,
      p: population("spread", SCALE_N, SCALE_SPREAD),
    },
  ];
  const runs: Run[] = roots.map((r) => ({ label: r.label, ...(r.root ? { root: r.root } : {}) }));
  const clusters: Awaited<ReturnType<typeof convergedCluster>>[] = [];
  try {
    for (const layout of layouts) {
      clusters.push(await convergedCluster(`scale (${layout.label})`, layout.p));
    }
    for (const [i, r] of roots.entries()) {
      if (SCALE_GATE) {
        progress(`scale: waiting for ${SCALE_GATE}.${r.label}`);
        await pollUntil(
          `gate ${r.label}`,
          3 * 3600_000,
          () => exists(`${SCALE_GATE}.${r.label}`),
          2000,
        );
      }
      for (const [j, layout] of layouts.entries()) {
        runs[i][layout.key] = {
          ...(await restartOn(
            `scale (${layout.label}, ${r.label})`,
            clusters[j].saKubeconfig,
            SCALE_N,
            r.root,
            SCALE_PASS_DEADLINE_S * 1000,
          )),
          namespaces: layout.p.namespaces.length,
        };
      }
    }
  } finally {
    for (const c of clusters) await c.cp.stop();
  }
  for (const run of runs) {
    const one = run.oneNamespace as Run;
    const spread = run.spread as Run;
    // null when a pass did not finish within SCALE_PASS_DEADLINE_S (the rows say so)
    run.firstPassRatio = one.initialPassSeconds === null || spread.initialPassSeconds === null
      ? null
      : round(Number(one.initialPassSeconds) / Number(spread.initialPassSeconds));
    run.readyzRatio = round(Number(one.startupSeconds) / Number(spread.startupSeconds));
    progress(`scale (${run.label}): first pass 1 ns / spread = ${run.firstPassRatio}`);
  }
  return { n: SCALE_N, spreadNamespaces: SCALE_SPREAD, runs };
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

const MiB = (b: unknown) => `${(Number(b) / 1048576).toFixed(1)} MiB`;

/** Per checkout: one row per layout (figures and the load around them) and the ratio. */
export function scaleRows(s: Record<string, unknown>): [string, string][] {
  const row = (r: Run) => {
    const load = r.load as { start: number[]; end: number[] };
    return `/readyz ${r.startupSeconds} s (caches synced ${r.cachesSyncedSeconds} s), first pass ${
      r.initialPassSeconds === null
        ? `not done ${r.initialPassNotDoneWithinSeconds} s after (${r.reconciledAtDeadline} reconciled)`
        : `${r.initialPassSeconds} s after`
    }, ${r.writesAfterStartup} writes, slowest /healthz ${r.slowestHealthzMs} ms, peak RSS ${
      MiB(r.peakRssBytes)
    } (load ${load.start.join(" ")} -> ${load.end.join(" ")})`;
  };
  return (s.runs as Run[]).flatMap((run): [string, string][] => [
    [`scale (${run.label}): ${s.n} bindings in 1 namespace`, row(run.oneNamespace as Run)],
    [
      `scale (${run.label}): ${s.n} bindings over ${s.spreadNamespaces} namespaces`,
      row(run.spread as Run),
    ],
    [`scale (${run.label}): first pass 1 ns / spread (target <= 1.5)`, String(run.firstPassRatio)],
  ]);
}

if (import.meta.main) {
  const started = new Date().toISOString();
  const loadStart = loadavg();
  const roots = SCALE_ROOTS.length > 0 ? SCALE_ROOTS : undefined;
  const result = { startedAt: started, commit: await commit(), ...(await namespaceScale(roots)) };
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
