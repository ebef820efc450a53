/**
 * Credential providers (see `CredentialProvider` in transport.ts):
 *
 * - `staticCredentials`: a token or basic auth that never changes.
 * - `tokenFileCredentials`: a bearer token read from a file, re-read when the cached copy is older
 *   than `maxAgeMs` (default 60 s) and after a 401 — this is how projected service-account tokens
 *   rotate under us.
 * - `execCredentials`: a `client.authentication.k8s.io/v1` or `v1beta1` exec plugin. Its output
 *   (token or client certificate) is cached until `status.expirationTimestamp` (forever if absent)
 *   and re-run after a 401. The plugin gets `KUBERNETES_EXEC_INFO` (with the cluster when
 *   `provideClusterInfo` is set), never a terminal. Concurrent callers share one run. A run that
 *   takes longer than `timeoutMs` (30 s) is killed: one `ConfigError` line (exec_run.ts).
 *
 * Every failure is a `ConfigError` naming the file or the plugin command and user.
 */
import { type Clock, realClock } from "./clock.ts";
import { ConfigError, describeCause } from "./errors.ts";
import { inheritedTlsEnv } from "./default_roots.ts";
import { EXEC_TIMEOUT_MS, type PluginOutput, runPlugin } from "./exec_run.ts";
import type { CredentialProvider, Credentials } from "./transport.ts";

export function staticCredentials(creds: Credentials): CredentialProvider {
  const frozen = Object.freeze({ ...creds });
  return { get: () => Promise.resolve(frozen), invalidate: () => {} };
}

export interface TokenFileOptions {
  clock?: Clock;
  /** Re-read when the cached token is older than this. Default 60 000. */
  maxAgeMs?: number;
  /** For messages, e.g. `user "x" in /path/kubeconfig`. */
  owner?: string;
}

export function tokenFileCredentials(
  path: string,
  opts: TokenFileOptions = {},
): CredentialProvider {
  const clock = opts.clock ?? realClock;
  const maxAge = opts.maxAgeMs ?? 60_000;
  let cached: { token: string; readAt: number } | undefined;
  const whose = opts.owner ? ` (${opts.owner})` : "";
  return {
    async get(): Promise<Credentials> {
      if (cached && clock.monotonic() - cached.readAt < maxAge) return { token: cached.token };
      let text: string;
      try {
        text = await Deno.readTextFile(path);
      } catch (err) {
        // a transient failure keeps the last good token rather than failing every request
        if (cached) return { token: cached.token };
        throw new ConfigError(`cannot read token file ${path}${whose}: ${describeCause(err)}`, {
          cause: err,
        });
      }
      const token = text.trim();
      if (token.length === 0) throw new ConfigError(`token file ${path}${whose} is empty`);
      cached = { token, readAt: clock.monotonic() };
      return { token };
    },
    invalidate(): void {
      cached = undefined;
    },
  };
}

export type ExecApiVersion =
  | "client.authentication.k8s.io/v1"
  | "client.authentication.k8s.io/v1beta1";

export interface ExecConfig {
  command: string;
  args?: readonly string[];
  env?: readonly { name: string; value: string }[];
  apiVersion: ExecApiVersion;
  installHint?: string;
  provideClusterInfo?: boolean;
  interactiveMode?: "Never" | "IfAvailable" | "Always";
}

/** The cluster as passed to a plugin in KUBERNETES_EXEC_INFO when `provideClusterInfo` is set. */
export interface ExecClusterInfo {
  server: string;
  "certificate-authority-data"?: string;
  "insecure-skip-tls-verify"?: boolean;
  "tls-server-name"?: string;
  "proxy-url"?: string;
  config?: unknown;
}

export interface ExecOptions {
  clock?: Clock;
  /** `user "x" in /path/kubeconfig`, for messages. */
  owner: string;
  cluster?: ExecClusterInfo;
  /** Base environment for the plugin, replacing this process's (default: inherit this process's). */
  baseEnv?: Record<string, string>;
  /** How long one run may take before it is killed (default `EXEC_TIMEOUT_MS`, 30 s). */
  timeoutMs?: number;
}

