/**
 * `kleym status` as a pure function over what the edge read (cli/run.ts does the reads): served
 * CRDs from discovery, the bindings, the leader Lease and the operator Deployments (labels
 * `app.kubernetes.io/name=kleym,app.kubernetes.io/component=operator`, as deploy.yaml sets them).
 *
 * Operator health (the leader Lease, then Deployments, then binding freshness): operator_health.ts.
 * What SPIRE Controller Manager reported per binding (`status.spire`): totals in the summary, and
 * the `spire-entry-failures` / `spire-entries-masked` findings (cli/spire.ts); `spire-zero-pods`
 * needs the pods, which only inspect reads.
 */
import { compareCodeUnits } from "../apis/compare.ts";
import { VERSION } from "../apis/version.ts";
import { CONDITION_TYPES, decodeConditions } from "../reconcile/conditions.ts";
import { asRecord } from "../reconcile/json.ts";
import { OPERATOR_FLAG_LIST, OPERATOR_FLAGS } from "../flags/operator.ts";
import { type Flag, given, type RawFlags, readFlags } from "../flags/parse.ts";
import { crossCheckBindings, type CrossCheckInput } from "./crosscheck.ts";
import { bindingHealth, bindingHealthFindings } from "./findings.ts";
import { exclusivityFindings } from "./exclusivity.ts";
import { decodeSpireFigures, maskersIn, spireFindings, spireTotals } from "./spire.ts";
import { type ObjectRead, operatorHealth } from "./operator_health.ts";
import {
  aggregate,
  type BindingCounts,
  type CrdComponent,
  type CrdStatus,
  type Finding,
  type KleymStatusReport,
  type OperatorDeployment,
  SCHEMA_VERSION,
  sortFindings,
  STATUS_REPORT_KIND,
  type StatusConfigValue,
} from "./report.ts";

export { OPERATOR_LABEL_SELECTOR, OPERATOR_LEASE } from "./operator_health.ts";
export type { ObjectRead } from "./operator_health.ts";

interface CrdSpec {
  group: string;
  plural: string;
  kind: string;
  component: CrdComponent;
  supportedVersions: string[];
}

/** The CRDs kleym reads and writes, in report order. */
export const CRDS: readonly CrdSpec[] = [
  {
    group: "kleym.sonda.red",
    plural: "inferenceidentitybindings",
    kind: "InferenceIdentityBinding",
    component: "kleym",
    supportedVersions: ["v1alpha1"],
  },
  {
    group: "spire.spiffe.io",
    plural: "clusterspiffeids",
    kind: "ClusterSPIFFEID",
    component: "spire",
    supportedVersions: ["v1alpha1"],
  },
  {
    group: "inference.networking.k8s.io",
    plural: "inferencepools",
    kind: "InferencePool",
    component: "gaie",
    supportedVersions: ["v1"],
  },
  {
    group: "inference.networking.x-k8s.io",
    plural: "inferencepools",
    kind: "InferencePool",
    component: "gaie",
    supportedVersions: ["v1alpha2"],
  },
  {
    group: "inference.networking.x-k8s.io",
    plural: "inferenceobjectives",
    kind: "InferenceObjective",
    component: "gaie",
    supportedVersions: ["v1alpha2"],
  },
  {
    group: "inference.networking.k8s.io",
    plural: "inferenceobjectives",
    kind: "InferenceObjective",
    component: "gaie",
    supportedVersions: ["v1"],
  },
];

export type ListRead =
  | { state: "listed"; items: unknown[] }
  | { state: "forbidden"; message: string }
  | { state: "not-served" };

export interface StatusInput {
  now: Date;
  /** Served versions by `<plural>.<group>` (from discovery). */
  served: ReadonlyMap<string, readonly string[]>;
  bindings: ListRead;
  deployments: ListRead;
  /** The leader Lease; absent from older callers means not read. */
  lease?: ObjectRead;
  /** What the Ready bindings are cross-checked against (crosscheck.ts); absent: not checked. */
  crossCheck?: CrossCheckInput;
}

/** Tag of an image reference (`latest` without tag or digest), else its digest. */
export function imageTag(image: string): string {
  const at = image.indexOf("@");
  const beforeDigest = at < 0 ? image : image.slice(0, at);
  const lastSlash = beforeDigest.lastIndexOf("/");
  const colon = beforeDigest.indexOf(":", lastSlash + 1);
  if (colon >= 0) return beforeDigest.slice(colon + 1);
  if (at >= 0) return image.slice(at + 1);
  return "latest";
}

