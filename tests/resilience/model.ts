/**
 * An independent model of docs/contract.md#api to docs/contract.md#status for the resilience suite:
 * from the inputs as the API server holds them (bindings, pools, objectives, with CRD defaults
 * applied), what every binding's status and the set of managed ClusterSPIFFEIDs must be. Written
 * from the contract's text (docs/contract.md), not from `reconcile/`: it imports nothing from there
 * (SHA-1 comes from `node:crypto`), so a bug in the operator's pure core cannot hide itself by also
 * being in the oracle.
 *
 * Where the contract leaves an order open, the model follows the order the project documents
 * (docs/reconciler.md, "Decisions of the pure core"): spec fields in the order mode, poolRef,
 * objectiveRef (PerObjective), serviceAccountName, containerName; then the binding name (it must
 * fit a label value); then resolution (pool, then objective); then the pool selector; then the
 * objective-targets-the-pool rule; then the exclusivity rules (docs/contract.md#exclusivity: 5.1
 * same selection, 5.2 same SPIFFE ID with another selection, 5.3 overlap — a status change only
 * with `--identity-overlap=refuse`; in warn mode the model counts the overlapping bindings for the
 * `kleym_identity_overlaps` gauge); then the name holder.
 *
 * Name aliasing: the Go-compatible name (docs/contract.md#naming) truncates
 * `kleym-<namespace>-<binding>` to 44 (pool: 49) characters, so in a long namespace the binding's
 * name is cut away entirely and two bindings with the same SPIFFE ID (PoolOnly twins: one pool and
 * service account, so no 5.2 duplicate) want the same ClusterSPIFFEID name. The contract then says
 * (docs/contract.md#ownership): never overwrite an object that is not this binding's; report it.
 * Which binding got there first is a race, so the model takes the holder from the cluster
 * (`holders`, from the objects' owner labels): the holder must be Ready, every other member
 * RenderFailure/ClusterSPIFFEIDNameTaken naming the holder. The suite creates no foreign
 * (unlabelled) objects at a desired name.
 */
import { createHash } from "node:crypto";

export const K8S_GROUP = "inference.networking.k8s.io";
export const XK8S_GROUP = "inference.networking.x-k8s.io";
export type PoolVersion = `${typeof K8S_GROUP}/v1` | `${typeof XK8S_GROUP}/v1alpha2`;
export type ObjectiveVersion = `${typeof XK8S_GROUP}/v1alpha2` | `${typeof K8S_GROUP}/v1`;
export const POOL_ORDER: readonly PoolVersion[] = [`${K8S_GROUP}/v1`, `${XK8S_GROUP}/v1alpha2`];
export const OBJECTIVE_ORDER: readonly ObjectiveVersion[] = [
  `${XK8S_GROUP}/v1alpha2`,
  `${K8S_GROUP}/v1`,
];

export const CONDITIONS = ["Ready", "Conflict", "InvalidRef", "UnsafeSelector", "RenderFailure"];
export type FailingCondition = "Conflict" | "InvalidRef" | "UnsafeSelector" | "RenderFailure";

/** The loosely typed objects the model reads (as listed from the API server). */
export interface Meta {
  name?: string;
  namespace?: string;
  uid?: string;
  generation?: number;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
  resourceVersion?: string;
}
export interface Obj {
  apiVersion?: string;
  kind?: string;
  metadata: Meta;
  spec?: unknown;
  status?: unknown;
}

export interface ModelInputs {
  trustDomain: string;
  /** `--identity-overlap` of the operator under test; default warn. */
  identityOverlap?: "warn" | "refuse";
  bindings: readonly Obj[];
  pools: readonly { version: PoolVersion; object: Obj }[];
  objectives: readonly { version: ObjectiveVersion; object: Obj }[];
}

export interface ExpectedIdentity {
  mode: "PoolOnly" | "PerObjective";
  spiffeID: string;
  selectors: string[];
  podLabels: Record<string, string>;
  csidName: string;
}

