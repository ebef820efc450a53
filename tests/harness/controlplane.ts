/**
 * A real Kubernetes control plane for tests: etcd + kube-apiserver on free loopback ports,
 * TLS from a throw-away CA, RBAC authorisation, a service-account issuer and signing key (so the
 * TokenRequest API works), an admin client-certificate kubeconfig, and the CRDs kleym reads and
 * writes (docs/contract.md#testing).
 *
 * Binaries come from `.cache/testenv/bin` (built by hack/build-controlplane.sh from pinned Go
 * modules). Flags follow controller-runtime's envtest: the ServiceAccount admission plugin is
 * off because no controller creates default service accounts here.
 */
import { parseAllDocuments, stringify } from "yaml";
import { type CrdName, crdText, DEFAULT_CRDS } from "../../hack/upstream.ts";
import { createPki, issueClientCert, type Pki } from "./pki.ts";
import { pollUntil } from "./poll.ts";
import { freePort, isOurProcess, type ManagedProcess, spawnLogged, sweepStale } from "./process.ts";

export const REPO_ROOT = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");
export const CACHE_DIR = `${REPO_ROOT}/.cache/testenv`;
export const BIN_DIR = `${CACHE_DIR}/bin`;
export const KUBECTL = `${BIN_DIR}/kubectl`;

/** kleym's own CRD plus the upstream ones. */
export type InstallableCrd = "kleym" | CrdName;
export const ALL_DEFAULT_CRDS: readonly InstallableCrd[] = ["kleym", ...DEFAULT_CRDS];

export interface ControlPlaneOptions {
  /** CRDs to install at start (default: kleym's, GAIE pools/objectives, ClusterSPIFFEID). */
  crds?: readonly InstallableCrd[];
  /** Where to keep state; default a fresh directory under .cache/testenv/runs. */
  dir?: string;
  /**
   * API Priority and Fairness (default off, for fast deterministic tests). Runs that rely on the
   * server protecting itself from an unthrottled client turn it on (bench).
   */
  priorityAndFairness?: boolean;
  /** Extra kube-apiserver flags, e.g. `--max-requests-inflight=10` (bench's 429 run). */
  apiServerArgs?: readonly string[];
}

export interface ControlPlane {
  dir: string;
  kubeconfigPath: string;
  server: string;
  caPem: string;
  pki: Pki;
  etcdUrl: string;
  /** Runs the built kubectl as admin; throws with stderr on a non-zero exit. */
  kubectl(args: string[], opts?: { stdin?: string }): Promise<string>;
  installCrds(names: readonly InstallableCrd[]): Promise<void>;
  uninstallCrds(names: readonly InstallableCrd[]): Promise<void>;
  /** Client certificate kubeconfig for another user (e.g. a restricted one). */
  userKubeconfig(user: string, groups?: string[]): Promise<string>;
  restartApiServer(): Promise<void>;
  /** Compacts etcd history up to the current revision (old resourceVersions become 410 Gone). */
  compactEtcd(): Promise<void>;
  stop(): Promise<void>;
  /** Leaves the processes running after this process exits (`make cluster-up`). */
  detach(): void;
}

export function kubeconfigYaml(server: string, caPem: string, user: { cert: string; key: string }) {
  const b64 = (s: string) => btoa(s);
  return stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [{
      name: "kleym-test",
      cluster: { server, "certificate-authority-data": b64(caPem) },
    }],
    users: [{
      name: "admin",
      user: { "client-certificate-data": b64(user.cert), "client-key-data": b64(user.key) },
    }],
    contexts: [{ name: "kleym-test", context: { cluster: "kleym-test", user: "admin" } }],
    "current-context": "kleym-test",
  });
}

export async function runKubectl(
  kubeconfig: string,
  args: string[],
  opts: { stdin?: string } = {},
): Promise<string> {
  const child = new Deno.Command(KUBECTL, {
    args: ["--kubeconfig", kubeconfig, ...args],
    stdin: opts.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (opts.stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(opts.stdin));
    await w.close();
  }
  const out = await child.output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    throw new Error(
      `kubectl ${args.join(" ")} failed: ${new TextDecoder().decode(out.stderr).trim()}`,
    );
  }
  return text;
}

