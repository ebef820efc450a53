/**
 * Findings shared by `status` and `inspect` (pure): a binding's health as the operator reported
 * it in its conditions, and the finding for a rendering failure the CLI computed itself.
 *
 * Collisions are taken from the binding's Conflict condition as written by the operator, never
 * recomputed: the CLI sees one binding, the operator sees the namespace.
 */
import { decodeConditions, findCondition } from "../reconcile/conditions.ts";
import { parseConflictPeers } from "../reconcile/conflict_messages.ts";
import type { StateError } from "../reconcile/errors.ts";
import { asRecord, isRecord } from "../reconcile/json.ts";
import { BINDING_API_VERSION, BINDING_KIND } from "../reconcile/types.ts";
import type { ClusterState, Finding, FindingId, ObjectRef } from "./report.ts";

export function bindingObjectRef(namespace: string, name: string): ObjectRef {
  return { apiVersion: BINDING_API_VERSION, kind: BINDING_KIND, namespace, name };
}

/** Name and namespace of a binding read from the cluster ("" when absent). */
export function bindingMeta(binding: unknown): { namespace: string; name: string } {
  const meta = asRecord(asRecord(binding).metadata);
  return {
    namespace: typeof meta.namespace === "string" ? meta.namespace : "",
    name: typeof meta.name === "string" ? meta.name : "",
  };
}

/**
 * The peers named in a Conflict message (docs/contract.md#exclusivity: any of the three
 * machine-parseable forms, read with the operator's own parsers); [] otherwise.
 */
export function collisionPeers(message: string): string[] {
  return parseConflictPeers(message);
}

export type Health = "ok" | "warning" | "error";

/** OK = Ready True, ERROR = Ready False, WARNING = anything else (absent, Unknown). */
export function bindingHealth(binding: unknown): Health {
  const status = isRecord(binding) ? binding.status : undefined;
  const ready = findCondition(decodeConditions(status), "Ready");
  if (ready?.status === "True") return "ok";
  if (ready?.status === "False") return "error";
  return "warning";
}

/**
 * `kleym-collision` from a True Conflict condition, `binding-unhealthy` (error) for Ready=False
 * for any other reason, `binding-unhealthy` (warning) when Ready is absent or Unknown.
 */
export function bindingHealthFindings(binding: unknown): Finding[] {
  const { namespace, name } = bindingMeta(binding);
  const ref = bindingObjectRef(namespace, name);
  const status = isRecord(binding) ? binding.status : undefined;
  const conditions = decodeConditions(status);
  const ready = findCondition(conditions, "Ready");
  const conflict = findCondition(conditions, "Conflict");
  const out: Finding[] = [];
  if (conflict?.status === "True") {
    out.push({
      id: "kleym-collision",
      severity: "error",
      reason: conflict.reason,
      message: `binding ${namespace}/${name}: ${conflict.message}`,
      affectedRefs: [
        ref,
        ...collisionPeers(conflict.message).map((p) => bindingObjectRef(namespace, p)),
      ],
    });
  }
  if (ready?.status === "True") return out;
  if (ready?.status === "False") {
    if (conflict?.status === "True" && ready.reason === conflict.reason) return out;
    out.push({
      id: "binding-unhealthy",
      severity: "error",
      reason: ready.reason,
      message: `binding ${namespace}/${name} is not Ready (${ready.reason}): ${ready.message}`,
      affectedRefs: [ref],
    });
    return out;
  }
  out.push({
    id: "binding-unhealthy",
    severity: "warning",
    reason: ready === undefined ? "NotReconciled" : "ReadyUnknown",
    message: ready === undefined
      ? `binding ${namespace}/${name} has no Ready condition: the kleym operator has not reconciled it (is it running?)`
      : `binding ${namespace}/${name} is Ready=Unknown (${ready.reason}): ${ready.message}`,
    affectedRefs: [ref],
  });
  return out;
}

/** Which finding id a StateError from rendering maps to. */
export function renderFindingId(error: StateError): FindingId {
  switch (error.reason) {
    case "TargetPoolNotFound":
    case "TargetObjectiveNotFound":
      return "dependency-missing";
    case "InferencePoolCRDMissing":
    case "InferenceObjectiveCRDMissing":
    case "ClusterSPIFFEIDCRDMissing":
      return "crd-missing";
    case "InvalidPoolRef":
    case "InvalidObjectiveRef":
      return "invalid-ref";
    case "IdentityCollision":
      return "kleym-collision";
  }
  return error.condition === "UnsafeSelector" ? "unsafe-selector" : "render-failure";
}

export function renderFinding(error: StateError, refs: ObjectRef[]): Finding {
  return {
    id: renderFindingId(error),
    severity: "error",
    reason: error.reason,
    message: error.message,
    affectedRefs: refs,
  };
}

/**
 * docs/contract.md#lifecycle checked from outside: a binding is Ready=True only while its
 * ClusterSPIFFEID exists as rendered. `stale-ready` (error) when the binding says Ready=True but
 * the object at the rendered name is absent or differs (`differences` names what). Nothing for any
 * other state: not Ready is reported by `binding-unhealthy`, and an unreadable object by
 * `rbac-limited`.
 */
export function staleReadyFinding(
  binding: unknown,
  csid: { name: string; state: ClusterState; differences: readonly string[] },
): Finding | undefined {
  if (bindingHealth(binding) !== "ok") return undefined;
  if (csid.state !== "absent" && csid.state !== "differs") return undefined;
  const { namespace, name } = bindingMeta(binding);
  const what = csid.state === "absent"
    ? `ClusterSPIFFEID ${csid.name} does not exist`
    : `ClusterSPIFFEID ${csid.name} differs from the rendered one (${csid.differences.join(", ")})`;
  return {
    id: "stale-ready",
    severity: "error",
    reason: csid.state === "absent" ? "ClusterSPIFFEIDAbsent" : "ClusterSPIFFEIDDiffers",
    message: `binding ${namespace}/${name} says Ready=True but ${what}: its identity is not ` +
      `registered as rendered and the operator has not repaired it (is it running? a resync or ` +
      `a restart of the operator repairs it)`,
    affectedRefs: [
      bindingObjectRef(namespace, name),
      {
        apiVersion: "spire.spiffe.io/v1alpha1",
        kind: "ClusterSPIFFEID",
        namespace: null,
        name: csid.name,
      },
    ],
  };
}