export interface ExpectedBinding {
  namespace: string;
  name: string;
  uid: string;
  generation: number | undefined;
  ready: boolean;
  /** Ready's reason (`Reconciled` on success). */
  reason: string;
  /** The condition that is True on failure. */
  condition?: FailingCondition;
  /** Exact message when the model knows it (collisions). */
  message?: string;
  /** A fragment the failure message must contain (the holder of an aliased name). */
  messageIncludes?: string;
  identity?: ExpectedIdentity;
}

export interface ExpectedCsid {
  name: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  spec: Record<string, unknown>;
}

export interface ExpectedState {
  bindings: Map<string, ExpectedBinding>;
  csids: Map<string, ExpectedCsid>;
  /** Bindings with at least one 5.3 overlap peer (the `kleym_identity_overlaps` gauge). */
  overlapping: number;
}

class Fail {
  constructor(readonly condition: FailingCondition, readonly reason: string) {}
}

const rec = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);
const unset = (v: unknown) => v === undefined || v === null || v === "";

const LABEL_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const SUBDOMAIN_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const QUALIFIED_RE = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

export const isDnsLabel = (s: string) => s.length <= 63 && LABEL_RE.test(s);
export const isDnsSubdomain = (s: string) => s.length <= 253 && SUBDOMAIN_RE.test(s);
export function isLabelKey(k: string): boolean {
  const i = k.indexOf("/");
  const [prefix, name] = i < 0 ? [undefined, k] : [k.slice(0, i), k.slice(i + 1)];
  if (prefix !== undefined && !isDnsSubdomain(prefix)) return false;
  return name.length >= 1 && name.length <= 63 && QUALIFIED_RE.test(name);
}
export const isLabelValue = (v: string) => v === "" || (v.length <= 63 && QUALIFIED_RE.test(v));

function groupOk(v: unknown): string | undefined | false {
  if (unset(v)) return undefined;
  return v === K8S_GROUP || v === XK8S_GROUP ? v : false;
}

interface Spec {
  mode: "PoolOnly" | "PerObjective";
  pool: { name: string; group?: string };
  objective?: { name: string; group?: string };
  sa: string;
  container?: string;
}

function decodeSpec(raw: unknown): Spec {
  const s = rec(raw) ? raw : {};
  let mode: Spec["mode"];
  if (unset(s.mode)) mode = "PerObjective";
  else if (s.mode === "PoolOnly" || s.mode === "PerObjective") mode = s.mode;
  else throw new Fail("RenderFailure", "UnsupportedMode");
  const pr = rec(s.poolRef) ? s.poolRef : {};
  if (typeof pr.name !== "string" || pr.name === "") throw new Fail("InvalidRef", "InvalidPoolRef");
  const pg = groupOk(pr.group);
  if (pg === false) throw new Fail("InvalidRef", "InvalidPoolRef");
  let objective: Spec["objective"];
  if (mode === "PerObjective") {
    const or = rec(s.objectiveRef) ? s.objectiveRef : {};
    if (typeof or.name !== "string" || or.name === "") {
      throw new Fail("RenderFailure", "MissingObjectiveRef");
    }
    const og = groupOk(or.group);
    if (og === false) throw new Fail("InvalidRef", "InvalidObjectiveRef");
    objective = { name: or.name, group: og };
  }
  if (typeof s.serviceAccountName !== "string" || !isDnsSubdomain(s.serviceAccountName)) {
    throw new Fail("RenderFailure", "InvalidServiceAccountName");
  }
  let container: string | undefined;
  if (mode === "PoolOnly") {
    if (!unset(s.containerName)) throw new Fail("RenderFailure", "UnexpectedContainerName");
  } else {
    if (typeof s.containerName !== "string" || !isDnsLabel(s.containerName)) {
      throw new Fail("RenderFailure", "InvalidContainerName");
    }
    container = s.containerName;
  }
  return {
    mode,
    pool: { name: pr.name, group: pg },
    objective,
    sa: s.serviceAccountName,
    container,
  };
}

