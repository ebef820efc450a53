/**
 * The operator as a separate process for integration tests: started from source with exactly its
 * permissions (deno.json "operator" task), authenticated as deploy.yaml's ServiceAccount with a
 * TokenRequest token, logs captured line by line, metrics and probes on ephemeral loopback ports.
 */
import { selfSignedCertificate } from "../../operator/x509.ts";
import { REPO_ROOT } from "../harness/controlplane.ts";
import { type TestEnv, testEnv } from "../harness/env.ts";
import { pollUntil } from "../harness/poll.ts";
import {
  applyDeploy as applyDeployWith,
  deployDocs,
  operatorPermissions,
  serviceAccountKubeconfig as writeServiceAccountKubeconfig,
  TRUST_DOMAIN,
} from "../harness/operator.ts";
export { pollUntil };

/** Short leader-election timings so failover tests take seconds. */
export const FAST_LEASE = [
  "--leader-elect-lease-duration=3s",
  "--leader-elect-renew-deadline=2s",
  "--leader-elect-retry-period=500ms",
];

export { deployDocs, operatorPermissions, TRUST_DOMAIN };

/** Applies deploy.yaml (everything but the Deployment, which has no kubelet to run it here). */
export function applyDeploy(
  env: TestEnv,
  transform?: (docs: Record<string, unknown>[]) => Record<string, unknown>[],
): Promise<void> {
  return applyDeployWith(env.kubectl, transform);
}

/** A kubeconfig authenticating as system:serviceaccount:kleym-system:kleym. */
export function serviceAccountKubeconfig(env: TestEnv, dir: string): Promise<string> {
  return writeServiceAccountKubeconfig(
    env.kubectl,
    env.server,
    env.caPem,
    `${dir}/kubeconfig-kleym`,
  );
}

/**
 * What a production scraper has: a ServiceAccount `scraper` in `ns` bound to the
 * `kleym-metrics-reader` ClusterRole and its token, plus a loopback serving certificate in
 * `${dir}/metrics-certs` (tls.crt, tls.key) that it trusts.
 */
export async function metricsScraper(
  env: TestEnv,
  ns: string,
  dir: string,
): Promise<{ certDir: string; caPem: string; token: string }> {
  const certDir = `${dir}/metrics-certs`;
  await Deno.mkdir(certDir, { recursive: true });
  const pair = await selfSignedCertificate({
    commonName: "kleym-test",
    hosts: ["localhost", "127.0.0.1", "::1"],
  });
  await Deno.writeTextFile(`${certDir}/tls.crt`, pair.cert);
  await Deno.writeTextFile(`${certDir}/tls.key`, pair.key);
  await env.kubectl(["create", "serviceaccount", "scraper", "-n", ns]);
  await env.kubectl([
    "create",
    "clusterrolebinding",
    `kleym-metrics-reader-${ns}`,
    "--clusterrole=kleym-metrics-reader",
    `--serviceaccount=${ns}:scraper`,
  ]);
  const token = (await env.kubectl(["create", "token", "scraper", "-n", ns])).trim();
  return { certDir, caPem: pair.cert, token };
}

export interface LogRecord {
  time: string;
  level: string;
  msg: string;
  [k: string]: unknown;
}

export interface OperatorProcess {
  readonly name: string;
  readonly pid: number;
  readonly logs: LogRecord[];
  /** Resolves with the exit code. */
  readonly exited: Promise<number>;
  readonly exitCode: number | undefined;
  metricsAddress(): Promise<string>;
  healthAddress(): Promise<string>;
  waitForLog(pred: (r: LogRecord) => boolean, deadlineMs: number, what: string): Promise<LogRecord>;
  metrics(): Promise<string>;
  kill(sig: Deno.Signal): void;
  /** SIGTERM, then SIGKILL after 15 s; always awaits the exit and the log reader. */
  stop(): Promise<number>;
}

export interface StartOptions {
  name: string;
  kubeconfig: string;
  args?: string[];
  /**
   * Serve /metrics as in production (HTTPS from `certDir`, delegated authn/authz) and scrape it
   * with `token`, trusting `caPem`. Default: `--metrics-secure=false` (tests read their own
   * operator's counters; tests/integration/metrics_secure_test.ts covers the secure endpoint).
   */
  secureMetrics?: { certDir: string; caPem: string; token: string };
  /** Bind metrics and probes to ":0" (every interface, IPv4 and IPv6) instead of 127.0.0.1:0. */
  everyInterface?: boolean;
}

