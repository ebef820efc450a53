/**
 * The CLI's JSON contract (docs/cli.md documents every field). Types only, plus the constants
 * that identify the two report kinds and the fixed severity of each finding id.
 *
 * Everything here is plain JSON: `null` (never `undefined`) for "not known / not applicable", so
 * `JSON.stringify` keeps every documented key.
 */
import { compareCodeUnits } from "../apis/compare.ts";
import type { ClusterSPIFFEID } from "../reconcile/types.ts";

export const SCHEMA_VERSION = "v1alpha1";
export const STATUS_REPORT_KIND = "KleymStatusReport";
export const INSPECTION_REPORT_KIND = "BindingInspectionReport";

export type Severity = "info" | "warning" | "error";

/** Every finding id the CLI reports. */
export const FINDING_IDS = [
  "binding-not-found",
  "operator-unavailable",
  "crd-missing",
  "binding-unhealthy",
  "invalid-ref",
  "dependency-missing",
  "unsafe-selector",
  "render-failure",
  "kleym-collision",
  "duplicate-spiffe-id",
  "identity-overlap",
  "zero-matched-pods",
  "identity-config-undiscovered",
  "rbac-limited",
  "unsupported-selector",
  "stale-ready",
  "spire-zero-pods",
  "spire-entry-failures",
  "spire-entries-masked",
] as const;
export type FindingId = typeof FINDING_IDS[number];

/** A Kubernetes object a finding is about. */
export interface ObjectRef {
  apiVersion: string;
  kind: string;
  /** null for cluster-scoped objects. */
  namespace: string | null;
  name: string;
}

export interface Finding {
  id: FindingId;
  severity: Severity;
  /** Machine-readable cause: a condition reason, an HTTP reason (Forbidden) or a CLI reason. */
  reason: string;
  /** One line for humans; names the object, field and value concerned. */
  message: string;
  affectedRefs: ObjectRef[];
}

/** OK: no warning or error finding; WARNING: warnings only; ERROR: at least one error. */
export type Aggregate = "OK" | "WARNING" | "ERROR";

// ---- kleym status ---------------------------------------------------------------------------

export type CrdComponent = "kleym" | "spire" | "gaie";

export interface CrdStatus {
  /** `<plural>.<group>`, the CRD's name. */
  name: string;
  group: string;
  kind: string;
  component: CrdComponent;
  /** Versions kleym understands. */
  supportedVersions: string[];
  /** Versions the API server serves now (discovery), sorted. */
  servedVersions: string[];
  /** At least one supported version is served. */
  served: boolean;
}

export interface OperatorDeployment {
  namespace: string;
  name: string;
  /** spec.replicas (Kubernetes defaults it to 1). */
  replicas: number;
  /** status.readyReplicas (0 when absent). */
  readyReplicas: number;
  /** The operator container's image, as written. */
  image: string | null;
  /** The image's tag (`latest` when it has neither tag nor digest), or its digest. */
  imageTag: string | null;
}

export type OperatorState = "available" | "unavailable" | "not-found" | "unknown";

/** What the operator's state was judged from, strongest evidence first. */
export type OperatorEvidence = "lease" | "deployment" | "bindings" | "none";

/** The leader Lease (`kleym-system/kleym-operator`) as read. */
export interface OperatorLease {
  namespace: string;
  name: string;
  /** spec.holderIdentity; null when released (empty) or unset. */
  holder: string | null;
  /** spec.renewTime as written. */
  renewTime: string | null;
  leaseDurationSeconds: number | null;
  /** Seconds from renewTime to the report's generatedAt (null without renewTime). */
  ageSeconds: number | null;
  /** Held, and renewed within leaseDurationSeconds of generatedAt. */
  live: boolean;
}

export interface OperatorStatus {
  /**
   * available: a live leader Lease, or (without one) a Deployment with a ready replica;
   * unavailable: the Lease is held but stale, or Deployments without a ready replica, or bindings
   * whose status lags their spec with neither; not-found: no Lease, no Deployment and nothing to
   * judge from; unknown: nothing readable, or an operator without leader election whose bindings
   * are up to date (it cannot be told from a stopped one).
   */
  state: OperatorState;
  evidence: OperatorEvidence;
  /** null: no Lease (or not readable). */
  lease: OperatorLease | null;
  deployments: OperatorDeployment[];
}

