/**
 * The operator as a separate process for integration tests: started from source with exactly its
 * permissions (deno.json "operator" task), authenticated as deploy.yaml's ServiceAccount with a
 * TokenRequest token, logs captured line by line, metrics and probes on ephemeral loopback ports.
 */
import { REPO_ROOT } from "../harness/controlplane.ts";
import { type TestEnv, testEnv } from "../harness/env.ts";
import { pollUntil } from "../harness/poll.ts";
import {
  applyDeploy as applyDeployWith,
  deployDocs,
  type LogRecord,
  type MetricsScraper,
  metricsScraper as scraperWith,
  operatorPermissions,
  type OperatorProcess,
  serviceAccountKubeconfig as writeServiceAccountKubeconfig,
  spawnOperator,
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

/** `metricsScraper` of tests/harness/operator.ts on the run's control plane. */
export function metricsScraper(env: TestEnv, ns: string, dir: string): Promise<MetricsScraper> {
  return scraperWith(env.kubectl, ns, dir);
}

export type { LogRecord, OperatorProcess };

export interface StartOptions {
  name: string;
  kubeconfig: string;
  args?: string[];
  /**
   * Serve /metrics as in production (HTTPS from `certDir`, delegated authn/authz) and scrape it
   * with `token`, trusting `caPem`. Default: `--metrics-secure=false` (tests read their own
   * operator's counters; tests/integration/metrics_secure_test.ts covers the secure endpoint).
   */
  secureMetrics?: MetricsScraper;
  /** Bind metrics and probes to ":0" (every interface, IPv4 and IPv6) instead of 127.0.0.1:0. */
  everyInterface?: boolean;
}

/** The operator process with every log record kept, at debug level (tests/harness/operator.ts). */
export function startOperator(opts: StartOptions): OperatorProcess {
  return spawnOperator({ ...opts, logLevel: "debug", logs: "all" });
}

export { apiRequests, sample } from "../harness/metrics.ts";

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