export function startOperator(opts: StartOptions): OperatorProcess {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      ...operatorPermissions(),
      `${REPO_ROOT}/main.ts`,
      `--trust-domain=${TRUST_DOMAIN}`,
      `--kubeconfig=${opts.kubeconfig}`,
      `--metrics-bind-address=${opts.everyInterface ? "" : "127.0.0.1"}:0`,
      `--health-probe-bind-address=${opts.everyInterface ? "" : "127.0.0.1"}:0`,
      "--log-level=debug",
      ...(opts.secureMetrics
        ? [`--metrics-cert-dir=${opts.secureMetrics.certDir}`]
        : ["--metrics-secure=false"]),
      ...(opts.args ?? []),
    ],
    cwd: REPO_ROOT,
    env: { POD_NAME: opts.name, NO_COLOR: "1" },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const logs: LogRecord[] = [];
  const verbose = Deno.env.get("KLEYM_TEST_VERBOSE") === "1";
  // Owned by this handle: awaited in stop(); ends when the child closes stderr.
  const reader = (async () => {
    let buf = "";
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (verbose) console.error(`[${opts.name}] ${line}`);
        try {
          logs.push(JSON.parse(line));
        } catch {
          logs.push({ time: "", level: "raw", msg: line });
        }
      }
    }
  })();
  let exitCode: number | undefined;
  const exited = child.status.then((s) => {
    exitCode = s.code;
    return s.code;
  });

  const handle: OperatorProcess = {
    name: opts.name,
    pid: child.pid,
    logs,
    exited,
    get exitCode() {
      return exitCode;
    },
    async waitForLog(pred, deadlineMs, what) {
      return await pollUntil(`${opts.name}: ${what}`, deadlineMs, () => {
        const hit = logs.find(pred);
        if (hit) return hit;
        if (exitCode !== undefined) {
          throw new Error(
            `${opts.name} exited (${exitCode}) while waiting for ${what}:\n${
              logs.map((l) => JSON.stringify(l)).join("\n")
            }`,
          );
        }
        return undefined;
      });
    },
    async metricsAddress() {
      const r = await handle.waitForLog((l) => l.msg === "serving metrics", 20_000, "metrics");
      return String(r.address);
    },
    async healthAddress() {
      const r = await handle.waitForLog((l) => l.msg === "serving health probes", 20_000, "probes");
      return String(r.address);
    },
    async metrics() {
      const secure = opts.secureMetrics;
      if (!secure) {
        return await (await fetch(`http://${await handle.metricsAddress()}/metrics`)).text();
      }
      const client = Deno.createHttpClient({ caCerts: [secure.caPem] });
      try {
        const res = await fetch(`https://${await handle.metricsAddress()}/metrics`, {
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
    kill(sig) {
      if (exitCode !== undefined) return;
      try {
        child.kill(sig);
      } catch { /* already gone */ }
    },
    async stop() {
      handle.kill("SIGTERM");
      let timer: ReturnType<typeof setTimeout> | undefined;
      const code = await Promise.race([
        exited,
        new Promise<"timeout">((r) => timer = setTimeout(() => r("timeout"), 15_000)),
      ]);
      clearTimeout(timer);
      if (code === "timeout") handle.kill("SIGKILL");
      const final = await exited;
      await reader.catch(() => {});
      return final;
    },
  };
  return handle;
}

/** One sample value from a text exposition, or undefined when the series is absent. */
export function sample(
  text: string,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  for (const line of text.split("\n")) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const got: Record<string, string> = {};
    for (const p of (m[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      got[p[1]] = p[2];
    }
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) return Number(m[3]);
  }
  return undefined;
}

/** Every `kleym_api_requests_total` series: verb, resource, code, count. */
export function apiRequests(
  text: string,
): { verb: string; resource: string; code: string; count: number }[] {
  const out = [];
  for (const line of text.split("\n")) {
    const m = /^kleym_api_requests_total\{verb="([^"]*)",resource="([^"]*)",code="([^"]*)"\} (\S+)$/
      .exec(line);
    if (m) out.push({ verb: m[1], resource: m[2], code: m[3], count: Number(m[4]) });
  }
  return out;
}

/** The example manifest with its namespace replaced (examples are written for `default`). */
export function exampleIn(file: string, namespace: string): string {
  return Deno.readTextFileSync(`${REPO_ROOT}/examples/${file}`).replaceAll(
    "namespace: default",
    `namespace: ${namespace}`,
  );
}

export async function bindingReady(
  env: TestEnv,
  ns: string,
  name: string,
): Promise<{ status: string; reason: string }> {
  const b = JSON.parse(await env.kubectl(["get", "iib", name, "-n", ns, "-o", "json"])) as {
    status?: { conditions?: { type: string; status: string; reason: string }[] };
  };
  const c = b.status?.conditions?.find((c) => c.type === "Ready");
  return { status: c?.status ?? "Unknown", reason: c?.reason ?? "" };
}

export async function tempDir(): Promise<string> {
  return await Deno.makeTempDir({ prefix: "kleym-operator-test-" });
}

export { testEnv };
