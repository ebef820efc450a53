/** The result table (markdown) of one `make bench` run. */
import { scaleRows } from "./scale.ts";

export function markdown(r: Record<string, unknown>): string {
  const m = r.machine as Record<string, unknown> | undefined;
  const c = r.churn as Record<string, unknown> | undefined;
  const l = r.large as Record<string, unknown> | null | undefined;
  const lat = r.latencyMs as { p50: number; p95: number; p99: number } | undefined;
  const clat = c?.latencyMs as { p50: number; p95: number; p99: number; max: number } | undefined;
  const mib = (b: unknown) => `${(Number(b) / 1024 / 1024).toFixed(1)} MiB`;
  const load = r.load as { start: number[]; end: number[] };
  const sc = r.singleCreates as Record<string, number> | undefined;
  const dflt = r.defaults as Record<string, number> | undefined;
  const q = r.qps50 as Record<string, unknown> | undefined;
  const o = r.noClientLimit as Record<string, unknown> | undefined;
  const t = r.throttled as Record<string, unknown> | undefined;
  const rows: [string, string][] = [
    [
      "machine",
      m
        ? `${m.nproc} CPUs (${m.cpuModel}), ${
          mib(m.memoryBytes)
        }, Deno ${m.deno}, kube-apiserver ${m.kubeApiserver}`
        : "?",
    ],
    ["load average (1/5/15 min) start / end", `${load.start.join(" ")} / ${load.end.join(" ")}`],
    ["bindings (N)", String(r.n)],
    ["create -> all Ready", `${r.convergeSeconds} s`],
    [
      "create -> Ready latency p50 / p95 / p99",
      lat ? `${lat.p50} / ${lat.p95} / ${lat.p99} ms` : "?",
    ],
    ["API requests during convergence", JSON.stringify(r.requestsByVerb)],
    ["requests / writes per binding", `${r.requestsPerBinding} / ${r.writesPerBinding}`],
    [
      `writes / event writes in ${r.steadyStateSeconds} s of steady state`,
      `${r.steadyStateWrites} / ${r.steadyStateEvents}`,
    ],
    ["operator peak RSS (N + churn)", mib(r.peakRssBytes)],
    [
      "start-up with N present: spawn -> 'caches synced' log / -> /readyz 200",
      `${r.startupCachesSyncedSeconds} s / ${r.startupSeconds} s (initial pass ${r.startupInitialPassSeconds} s after, ${r.startupWrites} writes, slowest /healthz ${r.startupSlowestHealthzMs} ms)`,
    ],
    [
      "single creates on an idle cluster: create -> Ready p50 / p99 / max",
      sc ? `${sc.p50Ms} / ${sc.p99Ms} / ${sc.maxMs} ms (${sc.creates} sequential)` : "?",
    ],
    [
      "operator RSS after converging N (defaults): /proc VmRSS / /metrics / /proc peak (VmHWM)",
      dflt
        ? `${mib(dflt.procRssBytes)} / ${mib(dflt.metricsRssBytes)} / ${mib(dflt.procPeakRssBytes)}`
        : "?",
    ],
    ["Reconciled events after converging N (defaults)", dflt ? String(dflt.reconciledEvents) : "?"],
    [
      "qps 50 / burst 100: converge / 3-write limit (3N-100)/50 / ratio",
      q
        ? `${q.convergeSeconds} s / ${q.threeWriteLimitSeconds} s / ${q.ratioToThreeWriteLimit} (${q.reconciledEvents} Reconciled events, requests ${
          JSON.stringify(q.requestsByVerb)
        })`
        : "?",
    ],
    [
      "no client limit (APF on): converge",
      o
        ? `${o.convergeSeconds} s (${o.reconciledEvents} Reconciled events, ${o.throttled429} x 429)`
        : "?",
    ],
    [
      "429 run (APF off, small max in-flight, no client limit)",
      t
        ? `${
          (t.apiServerArgs as string[]).join(" ")
        }: converged ${t.convergeSeconds} s, ${t.bindingsWithOneClusterSPIFFEID}/${t.n} bindings with their ClusterSPIFFEID (${t.managedClusterSPIFFEIDs} managed), ${t.throttled429} x 429 retried, ${t.reconciledEvents} Reconciled events, ${t.errorLines} error lines, log levels ${
          JSON.stringify(t.logLevels)
        }, warn/error lines by message ${JSON.stringify(t.logNotices)}`
        : "?",
    ],
    ["raw limit (3 writes/binding, qps 50 burst 100)", `${r.rawLimitSeconds} s`],
    ["operator at qps 50 / raw", String(r.ratioToRaw)],
    [
      "churn",
      c
        ? `${c.changes} changes (${c.ratePerSecond}/s for ${c.seconds} s, ${c.pools} pools x ${c.bindingsPerPool} bindings)`
        : "?",
    ],
    [
      "churn change -> all ClusterSPIFFEIDs p50 / p95 / p99 / max",
      clat ? `${clat.p50} / ${clat.p95} / ${clat.p99} / ${clat.max} ms` : "?",
    ],
    [
      "churn requests / writes per change",
      c
        ? `${c.requestsPerChange} / ${c.writesPerChange} (${JSON.stringify(c.requestsByVerb)})`
        : "?",
    ],
    [
      `large (N_LARGE)`,
      l
        ? `${l.n} bindings: 'caches synced' log ${l.cachesSyncedSeconds} s, /readyz ${l.startupSeconds} s, initial pass ${l.initialPassSeconds} s after, ${l.writesAfterStartup} writes, slowest /healthz ${l.slowestHealthzMs} ms, peak RSS ${
          mib(l.peakRssBytes)
        } (RSS /proc ${mib(l.procRssBytes)} vs /metrics ${mib(l.metricsRssBytes)})`
        : "skipped (LARGE=0)",
    ],
    ...(r.scale ? scaleRows(r.scale as Record<string, unknown>) : [
      ["scale (SCALE_N, 1 namespace vs SCALE_SPREAD)", "skipped (SCALE=0)"] as [string, string],
    ]),
  ];
  return [
    `## kleym benchmark (${r.startedAt}, ${r.seconds} s, commit ${r.commit})`,
    "",
    "| measure | value |",
    "| --- | --- |",
    ...rows.map(([a, b]) => `| ${a} | ${b} |`),
  ].join("\n");
}