function podLabelsOf(version: PoolVersion, pool: Obj): Record<string, string> {
  const bad = () => new Fail("UnsafeSelector", "InvalidPoolSelector");
  const spec = rec(pool.spec) ? pool.spec : {};
  const sel = spec.selector;
  if (!rec(sel)) throw bad();
  let labels: unknown = sel;
  if (version === `${K8S_GROUP}/v1`) {
    const me = sel.matchExpressions;
    if (!unset(me) && !(Array.isArray(me) && me.length === 0)) throw bad();
    if (Object.keys(sel).some((k) => k !== "matchLabels" && k !== "matchExpressions")) throw bad();
    labels = sel.matchLabels;
  }
  if (!rec(labels) || Object.keys(labels).length === 0) throw bad();
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(labels)) {
    if (k !== k.trim() || !isLabelKey(k)) throw bad();
    if (typeof v !== "string" || v !== v.trim() || !isLabelValue(v)) throw bad();
    out[k] = v;
  }
  return out;
}

const byCodeUnits = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

export function sanitize(raw: string): string {
  const s = raw.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-+/, "").replace(/-+$/, "");
  return s === "" ? "kleym" : s;
}

export function csidName(ns: string, binding: string, mode: Spec["mode"], id: string): string {
  const m = mode === "PoolOnly" ? "pool" : "objective";
  const suffix = createHash("sha1").update(id).digest("hex").slice(0, 8);
  const base = sanitize(`kleym-${ns}-${binding}`).slice(0, 63 - m.length - 8 - 2).replace(
    /-+$/,
    "",
  );
  return `${base}-${m}-${suffix}`;
}

interface Rendered {
  identity: ExpectedIdentity;
  fingerprint: string;
  sa: string;
  /** PerObjective only. */
  container?: string;
}

function render(inputs: ModelInputs, b: Obj): Rendered {
  const ns = b.metadata.namespace ?? "";
  const name = b.metadata.name ?? "";
  const spec = decodeSpec(b.spec);
  if (name.length > 63) throw new Fail("RenderFailure", "InvalidBindingName");
  const pool = find(inputs.pools, POOL_ORDER, ns, spec.pool.name, spec.pool.group);
  if (pool === undefined) throw new Fail("InvalidRef", "TargetPoolNotFound");
  let objective: Obj | undefined;
  if (spec.mode === "PerObjective") {
    const o = spec.objective!;
    objective = find(inputs.objectives, OBJECTIVE_ORDER, ns, o.name, o.group)?.object;
    if (objective === undefined) throw new Fail("InvalidRef", "TargetObjectiveNotFound");
  }
  const podLabels = podLabelsOf(pool.version, pool.object);
  if (objective !== undefined) {
    const os = rec(objective.spec) ? objective.spec : {};
    const ref = rec(os.poolRef) ? os.poolRef : {};
    const poolGroup = pool.version.split("/")[0];
    const badRef = ref.name !== spec.pool.name ||
      (!unset(ref.kind) && ref.kind !== "InferencePool") ||
      (!unset(ref.group) && ref.group !== poolGroup);
    if (badRef) throw new Fail("InvalidRef", "InvalidObjectiveRef");
  }
  const leaf = spec.mode === "PoolOnly"
    ? `pool/${spec.pool.name}`
    : `objective/${spec.objective!.name}`;
  const spiffeID = `spiffe://${inputs.trustDomain}/ns/${ns}/${leaf}`;
  const selectors = new Set([`k8s:ns:${ns}`, `k8s:sa:${spec.sa}`]);
  for (const [k, v] of Object.entries(podLabels)) selectors.add(`k8s:pod-label:${k}:${v}`);
  if (spec.container !== undefined) selectors.add(`k8s:container-name:${spec.container}`);
  const sorted = [...selectors].sort(byCodeUnits);
  const sortedLabels = Object.fromEntries(
    Object.entries(podLabels).sort(([a], [b]) => byCodeUnits(a, b)),
  );
  return {
    identity: {
      mode: spec.mode,
      spiffeID,
      selectors: sorted,
      podLabels: sortedLabels,
      csidName: csidName(ns, name, spec.mode, spiffeID),
    },
    fingerprint: JSON.stringify([ns, sortedLabels, sorted]),
    sa: spec.sa,
    container: spec.mode === "PerObjective" ? spec.container : undefined,
  };
}

