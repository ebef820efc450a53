/**
 * One kubeconfig file's text -> `Kubeconfig` (typed): YAML (or JSON) -> `unknown` -> typed, with
 * every shape error a one-line `ConfigError` naming the file and the field. Relative paths are
 * resolved against the file's directory here, so later steps never need to know where a value
 * came from.
 */
import { dirname, isAbsolute, resolve } from "node:path";
import type { ExecConfig } from "./auth.ts";
import { ConfigError } from "./errors.ts";
import type { Impersonation } from "./transport.ts";

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

/**
 * A kubeconfig's document. JSON (what tools and the test harness write; a subset of YAML) is read
 * with `JSON.parse`; only other text loads the YAML parser, so a process given a JSON kubeconfig,
 * or none (in-cluster), never holds it in memory (docs/benchmarks.md, "Memory").
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
  d.named(top.clusters, "clusters", "cluster", out.clusters, (v, at) => d.cluster(v, at));
  d.named(top.users, "users", "user", out.users, (v, at) => d.user(v, at));
  d.named(top.contexts, "contexts", "context", out.contexts, (v, at) => d.context(v, at));
  return out;
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

  /**
   * `clusters`, `users` or `contexts`: each item's `name` and its `field` decoded into `into`;
   * within one file, as across files, the first definition of a name wins.
   */
  named<T>(
    u: unknown,
    list: string,
    field: string,
    into: Map<string, Entry<T>>,
    decode: (value: unknown, at: string) => T,
  ): void {
    for (const [i, item] of this.list(u, list).entries()) {
      const at = `${list}[${i}]`;
      const o = this.object(item, at);
      const name = this.name(o.name, `${at}.name`);
      if (!into.has(name)) {
        into.set(name, { name, file: this.file, value: decode(o[field], `${at}.${field}`) });
      }
    }
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
