/**
 * `kleym status` as a pure function over what the edge read (cli/run.ts does the reads): served
 * CRDs from discovery, the bindings, the leader Lease and the operator Deployments (labels
 * `app.kubernetes.io/name=kleym,app.kubernetes.io/component=operator`, as deploy.yaml sets them).
 *
 * Operator health, strongest evidence first (the operator may run anywhere: in the Deployment,
 * from source, in the demo):
 * 1. the leader Lease `kleym-system/kleym-operator`: held and renewed within its lease duration
 *    is a working leader; held but not renewed for longer is `operator-unavailable`
 *    (LeaseExpired). A released or absent Lease says nothing (a clean stop, or no election);
 * 2. otherwise the Deployments, when any exist: a ready replica or `NoReadyReplicas`;
 * 3. otherwise the bindings: status conditions older than the spec (observedGeneration behind
 *    metadata.generation, or no conditions) mean nobody reconciles (`BindingsNotReconciled`);
 *    all current is `unknown` (an operator without --leader-elect looks like a stopped one);
 *    no bindings either is `not-found`.
 */
import { VERSION } from "../apis/version.ts";
import { CONDITION_TYPES, decodeConditions } from "../reconcile/conditions.ts";
import { isRecord } from "../reconcile/json.ts";
import { bindingHealth, bindingHealthFindings } from "./findings.ts";
import {
  aggregate,
  type BindingCounts,
  type CrdComponent,
  type CrdStatus,
  type Finding,
  type KleymStatusReport,
  type OperatorDeployment,
  type OperatorLease,
  type OperatorStatus,
  SCHEMA_VERSION,
  sortFindings,
  STATUS_REPORT_KIND,
  type StatusConfigValue,
} from "./report.ts";

export const OPERATOR_LABEL_SELECTOR =
  "app.kubernetes.io/name=kleym,app.kubernetes.io/component=operator";

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

export type ObjectRead =
  | { state: "found"; object: unknown }
  | { state: "absent" }
  | { state: "forbidden"; message: string };

/** Where the operator's leader Lease lives (deploy.yaml; operator/leader.ts LEASE_NAME). */
export const OPERATOR_LEASE = { namespace: "kleym-system", name: "kleym-operator" } as const;

export interface StatusInput {
  now: Date;
  /** Served versions by `<plural>.<group>` (from discovery). */
  served: ReadonlyMap<string, readonly string[]>;
  bindings: ListRead;
  deployments: ListRead;
  /** The leader Lease; absent from older callers means not read. */
  lease?: ObjectRead;
}

/** The Lease as the report shows it; `live` judged against `now`. */
export function decodeLease(u: unknown, now: Date): OperatorLease {
  const o = rec(u);
  const meta = rec(o.metadata);
  const spec = rec(o.spec);
  const holder = typeof spec.holderIdentity === "string" && spec.holderIdentity !== ""
    ? spec.holderIdentity
    : null;
  const renewTime = typeof spec.renewTime === "string" ? spec.renewTime : null;
  const duration = typeof spec.leaseDurationSeconds === "number" ? spec.leaseDurationSeconds : null;
  const renewedAt = renewTime === null ? NaN : Date.parse(renewTime);
  const ageSeconds = Number.isNaN(renewedAt)
    ? null
    : Math.max(0, Math.round((now.getTime() - renewedAt) / 100) / 10);
  return {
    namespace: typeof meta.namespace === "string" ? meta.namespace : OPERATOR_LEASE.namespace,
    name: typeof meta.name === "string" ? meta.name : OPERATOR_LEASE.name,
    holder,
    renewTime,
    leaseDurationSeconds: duration,
    ageSeconds,
    live: holder !== null && ageSeconds !== null && duration !== null && ageSeconds <= duration,
  };
}

/** Bindings whose status lags their spec: no conditions, or a condition for an older generation. */
function unreconciled(bindings: readonly unknown[]): string[] {
  const out: string[] = [];
  for (const b of bindings) {
    const meta = rec(rec(b).metadata);
    const generation = typeof meta.generation === "number" ? meta.generation : undefined;
    const conditions = Array.isArray(rec(rec(b).status).conditions)
      ? rec(rec(b).status).conditions as unknown[]
      : [];
    const behind = conditions.length === 0 || (generation !== undefined &&
      conditions.some((c) => {
        const g = rec(c).observedGeneration;
        return typeof g !== "number" || g < generation;
      }));
    if (behind) out.push(`${meta.namespace}/${meta.name}`);
  }
  return out.sort(cmp);
}