function find<V extends string>(
  all: readonly { version: V; object: Obj }[],
  order: readonly V[],
  ns: string,
  name: string,
  group: string | undefined,
): { version: V; object: Obj } | undefined {
  for (const v of order) {
    if (group !== undefined && !v.startsWith(`${group}/`)) continue;
    const hit = all.find((x) =>
      x.version === v && x.object.metadata.namespace === ns && x.object.metadata.name === name
    );
    if (hit) return hit;
  }
  return undefined;
}

export const key = (ns: string, name: string) => `${ns}/${name}`;

export function duplicateMessage(id: string, peers: string[]): string {
  return `SPIFFE ID ${id} is also rendered by bindings ${
    [...peers].sort(byCodeUnits).join(", ")
  } with different selectors: one SPIFFE ID must select one set of workloads`;
}

/**
 * 5.3 between two renderings of one namespace, in the contract's words: one container of one pod
 * can match both — same service account, no label key both require with different values,
 * containers that meet (same name, or either PoolOnly) — while the SPIFFE IDs differ.
 */
function overlaps(a: Rendered, b: Rendered): boolean {
  if (a.identity.spiffeID === b.identity.spiffeID || a.sa !== b.sa) return false;
  if (a.container !== undefined && b.container !== undefined && a.container !== b.container) {
    return false;
  }
  const la = a.identity.podLabels;
  const lb = b.identity.podLabels;
  return Object.keys(la).every((k) => !(k in lb) || lb[k] === la[k]);
}

export function collisionMessage(peers: string[]): string {
  return `identity collision with bindings ${
    [...peers].sort(byCodeUnits).join(", ")
  }: PerObjective bindings must not share the same pod selector and container name`;
}

/**
 * What the contract dictates for these inputs. `holders`: ClusterSPIFFEID name -> `ns/name` of the
 * binding whose owner labels it carries (only consulted for aliased names, see the header).
 */
