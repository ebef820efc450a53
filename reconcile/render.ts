/**
 * Rendering (docs/contract.md#rendering): from a binding, what the edge resolved for it, and the
 * operator config, to the SPIFFE ID, the workload selectors and the desired ClusterSPIFFEID object.
 * Pure: no I/O, no clock, no cluster state beyond the inputs.
 *
 * API:
 * - `renderBinding(binding, resolved, config): RenderOutcome` — the whole pipeline; never throws
 *   a StateError (it is returned as `{ok: false, error}`); programming errors still throw.
 *   Order: binding spec and name (validate.ts), `spec.svid` against the operator's limits
 *   (svid.ts), then the edge's resolution error if any, then the pool selector (selectors.ts),
 *   the objective-targets-the-pool rule, the SPIFFE ID, the selectors, the `{{` check, the
 *   safety check. The first failure wins.
 * - `renderSpiffeID(trustDomain, namespace, spec)`, `workloadSelectors(namespace, spec, labels)`,
 *   `checkSelectorSafety(selectors, namespace)`, `checkNoTemplateMarkers(strings)`,
 *   `spiffeIDProblem(id)`, `desiredClusterSPIFFEID(...)`.
 */

import { isStateError, Reasons, StateError } from "./errors.ts";
import { isRecord, show } from "./json.ts";
import { bindingKey } from "./bindings.ts";
import { clusterSPIFFEIDName } from "./naming.ts";
import { ownerLabels } from "./ownership.ts";
import { normalisePoolSelector } from "./selectors.ts";
import {
  ANNOTATION_BINDING_UID,
  type BindingInput,
  type BindingMode,
  CLUSTER_SPIFFE_ID_API_VERSION,
  CLUSTER_SPIFFE_ID_KIND,
  type ClusterSPIFFEID,
  groupOf,
  type LabelMap,
  NAMESPACE_NAME_LABEL,
  type RenderConfig,
  type ResolvedInputs,
  type ValidBindingSpec,
} from "./types.ts";
import { checkBindingName, checkObjectiveTargetsPool, validateBindingSpec } from "./validate.ts";
import { renderSvid, type SvidFields } from "./svid.ts";
import { DEFAULT_SVID_LIMITS } from "./svid_limits.ts";
import { compareCodeUnits } from "../apis/compare.ts";

/** Everything kleym derives for a binding that renders. */
export interface RenderedIdentity {
  readonly mode: BindingMode;
  readonly spiffeID: string;
  /** De-duplicated, sorted in code-unit order. */
  readonly selectors: readonly string[];
  /** The normalised pool selector (the ClusterSPIFFEID's podSelector.matchLabels). */
  readonly podLabels: LabelMap;
  /** The ClusterSPIFFEID's name (naming.ts). */
  readonly name: string;
  readonly clusterSPIFFEID: ClusterSPIFFEID;
}

export type RenderOutcome =
  | { readonly ok: true; readonly identity: RenderedIdentity }
  | { readonly ok: false; readonly error: StateError };

/**
 * What the edge resolved for the binding's refs, or the StateError it hit doing so
 * (TargetPoolNotFound, *CRDMissing, ...) — or a resolver that does it from the validated spec
 * (the reconciler's way: the spec is then validated exactly once, here).
 */
export type ResolvedOrResolver =
  | ResolvedInputs
  | StateError
  | ((spec: ValidBindingSpec) => ResolvedInputs | StateError);

/**
 * @param resolved see `ResolvedOrResolver`. Spec errors take precedence over resolution errors,
 *   so a binding with both reports what the user must fix in the binding first; a resolver is
 *   only called for a valid spec and name. Anything but a StateError it throws (for example
 *   `CacheNotReadyError`) propagates.
 */
export function renderBinding(
  binding: BindingInput,
  resolved: ResolvedOrResolver,
  config: RenderConfig,
): RenderOutcome {
  try {
    return { ok: true, identity: render(binding, resolved, config) };
  } catch (error) {
    if (isStateError(error)) return { ok: false, error };
    throw error;
  }
}

