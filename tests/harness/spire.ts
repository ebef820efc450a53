/**
 * The SPIRE half of the e2e control plane: SPIRE Server (SQLite datastore, in-memory keys, API on
 * a Unix socket in a temp dir) and SPIRE Controller Manager (webhook off, talking to the test
 * API server and to that socket), so tests can drive kleym and read back the registration
 * entries SPIRE ends up with. See docs/spire-e2e.md.
 *
 * Binaries come from `.cache/testenv/bin` (built by hack/build-spire.sh from the pinned Go module
 * in hack/spire). Nothing here talks to a registry or to /work/shared.
 */
import { stringify } from "yaml";
import { type CrdName, crdText } from "../../hack/upstream.ts";
import { BIN_DIR, CACHE_DIR, waitEstablished } from "./controlplane.ts";
import { pollUntil } from "./poll.ts";
import { freePort, type ManagedProcess, spawnLogged, sweepStale } from "./process.ts";

export const SPIRE_SERVER = `${BIN_DIR}/spire-server`;
export const SPIRE_CONTROLLER_MANAGER = `${BIN_DIR}/spire-controller-manager`;

/** The CRDs SPIRE Controller Manager watches; it does not start without all three. */
export const SPIRE_CRDS: readonly CrdName[] = [
  "clusterspiffeids",
  "clusterstaticentries",
  "clusterfederatedtrustdomains",
];

/**
 * Where the stack runs. A `ControlPlane` fits (its processes and ours then share its pid file
 * and directory, so its sweep covers us); so does the shared `TestEnv` (no `dir`: the stack
 * gets its own directory under .cache/testenv/runs, swept the same way).
 */
export interface SpireHost {
  kubeconfigPath: string;
  kubectl(args: string[], opts?: { stdin?: string }): Promise<string>;
  /** Directory of the control plane; the stack's state goes in a sub-directory of it. */
  dir?: string;
  /** Used when present (a `ControlPlane` has it); otherwise CRDs are applied with kubectl. */
  installCrds?(names: readonly CrdName[]): Promise<void>;
}

export interface SpireOptions {
  /** SPIFFE trust domain of SPIRE Server and the controller manager, e.g. "example.org". */
  trustDomain: string;
  /**
   * The controller manager's `className`. Set: it reconciles only ClusterSPIFFEIDs whose
   * `spec.className` equals it (plus classless ones when `watchClassless`). Unset: only
   * classless ones.
   */
  className?: string;
  /** With `className`: also reconcile ClusterSPIFFEIDs that have no className. */
  watchClassless?: boolean;
  /** Cluster name used in parent IDs and by the k8s_psat attestor. Default "kleym-e2e". */
  clusterName?: string;
  /** Default "cluster.local". */
  clusterDomain?: string;
  /** The controller manager's idle resync period. Default 2000 ms (upstream default: 10 s). */
  gcIntervalMs?: number;
  /** Install the three SPIRE CRDs first (server-side apply, idempotent). Default true. */
  installCrds?: boolean;
  /** Controller manager log level ("debug", "info", ...). Default "info". */
  logLevel?: string;
}

/** A SPIFFE ID as SPIRE's API prints it. */
export interface RawSpiffeId {
  trust_domain: string;
  path: string;
}

/** One entry of `spire-server entry show -output json` (protojson, proto field names). */
export interface RawSpireEntry {
  id: string;
  spiffe_id: RawSpiffeId;
  parent_id: RawSpiffeId;
  selectors: { type: string; value: string }[];
  x509_svid_ttl: number;
  jwt_svid_ttl: number;
  federates_with: string[];
  admin: boolean;
  downstream: boolean;
  /** int64 fields are strings in protojson. */
  expires_at: string;
  dns_names: string[];
  revision_number: string;
  store_svid: boolean;
  hint: string;
  created_at: string;
}

/** A registration entry in the form tests assert on. */
export interface SpireEntry {
  id: string;
  /** `spiffe://<trust domain><path>` */
  spiffeId: string;
  parentId: string;
  /** `type:value`, sorted, e.g. `k8s:pod-uid:<uid>`, `k8s:ns:default`. */
  selectors: string[];
  hint: string;
  dnsNames: string[];
  federatesWith: string[];
  admin: boolean;
  downstream: boolean;
  raw: RawSpireEntry;
}

export interface SpireStack {
  /** The stack's state directory (configs, data, logs). */
  dir: string;
  /** SPIRE Server API socket. */
  socketPath: string;
  trustDomain: string;
  clusterName: string;
  className: string | undefined;
  serverLogPath: string;
  controllerManagerLogPath: string;
  /** Every (non-downstream) registration entry SPIRE Server holds, sorted by SPIFFE ID. */
  entries(): Promise<SpireEntry[]>;
  /**
   * The parent ID the controller manager gives entries of pods on a node: the agent ID SPIRE's
   * k8s_psat attestor would assign to an agent on that node.
   */
  agentId(nodeUid: string): string;
  /** Runs `spire-server <args> -socketPath <socket>`; throws with stderr on a non-zero exit. */
  spireServer(args: string[]): Promise<string>;
  /** Stops the controller manager, then SPIRE Server, and removes the state directory. */
  stop(): Promise<void>;
}

