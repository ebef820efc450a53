/**
 * Shared pieces of the kleym end-to-end tests (not a test file itself): the run's shared control
 * plane, kleym as a separate process with exactly its permissions (tests/integration's
 * operator_support), a SPIRE stack (tests/harness/spire.ts), Nodes and Pods created straight
 * through the API, the example fixtures moved into a test namespace, and the registration
 * entries SPIRE Server ends up with, compared field by field. See docs/spire-e2e.md.
 */
import { parse } from "yaml";
import { REPO_ROOT } from "../harness/controlplane.ts";
import { type TestEnv, testEnv } from "../harness/env.ts";
import type { SpireEntry, SpireStack } from "../harness/spire.ts";
import {
  applyDeploy,
  type OperatorProcess,
  serviceAccountKubeconfig,
  startOperator,
  tempDir,
  TRUST_DOMAIN,
} from "../integration/operator_support.ts";
import { pollUntil } from "../harness/poll.ts";
export { pollUntil };

export { TRUST_DOMAIN };

const EXAMPLES = `${REPO_ROOT}/tests/fixtures/examples`;
export type Example = "per-objective" | "pool-only" | "collision";

/** What kleym declares for one binding: the SPIFFE ID, its workload selectors, the hint. */
export interface Identity {
  spiffeId: string;
  /** Sorted, without the pod-uid selector SPIRE Controller Manager adds per pod. */
  selectors: string[];
  hint: string;
}

/** A Pod the test created, with what its entry must carry. */
export interface PodRef {
  namespace: string;
  name: string;
  uid: string;
  nodeName: string;
  nodeUid: string;
}

export interface NodeRef {
  name: string;
  uid: string;
}

/** The fields of an entry the acceptance is about (IDs, timestamps and TTLs left out). */
export interface EntryView {
  spiffeId: string;
  parentId: string;
  selectors: string[];
  hint: string;
  admin: boolean;
  downstream: boolean;
}

interface ObjectMeta {
  metadata: { name: string; namespace?: string; uid: string };
}

interface ExpectedFixture {
  clusterSPIFFEIDs: {
    spec: { spiffeIDTemplate: string; workloadSelectorTemplates: string[]; hint: string };
  }[];
}

/** A fixture's input manifest, moved from `default` to `namespace`. */
export function fixtureIn(example: Example, namespace: string): string {
  return Deno.readTextFileSync(`${EXAMPLES}/${example}/input.yaml`).replaceAll(
    "namespace: default",
    `namespace: ${namespace}`,
  );
}

/**
 * The identity a fixture's expected.yaml declares, moved from `default` to `namespace` (in these
 * fixtures "default" occurs in the SPIFFE ID, the selectors and the hint only as the namespace).
 */
export function fixtureIdentity(example: Example, namespace: string): Identity {
  const want = parse(
    Deno.readTextFileSync(`${EXAMPLES}/${example}/expected.yaml`),
  ) as ExpectedFixture;
  if (want.clusterSPIFFEIDs.length !== 1) {
    throw new Error(`${example}: expected exactly one ClusterSPIFFEID in expected.yaml`);
  }
  const spec = want.clusterSPIFFEIDs[0].spec;
  const move = (s: string) => s.replaceAll("default", namespace);
  return {
    spiffeId: move(spec.spiffeIDTemplate),
    selectors: spec.workloadSelectorTemplates.map(move).sort(),
    hint: move(spec.hint),
  };
}

export function view(e: SpireEntry): EntryView {
  return {
    spiffeId: e.spiffeId,
    parentId: e.parentId,
    selectors: e.selectors,
    hint: e.hint,
    admin: e.admin,
    downstream: e.downstream,
  };
}

const podUidOf = (v: EntryView) => v.selectors.find((s) => s.startsWith("k8s:pod-uid:")) ?? "";
const byPodUid = (a: EntryView, b: EntryView) =>
  podUidOf(a) < podUidOf(b) ? -1 : podUidOf(a) > podUidOf(b) ? 1 : 0;

/** One entry per pod: the identity, the pod's node's agent ID as parent, pod-uid added. */
export function expectedEntries(stack: SpireStack, id: Identity, pods: PodRef[]): EntryView[] {
  return pods.map((p) => ({
    spiffeId: id.spiffeId,
    parentId: stack.agentId(p.nodeUid),
    selectors: [...id.selectors, `k8s:pod-uid:${p.uid}`].sort(),
    hint: id.hint,
    admin: false,
    downstream: false,
  })).sort(byPodUid);
}

/** The stack's entries carrying `spiffeId`, in the order `expectedEntries` uses. */
export function entriesWithId(entries: SpireEntry[], spiffeId: string): EntryView[] {
  return entries.filter((e) => e.spiffeId === spiffeId).map(view).sort(byPodUid);
}