function render(
  binding: BindingInput,
  resolvedOrResolver: ResolvedOrResolver,
  config: RenderConfig,
): RenderedIdentity {
  const { name, namespace, uid } = bindingKey(binding);
  const spec = validateBindingSpec(binding.spec);
  checkBindingName(name);
  const svid = renderSvid(
    isRecord(binding.spec) ? binding.spec.svid : undefined,
    namespace,
    config.svid ?? DEFAULT_SVID_LIMITS,
  );
  const resolved = typeof resolvedOrResolver === "function"
    ? resolvedOrResolver(spec)
    : resolvedOrResolver;
  if (isStateError(resolved)) throw resolved;

  const podLabels = normalisePoolSelector(resolved.pool);
  if (spec.mode === "PerObjective") {
    const objectiveName = spec.objectiveRef?.name ?? "";
    if (resolved.objective === undefined) {
      throw new StateError(
        "InvalidRef",
        Reasons.TargetObjectiveNotFound,
        `InferenceObjective ${show(objectiveName)} (spec.objectiveRef.name) was not found`,
      );
    }
    checkObjectiveTargetsPool(
      resolved.objective.object,
      objectiveName,
      spec.poolRef.name,
      groupOf(resolved.pool.apiVersion),
    );
  }

  const spiffeID = renderSpiffeID(config.trustDomain, namespace, spec);
  const selectors = workloadSelectors(namespace, spec, podLabels);
  checkNoTemplateMarkers([spiffeID, ...selectors, ...(svid.dnsNameTemplates ?? [])]);
  checkSelectorSafety(selectors, namespace);

  const objectName = clusterSPIFFEIDName(namespace, name, spec.mode, spiffeID);
  return {
    mode: spec.mode,
    spiffeID,
    selectors,
    podLabels,
    name: objectName,
    clusterSPIFFEID: desiredClusterSPIFFEID({
      objectName,
      bindingName: name,
      namespace,
      uid,
      spiffeID,
      selectors,
      podLabels,
      className: config.className,
      svid,
    }),
  };
}

// SPIFFE ID syntax (SPIFFE standard, "SPIFFE ID"): lowercase trust domain of [a-z0-9._-],
// path segments of [A-Za-z0-9._-] that are neither "." nor "..", at most 2048 bytes.
const TRUST_DOMAIN = /^[a-z0-9._-]+$/;
const PATH_SEGMENT = /^[A-Za-z0-9._-]+$/;
const MAX_SPIFFE_ID_BYTES = 2048;

function segmentProblem(segment: string): string | undefined {
  if (segment === "") return "must not be empty";
  if (segment === "." || segment === "..") return `must not be ${show(segment)}`;
  if (!PATH_SEGMENT.test(segment)) return "may only contain letters, digits, '.', '-' and '_'";
  return undefined;
}

/** Why `id` is not a valid SPIFFE ID, or `undefined` when it is. */
export function spiffeIDProblem(id: string): string | undefined {
  const scheme = "spiffe://";
  if (!id.startsWith(scheme)) return `it must start with ${show(scheme)}`;
  if (new TextEncoder().encode(id).length > MAX_SPIFFE_ID_BYTES) {
    return `it must be at most ${MAX_SPIFFE_ID_BYTES} bytes long`;
  }
  const [trustDomain, ...segments] = id.slice(scheme.length).split("/");
  if (!TRUST_DOMAIN.test(trustDomain)) {
    return `trust domain ${
      show(trustDomain)
    } must be non-empty and only contain lower case letters, digits, '.', '-' and '_'`;
  }
  for (const segment of segments) {
    const problem = segmentProblem(segment);
    if (problem !== undefined) return `path segment ${show(segment)} ${problem}`;
  }
  return undefined;
}

/**
 * docs/contract.md#rendering: `spiffe://TD/ns/<namespace>/pool/<pool>` (PoolOnly) or
 * `spiffe://TD/ns/<namespace>/objective/<objective>` (PerObjective). Each user-supplied part is
 * checked on its own first so the message names the field it came from.
 */
export function renderSpiffeID(
  trustDomain: string,
  namespace: string,
  spec: ValidBindingSpec,
): string {
  const [kind, leaf, leafField] = spec.mode === "PoolOnly"
    ? ["pool", spec.poolRef.name, "spec.poolRef.name"]
    : ["objective", spec.objectiveRef?.name ?? "", "spec.objectiveRef.name"];
  const id = `spiffe://${trustDomain}/ns/${namespace}/${kind}/${leaf}`;
  const fail = (detail: string) =>
    new StateError(
      "RenderFailure",
      Reasons.InvalidSPIFFEID,
      `SPIFFE ID ${show(id)} is not valid: ${detail}`,
    );

  if (!TRUST_DOMAIN.test(trustDomain)) {
    throw fail(
      `trust domain ${
        show(trustDomain)
      } (operator configuration) must be non-empty and only contain lower case letters, digits, '.', '-' and '_'`,
    );
  }
  for (const [segment, field] of [[namespace, "metadata.namespace"], [leaf, leafField]]) {
    const problem = segmentProblem(segment);
    if (problem !== undefined) throw fail(`${field} ${show(segment)} ${problem}`);
  }
  const problem = spiffeIDProblem(id);
  if (problem !== undefined) throw fail(problem);
  return id;
}

