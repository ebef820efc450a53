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
 *   certificate may be combined with any of them (from files: re-read when they change). `auth-provider` is not supported (use exec).
 *
 * Decoding happens once here: YAML -> `unknown` -> `Kubeconfig` (typed) with every shape error
 * named by file and field. Everything that can go wrong is a one-line `ConfigError`.
 */
import {
  type ExecConfig,
  execCredentials,
  staticCredentials,
  tokenFileCredentials,
} from "./auth.ts";
import { clientCertificateFiles } from "./cert_files.ts";
import type { Clock } from "./clock.ts";
import { dirname, isAbsolute, resolve } from "node:path";
import { ConfigError, describeCause } from "./errors.ts";
import type { ConnectionConfig, CredentialProvider, Impersonation } from "./transport.ts";

export interface KubeconfigCluster {
  server?: string;
  certificateAuthority?: string;
  certificateAuthorityData?: string;
  insecureSkipTlsVerify: boolean;
  tlsServerName?: string;
  proxyUrl?: string;
  /** `extensions` entry named "client.authentication.k8s.io/exec", passed to exec plugins. */
  execExtension?: unknown;
}

export interface KubeconfigUser {
  clientCertificate?: string;
  clientCertificateData?: string;
  clientKey?: string;
  clientKeyData?: string;
  token?: string;
  tokenFile?: string;
  username?: string;
  password?: string;
  exec?: ExecConfig;
  authProvider?: string;
  impersonate?: Impersonation;
}

export interface KubeconfigContext {
  cluster: string;
  user: string;
  namespace?: string;
}

/** A named entry and the file it came from. */
export interface Entry<T> {
  name: string;
  file: string;
  value: T;
}

export interface Kubeconfig {
  /** Files merged, in order (only those that exist). */
  files: string[];
  currentContext?: string;
  clusters: Map<string, Entry<KubeconfigCluster>>;
  users: Map<string, Entry<KubeconfigUser>>;
  contexts: Map<string, Entry<KubeconfigContext>>;
}

export interface LoadOptions {
  /** `--kubeconfig`: use exactly this file. */
  kubeconfig?: string;
  /** Environment lookup (default `Deno.env.get`). */
  env?: (name: string) => string | undefined;
}

export interface ResolveOptions {
  /** `--context`: overrides current-context. */
  context?: string;
  clock?: Clock;
  /** Base environment for exec plugins (default: this process's). */
  execEnv?: Record<string, string>;
}

/** The file list kubectl would use, and whether missing files are an error. */
export function kubeconfigPaths(opts: LoadOptions = {}): { paths: string[]; explicit: boolean } {
  const env = opts.env ?? ((n: string) => Deno.env.get(n));
  if (opts.kubeconfig !== undefined && opts.kubeconfig !== "") {
    return { paths: [opts.kubeconfig], explicit: true };
  }
  const list = env("KUBECONFIG");
  if (list !== undefined && list.trim() !== "") {
    const seen = new Set<string>();
    const paths: string[] = [];
    for (const p of list.split(":")) {
      if (p === "" || seen.has(p)) continue;
      seen.add(p);
      paths.push(p);
    }
    return { paths, explicit: false };
  }
  const home = env("HOME") ?? "";
  return { paths: [`${home}/.kube/config`], explicit: true };
}

/** Read and merge the kubeconfig files selected by `opts`. */
export async function loadKubeconfig(opts: LoadOptions = {}): Promise<Kubeconfig> {
  const { paths, explicit } = kubeconfigPaths(opts);
  const parsed: Kubeconfig[] = [];
  for (const path of paths) {
    let text: string;
    try {
      text = await Deno.readTextFile(path);
    } catch (err) {
      if (err instanceof Deno.errors.NotFound && !explicit) continue;
      if (err instanceof Deno.errors.NotFound) {
        throw new ConfigError(`kubeconfig ${path} does not exist`, { cause: err });
      }
      throw new ConfigError(`cannot read kubeconfig ${path}: ${describeCause(err)}`, {
        cause: err,
      });
    }
    parsed.push(await parseKubeconfig(text, path));
  }
  if (parsed.length === 0) {
    throw new ConfigError(`no kubeconfig found: none of KUBECONFIG=${paths.join(":")} exists`);
  }
  return mergeKubeconfigs(parsed);
}

/** Merge in priority order: the first definition of each name (and of current-context) wins. */
export function mergeKubeconfigs(configs: readonly Kubeconfig[]): Kubeconfig {
  const out: Kubeconfig = {
    files: [],
    clusters: new Map(),
    users: new Map(),
    contexts: new Map(),
  };
  for (const c of configs) {
    out.files.push(...c.files);
    if (out.currentContext === undefined && c.currentContext) out.currentContext = c.currentContext;
    for (const [k, v] of c.clusters) if (!out.clusters.has(k)) out.clusters.set(k, v);
    for (const [k, v] of c.users) if (!out.users.has(k)) out.users.set(k, v);
    for (const [k, v] of c.contexts) if (!out.contexts.has(k)) out.contexts.set(k, v);
  }
  return out;
}