interface DecodedDeployment extends OperatorDeployment {
  /** From the operator container's args and env; undefined: not set there. */
  trustDomain?: string;
  className?: string;
}

/**
 * What the operator container is configured with for `flag`: its args read with the operator's
 * own flag table (flags/operator.ts), else the variable when the container sets it literally.
 */
function configured(
  flags: RawFlags,
  env: readonly unknown[],
  flag: Flag,
): string | undefined {
  const literal = (name: string) => {
    const e = env.map(asRecord).find((o) => o.name === name);
    return typeof e?.value === "string" ? e.value : undefined;
  };
  return given(flag, flags, literal)?.text;
}

export function decodeDeployment(u: unknown): DecodedDeployment {
  const o = asRecord(u);
  const meta = asRecord(o.metadata);
  const spec = asRecord(o.spec);
  const status = asRecord(o.status);
  const containers = Array.isArray(asRecord(asRecord(spec.template).spec).containers)
    ? asRecord(asRecord(spec.template).spec).containers as unknown[]
    : [];
  const container = asRecord(
    containers.find((c) => asRecord(c).name === "operator") ?? containers[0],
  );
  const strings = (v: unknown): string[] =>
    Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : [];
  const args = [...strings(container.command), ...strings(container.args)];
  const env = Array.isArray(container.env) ? container.env : [];
  const image = typeof container.image === "string" ? container.image : null;
  const flags = readFlags(OPERATOR_FLAG_LIST, args);
  const td = configured(flags, env, OPERATOR_FLAGS.trustDomain);
  const cls = configured(flags, env, OPERATOR_FLAGS.className);
  return {
    namespace: typeof meta.namespace === "string" ? meta.namespace : "",
    name: typeof meta.name === "string" ? meta.name : "",
    replicas: typeof spec.replicas === "number" ? spec.replicas : 1,
    readyReplicas: typeof status.readyReplicas === "number" ? status.readyReplicas : 0,
    image,
    imageTag: image === null ? null : imageTag(image),
    trustDomain: td === "" ? undefined : td,
    className: cls,
  };
}

function configValue(
  source: "binding-status" | "deployment-args",
  observed: (string | null)[],
): StatusConfigValue {
  const distinct = [...new Set(observed)].sort((a, b) => compareCodeUnits(a ?? "", b ?? ""));
  const mixed = distinct.length > 1;
  return { value: mixed ? "mixed" : distinct[0] ?? null, source, mixed, observed: distinct };
}

const UNDISCOVERED: StatusConfigValue = {
  value: null,
  source: "undiscovered",
  mixed: false,
  observed: [],
};

