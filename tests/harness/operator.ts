/**
 * What every test that runs the operator as a process needs: its exact Deno permissions (the
 * deno.json "operator" task, their one definition), deploy.yaml applied without the Deployment (no
 * kubelet here), and a kubeconfig that authenticates as deploy.yaml's ServiceAccount with a token
 * from the TokenRequest API.
 */
import { parseAllDocuments, stringify } from "yaml";
import { selfSignedCertificate } from "../../operator/x509.ts";
import { REPO_ROOT } from "./controlplane.ts";
import { pollUntil } from "./poll.ts";
import { taskFlagsOf } from "../../tools/task_flags.ts";

export const TRUST_DOMAIN = "kleym.sonda.red";

export type Kubectl = (args: string[], opts?: { stdin?: string }) => Promise<string>;

/** The operator's run flags: permissions, V8 flags and code-cache setting (tools/task_flags.ts). */
export function operatorPermissions(root = REPO_ROOT): string[] {
  return taskFlagsOf(`${root}/deno.json`, "operator");
}

/**
 * `deno run` arguments for main.ts as `deno task operator` runs it (run with cwd REPO_ROOT):
 * trust domain example.org, the given kubeconfig, both listeners on a free port, then `extra`.
 */
export function operatorMainArgs(kubeconfig: string, extra: string[] = []): string[] {
  return [
    "run",
    "--quiet",
    ...operatorPermissions(),
    "main.ts",
    "--trust-domain=example.org",
    `--kubeconfig=${kubeconfig}`,
    "--metrics-bind-address=0",
    "--health-probe-bind-address=0",
    ...extra,
  ];
}

/** Who holds the operator's leader Lease (kleym-system/kleym-operator); "" when nobody. */
export async function leaseHolder(kubectl: Kubectl): Promise<string> {
  return (await kubectl([
    "get",
    "lease",
    "kleym-operator",
    "-n",
    "kleym-system",
    "-o",
    "jsonpath={.spec.holderIdentity}",
  ])).trim();
}

/** deploy.yaml's documents. */
export function deployDocs(): Record<string, unknown>[] {
  return parseAllDocuments(Deno.readTextFileSync(`${REPO_ROOT}/deploy.yaml`)).map((d) =>
    d.toJS() as Record<string, unknown>
  );
}

/** Applies deploy.yaml but the Deployment, optionally transformed (e.g. one RBAC rule removed). */
export async function applyDeploy(
  kubectl: Kubectl,
  transform: (docs: Record<string, unknown>[]) => Record<string, unknown>[] = (d) => d,
): Promise<void> {
  const docs = transform(deployDocs()).filter((d) => d.kind !== "Deployment");
  await kubectl(["apply", "--server-side", "--force-conflicts", "-f", "-"], {
    stdin: docs.map((d) => stringify(d)).join("---\n"),
  });
}

/**
 * deploy.yaml's operator Deployment, created in `ns` for `kleym status` to find. No kubelet runs
 * it here: it stays not ready until `setDeploymentReady` writes its status.
 */
export async function applyOperatorDeployment(kubectl: Kubectl, ns: string): Promise<void> {
  const deployment = deployDocs().find((d) => d.kind === "Deployment") as
    | { metadata: { namespace: string } }
    | undefined;
  if (!deployment) throw new Error("deploy.yaml has no Deployment");
  deployment.metadata.namespace = ns;
  await kubectl(["apply", "--server-side", "--force-conflicts", "-f", "-"], {
    stdin: JSON.stringify(deployment),
  });
}

/** Writes the status the Deployment controller would: `replicas` replicas, all ready. */
export async function setDeploymentReady(
  kubectl: Kubectl,
  ns: string,
  replicas: number,
): Promise<void> {
  await kubectl([
    "patch",
    "deployment",
    "kleym-operator",
    "-n",
    ns,
    "--subresource=status",
    "--type=merge",
    "-p",
    JSON.stringify({ status: { replicas, readyReplicas: replicas } }),
  ]);
}

