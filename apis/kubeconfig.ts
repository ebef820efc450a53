/**
 * kubeconfig files -> `ConnectionConfig`, following kubectl's rules:
 *
 * - Which files: `--kubeconfig <path>` alone if given (it must exist); else every path in
 *   `KUBECONFIG` (split on ":"; empty entries and duplicates dropped; files that do not exist are
 *   skipped, but at least one must exist); else `$HOME/.kube/config`.
 * - Merging: for clusters, users and contexts the first file that defines a name wins;
 *   `current-context` comes from the first file that sets it.
 * - Relative paths (certificate-authority, client-certificate, client-key, tokenFile, and an exec
 *   command containing "/") are resolved against the directory of the file that holds them.
 * - Context: `--context` if given, else current-context. The context's namespace defaults to
 *   "default".
 * - Credentials, highest priority first: token, tokenFile, exec plugin, username/password; a client
 *   certificate may be combined with any of them (from files: re-read when they change).
 *   `auth-provider` is not supported (use exec).
 *
 * Files and merging: kubeconfig_files.ts; decoding (YAML -> typed, errors naming file and field):
 * kubeconfig_decode.ts; here the context is resolved into a `ConnectionConfig`. Everything that
 * can go wrong is a one-line `ConfigError`.
 */
import { execCredentials, staticCredentials, tokenFileCredentials } from "./auth.ts";
import { clientCertificateFiles } from "./cert_files.ts";
import type { Clock } from "./clock.ts";
import { ConfigError, describeCause } from "./errors.ts";
import type { ConnectionConfig, CredentialProvider } from "./transport.ts";
import type { Kubeconfig } from "./kubeconfig_decode.ts";
import { loadKubeconfig, type LoadOptions } from "./kubeconfig_files.ts";

export * from "./kubeconfig_decode.ts";
export * from "./kubeconfig_files.ts";

export interface ResolveOptions {
  /** `--context`: overrides current-context. */
  context?: string;
  clock?: Clock;
  /** Base environment for exec plugins (default: this process's). */
  execEnv?: Record<string, string>;
}