const DEFAULT_CLUSTER_NAME = "kleym-e2e";
/** Linux `sun_path` holds 108 bytes including the terminating NUL. */
const MAX_SOCKET_PATH = 107;

async function logTail(path: string, lines = 30): Promise<string> {
  try {
    return (await Deno.readTextFile(path)).trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

/** An HCL string literal (JSON string escapes are valid HCL). */
const hcl = (s: string) => JSON.stringify(s);

export function spireServerConfig(c: {
  trustDomain: string;
  clusterName: string;
  port: number;
  socketPath: string;
  dataDir: string;
  kubeconfigPath: string;
}): string {
  return `server {
  bind_address = "127.0.0.1"
  bind_port = "${c.port}"
  socket_path = ${hcl(c.socketPath)}
  trust_domain = ${hcl(c.trustDomain)}
  data_dir = ${hcl(c.dataDir)}
  log_level = "INFO"
}

plugins {
  DataStore "sql" {
    plugin_data {
      database_type = "sqlite3"
      connection_string = ${hcl(`${c.dataDir}/datastore.sqlite3`)}
    }
  }

  KeyManager "memory" {
    plugin_data {}
  }

  # No agent attests in these tests; k8s_psat is configured so that an agent on a node of this
  # cluster would get exactly the parent ID the controller manager renders.
  NodeAttestor "k8s_psat" {
    plugin_data {
      clusters = {
        ${hcl(c.clusterName)} = {
          service_account_allow_list = ["spire:spire-agent"]
          kube_config_file = ${hcl(c.kubeconfigPath)}
        }
      }
    }
  }
}
`;
}

export function controllerManagerConfig(c: {
  trustDomain: string;
  clusterName: string;
  clusterDomain: string;
  socketPath: string;
  gcIntervalMs: number;
  healthPort: number;
  className?: string;
  watchClassless?: boolean;
  logLevel: string;
}): string {
  const config: Record<string, unknown> = {
    apiVersion: "spire.spiffe.io/v1alpha1",
    kind: "ControllerManagerConfig",
    trustDomain: c.trustDomain,
    clusterName: c.clusterName,
    clusterDomain: c.clusterDomain,
    spireServerSocketPath: c.socketPath,
    // time.Duration in JSON: integer nanoseconds.
    gcInterval: c.gcIntervalMs * 1_000_000,
    // Upstream's defaults, anchored: upstream matches these regexes unanchored.
    ignoreNamespaces: ["^kube-system$", "^kube-public$", "^spire-system$"],
    logLevel: c.logLevel,
    metrics: { bindAddress: "0" },
    health: { healthProbeBindAddress: `127.0.0.1:${c.healthPort}` },
    leaderElection: { leaderElect: false },
  };
  if (c.className !== undefined) config.className = c.className;
  if (c.watchClassless !== undefined) config.watchClassless = c.watchClassless;
  return stringify(config);
}

function toEntry(raw: RawSpireEntry): SpireEntry {
  const id = (s: RawSpiffeId) => `spiffe://${s.trust_domain}${s.path}`;
  return {
    id: raw.id,
    spiffeId: id(raw.spiffe_id),
    parentId: id(raw.parent_id),
    selectors: raw.selectors.map((s) => `${s.type}:${s.value}`).sort(),
    hint: raw.hint,
    dnsNames: raw.dns_names,
    federatesWith: raw.federates_with,
    admin: raw.admin,
    downstream: raw.downstream,
    raw,
  };
}

async function applyCrds(host: SpireHost, names: readonly CrdName[]): Promise<void> {
  if (host.installCrds) return await host.installCrds(names);
  const texts = await Promise.all(names.map(crdText));
  await host.kubectl(["apply", "--server-side", "--force-conflicts", "-f", "-"], {
    stdin: texts.join("\n---\n"),
  });
  await waitEstablished(host.kubectl, names.map((n) => `crd/${n}.spire.spiffe.io`));
}

async function run(cmd: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  if (!out.success) {
    const err = new TextDecoder().decode(out.stderr).trim() ||
      new TextDecoder().decode(out.stdout).trim();
    throw new Error(`${cmd} ${args.join(" ")} failed: ${err}`);
  }
  return new TextDecoder().decode(out.stdout);
}

/**
 * Starts SPIRE Server and SPIRE Controller Manager against `host`'s API server and waits until
 * both answer (server: `spire-server healthcheck`; controller manager: its readiness probe).
 * Stop the stack before the control plane it runs against.
 */
export async function startSpire(host: SpireHost, opts: SpireOptions): Promise<SpireStack> {
  for (const b of [SPIRE_SERVER, SPIRE_CONTROLLER_MANAGER]) {
    try {
      Deno.statSync(b);
    } catch {
      throw new Error(`${b} is missing: run 'hack/build-spire.sh' first`);
    }
  }
  const clusterName = opts.clusterName ?? DEFAULT_CLUSTER_NAME;
  const trustDomain = opts.trustDomain;

  // State directory and pid file: inside the control plane's directory when there is one,
  // otherwise a run directory of our own that the next run's sweep can clean up.
  let dir: string;
  let pidFile: string;
  let ownRunDir: string | undefined;
  if (host.dir) {
    dir = await Deno.makeTempDir({ dir: host.dir, prefix: "spire-" });
    pidFile = `${host.dir}/pids`;
  } else {
    const runsDir = `${CACHE_DIR}/runs`;
    await Deno.mkdir(runsDir, { recursive: true });
    await sweepStale(runsDir);
    ownRunDir = await Deno.makeTempDir({ dir: runsDir, prefix: "spire-" });
    await Deno.writeTextFile(`${ownRunDir}/owner`, `${Deno.pid}\n`);
    dir = ownRunDir;
    pidFile = `${ownRunDir}/pids`;
  }
  const dataDir = `${dir}/data`;
  await Deno.mkdir(dataDir, { recursive: true });
  let socketDir = dir;
  let ownSocketDir: string | undefined;
  if (`${dir}/api.sock`.length > MAX_SOCKET_PATH) {
    ownSocketDir = await Deno.makeTempDir({ prefix: "kleym-spire-" });
    socketDir = ownSocketDir;
  }
  const socketPath = `${socketDir}/api.sock`;
  const serverLogPath = `${dir}/spire-server.log`;
  const controllerManagerLogPath = `${dir}/spire-controller-manager.log`;

  const processes: ManagedProcess[] = [];
  const cleanup = async () => {
    for (const p of [...processes].reverse()) await p.stop().catch(() => {});
    processes.length = 0;
    if (ownSocketDir) await Deno.remove(ownSocketDir, { recursive: true }).catch(() => {});
    await Deno.remove(ownRunDir ?? dir, { recursive: true }).catch(() => {});
  };
  const spireServer = (args: string[]) => run(SPIRE_SERVER, [...args, "-socketPath", socketPath]);

  try {
    if (opts.installCrds ?? true) await applyCrds(host, SPIRE_CRDS);

    const serverConfigPath = `${dir}/server.conf`;
    await Deno.writeTextFile(
      serverConfigPath,
      spireServerConfig({
        trustDomain,
        clusterName,
        port: freePort(),
        socketPath,
        dataDir,
        kubeconfigPath: host.kubeconfigPath,
      }),
    );
    const server = await spawnLogged({
      name: "spire-server",
      cmd: SPIRE_SERVER,
      args: ["run", "-config", serverConfigPath],
      logFile: serverLogPath,
      pidFile,
    });
    processes.push(server);
    await pollUntil("spire-server", 120_000, async () => {
      await spireServer(["healthcheck"]);
      return true;
    }, { exited: server.status }).catch(async (e) => {
      throw new Error(`${(e as Error).message}\n${await logTail(serverLogPath)}`);
    });

    const healthPort = freePort();
    const cmConfigPath = `${dir}/controller-manager.yaml`;
    await Deno.writeTextFile(
      cmConfigPath,
      controllerManagerConfig({
        trustDomain,
        clusterName,
        clusterDomain: opts.clusterDomain ?? "cluster.local",
        socketPath,
        gcIntervalMs: opts.gcIntervalMs ?? 2000,
        healthPort,
        className: opts.className,
        watchClassless: opts.watchClassless,
        logLevel: opts.logLevel ?? "info",
      }),
    );
    const cm = await spawnLogged({
      name: "spire-controller-manager",
      cmd: SPIRE_CONTROLLER_MANAGER,
      args: ["--config", cmConfigPath, "--kubeconfig", host.kubeconfigPath],
      env: { ENABLE_WEBHOOKS: "false" },
      logFile: controllerManagerLogPath,
      pidFile,
    });
    processes.push(cm);
    await pollUntil("spire-controller-manager", 120_000, async () => {
      const r = await fetch(`http://127.0.0.1:${healthPort}/readyz`);
      await r.body?.cancel();
      return r.ok;
    }, { exited: cm.status }).catch(async (e) => {
      throw new Error(`${(e as Error).message}\n${await logTail(controllerManagerLogPath)}`);
    });
  } catch (e) {
    await cleanup();
    throw e;
  }

  return {
    dir,
    socketPath,
    trustDomain,
    clusterName,
    className: opts.className,
    serverLogPath,
    controllerManagerLogPath,
    spireServer,
    async entries() {
      const text = await spireServer(["entry", "show", "-output", "json"]);
      const body = JSON.parse(text) as { entries?: RawSpireEntry[] | null };
      return (body.entries ?? []).map(toEntry).sort((a, b) =>
        a.spiffeId < b.spiffeId ? -1 : a.spiffeId > b.spiffeId ? 1 : a.id < b.id ? -1 : 1
      );
    },
    agentId(nodeUid) {
      return `spiffe://${trustDomain}/spire/agent/k8s_psat/${clusterName}/${nodeUid}`;
    },
    stop: cleanup,
  };
}
