/**
 * `kleym inspect binding`'s report as a pure function over what the edge read (cli/run.ts does
 * the reads) and what cli/inspect_render.ts rendered: `buildInspectionReport(input)`, with
 * findings, matched pods and what SPIRE Controller Manager reported (cli/spire.ts).
 */
import { decodeConditions } from "../reconcile/conditions.ts";
import { asRecord } from "../reconcile/json.ts";
import { driftedFields } from "../reconcile/ownership.ts";
import type { RenderOutcome } from "../reconcile/render.ts";
import { BINDING_API_VERSION, BINDING_KIND, type ClusterSPIFFEID } from "../reconcile/types.ts";
import { VERSION } from "../apis/version.ts";
import { INSPECT_DEFAULT_TRUST_DOMAIN } from "../flags/cli.ts";
import type { InspectCommand } from "./args.ts";
import { svidLimitsFinding, svidView } from "./inspect_svid.ts";
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
  INSPECTION_REPORT_KIND,
  type ObjectRef,
  type ReportCondition,
  SCHEMA_VERSION,
  sortFindings,
} from "./report.ts";
import {
  type FetchedRefs,
  identityConfig,
  isOperatorConfig,
  nonEmpty,
  type RawSpec,
  rawSpec,
  refsFor,
  resolvedInput,
  type ServedApis,
} from "./inspect_render.ts";

export type PodsRead =
  | { state: "read"; items: PodView[] }
  | { state: "forbidden"; message: string }
  | { state: "skipped" };

export type ClusterObjectRead =
  | { state: "found"; object: unknown }
  | { state: "absent" }
  | { state: "forbidden"; message: string }
  | { state: "skipped" };

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
    return { ...base, ...notFound(served, command, ref) };
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

  const svid = svidView(binding, outcome, config.svidLimits);
  const svidWarning = svidLimitsFinding(binding, svid, config.svidLimits, ref);
  if (svidWarning !== undefined) {
    findings.push(svidWarning);
  } else if (!outcome.ok) {
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
    // docs/contract.md#lifecycle: Ready=True only while the object exists as rendered — checked
    // with the operator's configuration only (another --trust-domain renders another object on
    // purpose).
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
      const pods = matchedPodsFindings(identity.selectors, input.pods.items, {
        namespace: command.namespace,
        raw,
        ref,
      });
      matchedPods = pods.matched;
      findings.push(...pods.findings);
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
    svid,
    findings: sortFindings(findings),
  };
}

/** The pods the rendered selectors match, and the findings about them (none, unsupported). */
function matchedPodsFindings(
  selectors: readonly string[],
  pods: PodView[],
  at: { namespace: string; raw: RawSpec; ref: ObjectRef },
): { matched: ReturnType<typeof matchPods>["matched"]; findings: Finding[] } {
  const result = matchPods(selectors, pods);
  const findings: Finding[] = [];
  for (const selector of result.unsupported) {
    findings.push({
      id: "unsupported-selector",
      severity: "warning",
      reason: "UnsupportedSelector",
      message: `selector ${
        JSON.stringify(selector)
      } cannot be evaluated against pod objects; it was ignored when matching pods`,
      affectedRefs: [at.ref],
    });
  }
  if (result.matched.length === 0) {
    const misses: string[] = [];
    if (result.otherServiceAccount > 0) {
      misses.push(
        `${result.otherServiceAccount} run under another service account than ${
          JSON.stringify(at.raw.serviceAccountName)
        }`,
      );
    }
    if (result.missingContainer > 0) {
      misses.push(
        `${result.missingContainer} have no container ${JSON.stringify(at.raw.containerName)}`,
      );
    }
    findings.push({
      id: "zero-matched-pods",
      severity: "info",
      reason: "NoMatchingPods",
      message: `no pod in namespace ${at.namespace} matches the rendered selectors` +
        ` (${result.withPoolLabels} carry the pool's labels${
          misses.length > 0 ? `; of those, ${misses.join(", ")}` : ""
        })`,
      affectedRefs: [at.ref],
    });
  }
  return { matched: result.matched, findings };
}

/** What every inspection report starts with. */
type ReportBase = Pick<
  BindingInspectionReport,
  "schemaVersion" | "kind" | "generatedAt" | "cliVersion" | "identityConfig" | "bindingRef"
>;

/** The report's body when the binding was not found (or its CRD is not served). */
function notFound(
  served: ServedApis,
  command: InspectCommand,
  ref: ObjectRef,
): Omit<BindingInspectionReport, keyof ReportBase> {
  const findings: Finding[] = [];
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
    resolvedInput: null,
    renderedIdentity: null,
    renderedClusterSPIFFEID: null,
    conditions: [],
    matchedPods: null,
    spire: null,
    svid: null,
    findings: sortFindings(findings),
  };
}
