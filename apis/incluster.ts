/**
 * In-cluster connection: server from KUBERNETES_SERVICE_HOST/KUBERNETES_SERVICE_PORT, CA and
 * namespace from the service-account directory, and the (projected, rotating) token re-read from
 * `token` when the cached copy is older than a minute and after every 401.
 */
import { tokenFileCredentials } from "./auth.ts";
import type { Clock } from "./clock.ts";
import { ConfigError, describeCause } from "./errors.ts";
import type { ConnectionConfig } from "./transport.ts";

export const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

export interface InClusterOptions {
  env?: (name: string) => string | undefined;
  /** Default `/var/run/secrets/kubernetes.io/serviceaccount`. */
  dir?: string;
  clock?: Clock;
  tokenMaxAgeMs?: number;
}

/** True when the process looks like it runs in a pod (service host and port are set). */
export function inClusterAvailable(
  env: (name: string) => string | undefined = (n) => Deno.env.get(n),
): boolean {
  return !!env("KUBERNETES_SERVICE_HOST") && !!env("KUBERNETES_SERVICE_PORT");
}

export async function inClusterConnection(opts: InClusterOptions = {}): Promise<ConnectionConfig> {
  const env = opts.env ?? ((n: string) => Deno.env.get(n));
  const dir = opts.dir ?? SERVICE_ACCOUNT_DIR;
  const host = env("KUBERNETES_SERVICE_HOST");
  const port = env("KUBERNETES_SERVICE_PORT");
  if (!host || !port) {
    throw new ConfigError(
      "not running in a cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must both be set",
    );
  }
  const hostPart = host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
  let caPem: string;
  try {
    caPem = await Deno.readTextFile(`${dir}/ca.crt`);
  } catch (err) {
    throw new ConfigError(`cannot read in-cluster CA ${dir}/ca.crt: ${describeCause(err)}`, {
      cause: err,
    });
  }
  let namespace = "default";
  try {
    namespace = (await Deno.readTextFile(`${dir}/namespace`)).trim() || "default";
  } catch {
    // optional: fall back to "default" like client-go
  }
  const credentials = tokenFileCredentials(`${dir}/token`, {
    clock: opts.clock,
    maxAgeMs: opts.tokenMaxAgeMs,
    owner: "in-cluster service account",
  });
  // Fail at start-up, not on the first request, when the token is missing.
  await credentials.get();
  return {
    server: `https://${hostPart}:${port}`,
    source: "in-cluster service account",
    namespace,
    caPem,
    credentials,
    auth: { kind: "service-account" },
  };
}
