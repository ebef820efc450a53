/**
 * Which kubeconfig files, and how they merge (kubectl's rules): `--kubeconfig <path>` alone if
 * given (it must exist); else every path in `KUBECONFIG` (split on ":"; empty entries and
 * duplicates dropped; files that do not exist are skipped, but at least one must exist); else
 * `$HOME/.kube/config`. For clusters, users and contexts the first file that defines a name wins;
 * `current-context` comes from the first file that sets it.
 */
import { ConfigError, describeCause } from "./errors.ts";
import { type Kubeconfig, parseKubeconfig } from "./kubeconfig_decode.ts";

export interface LoadOptions {
  /** `--kubeconfig`: use exactly this file. */
  kubeconfig?: string;
  /** Environment lookup (default `Deno.env.get`). */
  env?: (name: string) => string | undefined;
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
