/**
 * Operator health for `kleym status` (pure), from the strongest evidence there is; the operator
 * may run anywhere: in the Deployment, from source, in the demo.
 *
 * 1. The leader Lease `kleym-system/kleym-operator`: held and renewed within its lease duration is
 *    a working leader; held but not renewed for longer is `operator-unavailable` (LeaseExpired).
 *    A released or absent Lease says nothing (a clean stop, or an operator without election).
 * 2. Otherwise the Deployments, when any exist: a ready replica, or `NoReadyReplicas`.
 * 3. Otherwise the bindings: status conditions older than the spec (observedGeneration behind
 *    metadata.generation, or no conditions) mean nobody reconciles (`BindingsNotReconciled`); all
 *    current is `unknown` (an operator without --leader-elect looks like a stopped one); no
 *    bindings either is `not-found` (`OperatorNotFound`).
 *
 * The Lease's renewTime is compared with the CLI's clock: skew beyond the lease duration misjudges
 * it (docs/cli.md).
 */
import { DEFAULT_LEASE_NAMESPACE, LEASE_NAME } from "../flags/operator.ts";
import { compareCodeUnits } from "../apis/compare.ts";
import { asRecord } from "../reconcile/json.ts";
import type { Finding, OperatorDeployment, OperatorLease, OperatorStatus } from "./report.ts";
import type { ListRead } from "./status.ts";

export const OPERATOR_LABEL_SELECTOR =
  "app.kubernetes.io/name=kleym,app.kubernetes.io/component=operator";

export type ObjectRead =
  | { state: "found"; object: unknown }
  | { state: "absent" }
  | { state: "forbidden"; message: string };

/** Where the leader Lease lives as deployed (deploy.yaml sets no --leader-elect-namespace). */
export const OPERATOR_LEASE = { namespace: DEFAULT_LEASE_NAMESPACE, name: LEASE_NAME } as const;

export interface OperatorHealthInput {
  now: Date;
  bindings: ListRead;
  /** How the Deployment list went (listed / forbidden / ...). */
  deploymentsRead: ListRead;
  /** The listed operator Deployments, decoded and sorted. */
  deployments: readonly OperatorDeployment[];
  /** The leader Lease; undefined: not read. */
  lease?: ObjectRead;
}

/** The Lease as the report shows it; `live` judged against `now`. */
export function decodeLease(u: unknown, now: Date): OperatorLease {
  const o = asRecord(u);
  const meta = asRecord(o.metadata);
  const spec = asRecord(o.spec);
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
    const meta = asRecord(asRecord(b).metadata);
    const generation = typeof meta.generation === "number" ? meta.generation : undefined;
    const conditions = Array.isArray(asRecord(asRecord(b).status).conditions)
      ? asRecord(asRecord(b).status).conditions as unknown[]
      : [];
    const behind = conditions.length === 0 || (generation !== undefined &&
      conditions.some((c) => {
        const g = asRecord(c).observedGeneration;
        return typeof g !== "number" || g < generation;
      }));
    if (behind) out.push(`${meta.namespace}/${meta.name}`);
  }
  return out.sort(compareCodeUnits);
}

/** The operator's state and the findings that explain it. */
export function operatorHealth(
  input: OperatorHealthInput,
): { operator: OperatorStatus; findings: Finding[] } {
  const bindingItems = input.bindings.state === "listed" ? input.bindings.items : [];
  const deployments = [...input.deployments];
  const findings: Finding[] = [];
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
  } else if (input.deploymentsRead.state !== "listed" && input.lease?.state !== "found") {
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
  if (input.deploymentsRead.state === "forbidden") {
    findings.push({
      id: "rbac-limited",
      severity: "warning",
      reason: "Forbidden",
      message:
        `cannot list Deployments, so the operator's health is unknown: ${input.deploymentsRead.message}`,
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
  return { operator, findings };
}