export function execCredentials(exec: ExecConfig, opts: ExecOptions): CredentialProvider {
  const clock = opts.clock ?? realClock;
  let cached: { creds: Credentials; expiresAt?: number } | undefined;
  let inflight: Promise<Credentials> | undefined;

  const run = async (): Promise<Credentials> => {
    const what = `exec plugin "${exec.command}" of ${opts.owner}`;
    if (exec.interactiveMode === "Always") {
      throw new ConfigError(`${what} requires an interactive terminal (interactiveMode: Always)`);
    }
    const info: Record<string, unknown> = {
      apiVersion: exec.apiVersion,
      kind: "ExecCredential",
      spec: exec.provideClusterInfo && opts.cluster
        ? { interactive: false, cluster: opts.cluster }
        : { interactive: false },
    };
    // Like kubectl, the plugin gets this process's environment plus its own entries. Without a
    // baseEnv the child inherits the environment from the OS, so the operator never has to read
    // (and be granted) all of its environment variables (docs/permissions.md). The trust settings
    // go back to what this process was started with (default_roots.ts emptied them for itself).
    const env: Record<string, string> = { ...opts.baseEnv, ...inheritedTlsEnv() };
    for (const e of exec.env ?? []) env[e.name] = e.value;
    env.KUBERNETES_EXEC_INFO = JSON.stringify(info);
    let out: PluginOutput;
    const timeoutMs = opts.timeoutMs ?? EXEC_TIMEOUT_MS;
    try {
      out = await runPlugin({
        command: exec.command,
        args: [...(exec.args ?? [])],
        env,
        clearEnv: opts.baseEnv !== undefined,
        timeoutMs,
        clock,
      });
    } catch (err) {
      const hint = exec.installHint ? `; ${exec.installHint}` : "";
      if (err instanceof Deno.errors.NotFound) {
        throw new ConfigError(`${what}: command not found${hint}`, { cause: err });
      }
      throw new ConfigError(`${what} could not start: ${describeCause(err)}${hint}`, {
        cause: err,
      });
    }
    if (out.timedOut) {
      throw new ConfigError(
        `${what} did not finish within ${
          timeoutMs / 1000
        }s and was stopped: it must print its credential without waiting for input`,
      );
    }
    if (out.code !== 0) {
      const stderr = out.stderr.trim().split("\n").slice(-1)[0] ?? "";
      throw new ConfigError(
        `${what} failed with exit code ${out.code}${stderr ? `: ${stderr}` : ""}`,
      );
    }
    const parsed = parseExecCredential(out.stdout, exec.apiVersion, what);
    cached = parsed;
    return parsed.creds;
  };

  return {
    get(): Promise<Credentials> {
      if (cached && (cached.expiresAt === undefined || clock.now() < cached.expiresAt)) {
        return Promise.resolve(cached.creds);
      }
      // One shared run, deliberately not tied to any one caller's signal: an aborted request must
      // not fail the others waiting on the same plugin run. Its own deadline bounds it.
      inflight ??= run().finally(() => inflight = undefined);
      return inflight;
    },
    invalidate(): void {
      cached = undefined;
    },
  };
}

/** Decode a plugin's stdout (an ExecCredential) into credentials and an expiry. */
export function parseExecCredential(
  stdout: string,
  apiVersion: ExecApiVersion,
  what: string,
): { creds: Credentials; expiresAt?: number } {
  let u: unknown;
  try {
    u = JSON.parse(stdout);
  } catch {
    throw new ConfigError(`${what} printed no valid JSON ExecCredential`);
  }
  if (typeof u !== "object" || u === null) {
    throw new ConfigError(`${what} printed no ExecCredential object`);
  }
  const o = u as { apiVersion?: unknown; kind?: unknown; status?: unknown };
  if (o.kind !== "ExecCredential") {
    throw new ConfigError(`${what} printed kind ${JSON.stringify(o.kind)}, want ExecCredential`);
  }
  if (o.apiVersion !== apiVersion) {
    throw new ConfigError(
      `${what} printed apiVersion ${JSON.stringify(o.apiVersion)}, want ${apiVersion}`,
    );
  }
  const st = (typeof o.status === "object" && o.status !== null ? o.status : {}) as Record<
    string,
    unknown
  >;
  const str = (k: string): string | undefined =>
    typeof st[k] === "string" && (st[k] as string).length > 0 ? st[k] as string : undefined;
  const token = str("token");
  const certPem = str("clientCertificateData");
  const keyPem = str("clientKeyData");
  if (!token && !(certPem && keyPem)) {
    throw new ConfigError(
      `${what} returned neither status.token nor status.clientCertificateData and clientKeyData`,
    );
  }
  if ((certPem === undefined) !== (keyPem === undefined)) {
    throw new ConfigError(`${what} returned only one of clientCertificateData and clientKeyData`);
  }
  let expiresAt: number | undefined;
  const exp = str("expirationTimestamp");
  if (exp !== undefined) {
    expiresAt = Date.parse(exp);
    if (Number.isNaN(expiresAt)) {
      throw new ConfigError(
        `${what} returned an invalid expirationTimestamp ${JSON.stringify(exp)}`,
      );
    }
  }
  const creds: Credentials = token ? { token } : {};
  if (certPem && keyPem) {
    creds.certPem = certPem;
    creds.keyPem = keyPem;
  }
  return { creds: Object.freeze(creds), expiresAt };
}