/** Writes a kubeconfig for system:serviceaccount:kleym-system:kleym at `path`. */
export async function serviceAccountKubeconfig(
  kubectl: Kubectl,
  server: string,
  caPem: string,
  path: string,
): Promise<string> {
  const token = (await kubectl([
    "create",
    "token",
    "kleym",
    "-n",
    "kleym-system",
    "--duration=4h",
  ])).trim();
  await Deno.writeTextFile(path, tokenKubeconfig(server, token, caPem), { mode: 0o600 });
  return path;
}

/**
 * A kubeconfig for `server` with a bearer token; trusting `caPem` when given. Written as JSON (a
 * subset of YAML, as kubectl reads it): the operator then loads no YAML parser, as in a cluster
 * where it has no kubeconfig, so benchmarks measure the memory production has (docs/benchmarks.md,
 * "Memory"). YAML kubeconfigs are covered by the admin kubeconfig and
 * tests/unit/apis_kubeconfig_test.ts.
 */
export function tokenKubeconfig(server: string, token: string, caPem?: string): string {
  const cluster = caPem === undefined
    ? { server }
    : { server, "certificate-authority-data": btoa(caPem) };
  return JSON.stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name: "t", cluster }],
    users: [{ name: "kleym", user: { token } }],
    contexts: [{ name: "kleym", context: { cluster: "t", user: "kleym" } }],
    "current-context": "kleym",
  });
}

/** What `OperatorSpawnOptions.secureMetrics` needs: the serving certificate and a scraper token. */
export interface MetricsScraper {
  certDir: string;
  caPem: string;
  token: string;
}

/**
 * What a production scraper has: a ServiceAccount `scraper` in `ns` bound to the
 * `kleym-metrics-reader` ClusterRole and its token, plus a loopback serving certificate in
 * `${dir}/metrics-certs` (tls.crt, tls.key) that it trusts.
 */
export async function metricsScraper(
  kubectl: Kubectl,
  ns: string,
  dir: string,
): Promise<MetricsScraper> {
  const certDir = `${dir}/metrics-certs`;
  await Deno.mkdir(certDir, { recursive: true });
  const pair = await selfSignedCertificate({
    commonName: "kleym-test",
    hosts: ["localhost", "127.0.0.1", "::1"],
  });
  await Deno.writeTextFile(`${certDir}/tls.crt`, pair.cert);
  await Deno.writeTextFile(`${certDir}/tls.key`, pair.key);
  await kubectl(["create", "serviceaccount", "scraper", "-n", ns]);
  await kubectl([
    "create",
    "clusterrolebinding",
    `kleym-metrics-reader-${ns}`,
    "--clusterrole=kleym-metrics-reader",
    `--serviceaccount=${ns}:scraper`,
  ]);
  const token = (await kubectl(["create", "token", "scraper", "-n", ns, "--duration=4h"])).trim();
  return { certDir, caPem: pair.cert, token };
}

// ---- the operator as a child process --------------------------------------------------------

/** One JSON log line (a line that is not JSON becomes `{time: "", level: "raw", msg: line}`). */
export interface LogRecord {
  time: string;
  level: string;
  msg: string;
  [k: string]: unknown;
}

export interface OperatorSpawnOptions {
  /** POD_NAME of the process (its leader-election identity) and the prefix of echoed lines. */
  name: string;
  kubeconfig: string;
  args?: string[];
  /** `--log-level`. Default "debug". */
  logLevel?: "debug" | "info" | "warn" | "error";
  /**
   * "all": every record kept in `logs` (integration and e2e tests search them); "bounded": only
   * counts by level, the last 50 lines and the first 200 error lines (the long resilience run and
   * the benchmarks must not grow without limit). Default "all".
   */
  logs?: "all" | "bounded";
  /**
   * Serve /metrics as in production (HTTPS from `certDir`, delegated authn/authz) and scrape it
   * with `token`, trusting `caPem`. Default: `--metrics-secure=false` (tests read their own
   * operator's counters; tests/integration/metrics_secure_test.ts covers the secure endpoint).
   */
  secureMetrics?: MetricsScraper;
  /** Bind metrics and probes to ":0" (every interface, IPv4 and IPv6) instead of 127.0.0.1:0. */
  everyInterface?: boolean;
  /**
   * Replaces the deno.json task's `--v8-flags=` (a comma list; "" runs without V8 flags), so
   * bench/v8flags.ts compares flag sets without editing deno.json. Default: the task's.
   */
  v8Flags?: string;
  /**
   * The checkout whose main.ts (and deno.json flags) runs. Default: this one. The bench restarts
   * two checkouts on one converged cluster to compare them under the same load.
   */
  root?: string;
}

