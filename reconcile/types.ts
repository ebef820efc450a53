/**
 * Shared domain types and constants of the InferenceIdentityBinding contract (docs/contract.md#api
 * to docs/contract.md#status).
 *
 * Inputs that come from the cluster (the binding's spec and status, pools, objectives, existing
 * ClusterSPIFFEIDs) are typed loosely here (`unknown` or all-optional) on purpose: the pure core
 * decodes them once (validate.ts, selectors.ts) and everything downstream works on the decoded
 * types. That also keeps any generated client type assignable to these inputs.
 */

import type { Condition, ObjectMeta } from "kubernetes-types/meta/v1.d.ts";
import type { SvidLimits } from "./svid_limits.ts";

/**
 * The two API groups kleym resolves InferencePools and InferenceObjectives in
 * (docs/contract.md#api, docs/contract.md#inputs).
 */
export const SUPPORTED_GROUPS = [
  "inference.networking.k8s.io",
  "inference.networking.x-k8s.io",
] as const;
export type InferenceGroup = typeof SUPPORTED_GROUPS[number];

export function isSupportedGroup(group: string): group is InferenceGroup {
  return (SUPPORTED_GROUPS as readonly string[]).includes(group);
}

/**
 * Served pool versions kleym understands (docs/contract.md#inputs); the version fixes the
 * selector's shape.
 */
export type PoolApiVersion =
  | "inference.networking.k8s.io/v1"
  | "inference.networking.x-k8s.io/v1alpha2";

/** Served objective versions kleym understands (docs/contract.md#inputs). */
export type ObjectiveApiVersion =
  | "inference.networking.x-k8s.io/v1alpha2"
  | "inference.networking.k8s.io/v1";

export function groupOf(apiVersion: PoolApiVersion | ObjectiveApiVersion): InferenceGroup {
  return apiVersion.slice(0, apiVersion.indexOf("/")) as InferenceGroup;
}

export const BINDING_MODES = ["PoolOnly", "PerObjective"] as const;
export type BindingMode = typeof BINDING_MODES[number];

/** docs/contract.md#api: an absent mode means PerObjective. */
export const DEFAULT_MODE: BindingMode = "PerObjective";

export const BINDING_API_VERSION = "kleym.sonda.red/v1alpha1";
export const BINDING_KIND = "InferenceIdentityBinding";
export const FINALIZER = "kleym.sonda.red/inferenceidentitybinding-finalizer";

export const CLUSTER_SPIFFE_ID_API_VERSION = "spire.spiffe.io/v1alpha1";
export const CLUSTER_SPIFFE_ID_KIND = "ClusterSPIFFEID";

/** docs/contract.md#ownership: the labels that make a ClusterSPIFFEID kleym's, and whose. */
export const LABEL_MANAGED_BY = "kleym.sonda.red/managed-by";
export const MANAGED_BY_VALUE = "kleym";
export const LABEL_BINDING_NAME = "kleym.sonda.red/binding-name";
export const LABEL_BINDING_NAMESPACE = "kleym.sonda.red/binding-namespace";
/**
 * docs/contract.md#ownership: the UID of the binding that last wrote the object (tells leftovers
 * apart).
 */
export const ANNOTATION_BINDING_UID = "kleym.sonda.red/binding-uid";

/**
 * docs/contract.md#rendering: the label the API server puts on every namespace; pins the
 * ClusterSPIFFEID to one.
 */
export const NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name";

/**
 * A binding as read from the cache. Only `metadata` is trusted to be shaped by the API server;
 * `spec` and `status` are decoded by the pure core (objects may predate the CRD's rules).
 */
export interface BindingInput {
  readonly metadata?: ObjectMeta;
  readonly spec?: unknown;
  readonly status?: unknown;
}

/** The binding's spec after validation (validate.ts). */
export interface ValidBindingSpec {
  readonly mode: BindingMode;
  readonly poolRef: { readonly name: string; readonly group?: InferenceGroup };
  /** Present exactly when mode is PerObjective (PoolOnly ignores objectiveRef). */
  readonly objectiveRef?: { readonly name: string; readonly group?: InferenceGroup };
  readonly serviceAccountName: string;
  /** Present exactly when mode is PerObjective. */
  readonly containerName?: string;
}

