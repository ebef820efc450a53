/**
 * The binding's finalizer (docs/contract.md#lifecycle): added before any output is written, removed
 * only once a fresh LIST confirms that none of the binding's managed ClusterSPIFFEIDs remain.
 *
 * Deletion flow (`finalizeBinding`):
 *   1. LIST the binding's ClusterSPIFFEIDs by its owner labels, straight from the API server
 *      (the confirmation docs/contract.md#lifecycle asks for; the cache may lag behind a create
 *      kleym just made);
 *   2. DELETE each one not already being deleted, with a uid precondition; 404 is fine (someone
 *      else removed it first: never block on an object already gone);
 *   3. if the first LIST found anything, LIST again; objects still present (typically held by a
 *      foreign finalizer) mean "not yet": the caller requeues after `CONFIRM_RETRY_MS` (and the
 *      managed-object watch re-triggers the binding the moment one disappears);
 *   4. none left: remove kleym's finalizer (merge patch carrying the binding's resourceVersion,
 *      so a concurrent change is never overwritten).
 *
 * A delete or finalizer patch the API server refuses for good (refusal.ts: an admission policy, a
 * missing permission) is returned as data (`refused`), not thrown: the binding keeps its
 * finalizer, the reconciler reports it (a Warning event and a warn line, fail_closed.ts) and
 * tries again with backoff, so deleting the binding completes once the refusal stops
 * (docs/contract.md#fail-closed).
 *
 * When the ClusterSPIFFEID API is not served, no output can exist: the LIST's 404 counts as
 * "none left". A binding whose name cannot be a label value (InvalidBindingName) never had
 * output either: no LIST is made.
 *
 * Finalizer changes are merge patches of `metadata.finalizers` with `metadata.resourceVersion`:
 * the API server rejects the patch with 409 if the binding changed since it was read, and other
 * controllers' finalizers are kept as read.
 *
 * Adding the finalizer is a decision of the plan (`plan.addFinalizer`, carried out by apply.ts).
 *
 * API: `hasFinalizer`, `finalizeBinding`, `CONFIRM_RETRY_MS`.
 */

import { ApiError } from "../apis/errors.ts";
import type { ResourceClient } from "../apis/rest.ts";
import type { InferenceIdentityBinding } from "../generated/kleym.sonda.red/v1alpha1.ts";
import type { ClusterSPIFFEID } from "../generated/spire.spiffe.io/v1alpha1.ts";
import type { Logger } from "../observe/log.ts";
import { deleteClusterSPIFFEID, patchFinalizers } from "./apply.ts";
import { ApplyConflictError } from "./errors.ts";
import { ownerLabelSelector } from "./ownership.ts";
import { type Refusal, refusalOf } from "./refusal.ts";
import { FINALIZER } from "./types.ts";
import { labelValueProblem } from "./validate.ts";

/** Look again about every 2 s while managed objects remain (docs/contract.md#lifecycle). */
export const CONFIRM_RETRY_MS = 2_000;

export interface FinalizeContext {
  readonly bindings: Pick<ResourceClient<InferenceIdentityBinding>, "patch">;
  readonly clusterSPIFFEIDs: Pick<ResourceClient<ClusterSPIFFEID>, "listAll" | "delete">;
  readonly logger: Logger;
  readonly signal: AbortSignal;
}

export type FinalizeResult =
  | { readonly done: true; readonly deleted: number }
  /** `remaining`: names still present after the deletes (being deleted by someone's finalizer). */
  | {
    readonly done: false;
    readonly deleted: number;
    readonly remaining: readonly string[];
    /** Writes the API server refused for good (a delete, or the finalizer's removal). */
    readonly refused?: readonly Refusal[];
  };

export function hasFinalizer(binding: InferenceIdentityBinding): boolean {
  return (binding.metadata.finalizers ?? []).includes(FINALIZER);
}

/** The deletion flow above. Call only for a binding with a deletionTimestamp. */
export async function finalizeBinding(
  binding: InferenceIdentityBinding,
  ctx: FinalizeContext,
): Promise<FinalizeResult> {
  const namespace = binding.metadata.namespace ?? "";
  const name = binding.metadata.name ?? "";
  let deleted = 0;
  const refused: Refusal[] = [];
  if (labelValueProblem(name) === undefined) {
    const selector = ownerLabelSelector(namespace, name);
    const first = await listOwned(selector, ctx);
    for (const object of first) {
      if (object.metadata.deletionTimestamp || !object.metadata.name) continue;
      try {
        const outcome = await deleteClusterSPIFFEID(
          { name: object.metadata.name, uid: object.metadata.uid },
          ctx,
        );
        if (outcome.deleted) deleted++;
      } catch (error) {
        // A failed uid precondition: the name now holds another object; the next LIST decides.
        if (error instanceof ApplyConflictError) continue;
        const refusal = refusalOf(error, "delete", object.metadata.name);
        if (refusal === undefined) throw error;
        refused.push(refusal);
      }
    }
    if (refused.length > 0) {
      return { done: false, deleted, remaining: refused.map((r) => r.name), refused };
    }
    if (first.length > 0) {
      const remaining = await listOwned(selector, ctx);
      if (remaining.length > 0) {
        return {
          done: false,
          deleted,
          remaining: remaining.map((object) => object.metadata.name ?? ""),
        };
      }
    }
  }
  if (hasFinalizer(binding)) {
    const finalizers = (binding.metadata.finalizers ?? []).filter((f) => f !== FINALIZER);
    try {
      await patchFinalizers(binding, finalizers, ctx);
    } catch (error) {
      // Already gone: someone removed the finalizer (or the object) first.
      if (error instanceof ApiError && error.isNotFound()) return { done: true, deleted };
      const refusal = refusalOf(error, "binding", name);
      if (refusal === undefined) throw error;
      return { done: false, deleted, remaining: [], refused: [refusal] };
    }
  }
  return { done: true, deleted };
}

async function listOwned(selector: string, ctx: FinalizeContext): Promise<ClusterSPIFFEID[]> {
  try {
    return (await ctx.clusterSPIFFEIDs.listAll({ labelSelector: selector, signal: ctx.signal }))
      .items;
  } catch (error) {
    if (error instanceof ApiError && error.isNotFound()) return []; // API not served: none exist
    throw error;
  }
}
