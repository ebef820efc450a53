/**
 * Which ClusterSPIFFEIDs belong to a binding (docs/contract.md#rendering,
 * docs/contract.md#lifecycle).
 *
 * kleym only ever updates or deletes an object that carries `kleym.sonda.red/managed-by=kleym`
 * AND this binding's `binding-name`/`binding-namespace` labels. The UID annotation does not decide
 * ownership: an object labelled for this binding but stamped with another UID (or none, as the Go
 * reference implementation wrote them) is a leftover of an earlier binding of the same name, and
 * is adopted or deleted like any stale output (plan.ts).
 *
 * API:
 * - `ownerLabels(namespace, bindingName)` — the three labels kleym stamps
 * - `ownerLabelSelector(namespace, bindingName)` — the same, as a list/watch `labelSelector`
 * - `isOwnedBy(object, namespace, bindingName)`
 * - `planDeletion(binding, managed)` — what to delete when the binding itself is being deleted
 * - `driftedFields(observed, desired)`, `drifted(observed, desired)`, `mergedUpdate(observed,
 *   desired)` — what of kleym's differs (shared with the CLI), restoring kleym's fields
 * - `nameTakenError(name, holder)` — the desired name is held by an object not this binding's
 */

import { bindingKey } from "./bindings.ts";
import { Reasons, StateError } from "./errors.ts";
import { compareCodeUnits } from "../apis/compare.ts";
import { isRecord, jsonEqual, show } from "./json.ts";
import {
  type BindingInput,
  type ClusterSPIFFEID,
  LABEL_BINDING_NAME,
  LABEL_BINDING_NAMESPACE,
  LABEL_MANAGED_BY,
  MANAGED_BY_VALUE,
  type ObservedClusterSPIFFEID,
} from "./types.ts";

export function ownerLabels(namespace: string, bindingName: string): Record<string, string> {
  return {
    [LABEL_MANAGED_BY]: MANAGED_BY_VALUE,
    [LABEL_BINDING_NAME]: bindingName,
    [LABEL_BINDING_NAMESPACE]: namespace,
  };
}

export function ownerLabelSelector(namespace: string, bindingName: string): string {
  return Object.entries(ownerLabels(namespace, bindingName))
    .map(([key, value]) => `${key}=${value}`)
    .join(",");
}

export function isOwnedBy(
  object: ObservedClusterSPIFFEID,
  namespace: string,
  bindingName: string,
): boolean {
  const labels = object.metadata.labels ?? {};
  return Object.entries(ownerLabels(namespace, bindingName))
    .every(([key, value]) => labels[key] === value);
}

/** A delete kleym plans; `uid` is meant as a delete precondition (never hit a re-created object). */
export interface ClusterSPIFFEIDDeletion {
  readonly name: string;
  readonly uid?: string;
}

/**
 * Deletes for the given objects that this binding owns, skipping objects already being deleted
 * and anything not owned (a defensive filter: the edge lists by label, but a cache may lag).
 */
export function ownedDeletions(
  objects: readonly ObservedClusterSPIFFEID[],
  namespace: string,
  bindingName: string,
): ClusterSPIFFEIDDeletion[] {
  return objects
    .filter((object) => isOwnedBy(object, namespace, bindingName))
    .filter((object) => !object.metadata.deletionTimestamp && object.metadata.name)
    .map((object) => ({ name: object.metadata.name as string, uid: object.metadata.uid }));
}

/**
 * docs/contract.md#lifecycle: on binding deletion every managed ClusterSPIFFEID of the binding
 * goes.
 */
export function planDeletion(
  binding: BindingInput,
  managed: readonly ObservedClusterSPIFFEID[],
): ClusterSPIFFEIDDeletion[] {
  const { namespace, name } = bindingKey(binding);
  return ownedDeletions(managed, namespace, name);
}

/**
 * What of kleym's differs between the observed object and the desired one: `spec.<field>` for
 * each spec field that is not equal (`spec` when the observed spec is not an object), `label <key>`
 * and `annotation <key>` for each of kleym's labels and its binding-UID stamp that is not as
 * rendered; [] when the object is in place. The operator restores on any of them (`drifted`); the
 * CLI names them (`kleym inspect`, stale-ready), so both judge one object alike.
 */
export function driftedFields(
  observed: ObservedClusterSPIFFEID,
  desired: ClusterSPIFFEID,
): string[] {
  const out: string[] = [];
  if (!jsonEqual(observed.spec, desired.spec)) {
    const have: Record<string, unknown> = isRecord(observed.spec) ? observed.spec : {};
    const want: Record<string, unknown> = { ...desired.spec };
    const fields = [...new Set([...Object.keys(want), ...Object.keys(have)])]
      .filter((f) => !jsonEqual(have[f], want[f]))
      .sort(compareCodeUnits);
    out.push(...(fields.length > 0 ? fields.map((f) => `spec.${f}`) : ["spec"]));
  }
  const labels = observed.metadata.labels ?? {};
  const annotations = observed.metadata.annotations ?? {};
  for (const [k, v] of Object.entries(desired.metadata.labels ?? {})) {
    if (labels[k] !== v) out.push(`label ${k}`);
  }
  for (const [k, v] of Object.entries(desired.metadata.annotations ?? {})) {
    if (annotations[k] !== v) out.push(`annotation ${k}`);
  }
  return out;
}

/** Does the observed object differ from the desired one in anything kleym owns? */
export function drifted(observed: ObservedClusterSPIFFEID, desired: ClusterSPIFFEID): boolean {
  return driftedFields(observed, desired).length > 0;
}

/**
 * The update (PUT) body: the observed object with kleym's labels/annotation overlaid and the
 * desired spec. Never `status` (ClusterSPIFFEID has a status subresource; cached.ts).
 */
export function mergedUpdate(
  observed: ObservedClusterSPIFFEID,
  desired: ClusterSPIFFEID,
): ClusterSPIFFEID {
  const metadata = structuredClone(observed.metadata);
  return {
    apiVersion: desired.apiVersion,
    kind: desired.kind,
    metadata: {
      ...metadata,
      name: desired.metadata.name,
      labels: { ...metadata.labels, ...desired.metadata.labels },
      annotations: { ...metadata.annotations, ...desired.metadata.annotations },
    },
    spec: structuredClone(desired.spec),
  };
}

/** RenderFailure/ClusterSPIFFEIDNameTaken: `name` is held by an object this binding does not own. */
export function nameTakenError(name: string, holder: ObservedClusterSPIFFEID): StateError {
  const labels = holder.metadata.labels ?? {};
  const owner = labels[LABEL_MANAGED_BY] === "kleym"
    ? `it belongs to binding ${labels[LABEL_BINDING_NAMESPACE] ?? ""}/${
      labels[LABEL_BINDING_NAME] ?? ""
    }`
    : "it is not managed by kleym";
  return new StateError(
    "RenderFailure",
    Reasons.ClusterSPIFFEIDNameTaken,
    `ClusterSPIFFEID ${show(name)} already exists and ${owner}; ` +
      "kleym never overwrites it: delete or rename that object, or rename this binding",
  );
}