/** Entries whose selectors name one of `pods`. */
export function entriesForPods(entries: SpireEntry[], pods: PodRef[]): EntryView[] {
  const uids = new Set(pods.map((p) => `k8s:pod-uid:${p.uid}`));
  return entries.filter((e) => e.selectors.some((s) => uids.has(s))).map(view).sort(byPodUid);
}

async function tail(path: string, lines = 25): Promise<string> {
  try {
    return (await Deno.readTextFile(path)).trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

/**
 * Polls the stack's entries until `done` holds; on the deadline throws with the last listing
 * (projected by `show`) and the controller manager's log tail.
 */
export async function waitForEntries(
  stack: SpireStack,
  what: string,
  done: (entries: SpireEntry[]) => boolean,
  show: (entries: SpireEntry[]) => unknown = (es) => es.map(view),
  deadlineMs = 60_000,
): Promise<SpireEntry[]> {
  let last: SpireEntry[] = [];
  try {
    return await pollUntil(what, deadlineMs, async () => {
      last = await stack.entries();
      return done(last) && last;
    }, 250);
  } catch { /* reported below with the last listing */ }
  throw new Error(
    `${what}: not reached within ${deadlineMs} ms; last entries: ${
      JSON.stringify(show(last), null, 1)
    }\ncontroller manager log tail:\n${await tail(stack.controllerManagerLogPath)}`,
  );
}

/** Polls until the entries carrying `id.spiffeId` are exactly one per pod in `pods`. */
export async function waitForIdentityEntries(
  stack: SpireStack,
  id: Identity,
  pods: PodRef[],
): Promise<EntryView[]> {
  const want = JSON.stringify(expectedEntries(stack, id, pods));
  const entries = await waitForEntries(
    stack,
    `entries of ${id.spiffeId} for ${pods.map((p) => p.name).join(", ") || "no pod"}`,
    (es) => JSON.stringify(entriesWithId(es, id.spiffeId)) === want,
    (es) => ({ want: JSON.parse(want), got: entriesWithId(es, id.spiffeId) }),
  );
  return entriesWithId(entries, id.spiffeId);
}

async function createJson(env: TestEnv, obj: unknown): Promise<ObjectMeta> {
  return JSON.parse(
    await env.kubectl(["create", "-o", "json", "-f", "-"], { stdin: JSON.stringify(obj) }),
  ) as ObjectMeta;
}

/** A random lowercase suffix for cluster-scoped names (Nodes, hand-written ClusterSPIFFEIDs). */
export function suffix(): string {
  return crypto.getRandomValues(new Uint32Array(1))[0].toString(36);
}

export async function createNode(env: TestEnv, name: string): Promise<NodeRef> {
  const n = await createJson(env, { apiVersion: "v1", kind: "Node", metadata: { name } });
  return { name, uid: n.metadata.uid };
}

/**
 * A Pod bound to `node` (no scheduler or kubelet runs: `spec.nodeName` is set directly), running
 * as `serviceAccountName` with one container `containerName`, like a model server of the examples.
 */
export async function createPod(env: TestEnv, p: {
  namespace: string;
  name: string;
  labels: Record<string, string>;
  node: NodeRef;
  serviceAccountName?: string;
  containerName?: string;
}): Promise<PodRef> {
  const pod = await createJson(env, {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: p.name, namespace: p.namespace, labels: p.labels },
    spec: {
      nodeName: p.node.name,
      serviceAccountName: p.serviceAccountName ?? "inference-sa",
      containers: [{ name: p.containerName ?? "main", image: "registry.invalid/model-server:1" }],
    },
  });
  return {
    namespace: p.namespace,
    name: p.name,
    uid: pod.metadata.uid,
    nodeName: p.node.name,
    nodeUid: p.node.uid,
  };
}

export interface BindingStatus {
  conditions?: { type: string; status: string; reason: string; message?: string }[];
  computedSpiffeIDs?: { spiffeID: string; mode: string }[];
  renderedSelectors?: { spiffeID: string; selectors: string[] }[];
  trustDomain?: string;
  clusterSPIFFEIDClassName?: string;
}

export async function bindingStatus(
  env: TestEnv,
  ns: string,
  name: string,
): Promise<BindingStatus> {
  const b = JSON.parse(
    await env.kubectl(["get", "inferenceidentitybindings", name, "-n", ns, "-o", "json"]),
  ) as { status?: BindingStatus };
  return b.status ?? {};
}

/** Polls until the binding's Ready condition has `reason`; returns the status. */
export async function waitReady(
  env: TestEnv,
  ns: string,
  name: string,
  reason = "Reconciled",
): Promise<BindingStatus> {
  return await pollUntil(`${ns}/${name} Ready reason ${reason}`, 60_000, async () => {
    const s = await bindingStatus(env, ns, name);
    const ready = s.conditions?.find((c) => c.type === "Ready");
    return ready?.reason === reason ? s : undefined;
  });
}

export interface ClusterSPIFFEIDStats {
  namespacesSelected?: number;
  namespacesIgnored?: number;
  podsSelected?: number;
  podEntryRenderFailures?: number;
  entriesMasked?: number;
  entriesToSet?: number;
  entryFailures?: number;
}

export interface ManagedClusterSPIFFEID {
  metadata: { name: string; labels?: Record<string, string> };
  spec: { spiffeIDTemplate: string; className?: string };
  status?: { stats?: ClusterSPIFFEIDStats };
}

/** kleym's ClusterSPIFFEIDs of one binding (by its labels). */
export async function managedClusterSPIFFEIDs(
  env: TestEnv,
  ns: string,
  binding: string,
): Promise<ManagedClusterSPIFFEID[]> {
  const list = JSON.parse(
    await env.kubectl([
      "get",
      "clusterspiffeids",
      "-l",
      `kleym.sonda.red/managed-by=kleym,kleym.sonda.red/binding-namespace=${ns},kleym.sonda.red/binding-name=${binding}`,
      "-o",
      "json",
    ]),
  ) as { items: ManagedClusterSPIFFEID[] };
  return list.items;
}

/** A running kleym operator process on the shared control plane, as deploy.yaml's identity. */
export interface Kleym {
  env: TestEnv;
  operator: OperatorProcess;
  /** Operator log tail, for failure messages. */
  logTail(lines?: number): string;
  stop(): Promise<void>;
}

/**
 * Applies deploy.yaml (all but the Deployment), then starts kleym from source with exactly its
 * permissions, authenticated as the `kleym` ServiceAccount; waits for /readyz (caches synced).
 */
export async function startKleym(name: string, args: string[] = []): Promise<Kleym> {
  const env = await testEnv();
  await applyDeploy(env);
  const dir = await tempDir();
  const kubeconfig = await serviceAccountKubeconfig(env, dir);
  const operator = startOperator({ name, kubeconfig, args });
  const stop = async () => {
    await operator.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  try {
    const health = await operator.healthAddress();
    await pollUntil(`${name} ready`, 120_000, async () => {
      if (operator.exitCode !== undefined) throw new Error(`${name} exited ${operator.exitCode}`);
      const r = await fetch(`http://${health}/readyz`);
      await r.body?.cancel();
      return r.ok;
    });
  } catch (e) {
    await stop();
    throw e;
  }
  return {
    env,
    operator,
    logTail: (lines = 30) => operator.logs.slice(-lines).map((l) => JSON.stringify(l)).join("\n"),
    stop,
  };
}

interface Stoppable {
  stop(): Promise<unknown>;
}

/** Waits for two things started in parallel; if either fails, stops the other and throws. */
export async function startedTogether<A extends Stoppable, B extends Stoppable>(
  a: Promise<A>,
  b: Promise<B>,
): Promise<[A, B]> {
  const [ra, rb] = await Promise.allSettled([a, b]);
  if (ra.status === "fulfilled" && rb.status === "fulfilled") return [ra.value, rb.value];
  if (ra.status === "fulfilled") await ra.value.stop();
  if (rb.status === "fulfilled") await rb.value.stop();
  throw ra.status === "rejected" ? ra.reason : (rb as PromiseRejectedResult).reason;
}

/**
 * Removes what a scenario created: bindings first (kleym, still running, removes their
 * finalizers and ClusterSPIFFEIDs), then the rest of the namespace's objects, the namespaces
 * and the Nodes. Errors are collected, not thrown half-way.
 */
export async function cleanUp(
  env: TestEnv,
  namespaces: string[],
  nodes: NodeRef[],
): Promise<string[]> {
  const errors: string[] = [];
  const attempt = async (args: string[]) => {
    try {
      await env.kubectl(args);
    } catch (e) {
      errors.push((e as Error).message);
    }
  };
  await Promise.all(namespaces.map((ns) =>
    attempt([
      "delete",
      "inferenceidentitybindings",
      "--all",
      "-n",
      ns,
      "--wait=true",
      "--timeout=60s",
    ])
  ));
  await Promise.all([
    ...namespaces.map(async (ns) => {
      // No kubelet confirms a graceful deletion of a pod bound to a node: force it.
      await attempt(["delete", "pods", "--all", "-n", ns, "--grace-period=0", "--force"]);
      await attempt(["delete", "namespace", ns, "--wait=false"]);
    }),
    ...nodes.map((n) => attempt(["delete", "node", n.name, "--wait=false"])),
  ]);
  return errors;
}