export function expectState(
  inputs: ModelInputs,
  holders: ReadonlyMap<string, string> = new Map(),
): ExpectedState {
  const rendered = new Map<string, Rendered | Fail>();
  for (const b of inputs.bindings) {
    const k = key(b.metadata.namespace ?? "", b.metadata.name ?? "");
    try {
      rendered.set(k, render(inputs, b));
    } catch (e) {
      if (!(e instanceof Fail)) throw e;
      rendered.set(k, e);
    }
  }
  // docs/contract.md#same-selection: PerObjective bindings that render, not being deleted, grouped
  // by fingerprint.
  const groups = new Map<string, string[]>();
  for (const b of inputs.bindings) {
    const r = rendered.get(key(b.metadata.namespace ?? "", b.metadata.name ?? ""));
    if (r instanceof Fail || r === undefined || r.identity.mode !== "PerObjective") continue;
    if (b.metadata.deletionTimestamp) continue;
    groups.set(r.fingerprint, [...(groups.get(r.fingerprint) ?? []), b.metadata.name ?? ""]);
  }
  // 5.2 and 5.3 among the bindings that render and are not being deleted, per namespace.
  const live: [string, string, Rendered][] = [];
  for (const b of inputs.bindings) {
    const r = rendered.get(key(b.metadata.namespace ?? "", b.metadata.name ?? ""));
    if (r instanceof Fail || r === undefined || b.metadata.deletionTimestamp) continue;
    live.push([b.metadata.namespace ?? "", b.metadata.name ?? "", r]);
  }
  // The selection: everything the ClusterSPIFFEID's spec holds but the ID and the hint.
  const selection = (r: Rendered) => JSON.stringify([r.identity.podLabels, r.identity.selectors]);
  const duplicates = new Map<string, string[]>();
  const overlapPeers = new Map<string, string[]>();
  for (const [ns, name, r] of live) {
    const others = live.filter(([n2, m2]) => n2 === ns && m2 !== name);
    duplicates.set(
      key(ns, name),
      others.filter(([, , o]) =>
        o.identity.spiffeID === r.identity.spiffeID && selection(o) !== selection(r)
      ).map(([, m]) => m),
    );
    overlapPeers.set(key(ns, name), others.filter(([, , o]) => overlaps(r, o)).map(([, m]) => m));
  }
  const refuse = inputs.identityOverlap === "refuse";
  const conflicted = (k: string, r: Rendered, deleting: boolean) =>
    (r.identity.mode === "PerObjective" && !deleting &&
      (groups.get(r.fingerprint)?.length ?? 0) >= 2) ||
    (duplicates.get(k)?.length ?? 0) > 0 || (refuse && (overlapPeers.get(k)?.length ?? 0) > 0);
  // Names wanted by more than one binding that would otherwise be Ready (see the header).
  const wanted = new Map<string, string[]>();
  for (const b of inputs.bindings) {
    const k = key(b.metadata.namespace ?? "", b.metadata.name ?? "");
    const r = rendered.get(k);
    if (r instanceof Fail || r === undefined) continue;
    if (conflicted(k, r, Boolean(b.metadata.deletionTimestamp))) continue;
    wanted.set(r.identity.csidName, [...(wanted.get(r.identity.csidName) ?? []), k]);
  }
  const out: ExpectedState = {
    bindings: new Map(),
    csids: new Map(),
    overlapping: [...overlapPeers.values()].filter((p) => p.length > 0).length,
  };
  for (const b of inputs.bindings) {
    const ns = b.metadata.namespace ?? "";
    const name = b.metadata.name ?? "";
    const k = key(ns, name);
    const r = rendered.get(k)!;
    const base = {
      namespace: ns,
      name,
      uid: b.metadata.uid ?? "",
      generation: b.metadata.generation,
    };
    if (r instanceof Fail) {
      out.bindings.set(k, { ...base, ready: false, reason: r.reason, condition: r.condition });
      continue;
    }
    const group = r.identity.mode === "PerObjective" && !b.metadata.deletionTimestamp
      ? groups.get(r.fingerprint) ?? []
      : [];
    if (group.length >= 2) {
      out.bindings.set(k, {
        ...base,
        ready: false,
        reason: "IdentityCollision",
        condition: "Conflict",
        message: collisionMessage(group.filter((n) => n !== name)),
      });
      continue;
    }
    const duplicatePeers = duplicates.get(k) ?? [];
    if (duplicatePeers.length > 0) {
      out.bindings.set(k, {
        ...base,
        ready: false,
        reason: "DuplicateSPIFFEID",
        condition: "Conflict",
        message: duplicateMessage(r.identity.spiffeID, duplicatePeers),
      });
      continue;
    }
    const overlapping = overlapPeers.get(k) ?? [];
    if (refuse && overlapping.length > 0) {
      out.bindings.set(k, {
        ...base,
        ready: false,
        reason: "IdentityOverlap",
        condition: "Conflict",
        messageIncludes: `identity overlap with bindings ${
          [...overlapping].sort(byCodeUnits).join(", ")
        }: `,
      });
      continue;
    }
    const rivals = wanted.get(r.identity.csidName) ?? [];
    if (rivals.length >= 2) {
      const holder = holders.get(r.identity.csidName);
      if (holder !== k) {
        out.bindings.set(k, {
          ...base,
          ready: false,
          reason: "ClusterSPIFFEIDNameTaken",
          condition: "RenderFailure",
          messageIncludes: rivals.includes(holder ?? "") ? holder : `(one of ${rivals.join(", ")})`,
        });
        continue;
      }
    }
    out.bindings.set(k, { ...base, ready: true, reason: "Reconciled", identity: r.identity });
    if (b.metadata.deletionTimestamp) continue;
    const id = r.identity;
    out.csids.set(id.csidName, {
      name: id.csidName,
      labels: {
        "kleym.sonda.red/managed-by": "kleym",
        "kleym.sonda.red/binding-name": name,
        "kleym.sonda.red/binding-namespace": ns,
      },
      annotations: { "kleym.sonda.red/binding-uid": b.metadata.uid ?? "" },
      spec: {
        spiffeIDTemplate: id.spiffeID,
        podSelector: { matchLabels: id.podLabels },
        namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": ns } },
        workloadSelectorTemplates: id.selectors,
        fallback: false,
        hint: `${ns}/${name}`,
      },
    });
  }
  return out;
}