export function buildStatusReport(input: StatusInput): KleymStatusReport {
  const findings: Finding[] = [];

  const crds: CrdStatus[] = CRDS.map((c) => {
    const name = `${c.plural}.${c.group}`;
    const servedVersions = [...(input.served.get(name) ?? [])].sort(compareCodeUnits);
    return {
      name,
      group: c.group,
      kind: c.kind,
      component: c.component,
      supportedVersions: [...c.supportedVersions],
      servedVersions,
      served: c.supportedVersions.some((v) => servedVersions.includes(v)),
    };
  });
  const missing = (pred: (c: CrdStatus) => boolean) => crds.filter(pred).every((c) => !c.served);
  for (const c of crds.filter((c) => c.component !== "gaie" && !c.served)) {
    findings.push({
      id: "crd-missing",
      severity: "error",
      reason: "CRDNotServed",
      message: `${c.kind} (${c.name} ${c.supportedVersions.join(", ")}) is not served: ${
        c.component === "kleym"
          ? "install kleym's CRD (deploy.yaml)"
          : "install SPIRE Controller Manager's CRDs"
      }`,
      affectedRefs: [],
    });
  }
  if (missing((c) => c.kind === "InferencePool")) {
    findings.push({
      id: "crd-missing",
      severity: "error",
      reason: "InferencePoolCRDMissing",
      message: "no InferencePool API is served (inference.networking.k8s.io/v1 or " +
        "inference.networking.x-k8s.io/v1alpha2): install the Gateway API Inference Extension CRDs",
      affectedRefs: [],
    });
  }
  if (missing((c) => c.kind === "InferenceObjective")) {
    findings.push({
      id: "crd-missing",
      severity: "warning",
      reason: "InferenceObjectiveCRDMissing",
      message: "no InferenceObjective API is served: PerObjective bindings cannot resolve " +
        "(PoolOnly bindings are unaffected)",
      affectedRefs: [],
    });
  }

  // Operator health (operator_health.ts); the decoded Deployments also feed the config below.
  let decoded: DecodedDeployment[] = [];
  if (input.deployments.state === "listed") {
    decoded = input.deployments.items.map(decodeDeployment).sort((a, b) =>
      compareCodeUnits(`${a.namespace}/${a.name}`, `${b.namespace}/${b.name}`)
    );
  }
  const health = operatorHealth({
    now: input.now,
    bindings: input.bindings,
    deploymentsRead: input.deployments,
    deployments: decoded.map(({ trustDomain: _t, className: _c, ...d }) => d),
    lease: input.lease,
  });
  const operator = health.operator;
  findings.push(...health.findings);

  // Bindings.
  let counts: BindingCounts | null = null;
  let trueConditions: Record<string, number> | null = null;
  let spire: KleymStatusReport["summary"]["spire"] = null;
  const bindings = input.bindings.state === "listed" ? input.bindings.items : [];
  if (input.bindings.state === "forbidden") {
    findings.push({
      id: "rbac-limited",
      severity: "warning",
      reason: "Forbidden",
      message:
        `cannot list InferenceIdentityBindings, so binding health is unknown: ${input.bindings.message}`,
      affectedRefs: [],
    });
  } else {
    counts = { total: bindings.length, ok: 0, warning: 0, error: 0 };
    trueConditions = Object.fromEntries(CONDITION_TYPES.map((t) => [t, 0]));
    for (const b of bindings) {
      counts[bindingHealth(b)]++;
      for (const c of decodeConditions(asRecord(b).status)) {
        if (c.status === "True") trueConditions[c.type] = (trueConditions[c.type] ?? 0) + 1;
      }
      findings.push(...bindingHealthFindings(b));
      const figures = decodeSpireFigures(b);
      if (figures !== undefined) {
        findings.push(...spireFindings({
          binding: b,
          figures,
          pods: { state: "skipped" },
          maskers: () => {
            const list = input.crossCheck?.clusterSPIFFEIDs;
            return maskersIn(
              list?.state === "listed" ? list.items : undefined,
              figures.clusterSPIFFEIDName,
            );
          },
        }));
      }
    }
    // Duplicates and overlaps among what is registered (exclusivity.ts).
    findings.push(...exclusivityFindings(bindings));
    spire = spireTotals(bindings);
    if (input.crossCheck) findings.push(...crossCheckBindings(bindings, input.crossCheck));
  }

  // Identity configuration: binding status first, then the Deployment's args.
  const reconciled = bindings.map((b) => asRecord(asRecord(b).status)).filter((s) =>
    typeof s.trustDomain === "string" && s.trustDomain !== ""
  );
  let trustDomain = UNDISCOVERED;
  let className = UNDISCOVERED;
  if (reconciled.length > 0) {
    trustDomain = configValue("binding-status", reconciled.map((s) => s.trustDomain as string));
    className = configValue(
      "binding-status",
      reconciled.map((s) =>
        typeof s.clusterSPIFFEIDClassName === "string" && s.clusterSPIFFEIDClassName !== ""
          ? s.clusterSPIFFEIDClassName
          : null
      ),
    );
  } else {
    const configured = decoded.filter((d) => d.trustDomain !== undefined);
    if (configured.length > 0) {
      trustDomain = configValue("deployment-args", configured.map((d) => d.trustDomain as string));
      className = configValue(
        "deployment-args",
        configured.map((d) => d.className === undefined || d.className === "" ? null : d.className),
      );
    }
  }
  if (trustDomain.source === "undiscovered") {
    findings.push({
      id: "identity-config-undiscovered",
      severity: "warning",
      reason: "TrustDomainUndiscovered",
      message: "no binding status and no operator Deployment names a trust domain: the " +
        "identity configuration in use is unknown",
      affectedRefs: [],
    });
  }

  const sorted = sortFindings(findings);
  return {
    schemaVersion: SCHEMA_VERSION,
    kind: STATUS_REPORT_KIND,
    generatedAt: input.now.toISOString(),
    status: aggregate(sorted),
    cliVersion: VERSION,
    components: { crds, operator },
    config: { trustDomain, className },
    summary: { bindings: counts, trueConditions, spire },
    findings: sorted,
  };
}