/**
 * docs/contract.md#rendering: `k8s:ns:<ns>`, `k8s:sa:<sa>`, `k8s:pod-label:<k>:<v>` per pool label
 * and, for PerObjective, `k8s:container-name:<c>`; de-duplicated and sorted by code units (not
 * locale).
 */
export function workloadSelectors(
  namespace: string,
  spec: ValidBindingSpec,
  podLabels: LabelMap,
): string[] {
  const selectors = new Set<string>([`k8s:ns:${namespace}`, `k8s:sa:${spec.serviceAccountName}`]);
  for (const [key, value] of Object.entries(podLabels)) {
    selectors.add(`k8s:pod-label:${key}:${value}`);
  }
  if (spec.mode === "PerObjective" && spec.containerName !== undefined) {
    selectors.add(`k8s:container-name:${spec.containerName}`);
  }
  return [...selectors].sort(compareCodeUnits);
}

/**
 * docs/contract.md#rendering: the SPIFFE ID and the workload selectors are Go templates for SPIRE
 * Controller Manager, so nothing kleym renders into them may contain `{{`.
 */
export function checkNoTemplateMarkers(rendered: readonly string[]): void {
  const bad = rendered.find((value) => value.includes("{{"));
  if (bad !== undefined) {
    throw new StateError(
      "RenderFailure",
      Reasons.InvalidSPIFFEID,
      `rendered value ${
        show(bad)
      } contains "{{", which SPIRE Controller Manager would evaluate as a Go template`,
    );
  }
}

/**
 * The safety check of docs/contract.md#rendering, run before any write: exactly one `k8s:ns:`
 * selector, equal to the binding's namespace, and a non-empty `k8s:sa:` selector. Without them an
 * entry could match workloads in other namespaces or under any service account.
 */
export function checkSelectorSafety(selectors: readonly string[], namespace: string): void {
  const fail = (message: string) =>
    new StateError("UnsafeSelector", Reasons.UnsafeSelector, message);
  const namespaces = selectors.filter((s) => s.startsWith("k8s:ns:"));
  if (namespace === "" || namespaces.length !== 1 || namespaces[0] !== `k8s:ns:${namespace}`) {
    throw fail(
      `workload selectors ${show(namespaces)} must contain exactly one k8s:ns selector, ` +
        `equal to the binding's namespace ${show(namespace)}`,
    );
  }
  const accounts = selectors.filter((s) => s.startsWith("k8s:sa:"));
  if (accounts.length === 0 || accounts.some((s) => s === "k8s:sa:")) {
    throw fail(
      `workload selectors ${show(accounts)} must contain a non-empty k8s:sa selector`,
    );
  }
}

export interface DesiredClusterSPIFFEIDInput {
  readonly objectName: string;
  readonly bindingName: string;
  readonly namespace: string;
  readonly uid: string;
  readonly spiffeID: string;
  readonly selectors: readonly string[];
  readonly podLabels: LabelMap;
  readonly className?: string;
  /** From `renderSvid`; absent or empty: the spec carries none of its fields. */
  readonly svid?: SvidFields;
}

/** The svid fields, lists copied (the object is the caller's to change). */
function svidCopy(svid: SvidFields): SvidFields {
  const copy: SvidFields = { ...svid };
  if (svid.dnsNameTemplates) copy.dnsNameTemplates = [...svid.dnsNameTemplates];
  if (svid.federatesWith) copy.federatesWith = [...svid.federatesWith];
  return copy;
}

/**
 * The managed ClusterSPIFFEID exactly as docs/contract.md#rendering and tests/fixtures/examples
 * describe it.
 */
export function desiredClusterSPIFFEID(input: DesiredClusterSPIFFEIDInput): ClusterSPIFFEID {
  const object: ClusterSPIFFEID = {
    apiVersion: CLUSTER_SPIFFE_ID_API_VERSION,
    kind: CLUSTER_SPIFFE_ID_KIND,
    metadata: {
      name: input.objectName,
      labels: ownerLabels(input.namespace, input.bindingName),
      annotations: { [ANNOTATION_BINDING_UID]: input.uid },
    },
    spec: {
      spiffeIDTemplate: input.spiffeID,
      podSelector: { matchLabels: { ...input.podLabels } },
      namespaceSelector: { matchLabels: { [NAMESPACE_NAME_LABEL]: input.namespace } },
      workloadSelectorTemplates: [...input.selectors],
      fallback: false,
      hint: `${input.namespace}/${input.bindingName}`,
    },
  };
  if (input.svid !== undefined) Object.assign(object.spec, svidCopy(input.svid));
  if (input.className !== undefined && input.className !== "") {
    object.spec.className = input.className;
  }
  return object;
}