/** Pick the context and build the connection (reads CA/certificate files, sets up credentials). */
export async function resolveKubeconfig(
  kc: Kubeconfig,
  opts: ResolveOptions = {},
): Promise<ConnectionConfig> {
  const where = `kubeconfig ${kc.files.join(":")}`;
  const contextName = opts.context !== undefined && opts.context !== ""
    ? opts.context
    : kc.currentContext;
  if (kc.contexts.size === 0) {
    // An empty file, or YAML that is not a kubeconfig: "no current-context" would mislead.
    throw new ConfigError(
      `${where} defines no contexts (empty, or not a kubeconfig): point --kubeconfig or KUBECONFIG at a kubeconfig with a cluster, a user and a context`,
    );
  }
  if (!contextName) {
    throw new ConfigError(`${where} has no current-context; choose one with --context`);
  }
  const ctx = kc.contexts.get(contextName);
  if (!ctx) throw new ConfigError(`context "${contextName}" not found in ${where}`);
  const cl = kc.clusters.get(ctx.value.cluster);
  if (!cl) {
    throw new ConfigError(
      `context "${contextName}" in ${ctx.file} refers to cluster "${ctx.value.cluster}", which is not in ${where}`,
    );
  }
  const userName = ctx.value.user;
  const ue = userName ? kc.users.get(userName) : undefined;
  if (userName && !ue) {
    throw new ConfigError(
      `context "${contextName}" in ${ctx.file} refers to user "${userName}", which is not in ${where}`,
    );
  }
  const cluster = cl.value;
  const clusterWhat = `cluster "${cl.name}" in ${cl.file}`;
  if (!cluster.server) throw new ConfigError(`${clusterWhat} has no server`);
  let url: URL;
  try {
    url = new URL(cluster.server);
  } catch {
    throw new ConfigError(
      `${clusterWhat} has an invalid server URL ${JSON.stringify(cluster.server)}`,
    );
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw new ConfigError(`${clusterWhat}: server ${cluster.server} must be an http(s) URL`);
  }
  if (cluster.tlsServerName) {
    throw new ConfigError(`${clusterWhat} sets tls-server-name, which kleym does not support`);
  }
  if (cluster.proxyUrl) {
    throw new ConfigError(`${clusterWhat} sets proxy-url, which kleym does not support`);
  }
  const caPem = cluster.certificateAuthorityData !== undefined
    ? decodeBase64(cluster.certificateAuthorityData, `${clusterWhat}: certificate-authority-data`)
    : cluster.certificateAuthority !== undefined
    ? await readPem(cluster.certificateAuthority, `certificate-authority of ${clusterWhat}`)
    : undefined;

  const conn: ConnectionConfig = {
    server: cluster.server.replace(/\/+$/, ""),
    source: `context "${contextName}" in ${ctx.file}`,
    namespace: ctx.value.namespace || "default",
    caPem,
    insecureSkipTlsVerify: cluster.insecureSkipTlsVerify,
    context: contextName,
    user: ue?.name,
    auth: { kind: "none" },
  };
  if (!ue) return conn;

  const user = ue.value;
  const userWhat = `user "${ue.name}" in ${ue.file}`;
  const certPem = user.clientCertificateData !== undefined
    ? decodeBase64(user.clientCertificateData, `${userWhat}: client-certificate-data`)
    : user.clientCertificate !== undefined
    ? await readPem(user.clientCertificate, `client-certificate of ${userWhat}`)
    : undefined;
  const keyPem = user.clientKeyData !== undefined
    ? decodeBase64(user.clientKeyData, `${userWhat}: client-key-data`)
    : user.clientKey !== undefined
    ? await readPem(user.clientKey, `client-key of ${userWhat}`)
    : undefined;
  if ((certPem === undefined) !== (keyPem === undefined)) {
    throw new ConfigError(
      `${userWhat} has a client certificate without a key or a key without a certificate`,
    );
  }
  conn.clientCertPem = certPem;
  conn.clientKeyPem = keyPem;
  if (user.clientCertificate !== undefined && user.clientKey !== undefined) {
    // Both from files: re-read when they change (docs/contract.md#connection).
    conn.clientCertificate = await clientCertificateFiles(user.clientCertificate, user.clientKey, {
      clock: opts.clock,
      owner: userWhat,
    });
  }
  conn.impersonate = user.impersonate;

  let credentials: CredentialProvider | undefined;
  if (certPem !== undefined) conn.auth = { kind: "client-certificate" };
  if (user.token) {
    credentials = staticCredentials({ token: user.token });
    conn.auth = { kind: "token" };
  } else if (user.tokenFile) {
    credentials = tokenFileCredentials(user.tokenFile, { clock: opts.clock, owner: userWhat });
    conn.auth = { kind: "token-file", path: user.tokenFile };
  } else if (user.exec) {
    conn.auth = { kind: "exec", command: user.exec.command };
    credentials = execCredentials(user.exec, {
      clock: opts.clock,
      owner: userWhat,
      baseEnv: opts.execEnv,
      cluster: {
        server: cluster.server,
        "certificate-authority-data": caPem !== undefined ? btoa(caPem) : undefined,
        "insecure-skip-tls-verify": cluster.insecureSkipTlsVerify || undefined,
        config: cluster.execExtension,
      },
    });
  } else if (user.username !== undefined || user.password !== undefined) {
    credentials = staticCredentials({
      basic: { username: user.username ?? "", password: user.password ?? "" },
    });
    conn.auth = { kind: "basic" };
  } else if (user.authProvider && certPem === undefined) {
    throw new ConfigError(
      `${userWhat} uses auth-provider "${user.authProvider}", which kleym does not support; use an exec plugin`,
    );
  }
  conn.credentials = credentials;
  return conn;
}

/** Load the files and resolve the context in one go. */
export async function kubeconfigConnection(
  opts: LoadOptions & ResolveOptions = {},
): Promise<ConnectionConfig> {
  return await resolveKubeconfig(await loadKubeconfig(opts), opts);
}

async function readPem(path: string, what: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (err) {
    throw new ConfigError(`cannot read ${what} (${path}): ${describeCause(err)}`, { cause: err });
  }
}

function decodeBase64(b64: string, what: string): string {
  let bin: string;
  try {
    bin = atob(b64.replace(/\s+/g, ""));
  } catch {
    throw new ConfigError(`${what} is not valid base64`);
  }
  return new TextDecoder().decode(Uint8Array.from(bin, (c) => c.charCodeAt(0)));
}
