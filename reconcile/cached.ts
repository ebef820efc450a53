/**
 * What the controller's informer caches keep of each object (the informer `transform`,
 * apis/slim.ts). Memory: a binding as served carries `managedFields` (one entry per writer —
 * kleym's status and finalizer writes, the creator's apply), often a
 * `kubectl.kubernetes.io/last-applied-configuration` annotation (a second copy of the object)
 * and labels nobody here reads; pools carry GAIE status. None of that is read, so none of it is
 * kept.
 *
 * Never lose others' fields on the way back — every write, and why it is safe:
 * - binding status: a PUT of the status subresource. For a custom resource the API server takes
 *   only `status` from the body (and the resourceVersion as the precondition); metadata and spec
 *   come from the stored object, so a body without labels, annotations or managedFields drops
 *   nothing. `status` itself is kept whole in the cache (conditions kleym does not own survive
 *   through `mergeConditions`).
 * - binding finalizers: a merge patch of `metadata.finalizers` with the resourceVersion; the
 *   cache keeps `finalizers` whole (others' finalizers are sent back as read).
 * - managed ClusterSPIFFEID update: a PUT of the observed object with kleym's fields overlaid
 *   (plan.ts `mergedUpdate`), so everything in `metadata` is kept except `managedFields` (an
 *   update without managedFields keeps the live ones). Of `status` only `stats` is kept: the
 *   plan copies SPIRE Controller Manager's figures onto the binding (spire.ts). The PUT
 *   never sends status (`mergedUpdate` builds the body from metadata and spec only; the main
 *   resource ignores status anyway, ClusterSPIFFEID has a status subresource).
 * - pools and objectives are never written: only `spec` and the identity metadata are kept.
 * tests/integration/reconcile_cache_test.ts proves the first three on a real API server.
 */
import { dropFields, keepFields } from "../apis/slim.ts";
import type { KubeObject } from "../apis/rest.ts";
import type { InferenceIdentityBinding } from "../generated/kleym.sonda.red/v1alpha1.ts";
import { isRecord } from "./json.ts";

/** Bindings: identity, spec, status, and the metadata the enqueue rules and writes read. */
export const cachedBinding: (b: InferenceIdentityBinding) => InferenceIdentityBinding = keepFields<
  InferenceIdentityBinding
>(["spec", "status"], ["uid", "generation", "deletionTimestamp", "finalizers"]);

/** Pools and objectives: read-only inputs of resolution (spec) and the change rules (generation). */
export const cachedInput: (o: KubeObject) => KubeObject = keepFields<KubeObject>(
  ["spec"],
  ["uid", "generation", "deletionTimestamp"],
);

const dropManaged = dropFields<KubeObject>(["status"], ["managedFields"]);

/**
 * Managed ClusterSPIFFEIDs: written back whole, so only what a PUT never needs goes; of the
 * status only `stats` stays (the figures the binding reports).
 */
export function cachedManaged(o: KubeObject): KubeObject {
  const slim = dropManaged(o);
  const status: unknown = (o as { status?: unknown }).status;
  if (!isRecord(status) || status.stats === undefined) return slim;
  return { ...slim, status: { stats: status.stats } } as KubeObject;
}
