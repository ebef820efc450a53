/**
 * `kleym inspect binding` as pure functions over what the edge read (cli/run.ts does the reads):
 *
 * 1. `identityConfig(command, binding)`: trust domain and class name with their source (explicit
 *    flag, then the binding's status, then the default `kleym.sonda.red`, classless).
 * 2. `refsToFetch(binding)`: the pool/objective names the edge must GET.
 * 3. `renderForInspect(...)`: the operator's own resolution (`resolveInputs`) and rendering
 *    (`renderBinding`) over those objects — the same code, so the same SPIFFE ID, selectors and
 *    ClusterSPIFFEID name.
 * 4. `buildInspectionReport(input)`: the report, with findings, matched pods and what SPIRE
 *    Controller Manager reported (cli/spire.ts).
 */
import { decodeConditions } from "../reconcile/conditions.ts";
import type { StateError } from "../reconcile/errors.ts";
import { asRecord } from "../reconcile/json.ts";
import { driftedFields } from "../reconcile/ownership.ts";
import { renderBinding, type RenderOutcome } from "../reconcile/render.ts";
import {
  OBJECTIVE_VERSIONS,
  POOL_VERSIONS,
  resolveInputs,
  type ResolveSource,
} from "../reconcile/resolve.ts";
import {
  BINDING_API_VERSION,
  BINDING_KIND,
  type BindingInput,
  type ClusterSPIFFEID,
  DEFAULT_MODE,
  groupOf,
  type ObjectiveApiVersion,
  type PoolApiVersion,
  type RenderConfig,
} from "../reconcile/types.ts";
import { VERSION } from "../apis/version.ts";
import { INSPECT_DEFAULT_TRUST_DOMAIN } from "../flags/cli.ts";
import type { InspectCommand } from "./args.ts";
import {
  bindingHealthFindings,
  bindingObjectRef,
  renderFinding,
  staleReadyFinding,
} from "./findings.ts";
import { exclusivityFindings } from "./exclusivity.ts";
import { matchPods, type PodView } from "./matching.ts";
import {
  decodeSpireFigures,
  hasScmStats,
  maskersIn,
  type MatchedPodNames,
  spireFindings,
  type SpireSource,
  spireView,
} from "./spire.ts";
import {
  type BindingInspectionReport,
  type ClusterState,
  type Finding,
  type IdentityConfig,
  INSPECTION_REPORT_KIND,
  type ObjectRef,
  type ReportCondition,
  type ResolvedInput,
  SCHEMA_VERSION,
  sortFindings,
} from "./report.ts";

/** The served versions kleym reads and writes, from discovery. */
export interface ServedApis {
  binding: boolean;
  pools: readonly PoolApiVersion[];
  objectives: readonly ObjectiveApiVersion[];
  clusterSPIFFEID: boolean;
}

/** Objects the edge fetched by name; a missing key means 404 (or not asked). */
export interface FetchedRefs {
  pools: Partial<Record<PoolApiVersion, unknown>>;
  objectives: Partial<Record<ObjectiveApiVersion, unknown>>;
}

export type PodsRead =
  | { state: "read"; items: PodView[] }
  | { state: "forbidden"; message: string }
  | { state: "skipped" };

export type ClusterObjectRead =
  | { state: "found"; object: unknown }
  | { state: "absent" }
  | { state: "forbidden"; message: string }
  | { state: "skipped" };

function nonEmpty(u: unknown): string | undefined {
  return typeof u === "string" && u !== "" ? u : undefined;
}

export function identityConfig(
  command: Pick<InspectCommand, "trustDomain" | "className">,
  binding: unknown,
): IdentityConfig {
  const status = asRecord(asRecord(binding).status);
  const statusTd = nonEmpty(status.trustDomain);
  const trustDomain: IdentityConfig["trustDomain"] = command.trustDomain !== undefined
    ? { value: command.trustDomain, source: "flag" }
    : statusTd !== undefined
    ? { value: statusTd, source: "binding-status" }
    : { value: INSPECT_DEFAULT_TRUST_DOMAIN, source: "default" };
  const className: IdentityConfig["className"] = command.className !== undefined
    ? { value: command.className === "" ? null : command.className, source: "flag" }
    : statusTd !== undefined
    ? { value: nonEmpty(status.clusterSPIFFEIDClassName) ?? null, source: "binding-status" }
    : { value: null, source: "default" };
  return { trustDomain, className };
}