/**
 * A kubeconfig's document. JSON (what tools and the test harness write; a subset of YAML) is read
 * with `JSON.parse`; only other text loads the YAML parser, so a process given a JSON kubeconfig,
 * or none (in-cluster), never holds it in memory (issue 15).
 */
async function parseDocument(text: string): Promise<unknown> {
  if (/^\s*\{/.test(text)) {
    try {
      return JSON.parse(text);
    } catch {
      // not JSON after all (a YAML flow mapping, say): the YAML parser decides and words the error
    }
  }
  const { parse } = await import("yaml");
  return parse(text);
}

/** Decode one kubeconfig file's text. Relative paths are resolved against `path`'s directory. */
export async function parseKubeconfig(text: string, path: string): Promise<Kubeconfig> {
  let doc: unknown;
  try {
    doc = await parseDocument(text);
  } catch (err) {
    // The YAML error's first line says what and where; the rest is a source excerpt.
    const first = (err instanceof Error ? err.message : String(err)).split("\n")[0];
    throw new ConfigError(
      `kubeconfig ${path} is not valid YAML (${first}): point --kubeconfig or KUBECONFIG at a kubeconfig file`,
      { cause: err },
    );
  }
  const d = new Decoder(path, resolve(dirname(path)));
  const out: Kubeconfig = {
    files: [path],
    clusters: new Map(),
    users: new Map(),
    contexts: new Map(),
  };
  if (doc === null || doc === undefined) return out;
  if (typeof doc !== "object" || Array.isArray(doc)) {
    throw new ConfigError(
      `kubeconfig ${path} is not a kubeconfig (its top level is not a mapping): point --kubeconfig or KUBECONFIG at a kubeconfig file`,
    );
  }
  const top = d.object(doc, "(top level)");
  const cc = d.optString(top["current-context"], "current-context");
  if (cc) out.currentContext = cc;
  for (const [i, item] of d.list(top.clusters, "clusters").entries()) {
    const at = `clusters[${i}]`;
    const o = d.object(item, at);
    const name = d.name(o.name, `${at}.name`);
    if (!out.clusters.has(name)) {
      out.clusters.set(name, { name, file: path, value: d.cluster(o.cluster, `${at}.cluster`) });
    }
  }
  for (const [i, item] of d.list(top.users, "users").entries()) {
    const at = `users[${i}]`;
    const o = d.object(item, at);
    const name = d.name(o.name, `${at}.name`);
    if (!out.users.has(name)) {
      out.users.set(name, { name, file: path, value: d.user(o.user, `${at}.user`) });
    }
  }
  for (const [i, item] of d.list(top.contexts, "contexts").entries()) {
    const at = `contexts[${i}]`;
    const o = d.object(item, at);
    const name = d.name(o.name, `${at}.name`);
    if (!out.contexts.has(name)) {
      out.contexts.set(name, { name, file: path, value: d.context(o.context, `${at}.context`) });
    }
  }
  return out;
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

/** Shape checks for one file; every message names the file and the field. */
class Decoder {
  constructor(readonly file: string, readonly dir: string) {}

  fail(at: string, want: string): never {
    throw new ConfigError(`kubeconfig ${this.file}: ${at} must be ${want}`);
  }

  object(u: unknown, at: string): Record<string, unknown> {
    if (u === null || u === undefined) return {};
    if (typeof u !== "object" || Array.isArray(u)) this.fail(at, "a mapping");
    return u as Record<string, unknown>;
  }

  list(u: unknown, at: string): unknown[] {
    if (u === null || u === undefined) return [];
    if (!Array.isArray(u)) this.fail(at, "a list");
    return u;
  }

  optString(u: unknown, at: string): string | undefined {
    if (u === null || u === undefined) return undefined;
    if (typeof u !== "string") this.fail(at, "a string");
    return u;
  }

  name(u: unknown, at: string): string {
    const s = this.optString(u, at);
    if (!s) this.fail(at, "a non-empty string");
    return s;
  }

  bool(u: unknown, at: string): boolean {
    if (u === null || u === undefined) return false;
    if (typeof u !== "boolean") this.fail(at, "true or false");
    return u;
  }

  path(u: unknown, at: string): string | undefined {
    const s = this.optString(u, at);
    if (!s) return undefined;
    return isAbsolute(s) ? s : resolve(this.dir, s);
  }

  stringList(u: unknown, at: string): string[] {
    return this.list(u, at).map((v, i) => this.name(v, `${at}[${i}]`));
  }

  cluster(u: unknown, at: string): KubeconfigCluster {
    const o = this.object(u, at);
    let execExtension: unknown;
    for (const [i, e] of this.list(o.extensions, `${at}.extensions`).entries()) {
      const x = this.object(e, `${at}.extensions[${i}]`);
      if (x.name === "client.authentication.k8s.io/exec") execExtension = x.extension;
    }
    return {
      server: this.optString(o.server, `${at}.server`),
      certificateAuthority: this.path(o["certificate-authority"], `${at}.certificate-authority`),
      certificateAuthorityData: this.optString(
        o["certificate-authority-data"],
        `${at}.certificate-authority-data`,
      ),
      insecureSkipTlsVerify: this.bool(
        o["insecure-skip-tls-verify"],
        `${at}.insecure-skip-tls-verify`,
      ),
      tlsServerName: this.optString(o["tls-server-name"], `${at}.tls-server-name`),
      proxyUrl: this.optString(o["proxy-url"], `${at}.proxy-url`),
      execExtension,
    };
  }

  user(u: unknown, at: string): KubeconfigUser {
    const o = this.object(u, at);
    const s = (k: string) => this.optString(o[k], `${at}.${k}`);
    const user: KubeconfigUser = {
      clientCertificate: this.path(o["client-certificate"], `${at}.client-certificate`),
      clientCertificateData: s("client-certificate-data"),
      clientKey: this.path(o["client-key"], `${at}.client-key`),
      clientKeyData: s("client-key-data"),
      token: s("token"),
      tokenFile: this.path(o.tokenFile, `${at}.tokenFile`),
      username: s("username"),
      password: s("password"),
    };
    if (o["auth-provider"] !== undefined && o["auth-provider"] !== null) {
      const ap = this.object(o["auth-provider"], `${at}.auth-provider`);
      user.authProvider = this.optString(ap.name, `${at}.auth-provider.name`) ?? "(unnamed)";
    }
    if (o.exec !== undefined && o.exec !== null) user.exec = this.exec(o.exec, `${at}.exec`);
    const as = s("as");
    const asUid = s("as-uid");
    const asGroups = this.stringList(o["as-groups"], `${at}.as-groups`);
    const extraObj = this.object(o["as-user-extra"], `${at}.as-user-extra`);
    const extra: Record<string, string[]> = {};
    for (const [k, v] of Object.entries(extraObj)) {
      extra[k] = this.stringList(v, `${at}.as-user-extra.${k}`);
    }
    if (as || asUid || asGroups.length > 0 || Object.keys(extra).length > 0) {
      user.impersonate = { user: as, uid: asUid, groups: asGroups, extra };
    }
    return user;
  }

  exec(u: unknown, at: string): ExecConfig {
    const o = this.object(u, at);
    const command = this.name(o.command, `${at}.command`);
    const apiVersion = this.name(o.apiVersion, `${at}.apiVersion`);
    if (
      apiVersion !== "client.authentication.k8s.io/v1" &&
      apiVersion !== "client.authentication.k8s.io/v1beta1"
    ) {
      this.fail(`${at}.apiVersion`, "client.authentication.k8s.io/v1 or v1beta1");
    }
    const env = this.list(o.env, `${at}.env`).map((e, i) => {
      const x = this.object(e, `${at}.env[${i}]`);
      return {
        name: this.name(x.name, `${at}.env[${i}].name`),
        value: this.optString(x.value, `${at}.env[${i}].value`) ?? "",
      };
    });
    const mode = this.optString(o.interactiveMode, `${at}.interactiveMode`);
    if (mode !== undefined && mode !== "Never" && mode !== "IfAvailable" && mode !== "Always") {
      this.fail(`${at}.interactiveMode`, "Never, IfAvailable or Always");
    }
    return {
      // kubectl resolves a command with a path separator against the kubeconfig's directory
      command: command.includes("/") && !isAbsolute(command) ? resolve(this.dir, command) : command,
      args: this.list(o.args, `${at}.args`).map((a, i) => {
        const v = this.optString(a, `${at}.args[${i}]`);
        return v ?? "";
      }),
      env,
      apiVersion,
      installHint: this.optString(o.installHint, `${at}.installHint`),
      provideClusterInfo: this.bool(o.provideClusterInfo, `${at}.provideClusterInfo`),
      interactiveMode: mode,
    };
  }

  context(u: unknown, at: string): KubeconfigContext {
    const o = this.object(u, at);
    return {
      cluster: this.optString(o.cluster, `${at}.cluster`) ?? "",
      user: this.optString(o.user, `${at}.user`) ?? "",
      namespace: this.optString(o.namespace, `${at}.namespace`),
    };
  }
}