// ---- comparing the cluster with the model --------------------------------------------------

const RESOLVED: Record<FailingCondition, string> = {
  Conflict: "No identity collision detected",
  InvalidRef: "References are valid",
  UnsafeSelector: "Selectors are safe",
  RenderFailure: "Rendering is healthy",
};

interface CondView {
  type: string;
  status: string;
  reason: string;
  message: string;
  observedGeneration?: number;
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (!rec(v)) return v;
  return Object.fromEntries(
    Object.keys(v).sort().map((k) => [k, sortKeys(v[k])]),
  );
}
export const canon = (v: unknown) => JSON.stringify(sortKeys(v));

/** Differences between one binding as read and its expectation (empty when it matches). */
export function bindingProblems(b: Obj, e: ExpectedBinding, trustDomain: string): string[] {
  const p: string[] = [];
  const where = `${e.namespace}/${e.name}`;
  const status = rec(b.status) ? b.status : {};
  const conds = (Array.isArray(status.conditions) ? status.conditions : []) as CondView[];
  const get = (t: string) => conds.find((c) => c.type === t);
  for (const t of CONDITIONS) {
    const c = get(t);
    if (!c) {
      p.push(`${where}: condition ${t} missing`);
      continue;
    }
    if (c.observedGeneration !== e.generation) {
      p.push(`${where}: ${t}.observedGeneration ${c.observedGeneration} != ${e.generation}`);
    }
    let want: { status: string; reason: string; message?: string };
    if (t === "Ready") {
      want = e.ready
        ? { status: "True", reason: "Reconciled", message: "Binding reconciled" }
        : { status: "False", reason: e.reason, message: e.message };
    } else if (!e.ready && t === e.condition) {
      want = { status: "True", reason: e.reason, message: e.message };
    } else {
      want = { status: "False", reason: "Resolved", message: RESOLVED[t as FailingCondition] };
    }
    if (c.status !== want.status || c.reason !== want.reason) {
      p.push(`${where}: ${t}=${c.status}/${c.reason}, want ${want.status}/${want.reason}`);
    }
    if (want.message !== undefined && c.message !== want.message) {
      p.push(
        `${where}: ${t} message ${JSON.stringify(c.message)} != ${JSON.stringify(want.message)}`,
      );
    }
    if (want.message === undefined && !(typeof c.message === "string" && c.message.length > 0)) {
      p.push(`${where}: ${t} has no message`);
    }
    if (t === "Ready" && e.messageIncludes && !String(c.message).includes(e.messageIncludes)) {
      p.push(`${where}: message ${JSON.stringify(c.message)} does not name ${e.messageIncludes}`);
    }
  }
  if (!e.ready && e.condition) {
    if (get("Ready")?.message !== get(e.condition)?.message) {
      p.push(`${where}: Ready and ${e.condition} messages differ`);
    }
  }
  if (status.trustDomain !== trustDomain) p.push(`${where}: trustDomain ${status.trustDomain}`);
  if (e.ready && e.identity) {
    const want = [{ spiffeID: e.identity.spiffeID, mode: e.identity.mode }];
    if (canon(status.computedSpiffeIDs) !== canon(want)) {
      p.push(`${where}: computedSpiffeIDs ${canon(status.computedSpiffeIDs)} != ${canon(want)}`);
    }
    const sel = [{ spiffeID: e.identity.spiffeID, selectors: e.identity.selectors }];
    if (canon(status.renderedSelectors) !== canon(sel)) {
      p.push(`${where}: renderedSelectors ${canon(status.renderedSelectors)} != ${canon(sel)}`);
    }
  } else {
    if (status.computedSpiffeIDs !== undefined) p.push(`${where}: computedSpiffeIDs not cleared`);
    if (status.renderedSelectors !== undefined) p.push(`${where}: renderedSelectors not cleared`);
  }
  return p;
}