/** kleym's CRD, taken from crds.yaml (the manifest users apply). */
export async function kleymCrdText(): Promise<string> {
  const docs = parseAllDocuments(await Deno.readTextFile(`${REPO_ROOT}/crds.yaml`));
  for (const d of docs) {
    const o = d.toJSON() as { kind?: string } | null;
    if (o?.kind === "CustomResourceDefinition") return stringify(o);
  }
  throw new Error("crds.yaml holds no CustomResourceDefinition");
}

async function crdManifest(name: InstallableCrd): Promise<string> {
  return name === "kleym" ? await kleymCrdText() : await crdText(name);
}

function crdResourceName(manifest: string): string {
  const o = parseAllDocuments(manifest)[0].toJSON() as { metadata: { name: string } };
  return o.metadata.name;
}

export async function startControlPlane(opts: ControlPlaneOptions = {}): Promise<ControlPlane> {
  for (const b of ["etcd", "kube-apiserver", "kubectl"]) {
    try {
      Deno.statSync(`${BIN_DIR}/${b}`);
    } catch {
      throw new Error(`${BIN_DIR}/${b} is missing: run 'make controlplane' first`);
    }
  }
  const runsDir = `${CACHE_DIR}/runs`;
  await Deno.mkdir(runsDir, { recursive: true });
  await sweepStale(runsDir);
  const dir = opts.dir ?? await Deno.makeTempDir({ dir: runsDir, prefix: "cp-" });
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(`${dir}/owner`, `${Deno.pid}\n`);
  const pidFile = `${dir}/pids`;
  const pki = await createPki(`${dir}/pki`);
  const caPem = await Deno.readTextFile(pki.caCert);
  const admin = await issueClientCert(pki, "kleym-admin", ["system:masters"]);

  const etcdPort = freePort();
  const peerPort = freePort();
  const etcdUrl = `http://127.0.0.1:${etcdPort}`;
  const etcdArgs = [
    `--data-dir=${dir}/etcd`,
    `--listen-client-urls=${etcdUrl}`,
    `--advertise-client-urls=${etcdUrl}`,
    `--listen-peer-urls=http://127.0.0.1:${peerPort}`,
    `--initial-advertise-peer-urls=http://127.0.0.1:${peerPort}`,
    `--initial-cluster=default=http://127.0.0.1:${peerPort}`,
    "--unsafe-no-fsync",
    "--log-level=warn",
  ];
  const etcd = await spawnLogged({
    name: "etcd",
    cmd: `${BIN_DIR}/etcd`,
    args: etcdArgs,
    logFile: `${dir}/etcd.log`,
    pidFile,
  });
  const processes: ManagedProcess[] = [etcd];
  const stopAll = async () => {
    for (const p of processes.reverse()) await p.stop().catch(() => {});
  };
  try {
    await pollUntil("etcd", 120_000, async () => {
      const r = await fetch(`${etcdUrl}/health`);
      const body = await r.text();
      return r.ok && body.includes("true");
    }, { exited: etcd.status });

    const apiPort = freePort();
    const server = `https://127.0.0.1:${apiPort}`;
    const apiArgs = [
      `--etcd-servers=${etcdUrl}`,
      `--secure-port=${apiPort}`,
      "--bind-address=127.0.0.1",
      "--advertise-address=127.0.0.1",
      `--cert-dir=${dir}/apiserver-certs`,
      `--tls-cert-file=${pki.serverCert}`,
      `--tls-private-key-file=${pki.serverKey}`,
      `--client-ca-file=${pki.caCert}`,
      "--authorization-mode=RBAC",
      `--service-account-issuer=${server}`,
      `--service-account-key-file=${pki.saPublicKey}`,
      `--service-account-signing-key-file=${pki.saPrivateKey}`,
      "--service-cluster-ip-range=10.0.0.0/24",
      "--disable-admission-plugins=ServiceAccount",
      "--allow-privileged=true",
      "--endpoint-reconciler-type=none",
      `--enable-priority-and-fairness=${opts.priorityAndFairness === true}`,
      "--v=1",
      ...(opts.apiServerArgs ?? []),
    ];
    const kubeconfigPath = `${dir}/kubeconfig`;
    await Deno.writeTextFile(kubeconfigPath, kubeconfigYaml(server, caPem, admin));
    const client = Deno.createHttpClient({ caCerts: [caPem], cert: admin.cert, key: admin.key });
    const startApi = async () => {
      const p = await spawnLogged({
        name: "kube-apiserver",
        cmd: `${BIN_DIR}/kube-apiserver`,
        args: apiArgs,
        logFile: `${dir}/kube-apiserver.log`,
        pidFile,
      });
      await pollUntil("kube-apiserver", 180_000, async () => {
        const r = await fetch(`${server}/readyz`, { client });
        await r.body?.cancel();
        return r.ok;
      }, { exited: p.status });
      return p;
    };
    let api = await startApi();
    processes.push(api);

    const kubectl = (args: string[], o?: { stdin?: string }) => runKubectl(kubeconfigPath, args, o);
    const installCrds = async (names: readonly InstallableCrd[]) => {
      const texts = await Promise.all(names.map(crdManifest));
      if (texts.length === 0) return;
      // Server-side apply: the upstream CRDs are too large for client-side apply's annotation.
      await kubectl(["apply", "--server-side", "--force-conflicts", "-f", "-"], {
        stdin: texts.join("\n---\n"),
      });
      await waitEstablished(kubectl, texts.map((t) => `crd/${crdResourceName(t)}`));
    };
    const uninstallCrds = async (names: readonly InstallableCrd[]) => {
      const texts = await Promise.all(names.map(crdManifest));
      const resources = texts.map((t) => `crd/${crdResourceName(t)}`);
      if (resources.length === 0) return;
      await kubectl(["delete", "--ignore-not-found", "--wait=true", ...resources]);
    };
    await installCrds(opts.crds ?? ALL_DEFAULT_CRDS);

    const cp: ControlPlane = {
      dir,
      kubeconfigPath,
      server,
      caPem,
      pki,
      etcdUrl,
      kubectl,
      installCrds,
      uninstallCrds,
      async userKubeconfig(user, groups = []) {
        const cred = await issueClientCert(pki, user, groups);
        const path = `${dir}/kubeconfig-${user.replace(/[^a-zA-Z0-9]/g, "_")}`;
        await Deno.writeTextFile(path, kubeconfigYaml(server, caPem, cred));
        return path;
      },
      async restartApiServer() {
        await api.stop();
        const i = processes.indexOf(api);
        api = await startApi();
        processes[i] = api;
      },
      async compactEtcd() {
        const r = await fetch(`${etcdUrl}/v3/kv/range`, {
          method: "POST",
          body: JSON.stringify({ key: btoa("\0"), limit: 1 }),
        });
        const body = await r.json() as { header: { revision: string } };
        const c = await fetch(`${etcdUrl}/v3/kv/compaction`, {
          method: "POST",
          body: JSON.stringify({ revision: body.header.revision, physical: true }),
        });
        await c.body?.cancel();
        if (!c.ok) throw new Error(`etcd compaction failed: HTTP ${c.status}`);
      },
      detach() {
        client.close();
        for (const p of processes) p.unref();
      },
      async stop() {
        client.close();
        await stopAll();
        await Deno.remove(dir, { recursive: true }).catch(() => {});
      },
    };
    return cp;
  } catch (e) {
    await stopAll();
    throw e;
  }
}