function rec(u: unknown): Record<string, unknown> {
  return isRecord(u) ? u : {};
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
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

/** The value of `--name=v` / `--name v` in args, or a literal env var. */
function flagValue(
  args: readonly string[],
  env: readonly unknown[],
  flag: string,
  envName: string,
): string | undefined {
  for (let i = 0; i < args.length; i++) {
    if (args[i].startsWith(`--${flag}=`)) return args[i].slice(flag.length + 3);
    if (args[i] === `--${flag}` && i + 1 < args.length) return args[i + 1];
  }
  for (const e of env) {
    const o = rec(e);
    if (o.name === envName && typeof o.value === "string") return o.value;
  }
  return undefined;
}

export function decodeDeployment(u: unknown): DecodedDeployment {
  const o = rec(u);
  const meta = rec(o.metadata);
  const spec = rec(o.spec);
  const status = rec(o.status);
  const containers = Array.isArray(rec(rec(spec.template).spec).containers)
    ? rec(rec(spec.template).spec).containers as unknown[]
    : [];
  const container = rec(containers.find((c) => rec(c).name === "operator") ?? containers[0]);
  const strings = (v: unknown): string[] =>
    Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : [];
  const args = [...strings(container.command), ...strings(container.args)];
  const env = Array.isArray(container.env) ? container.env : [];
  const image = typeof container.image === "string" ? container.image : null;
  const td = flagValue(args, env, "trust-domain", "KLEYM_TRUST_DOMAIN");
  const cls = flagValue(
    args,
    env,
    "clusterspiffeid-class-name",
    "KLEYM_CLUSTERSPIFFEID_CLASS_NAME",
  );
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
  const distinct = [...new Set(observed)].sort((a, b) => cmp(a ?? "", b ?? ""));
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
    const servedVersions = [...(input.served.get(name) ?? [])].sort(cmp);
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

  // Operator: the Lease, else the Deployments, else binding freshness (module comment).
  const bindingItems = input.bindings.state === "listed" ? input.bindings.items : [];
  let decoded: DecodedDeployment[] = [];
  if (input.deployments.state === "listed") {
    decoded = input.deployments.items.map(decodeDeployment).sort((a, b) =>
      cmp(`${a.namespace}/${a.name}`, `${b.namespace}/${b.name}`)
    );
  }
  const deployments = decoded.map(({ trustDomain: _t, className: _c, ...d }) => d);
  const lease = input.lease?.state === "found" ? decodeLease(input.lease.object, input.now) : null;
  const leaseRef = {
    apiVersion: "coordination.k8s.io/v1",
    kind: "Lease",
    namespace: lease?.namespace ?? OPERATOR_LEASE.namespace,
    name: lease?.name ?? OPERATOR_LEASE.name,
  };
  const deploymentRefs = deployments.map((d) => ({
    apiVersion: "apps/v1",
    kind: "Deployment",
    namespace: d.namespace,
    name: d.name,
  }));
  const unavailable = (reason: string, message: string, refs = deploymentRefs) =>
    findings.push({
      id: "operator-unavailable",
      severity: "error",
      reason,
      message,
      affectedRefs: refs,
    });
  let operator: OperatorStatus;
  if (lease?.live) {
    operator = { state: "available", evidence: "lease", lease, deployments };
  } else if (lease !== null && lease.holder !== null) {
    operator = { state: "unavailable", evidence: "lease", lease, deployments };
    unavailable(
      "LeaseExpired",
      `the leader Lease ${leaseRef.namespace}/${leaseRef.name} was last renewed by ${lease.holder} ${
        lease.ageSeconds ?? "?"
      }s ago (lease duration ${
        lease.leaseDurationSeconds ?? "?"
      }s): no operator is leading, so bindings are not reconciled`,
      [leaseRef],
    );
  } else if (deployments.length > 0) {
    const ready = deployments.some((d) => d.readyReplicas > 0);
    operator = {
      state: ready ? "available" : "unavailable",
      evidence: "deployment",
      lease,
      deployments,
    };
    if (!ready) {
      unavailable(
        "NoReadyReplicas",
        `the kleym operator Deployment has no ready replica (${
          deployments.map((d) => `${d.namespace}/${d.name} ${d.readyReplicas}/${d.replicas}`)
            .join(", ")
        }) and no replica holds the leader Lease: bindings are not reconciled`,
      );
    }
  } else if (input.deployments.state !== "listed" && input.lease?.state !== "found") {
    operator = { state: "unknown", evidence: "none", lease, deployments };
  } else if (bindingItems.length > 0) {
    const behind = unreconciled(bindingItems);
    operator = {
      state: behind.length > 0 ? "unavailable" : "unknown",
      evidence: "bindings",
      lease,
      deployments,
    };
    if (behind.length > 0) {
      unavailable(
        "BindingsNotReconciled",
        `no live leader Lease, no operator Deployment, and ${behind.length} binding(s) have status older than their spec (${
          behind.slice(0, 3).join(", ")
        }${behind.length > 3 ? ", ..." : ""}): no operator is reconciling`,
        [],
      );
    }
  } else {
    operator = { state: "not-found", evidence: "none", lease, deployments };
    unavailable(
      "OperatorNotFound",
      `no live leader Lease ${leaseRef.namespace}/${leaseRef.name} and no Deployment labelled ${OPERATOR_LABEL_SELECTOR}: the kleym operator is not running (run it with --leader-elect so status can see it)`,
      [],
    );
  }
  if (input.deployments.state === "forbidden") {
    findings.push({
      id: "rbac-limited",
      severity: "warning",
      reason: "Forbidden",
      message:
        `cannot list Deployments, so the operator's health is unknown: ${input.deployments.message}`,
      affectedRefs: [],
    });
  }
  if (input.lease?.state === "forbidden") {
    findings.push({
      id: "rbac-limited",
      severity: "warning",
      reason: "Forbidden",
      message:
        `cannot read the leader Lease ${leaseRef.namespace}/${leaseRef.name}: ${input.lease.message}`,
      affectedRefs: [],
    });
  }

  // Bindings.
  let counts: BindingCounts | null = null;
  let trueConditions: Record<string, number> | null = null;
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
      for (const c of decodeConditions(rec(b).status)) {
        if (c.status === "True") trueConditions[c.type] = (trueConditions[c.type] ?? 0) + 1;
      }
      findings.push(...bindingHealthFindings(b));
    }
  }

  // Identity configuration: binding status first, then the Deployment's args.
  const reconciled = bindings.map((b) => rec(rec(b).status)).filter((s) =>
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
    summary: { bindings: counts, trueConditions },
    findings: sorted,
  };
}