/** Differences between one managed ClusterSPIFFEID as read and its expectation. */
export function csidProblems(c: Obj, e: ExpectedCsid): string[] {
  const p: string[] = [];
  if (canon(c.spec) !== canon(e.spec)) {
    p.push(`ClusterSPIFFEID ${e.name}: spec ${canon(c.spec)} != ${canon(e.spec)}`);
  }
  for (const [k, v] of Object.entries(e.labels)) {
    if (c.metadata.labels?.[k] !== v) p.push(`ClusterSPIFFEID ${e.name}: label ${k}`);
  }
  for (const [k, v] of Object.entries(e.annotations)) {
    if (c.metadata.annotations?.[k] !== v) p.push(`ClusterSPIFFEID ${e.name}: annotation ${k}`);
  }
  if (c.metadata.deletionTimestamp) p.push(`ClusterSPIFFEID ${e.name}: being deleted`);
  return p;
}

/**
 * The continuous safety invariant of docs/contract.md#rendering for one ClusterSPIFFEID kleym
 * manages: exactly one `k8s:ns:` selector, equal to its binding's namespace, the namespaceSelector
 * pinned to it, and a non-empty `k8s:sa:`. Returns the violation or undefined.
 */
export function safetyViolation(c: Obj): string | undefined {
  if (c.metadata.labels?.["kleym.sonda.red/managed-by"] !== "kleym") return undefined;
  const ns = c.metadata.labels?.["kleym.sonda.red/binding-namespace"];
  const spec = rec(c.spec) ? c.spec : {};
  const sels = Array.isArray(spec.workloadSelectorTemplates)
    ? spec.workloadSelectorTemplates.map(String)
    : [];
  const nss = sels.filter((s) => s.startsWith("k8s:ns:"));
  const sas = sels.filter((s) => s.startsWith("k8s:sa:"));
  const pinned = rec(spec.namespaceSelector) && rec(spec.namespaceSelector.matchLabels)
    ? spec.namespaceSelector.matchLabels
    : {};
  const why = [
    nss.length !== 1 || nss[0] !== `k8s:ns:${ns}` ? `k8s:ns selectors ${canon(nss)}` : "",
    sas.length === 0 || sas.some((s) => s === "k8s:sa:") ? `k8s:sa selectors ${canon(sas)}` : "",
    canon(pinned) !== canon({ "kubernetes.io/metadata.name": ns })
      ? `namespaceSelector ${canon(pinned)}`
      : "",
  ].filter(Boolean);
  return why.length === 0
    ? undefined
    : `ClusterSPIFFEID ${c.metadata.name} (binding namespace ${ns}): ${why.join("; ")}`;
}
