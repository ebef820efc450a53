/**
 * Watch mapping (docs/contract.md#lifecycle: no hot loops, no cluster-wide fan-out for ordinary
 * changes): pure event filters and event -> binding-key mappers. The controller registers them on
 * the informers; they read nothing but their arguments (and, for pools/objectives, the bindings
 * index passed in).
 *
 * - binding: add and delete; update only when generation (spec), deletionTimestamp, finalizers or
 *   uid change — never for status-only updates (kleym's own status writes);
 * - pool / objective: the bindings whose ref names it (`<ns>/<name>` index), on add, delete and
 *   spec change (status updates by GAIE controllers are ignored). The index is by name, not
 *   group: a pool appearing in another group can change which one an ungrouped ref resolves to;
 * - managed ClusterSPIFFEID: its owner (from the labels) on add and delete; on update the old and
 *   the new owner (labels may have moved), when generation, labels, annotations,
 *   deletionTimestamp or finalizers change, or when SPIRE Controller Manager's `status.stats`
 *   change (the figures the binding reports, docs/reconciler.md; SCM writes them only when they
 *   change).
 *
 * API: `bindingKeyOf`, `ownerKey`, `refIndex`, `mayBePerObjective`, `bindingChanged`,
 * `specChanged`, `managedChanged`, `bindingEventKeys`, `inputEventKeys`, `managedEventKeys`,
 * `WatchEvent`.
 */
import { keyOf } from "../apis/cache.ts";
import type { KubeObject } from "../apis/rest.ts";
import type { InferenceIdentityBinding } from "../generated/kleym.sonda.red/v1alpha1.ts";
import { isRecord, jsonEqual } from "./json.ts";
import {
  LABEL_BINDING_NAME,
  LABEL_BINDING_NAMESPACE,
  LABEL_MANAGED_BY,
  MANAGED_BY_VALUE,
} from "./types.ts";

/** One informer notification: `old` only for updates. */
export type WatchEvent<T> =
  | { readonly type: "add"; readonly object: T }
  | { readonly type: "update"; readonly old: T; readonly object: T }
  | { readonly type: "delete"; readonly object: T };

export function bindingKeyOf(binding: KubeObject): string {
  return keyOf(binding.metadata.namespace, binding.metadata.name ?? "");
}

/** `<namespace>/<name>` of the binding a managed object is labelled for. */
export function ownerKey(object: KubeObject): string | undefined {
  const labels = object.metadata.labels ?? {};
  if (labels[LABEL_MANAGED_BY] !== MANAGED_BY_VALUE) return undefined;
  const namespace = labels[LABEL_BINDING_NAMESPACE];
  const name = labels[LABEL_BINDING_NAME];
  return namespace && name ? keyOf(namespace, name) : undefined;
}

/** Index values of a binding's `poolRef` / `objectiveRef`: `<ns>/<ref name>`. */
export function refIndex(binding: KubeObject, field: "poolRef" | "objectiveRef"): string[] {
  const spec: unknown = (binding as { spec?: unknown }).spec;
  const ref = isRecord(spec) ? spec[field] : undefined;
  const name = isRecord(ref) ? ref.name : undefined;
  return typeof name === "string" && name !== "" ? [keyOf(binding.metadata.namespace, name)] : [];
}

/** Cheap pre-filter: only PerObjective (or unset/odd mode) bindings can collide. */
export function mayBePerObjective(binding: InferenceIdentityBinding): boolean {
  const spec: unknown = binding.spec;
  return !(isRecord(spec) && spec.mode === "PoolOnly");
}

/**
 * docs/contract.md#lifecycle: spec (generation), deletion, finalizers, uid — never status-only
 * updates.
 */
export function bindingChanged(old: KubeObject, next: KubeObject): boolean {
  return old.metadata.generation !== next.metadata.generation ||
    old.metadata.uid !== next.metadata.uid ||
    old.metadata.deletionTimestamp !== next.metadata.deletionTimestamp ||
    !jsonEqual(old.metadata.finalizers ?? [], next.metadata.finalizers ?? []);
}

/** A pool's or objective's spec changed (generation, else the spec itself). */
export function specChanged(old: KubeObject, next: KubeObject): boolean {
  if (old.metadata.generation !== undefined && next.metadata.generation !== undefined) {
    return old.metadata.generation !== next.metadata.generation;
  }
  return !jsonEqual((old as { spec?: unknown }).spec, (next as { spec?: unknown }).spec);
}

/** A managed object changed in something kleym owns or must react to (SCM's stats included). */
export function managedChanged(old: KubeObject, next: KubeObject): boolean {
  return old.metadata.generation !== next.metadata.generation ||
    !jsonEqual(statsOf(old), statsOf(next)) ||
    old.metadata.deletionTimestamp !== next.metadata.deletionTimestamp ||
    !jsonEqual(old.metadata.labels ?? {}, next.metadata.labels ?? {}) ||
    !jsonEqual(old.metadata.annotations ?? {}, next.metadata.annotations ?? {}) ||
    !jsonEqual(old.metadata.finalizers ?? [], next.metadata.finalizers ?? []);
}

/** `status.stats` of a ClusterSPIFFEID (undefined when absent). */
function statsOf(object: KubeObject): unknown {
  const status: unknown = (object as { status?: unknown }).status;
  return isRecord(status) ? status.stats : undefined;
}

/** Binding keys a binding event enqueues: its own, unless it is a status-only update. */
export function bindingEventKeys(event: WatchEvent<KubeObject>): string[] {
  if (event.type === "update" && !bindingChanged(event.old, event.object)) return [];
  return [bindingKeyOf(event.object)];
}

/**
 * Binding keys a pool or objective event enqueues: the bindings whose ref (by `<ns>/<name>`)
 * names it; `referrers(indexValue)` looks them up (the bindings cache's `pool` / `objective`
 * index). Empty for status-only updates.
 */
export function inputEventKeys(
  event: WatchEvent<KubeObject>,
  referrers: (indexValue: string) => readonly KubeObject[],
): string[] {
  if (event.type === "update" && !specChanged(event.old, event.object)) return [];
  const { namespace, name } = event.object.metadata;
  return referrers(keyOf(namespace, name ?? "")).map(bindingKeyOf);
}

/** Binding keys a managed ClusterSPIFFEID event enqueues: its owner (old and new on update). */
export function managedEventKeys(event: WatchEvent<KubeObject>): string[] {
  if (event.type === "update" && !managedChanged(event.old, event.object)) return [];
  const owners = new Set<string>();
  for (const object of event.type === "update" ? [event.old, event.object] : [event.object]) {
    const owner = ownerKey(object);
    if (owner !== undefined) owners.add(owner);
  }
  return [...owners];
}
