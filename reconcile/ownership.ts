/**
 * Which ClusterSPIFFEIDs belong to a binding (SPEC 4, 7).
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
 */

import { bindingKey } from "./bindings.ts";
import {
  type BindingInput,
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

/** SPEC 7: on binding deletion every managed ClusterSPIFFEID of the binding goes. */
export function planDeletion(
  binding: BindingInput,
  managed: readonly ObservedClusterSPIFFEID[],
): ClusterSPIFFEIDDeletion[] {
  const { namespace, name } = bindingKey(binding);
  return ownedDeletions(managed, namespace, name);
}