export type StatusConfigSource = "binding-status" | "deployment-args" | "undiscovered";

export interface StatusConfigValue {
  /** The value in use; `"mixed"` when sources disagree; null: unset (className: classless). */
  value: string | null;
  source: StatusConfigSource;
  mixed: boolean;
  /** Distinct values seen at that source, sorted; null stands for "no class name". */
  observed: (string | null)[];
}

export interface BindingCounts {
  total: number;
  /** Ready=True */
  ok: number;
  /** Ready absent or Unknown */
  warning: number;
  /** Ready=False */
  error: number;
}

/** Totals of the bindings' `status.spire` figures (what SPIRE Controller Manager reported). */
export interface SpireTotals {
  /** Bindings whose status carries SPIRE's figures. */
  reported: number;
  podsSelected: number;
  entryFailures: number;
  podEntryRenderFailures: number;
  entriesMasked: number;
}

export interface KleymStatusReport {
  schemaVersion: typeof SCHEMA_VERSION;
  kind: typeof STATUS_REPORT_KIND;
  generatedAt: string;
  status: Aggregate;
  cliVersion: string;
  components: { crds: CrdStatus[]; operator: OperatorStatus };
  config: { trustDomain: StatusConfigValue; className: StatusConfigValue };
  summary: {
    /** null when bindings could not be listed. */
    bindings: BindingCounts | null;
    /** Number of bindings on which each condition type is True. */
    trueConditions: Record<string, number> | null;
    /** null when bindings could not be listed. */
    spire: SpireTotals | null;
  };
  findings: Finding[];
}

// ---- kleym inspect binding ------------------------------------------------------------------

export type IdentityConfigSource = "flag" | "binding-status" | "default";

export interface IdentityConfig {
  trustDomain: { value: string; source: IdentityConfigSource };
  /** value null: classless (no spec.className). */
  className: { value: string | null; source: IdentityConfigSource };
  /** The `spec.svid` limits rendered with (cli/inspect_svid.ts). */
  svidLimits: SvidLimitsConfig;
}

/** `flag`: given to the CLI; `default`: the operator's default (its flags are not visible). */
export type SvidLimitSource = "flag" | "default";

export interface SvidLimitsConfig {
  /** `--max-svid-ttl`, e.g. "24h". */
  maxSvidTtl: { value: string; source: SvidLimitSource };
  clusterDomain: { value: string; source: SvidLimitSource };
  allowedDnsSuffixes: { value: string[]; source: SvidLimitSource };
  allowedFederatedTrustDomains: { value: string[]; source: SvidLimitSource };
}

/** `spec.svid` requested, rendered, and the limit that refused a value (docs/cli.md). */
export interface SvidView {
  /** `spec.svid` as the binding wrote it; null: the binding asks for nothing. */
  requested: Record<string, unknown> | null;
  /** The ClusterSPIFFEID fields rendered from it (`ttl`, ...); null when rendering failed. */
  rendered: Record<string, unknown> | null;
  /** null unless a `spec.svid` value was refused. */
  refusedBy: {
    reason: string;
    /** e.g. `spec.svid.dnsNames[1]`. */
    field: string;
    /** The refused value; JSON text when it is not a string. */
    value: string;
    /** The flag that would allow it; null when none would (syntax, size). */
    flag: string | null;
    /** That flag's value in this rendering ("24h", "none", "a.example,b.example"). */
    limit: string | null;
    message: string;
  } | null;
}

export interface BindingRef extends ObjectRef {
  namespace: string;
  found: boolean;
  uid: string | null;
  generation: number | null;
}

export interface ReportCondition {
  type: string;
  status: string;
  reason: string;
  message: string;
  lastTransitionTime: string | null;
  observedGeneration: number | null;
}