export function renderConfig(config: IdentityConfig): RenderConfig {
  return config.className.value === null
    ? { trustDomain: config.trustDomain.value }
    : { trustDomain: config.trustDomain.value, className: config.className.value };
}

interface RawSpec {
  mode: string | null;
  effectiveMode: string;
  poolName: string | null;
  poolGroup: string | null;
  objectiveName: string | null;
  objectiveGroup: string | null;
  serviceAccountName: string | null;
  containerName: string | null;
}

function rawSpec(binding: unknown): RawSpec {
  const spec = asRecord(asRecord(binding).spec);
  const pool = asRecord(spec.poolRef);
  const objective = asRecord(spec.objectiveRef);
  const mode = nonEmpty(spec.mode) ?? null;
  return {
    mode,
    effectiveMode: mode ?? DEFAULT_MODE,
    poolName: nonEmpty(pool.name) ?? null,
    poolGroup: nonEmpty(pool.group) ?? null,
    objectiveName: nonEmpty(objective.name) ?? null,
    objectiveGroup: nonEmpty(objective.group) ?? null,
    serviceAccountName: nonEmpty(spec.serviceAccountName) ?? null,
    containerName: nonEmpty(spec.containerName) ?? null,
  };
}

/** Names the edge must GET (in every served version): the pool, and the objective unless PoolOnly. */
export function refsToFetch(binding: unknown): { pool?: string; objective?: string } {
  const raw = rawSpec(binding);
  return {
    pool: raw.poolName ?? undefined,
    objective: raw.effectiveMode === "PoolOnly" ? undefined : raw.objectiveName ?? undefined,
  };
}

/** The operator's resolution and rendering, over objects fetched by name instead of caches. */
export function renderForInspect(
  binding: BindingInput,
  served: ServedApis,
  fetched: FetchedRefs,
  config: RenderConfig,
): RenderOutcome {
  const source = <V extends PoolApiVersion | ObjectiveApiVersion>(
    apiVersion: V,
    isServed: boolean,
    objects: Partial<Record<V, unknown>>,
  ): ResolveSource<V> => ({
    apiVersion,
    served: isServed,
    synced: true,
    get: (_namespace, name) => {
      const object = objects[apiVersion];
      return asRecord(asRecord(object).metadata).name === name ? object : undefined;
    },
  });
  const resolved = resolveInputs(binding, {
    pools: POOL_VERSIONS.map((v) => source(v, served.pools.includes(v), fetched.pools)),
    objectives: OBJECTIVE_VERSIONS.map((v) =>
      source(v, served.objectives.includes(v), fetched.objectives)
    ),
  });
  return renderBinding(binding, resolved, config);
}

/** The first served version (in SPEC 3 order, within the pinned group) holding the object. */
function foundAt<V extends PoolApiVersion | ObjectiveApiVersion>(
  order: readonly V[],
  served: readonly V[],
  objects: Partial<Record<V, unknown>>,
  group: string | null,
): V | null {
  for (const v of order) {
    if (group !== null && groupOf(v) !== group) continue;
    if (served.includes(v) && objects[v] !== undefined) return v;
  }
  return null;
}

function resolvedInput(
  binding: unknown,
  served: ServedApis,
  fetched: FetchedRefs,
  outcome: RenderOutcome | null,
): ResolvedInput {
  const raw = rawSpec(binding);
  const poolAt = raw.poolName === null
    ? null
    : foundAt(POOL_VERSIONS, served.pools, fetched.pools, raw.poolGroup);
  const objectiveAt = raw.objectiveName === null
    ? null
    : foundAt(OBJECTIVE_VERSIONS, served.objectives, fetched.objectives, raw.objectiveGroup);
  return {
    mode: raw.effectiveMode,
    serviceAccountName: raw.serviceAccountName,
    containerName: raw.containerName,
    pool: {
      name: raw.poolName,
      requestedGroup: raw.poolGroup,
      apiVersion: poolAt,
      found: poolAt !== null,
      podLabels: outcome?.ok ? { ...outcome.identity.podLabels } : null,
    },
    objective: raw.effectiveMode === "PoolOnly" ? null : {
      name: raw.objectiveName,
      requestedGroup: raw.objectiveGroup,
      apiVersion: objectiveAt,
      found: objectiveAt !== null,
    },
  };
}