/** One operator process (`main.ts` from source, exactly its Deno permissions). */
export interface OperatorProcess {
  readonly name: string;
  readonly pid: number;
  /** Every record ("all"), or empty ("bounded"). */
  readonly logs: LogRecord[];
  readonly levels: Record<string, number>;
  /** Warn and error lines counted by message ("warn: msg"), in both log modes. */
  readonly notices: Record<string, number>;
  readonly lastLines: string[];
  readonly errorLines: string[];
  /** Resolves with the exit code. */
  readonly exited: Promise<number>;
  readonly exitCode: number | undefined;
  /** Wall-clock ms when the first "caches synced" line was read (a measurement, for bench). */
  syncedAt(): number | undefined;
  /** host:port of the metrics / probe listeners, from their log lines. */
  metricsAddress(): Promise<string>;
  healthAddress(): Promise<string>;
  metricsUrl(): Promise<string>;
  healthUrl(): Promise<string>;
  /** The first record matching `pred` ("all" mode); fails early if the process exits. */
  waitForLog(pred: (r: LogRecord) => boolean, deadlineMs: number, what: string): Promise<LogRecord>;
  metrics(): Promise<string>;
  /** VmRSS and VmHWM (peak) in bytes from /proc/<pid>/status. */
  memory(): { rss: number; hwm: number };
  kill(sig: Deno.Signal): void;
  /** SIGTERM, then SIGKILL after 15 s; always awaits the exit and the log reader. */
  stop(): Promise<number>;
}