/** Stops a detached control plane (`make cluster-down`) by its pid file. */
export async function stopDetached(dir: string): Promise<number> {
  let pids: number[] = [];
  try {
    pids = (await Deno.readTextFile(`${dir}/pids`)).split("\n").filter(Boolean).map(Number);
  } catch {
    return 0;
  }
  let stopped = 0;
  // apiserver first (listed last), then etcd.
  for (const pid of pids.reverse()) {
    if (!isOurProcess(pid)) continue;
    try {
      Deno.kill(pid, "SIGTERM");
      stopped++;
    } catch { /* gone */ }
    await pollUntil(`pid ${pid} gone`, 10_000, () => !isOurProcess(pid)).catch(() => {
      if (isOurProcess(pid)) Deno.kill(pid, "SIGKILL");
    });
  }
  await Deno.remove(dir, { recursive: true }).catch(() => {});
  return stopped;
}

/**
 * Waits until every CRD in `resources` (`crd/<name>`) is Established. `kubectl wait` fails at once
 * ("conditions accessor error") when it reads a CRD before the API server has written its first
 * conditions, which a loaded machine makes likely; such a failure is retried until the deadline.
 */
export async function waitEstablished(
  kubectl: (args: string[]) => Promise<unknown>,
  resources: readonly string[],
): Promise<void> {
  await pollUntil(`${resources.join(", ")} Established`, 60_000, async () => {
    await kubectl(["wait", "--for=condition=Established", "--timeout=20s", ...resources]);
    return true;
  });
}
