/**
 * The operator as a separate process for the resilience suite and the benchmarks: `main.ts` from
 * source with exactly the operator's Deno permissions (the deno.json "operator" task), as the
 * deploy.yaml ServiceAccount (TokenRequest token), metrics and probes on ephemeral loopback ports,
 * `--log-level=info`. Logs are parsed line by line and kept bounded (counts by level, the last
 * lines, the first error lines), so a long run cannot grow the test process without limit.
 */
import { REPO_ROOT } from "../harness/controlplane.ts";

export {
  applyDeploy,
  operatorPermissions,
  serviceAccountKubeconfig,
  TRUST_DOMAIN,
} from "../harness/operator.ts";
import { operatorPermissions, TRUST_DOMAIN } from "../harness/operator.ts";

export interface LogLine {
  level?: string;
  msg?: string;
  [k: string]: unknown;
}

export interface Operator {
  readonly pid: number;
  readonly exited: Promise<Deno.CommandStatus>;
  exitCode(): number | undefined;
  levels: Record<string, number>;
  lastLines: string[];
  errorLines: string[];
  /** Wall-clock ms when the "caches synced" log line was read (undefined before). */
  syncedAt(): number | undefined;
  metricsUrl(): Promise<string>;
  healthUrl(): Promise<string>;
  metrics(): Promise<string>;
  /** VmRSS and VmHWM (peak) in bytes from /proc/<pid>/status. */
  memory(): { rss: number; hwm: number };
  kill(sig: Deno.Signal): void;
  /** SIGTERM, SIGKILL after 15 s; awaits the exit and the log reader. */
  stop(): Promise<number>;
}

/**
 * `v8Flags` (bench/v8flags.ts) replaces the deno.json task's `--v8-flags=` (a comma list; "" runs
 * without V8 flags), so flag sets can be compared without editing deno.json.
 */
export function startOperator(
  kubeconfig: string,
  extra: string[] = [],
  v8Flags?: string,
): Operator {
  const perms = operatorPermissions();
  const flags = v8Flags === undefined ? perms : [
    ...perms.filter((f) => !f.startsWith("--v8-flags=")),
    ...(v8Flags ? [`--v8-flags=${v8Flags}`] : []),
  ];
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      ...flags,
      `${REPO_ROOT}/main.ts`,
      `--trust-domain=${TRUST_DOMAIN}`,
      `--kubeconfig=${kubeconfig}`,
      "--metrics-bind-address=127.0.0.1:0",
      "--health-probe-bind-address=127.0.0.1:0",
      // Plain HTTP: the suite and the benchmarks read their own operator's counters.
      "--metrics-secure=false",
      "--log-level=info",
      ...extra,
    ],
    cwd: REPO_ROOT,
    env: { POD_NAME: "kleym-resilience", NO_COLOR: "1" },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const levels: Record<string, number> = {};
  const lastLines: string[] = [];
  const errorLines: string[] = [];
  let metricsAddr: string | undefined;
  let healthAddr: string | undefined;
  let syncedAt: number | undefined;
  const verbose = Deno.env.get("KLEYM_TEST_VERBOSE") === "1";
  const reader = (async () => {
    let buf = "";
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (verbose) console.error(`[operator ${child.pid}] ${line}`);
        let rec: LogLine;
        try {
          rec = JSON.parse(line);
        } catch {
          rec = { level: "raw", msg: line };
        }
        const level = String(rec.level ?? "raw");
        levels[level] = (levels[level] ?? 0) + 1;
        lastLines.push(line);
        if (lastLines.length > 50) lastLines.shift();
        if ((level === "error" || level === "raw") && errorLines.length < 200) {
          errorLines.push(line);
        }
        if (rec.msg === "serving metrics") metricsAddr = String(rec.address);
        if (rec.msg === "serving health probes") healthAddr = String(rec.address);
        if (rec.msg === "caches synced" && syncedAt === undefined) syncedAt = Date.now();
      }
    }
  })();
  let code: number | undefined;
  const exited = child.status.then((s) => {
    code = s.code;
    return s;
  });
  const waitFor = async (get: () => string | undefined, what: string) => {
    const end = Date.now() + 60_000;
    for (;;) {
      const v = get();
      if (v !== undefined) return v;
      if (code !== undefined) throw new Error(`operator exited (${code}) before ${what}`);
      if (Date.now() > end) throw new Error(`operator: no ${what} within 60 s`);
      await new Promise((r) => setTimeout(r, 25));
    }
  };
  const op: Operator = {
    pid: child.pid,
    exited,
    exitCode: () => code,
    levels,
    lastLines,
    errorLines,
    syncedAt: () => syncedAt,
    metricsUrl: async () => `http://${await waitFor(() => metricsAddr, "metrics address")}`,
    healthUrl: async () => `http://${await waitFor(() => healthAddr, "health address")}`,
    async metrics() {
      const r = await fetch(`${await op.metricsUrl()}/metrics`);
      return await r.text();
    },
    memory() {
      const text = Deno.readTextFileSync(`/proc/${child.pid}/status`);
      const kb = (field: string) =>
        Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(text)?.[1] ?? 0) * 1024;
      return { rss: kb("VmRSS"), hwm: kb("VmHWM") };
    },
    kill(sig) {
      if (code !== undefined) return;
      try {
        child.kill(sig);
      } catch { /* gone */ }
    },
    async stop() {
      op.kill("SIGTERM");
      let timer: ReturnType<typeof setTimeout> | undefined;
      const r = await Promise.race([
        exited,
        new Promise<"timeout">((res) => timer = setTimeout(() => res("timeout"), 15_000)),
      ]);
      clearTimeout(timer);
      if (r === "timeout") op.kill("SIGKILL");
      const s = await exited;
      await reader.catch(() => {});
      return s.code;
    },
  };
  return op;
}

/** Polls `/readyz` until 200; resolves with the milliseconds since `since`. */
export async function waitReady(op: Operator, since: number, deadlineMs: number): Promise<number> {
  const url = `${await op.healthUrl()}/readyz`;
  const end = since + deadlineMs;
  for (;;) {
    if (op.exitCode() !== undefined) throw new Error(`operator exited (${op.exitCode()})`);
    try {
      const r = await fetch(url);
      await r.body?.cancel();
      if (r.status === 200) return Date.now() - since;
    } catch { /* not listening yet */ }
    if (Date.now() > end) throw new Error(`operator not ready within ${deadlineMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** `kleym_api_requests_total` series summed by verb (and the raw series). */
export function requestsByVerb(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split("\n")) {
    const m = /^kleym_api_requests_total\{([^}]*)\} (\S+)$/.exec(line);
    if (!m) continue;
    const verb = /verb="([^"]*)"/.exec(m[1])?.[1] ?? "?";
    out[verb] = (out[verb] ?? 0) + Number(m[2]);
  }
  return out;
}

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

export const WRITE_VERBS = ["create", "update", "patch", "delete", "deletecollection"];
export const writesOf = (byVerb: Record<string, number>) =>
  WRITE_VERBS.reduce((n, v) => n + (byVerb[v] ?? 0), 0);

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