function reportConditions(binding: unknown): ReportCondition[] {
  return decodeConditions(asRecord(binding).status).map((c) => ({
    type: c.type,
    status: c.status,
    reason: c.reason,
    message: c.message,
    lastTransitionTime: c.lastTransitionTime ?? null,
    observedGeneration: c.observedGeneration ?? null,
  }));
}

/**
 * What differs between a found object and the rendered one, named as the operator judges it
 * (reconcile/ownership.ts `driftedFields`: spec fields, kleym's labels, the binding-UID stamp).
 */
export function clusterDifferences(object: unknown, desired: ClusterSPIFFEID): string[] {
  const o = asRecord(object);
  return driftedFields({ metadata: asRecord(o.metadata), spec: o.spec }, desired);
}

/** Compare the object at the rendered name with the rendered one (`clusterDifferences`). */
export function clusterState(
  servedCsid: boolean,
  read: ClusterObjectRead,
  desired: ClusterSPIFFEID,
): ClusterState {
  if (!servedCsid) return "not-served";
  switch (read.state) {
    case "absent":
      return "absent";
    case "forbidden":
    case "skipped":
      return "unknown";
    case "found":
      return clusterDifferences(read.object, desired).length === 0 ? "in-sync" : "differs";
  }
}

/** Whether `config` is the operator's own (from the binding's status), so its rendering is too. */
export function isOperatorConfig(config: IdentityConfig, binding: unknown): boolean {
  const operator = identityConfig({}, binding);
  return operator.trustDomain.source === "binding-status" &&
    operator.trustDomain.value === config.trustDomain.value &&
    operator.className.value === config.className.value;
}

export interface InspectInput {
  now: Date;
  command: InspectCommand;
  served: ServedApis;
  /** undefined: not found (or its CRD is not served). */
  binding: unknown;
  fetched: FetchedRefs;
  /** From `renderForInspect`; null when the binding was not found. */
  outcome: RenderOutcome | null;
  pods: PodsRead;
  cluster: ClusterObjectRead;
  /**
   * Every ClusterSPIFFEID, read only when SPIRE reports masked entries (to name the masking
   * object); absent: not read.
   */
  clusterSPIFFEIDs?: { state: "listed"; items: unknown[] } | { state: "forbidden" };
  /**
   * The bindings of the binding's namespace, for the duplicate-ID and overlap findings
   * (exclusivity.ts); absent: not read.
   */
  namespaceBindings?: { state: "listed"; items: unknown[] } | {
    state: "forbidden";
    message: string;
  };
}

/** Whether `gatherInspect` must list ClusterSPIFFEIDs: SPIRE reports masked entries. */
export function needsClusterSPIFFEIDs(binding: unknown): boolean {
  return (decodeSpireFigures(binding)?.entriesMasked ?? 0) > 0;
}