export interface ResolvedRef {
  name: string | null;
  /** The group the binding pins (spec.*Ref.group), null when unset. */
  requestedGroup: string | null;
  /** The served apiVersion the object was found at; null when not found. */
  apiVersion: string | null;
  found: boolean;
}

export interface ResolvedInput {
  /** Effective mode (PerObjective when unset), or the raw value when invalid. */
  mode: string | null;
  serviceAccountName: string | null;
  containerName: string | null;
  pool: ResolvedRef & { podLabels: Record<string, string> | null };
  /** null for PoolOnly bindings. */
  objective: ResolvedRef | null;
}

export interface RenderedIdentityView {
  mode: string;
  spiffeID: string;
  selectors: string[];
  podLabels: Record<string, string>;
}

/** How the cluster's object at the rendered name compares with the rendered one. */
export type ClusterState = "in-sync" | "differs" | "absent" | "not-served" | "unknown";

export interface RenderedClusterSPIFFEIDView {
  name: string;
  object: ClusterSPIFFEID;
  clusterState: ClusterState;
}

export interface MatchedPod {
  namespace: string;
  name: string;
  serviceAccountName: string | null;
  labels: Record<string, string>;
  /** The container the k8s:container-name selector picks; null for PoolOnly. */
  containerName: string | null;
}

/**
 * What SPIRE Controller Manager reported for the binding's ClusterSPIFFEID, as the operator
 * copied it to `status.spire` (figures SCM omits are 0). When the binding carries none, `state`
 * says why: `no-clusterspiffeid` (not Ready: kleym has no ClusterSPIFFEID as rendered),
 * `not-copied` (the ClusterSPIFFEID has SCM's `status.stats`, the binding not yet),
 * `not-reported` (SCM has not written the ClusterSPIFFEID's status, or it cannot be read).
 */
export type SpireState = "reported" | "no-clusterspiffeid" | "not-copied" | "not-reported";

export interface SpireFigures {
  clusterSPIFFEIDName: string;
  namespacesSelected: number;
  namespacesIgnored: number;
  podsSelected: number;
  entriesToSet: number;
  entriesMasked: number;
  entryFailures: number;
  podEntryRenderFailures: number;
  /** When kleym last saw the figures change (its clock); null if the status lacks it. */
  lastChangeTime: string | null;
}

export interface SpireView {
  state: SpireState;
  /** One line: why there are no figures; null when reported. */
  message: string | null;
  /** null unless reported. */
  figures: SpireFigures | null;
}

export interface BindingInspectionReport {
  schemaVersion: typeof SCHEMA_VERSION;
  kind: typeof INSPECTION_REPORT_KIND;
  generatedAt: string;
  cliVersion: string;
  identityConfig: IdentityConfig;
  bindingRef: BindingRef;
  /** null when the binding was not found. */
  resolvedInput: ResolvedInput | null;
  /** null when rendering failed (see findings). */
  renderedIdentity: RenderedIdentityView | null;
  renderedClusterSPIFFEID: RenderedClusterSPIFFEIDView | null;
  /** The binding's status conditions as the operator last wrote them. */
  conditions: ReportCondition[];
  /** null when not evaluated (no rendered identity, or pods could not be read). */
  matchedPods: MatchedPod[] | null;
  /** null when the binding was not found. */
  spire: SpireView | null;
  /** null when the binding was not found. */
  svid: SvidView | null;
  findings: Finding[];
}

export function aggregate(findings: readonly Finding[]): Aggregate {
  if (findings.some((f) => f.severity === "error")) return "ERROR";
  if (findings.some((f) => f.severity === "warning")) return "WARNING";
  return "OK";
}

/** Stable order: errors, warnings, info; then by id, then by message. */
export function sortFindings(findings: readonly Finding[]): Finding[] {
  const rank: Record<Severity, number> = { error: 0, warning: 1, info: 2 };
  return [...findings].sort((a, b) =>
    rank[a.severity] - rank[b.severity] || compareCodeUnits(a.id, b.id) ||
    compareCodeUnits(a.message, b.message)
  );
}