/** Operator configuration the rendering depends on (docs/contract.md#flags). */
export interface RenderConfig {
  readonly trustDomain: string;
  /** Only set on the ClusterSPIFFEID (and status) when configured and non-empty. */
  readonly className?: string;
  /** The limits on `spec.svid` (svid_limits.ts); absent: the defaults (`DEFAULT_SVID_LIMITS`). */
  readonly svid?: SvidLimits;
}

/** An InferencePool the edge found for the binding's poolRef, with the version it was read at. */
export interface ResolvedPool {
  readonly apiVersion: PoolApiVersion;
  readonly object: unknown;
}

/** An InferenceObjective the edge found for the binding's objectiveRef. */
export interface ResolvedObjective {
  readonly apiVersion: ObjectiveApiVersion;
  readonly object: unknown;
}

/** What the edge resolved from the cluster for one binding. */
export interface ResolvedInputs {
  readonly pool: ResolvedPool;
  /** Required for PerObjective bindings; ignored for PoolOnly. */
  readonly objective?: ResolvedObjective;
}

/** A flat, validated label map (docs/contract.md#inputs: the normalised pool selector). */
export type LabelMap = Readonly<Record<string, string>>;

export interface ClusterSPIFFEIDSpec {
  spiffeIDTemplate: string;
  podSelector: { matchLabels: Record<string, string> };
  namespaceSelector: { matchLabels: Record<string, string> };
  workloadSelectorTemplates: string[];
  fallback: boolean;
  hint: string;
  className?: string;
  // From spec.svid, only when set (reconcile/svid.ts; docs/contract.md#rendering).
  ttl?: string;
  jwtTtl?: string;
  dnsNameTemplates?: string[];
  autoPopulateDNSNames?: boolean;
  federatesWith?: string[];
}

/** A ClusterSPIFFEID as kleym writes it (docs/contract.md#rendering). */
export interface ClusterSPIFFEID {
  apiVersion: typeof CLUSTER_SPIFFE_ID_API_VERSION;
  kind: typeof CLUSTER_SPIFFE_ID_KIND;
  metadata: ObjectMeta & { name: string };
  spec: ClusterSPIFFEIDSpec;
}

/**
 * A ClusterSPIFFEID as read from the cluster: trusted metadata, undecoded spec and status (the
 * caches keep only `status.stats`, reconcile/cached.ts).
 */
export interface ObservedClusterSPIFFEID {
  readonly metadata: ObjectMeta;
  readonly spec?: unknown;
  readonly status?: unknown;
}

/** A status condition whose status is one of the three values the CRD allows. */
export interface BindingCondition extends Condition {
  status: "True" | "False" | "Unknown";
}

export interface ComputedSpiffeID {
  spiffeID: string;
  mode: BindingMode;
}

export interface RenderedSelectors {
  spiffeID: string;
  selectors: string[];
}

/** SPIRE Controller Manager's figures (its ClusterSPIFFEID `status.stats`), as the binding reports them. */
export const SPIRE_FIGURES = [
  "namespacesSelected",
  "namespacesIgnored",
  "podsSelected",
  "entriesToSet",
  "entriesMasked",
  "entryFailures",
  "podEntryRenderFailures",
] as const;
export type SpireFigure = typeof SPIRE_FIGURES[number];
export type SpireFigures = Record<SpireFigure, number>;

/**
 * `status.spire` (docs/reconciler.md, "SPIRE's figures"): all seven figures as numbers, 0 included
 * (reconcile/spire.ts).
 */
export interface SpireStatus extends SpireFigures {
  clusterSPIFFEIDName: string;
  /** When kleym wrote figures different from the previous ones (RFC 3339, whole seconds). */
  lastChangeTime: string;
}

/**
 * The binding's status as kleym writes it (docs/contract.md#api, docs/contract.md#status). Absent
 * optional fields mean "not set": write the status whole (update of the status subresource) or use
 * `statusMergePatch`.
 */
export interface BindingStatus {
  conditions: BindingCondition[];
  trustDomain?: string;
  clusterSPIFFEIDClassName?: string;
  computedSpiffeIDs?: ComputedSpiffeID[];
  renderedSelectors?: RenderedSelectors[];
  /** What SPIRE Controller Manager reported for the binding's ClusterSPIFFEID (spire.ts). */
  spire?: SpireStatus;
}

/** An event to record on the binding (docs/contract.md#events). */
export interface PlannedEvent {
  readonly type: "Normal" | "Warning";
  readonly reason: string;
  readonly message: string;
}