export function spawnOperator(opts: OperatorSpawnOptions): OperatorProcess {
  const keepAll = (opts.logs ?? "all") === "all";
  const root = opts.root ?? REPO_ROOT;
  const perms = operatorPermissions(root);
  const flags = opts.v8Flags === undefined ? perms : [
    ...perms.filter((f) => !f.startsWith("--v8-flags=")),
    ...(opts.v8Flags ? [`--v8-flags=${opts.v8Flags}`] : []),
  ];
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      ...flags,
      `${root}/main.ts`,
      `--trust-domain=${TRUST_DOMAIN}`,
      `--kubeconfig=${opts.kubeconfig}`,
      `--metrics-bind-address=${opts.everyInterface ? "" : "127.0.0.1"}:0`,
      `--health-probe-bind-address=${opts.everyInterface ? "" : "127.0.0.1"}:0`,
      `--log-level=${opts.logLevel ?? "debug"}`,
      ...(opts.secureMetrics
        ? [`--metrics-cert-dir=${opts.secureMetrics.certDir}`]
        : ["--metrics-secure=false"]),
      ...(opts.args ?? []),
    ],
    cwd: root,
    env: { POD_NAME: opts.name, NO_COLOR: "1" },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const logs: LogRecord[] = [];
  const levels: Record<string, number> = {};
  const notices: Record<string, number> = {};
  const lastLines: string[] = [];
  const errorLines: string[] = [];
  let metricsAddr: string | undefined;
  let healthAddr: string | undefined;
  let syncedAt: number | undefined;
  const verbose = Deno.env.get("KLEYM_TEST_VERBOSE") === "1";
  const record = (line: string) => {
    if (verbose) console.error(`[${opts.name}] ${line}`);
    let rec: LogRecord;
    try {
      rec = JSON.parse(line);
    } catch {
      rec = { time: "", level: "raw", msg: line };
    }
    if (keepAll) logs.push(rec);
    const level = String(rec.level ?? "raw");
    levels[level] = (levels[level] ?? 0) + 1;
    if (level === "warn" || level === "error") {
      const notice = `${level}: ${rec.msg}`;
      notices[notice] = (notices[notice] ?? 0) + 1;
    }
    lastLines.push(line);
    if (lastLines.length > 50) lastLines.shift();
    if ((level === "error" || level === "raw") && errorLines.length < 200) errorLines.push(line);
    if (rec.msg === "serving metrics") metricsAddr ??= String(rec.address);
    if (rec.msg === "serving health probes") healthAddr ??= String(rec.address);
    if (rec.msg === "caches synced") syncedAt ??= Date.now();
  };
  // Owned by this handle: awaited in stop(); ends when the child closes stderr.
  const reader = (async () => {
    let buf = "";
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        record(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
      }
    }
  })();
  let exitCode: number | undefined;
  const exited = child.status.then((s) => exitCode = s.code);
  const history = () => `last log lines of ${opts.name}:\n${lastLines.join("\n")}`;
  const withHistory = (error: unknown): never => {
    throw new Error(`${error instanceof Error ? error.message : error}\n${history()}`);
  };
  const waitValue = (get: () => string | undefined, what: string) =>
    pollUntil(`${opts.name}: ${what}`, 120_000, get, { intervalMs: 25, exited }).catch(withHistory);

  const handle: OperatorProcess = {
    name: opts.name,
    pid: child.pid,
    logs,
    levels,
    notices,
    lastLines,
    errorLines,
    exited,
    get exitCode() {
      return exitCode;
    },
    syncedAt: () => syncedAt,
    waitForLog(pred, deadlineMs, what) {
      if (!keepAll) throw new Error(`waitForLog needs logs: "all" (${opts.name})`);
      return pollUntil(`${opts.name}: ${what}`, deadlineMs, () => logs.find(pred), { exited })
        .catch(withHistory);
    },
    metricsAddress: () => waitValue(() => metricsAddr, "metrics address"),
    healthAddress: () => waitValue(() => healthAddr, "health address"),
    metricsUrl: async () =>
      `${opts.secureMetrics ? "https" : "http"}://${await handle.metricsAddress()}`,
    healthUrl: async () => `http://${await handle.healthAddress()}`,
    async metrics() {
      const secure = opts.secureMetrics;
      if (!secure) return await (await fetch(`${await handle.metricsUrl()}/metrics`)).text();
      const client = Deno.createHttpClient({ caCerts: [secure.caPem] });
      try {
        const res = await fetch(`${await handle.metricsUrl()}/metrics`, {
          client,
          headers: { Authorization: `Bearer ${secure.token}` },
        });
        const text = await res.text();
        if (!res.ok) throw new Error(`GET /metrics: ${res.status} ${text.trim()}`);
        return text;
      } finally {
        client.close();
      }
    },
    memory() {
      const text = Deno.readTextFileSync(`/proc/${child.pid}/status`);
      const kb = (field: string) =>
        Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(text)?.[1] ?? 0) * 1024;
      return { rss: kb("VmRSS"), hwm: kb("VmHWM") };
    },
    kill(sig) {
      if (exitCode !== undefined) return;
      try {
        child.kill(sig);
      } catch { /* already gone */ }
    },
    async stop() {
      handle.kill("SIGTERM");
      const timer = setTimeout(() => handle.kill("SIGKILL"), 15_000);
      const code = await exited;
      clearTimeout(timer);
      await reader.catch(() => {});
      return code;
    },
  };
  return handle;
}

/** Polls `/readyz` until 200; resolves with the ms since `since` (a measurement, never asserted). */
export async function waitReady(
  op: OperatorProcess,
  since: number,
  deadlineMs: number,
): Promise<number> {
  const url = `${await op.healthUrl()}/readyz`;
  await pollUntil(`${op.name} ready`, deadlineMs, async () => {
    const r = await fetch(url);
    await r.body?.cancel();
    return r.status === 200;
  }, { intervalMs: 20, exited: op.exited });
  return Date.now() - since;
}