export function buildInspectionReport(input: InspectInput): BindingInspectionReport {
  const { command, served, binding, outcome } = input;
  const config = identityConfig(command, binding);
  const ref = bindingObjectRef(command.namespace, command.name);
  const meta = asRecord(asRecord(binding).metadata);
  const findings: Finding[] = [];
  const base = {
    schemaVersion: SCHEMA_VERSION,
    kind: INSPECTION_REPORT_KIND,
    generatedAt: input.now.toISOString(),
    cliVersion: VERSION,
    identityConfig: config,
    bindingRef: {
      ...ref,
      namespace: command.namespace,
      found: binding !== undefined,
      uid: nonEmpty(meta.uid) ?? null,
      generation: typeof meta.generation === "number" ? meta.generation : null,
    },
  } as const;

  if (binding === undefined || outcome === null) {
    if (!served.binding) {
      findings.push({
        id: "crd-missing",
        severity: "error",
        reason: "BindingCRDMissing",
        message:
          `${BINDING_API_VERSION} ${BINDING_KIND} is not served by this cluster: install kleym's CRD (deploy.yaml)`,
        affectedRefs: [],
      });
    }
    findings.push({
      id: "binding-not-found",
      severity: "error",
      reason: "NotFound",
      message: `${BINDING_KIND} ${JSON.stringify(command.name)} was not found in namespace ${
        JSON.stringify(command.namespace)
      }`,
      affectedRefs: [ref],
    });
    return {
      ...base,
      resolvedInput: null,
      renderedIdentity: null,
      renderedClusterSPIFFEID: null,
      conditions: [],
      matchedPods: null,
      spire: null,
      findings: sortFindings(findings),
    };
  }

  findings.push(...bindingHealthFindings(binding));
  const peers = input.namespaceBindings;
  if (peers?.state === "listed") {
    findings.push(...exclusivityFindings(peers.items, command));
  } else if (peers?.state === "forbidden") {
    findings.push({
      id: "rbac-limited",
      severity: "warning",
      reason: "Forbidden",
      message: `cannot list the InferenceIdentityBindings of namespace ${command.namespace}, so ` +
        `duplicate SPIFFE IDs and overlaps are not checked: ${peers.message}`,
      affectedRefs: [ref],
    });
  }
  if (config.trustDomain.source === "default") {
    findings.push({
      id: "identity-config-undiscovered",
      severity: "warning",
      reason: "TrustDomainDefaulted",
      message: `the binding's status names no trust domain (not reconciled yet?): rendered with ` +
        `the default ${
          JSON.stringify(INSPECT_DEFAULT_TRUST_DOMAIN)
        }, classless; pass --trust-domain ` +
        `and --clusterspiffeid-class-name to render with the operator's configuration`,
      affectedRefs: [ref],
    });
  }

  const raw = rawSpec(binding);
  let renderedIdentity: BindingInspectionReport["renderedIdentity"] = null;
  let renderedClusterSPIFFEID: BindingInspectionReport["renderedClusterSPIFFEID"] = null;
  let matchedPods: BindingInspectionReport["matchedPods"] = null;
  let spireSource: SpireSource | null = null;

  if (!outcome.ok) {
    findings.push(
      renderFinding(outcome.error, refsFor(outcome.error, command.namespace, raw, ref)),
    );
  } else {
    const identity = outcome.identity;
    renderedIdentity = {
      mode: identity.mode,
      spiffeID: identity.spiffeID,
      selectors: [...identity.selectors],
      podLabels: { ...identity.podLabels },
    };
    const object = structuredClone(identity.clusterSPIFFEID);
    renderedClusterSPIFFEID = {
      name: identity.name,
      object,
      clusterState: clusterState(served.clusterSPIFFEID, input.cluster, identity.clusterSPIFFEID),
    };
    // SPEC 7: Ready=True only while the object exists as rendered — checked with the operator's
    // configuration only (another --trust-domain renders another object on purpose).
    if (isOperatorConfig(config, binding) && input.cluster.state !== "forbidden") {
      const stale = staleReadyFinding(binding, {
        name: identity.name,
        state: renderedClusterSPIFFEID.clusterState,
        differences: input.cluster.state === "found"
          ? clusterDifferences(input.cluster.object, identity.clusterSPIFFEID)
          : [],
      });
      if (stale !== undefined) findings.push(stale);
    }
    spireSource = {
      name: identity.name,
      className: object.spec.className ?? null,
      read: input.cluster.state === "found"
        ? hasScmStats(input.cluster.object) ? "with-stats" : "without-stats"
        : input.cluster.state === "absent" || !served.clusterSPIFFEID
        ? "absent"
        : "unknown",
    };
    const csidRef: ObjectRef = {
      apiVersion: object.apiVersion,
      kind: object.kind,
      namespace: null,
      name: identity.name,
    };
    if (!served.clusterSPIFFEID) {
      findings.push({
        id: "crd-missing",
        severity: "error",
        reason: "ClusterSPIFFEIDCRDMissing",
        message:
          `spire.spiffe.io/v1alpha1 ClusterSPIFFEID is not served by this cluster: kleym cannot ` +
          `write ${identity.name} until SPIRE Controller Manager's CRDs are installed`,
        affectedRefs: [ref, csidRef],
      });
    }
    if (input.cluster.state === "forbidden") {
      findings.push({
        id: "rbac-limited",
        severity: "warning",
        reason: "Forbidden",
        message: `cannot read ClusterSPIFFEID ${identity.name}, so whether it is in place is ` +
          `unknown: ${input.cluster.message}`,
        affectedRefs: [csidRef],
      });
    }
    if (input.pods.state === "forbidden") {
      findings.push({
        id: "rbac-limited",
        severity: "warning",
        reason: "Forbidden",
        message: `cannot list pods in namespace ${command.namespace}, so the matched pods are ` +
          `unknown: ${input.pods.message}`,
        affectedRefs: [{ apiVersion: "v1", kind: "Pod", namespace: command.namespace, name: "*" }],
      });
    }
    if (input.pods.state === "read") {
      const result = matchPods(identity.selectors, input.pods.items);
      matchedPods = result.matched;
      for (const selector of result.unsupported) {
        findings.push({
          id: "unsupported-selector",
          severity: "warning",
          reason: "UnsupportedSelector",
          message: `selector ${
            JSON.stringify(selector)
          } cannot be evaluated against pod objects; it was ignored when matching pods`,
          affectedRefs: [ref],
        });
      }
      if (result.matched.length === 0) {
        const misses: string[] = [];
        if (result.otherServiceAccount > 0) {
          misses.push(
            `${result.otherServiceAccount} run under another service account than ${
              JSON.stringify(raw.serviceAccountName)
            }`,
          );
        }
        if (result.missingContainer > 0) {
          misses.push(
            `${result.missingContainer} have no container ${JSON.stringify(raw.containerName)}`,
          );
        }
        findings.push({
          id: "zero-matched-pods",
          severity: "info",
          reason: "NoMatchingPods",
          message: `no pod in namespace ${command.namespace} matches the rendered selectors` +
            ` (${result.withPoolLabels} carry the pool's labels${
              misses.length > 0 ? `; of those, ${misses.join(", ")}` : ""
            })`,
          affectedRefs: [ref],
        });
      }
    }
  }

  const spire = spireView(binding, spireSource);
  if (spire.figures !== null) {
    const figures = spire.figures;
    const pods: MatchedPodNames = matchedPods !== null
      ? { state: "read", names: matchedPods.map((p) => p.name) }
      : input.pods.state === "forbidden"
      ? { state: "forbidden" }
      : { state: "skipped" };
    findings.push(...spireFindings({
      binding,
      figures,
      pods,
      maskers: () => {
        const list = input.clusterSPIFFEIDs;
        return maskersIn(
          list?.state === "listed" ? list.items : undefined,
          figures.clusterSPIFFEIDName,
        );
      },
    }));
  }

  return {
    ...base,
    resolvedInput: resolvedInput(binding, served, input.fetched, outcome),
    renderedIdentity,
    renderedClusterSPIFFEID,
    conditions: reportConditions(binding),
    matchedPods,
    spire,
    findings: sortFindings(findings),
  };
}

function refsFor(
  error: StateError,
  namespace: string,
  raw: RawSpec,
  binding: ObjectRef,
): ObjectRef[] {
  const refs = [binding];
  const pick = <V extends string>(order: readonly V[], group: string | null): V =>
    order.find((v) => group === null || v.startsWith(`${group}/`)) ?? order[0];
  if (error.reason === "TargetPoolNotFound" && raw.poolName !== null) {
    refs.push({
      apiVersion: pick(POOL_VERSIONS, raw.poolGroup),
      kind: "InferencePool",
      namespace,
      name: raw.poolName,
    });
  }
  if (error.reason === "TargetObjectiveNotFound" && raw.objectiveName !== null) {
    refs.push({
      apiVersion: pick(OBJECTIVE_VERSIONS, raw.objectiveGroup),
      kind: "InferenceObjective",
      namespace,
      name: raw.objectiveName,
    });
  }
  return refs;
}
