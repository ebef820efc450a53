/**
 * Carrying out a `Plan` (plan.ts) against the API server (docs/contract.md#rendering to
 * docs/contract.md#lifecycle): the only place that writes ClusterSPIFFEIDs, binding finalizers and
 * status, and hands out events, for a live binding.
 *
 * Order: the finalizer (docs/contract.md#lifecycle: before any output), deletes (stale outputs go
 * first, so a failing binding never leaves an identity behind while it reports the failure), then
 * the create or update, then the status (only when `plan.writeStatus`), then the events. A failing
 * step stops the sequence, so the status never claims an object that was not written and an event
 * never announces a write that did not happen.
 *
 * What happened comes back as data (`ApplyResult`): every write's answer (the reconciler records
 * them in the read-your-writes views), `nameTaken` when a create met AlreadyExists, and `failure`
 * — the error of the step that stopped the sequence (`ApplyConflictError` for a lost race) — or
 * `refused` when the API server refused that step for good (400/403/422, refusal.ts): the
 * reconciler reports it on the binding (docs/contract.md#fail-closed). Apply never calls back
 * into the controller.
 *
 * Never clobber (docs/contract.md#work-loop, "write conflicts re-read and retry"):
 * - deletes carry a `uid` precondition: a same-named object someone re-created is never hit;
 *   404 means already gone (fine), a failed precondition (409) means the name now holds another
 *   object: re-plan;
 * - an update is a PUT of the observed object carrying its `resourceVersion`: 409 -> re-plan;
 * - a create that meets AlreadyExists (the name holder appeared after the plan) -> re-plan;
 * - the status is written with the binding's `resourceVersion` (PUT on the status subresource),
 *   so a status computed from an outdated spec is refused (409 -> re-plan);
 * - finalizer changes are merge patches carrying `resourceVersion` (409 -> re-plan).
 * "Re-plan" is `ApplyConflictError`; the work loop requeues the key with per-key backoff, by
 * which time the informers have delivered the newer objects.
 *
 * Events go to an `EventSink` (apis/events.ts, the process's `EventRecorder`) and are not
 * awaited: best effort (docs/contract.md#lifecycle).
 *
 * API: `applyPlan(plan, binding, ctx): Promise<ApplyResult>`, `deleteClusterSPIFFEID`,
 * `patchFinalizers`; `ApplyConflictError` and the events client are re-exported.
 */

import { ApiError } from "../apis/errors.ts";
import type { EventSink } from "../apis/events.ts";
import type { ResourceClient } from "../apis/rest.ts";
import type { InferenceIdentityBinding } from "../generated/kleym.sonda.red/v1alpha1.ts";
import type { ClusterSPIFFEID } from "../generated/spire.spiffe.io/v1alpha1.ts";
import type { Logger } from "../observe/log.ts";
import { ApplyConflictError } from "./errors.ts";
import type { ClusterSPIFFEIDDeletion } from "./ownership.ts";
import type { Plan } from "./plan.ts";
import { type Refusal, refusalOf, type RefusedVerb } from "./refusal.ts";
import { FINALIZER } from "./types.ts";

export { ApplyConflictError } from "./errors.ts";
export { type EventObject, eventsClient } from "../apis/event_writer.ts";

export interface ApplyContext {
  readonly bindings: Pick<ResourceClient<InferenceIdentityBinding>, "patch" | "updateStatus">;
  readonly clusterSPIFFEIDs: Pick<ResourceClient<ClusterSPIFFEID>, "create" | "update" | "delete">;
  readonly events: EventSink;
  readonly logger: Logger;
  readonly signal: AbortSignal;
}

export interface ApplyResult {
  /** Number of API writes made (finalizer, deletes, create/update, status). Events not counted. */
  readonly writes: number;
  /** The binding after the finalizer and status writes (the input when none was made). */
  readonly binding: InferenceIdentityBinding;
  /** The ClusterSPIFFEID as the API server returned it from the create or update, if any. */
  readonly written?: ClusterSPIFFEID;
  /** Deletes that removed (or started removing) an object, with the API server's answer. */
  readonly deleted: readonly { readonly name: string; readonly answer?: ClusterSPIFFEID }[];
  /** The create met AlreadyExists: an object kleym does not see holds this name. */
  readonly nameTaken?: string;
  /** The error of the step that stopped the sequence; undefined when every step succeeded. */
  readonly failure?: unknown;
  /**
   * The step that stopped the sequence was refused (400/403/422, refusal.ts): data, not an
   * error — the reconciler reports it on the binding (docs/contract.md#fail-closed).
   */
  readonly refused?: Refusal;
}

export async function applyPlan(
  plan: Plan,
  binding: InferenceIdentityBinding,
  ctx: ApplyContext,
): Promise<ApplyResult> {
  let writes = 0;
  let current = binding;
  let written: ClusterSPIFFEID | undefined;
  const deleted: { name: string; answer?: ClusterSPIFFEID }[] = [];
  let nameTaken: string | undefined;
  /** The write under way, to name a refusal. */
  let step: { verb: RefusedVerb; name: string } = {
    verb: "binding",
    name: binding.metadata.name ?? "",
  };
  const result = (failure?: unknown, refused?: Refusal): ApplyResult => ({
    writes,
    binding: current,
    written,
    deleted,
    nameTaken,
    failure,
    refused,
  });
  try {
    if (plan.addFinalizer) {
      current = await patchFinalizers(
        current,
        [...(current.metadata.finalizers ?? []), FINALIZER],
        ctx,
      );
      writes++;
    }
    for (const deletion of plan.deletes) {
      step = { verb: "delete", name: deletion.name };
      const outcome = await deleteClusterSPIFFEID(deletion, ctx);
      if (outcome.deleted) {
        deleted.push({ name: deletion.name, answer: outcome.answer });
        writes++;
      }
    }
    if (plan.create !== undefined) {
      const name = plan.create.metadata.name ?? "";
      step = { verb: "create", name };
      try {
        written = await createClusterSPIFFEID(plan.create, ctx);
      } catch (error) {
        if (error instanceof ApplyConflictError) nameTaken = name;
        throw error;
      }
      writes++;
    } else if (plan.update !== undefined) {
      step = { verb: "update", name: plan.update.metadata.name ?? "" };
      written = await updateClusterSPIFFEID(plan.update, ctx);
      writes++;
    }
    if (plan.writeStatus) {
      step = { verb: "binding", name: current.metadata.name ?? "" };
      current = await writeStatus(current, plan, ctx);
      writes++;
    }
  } catch (error) {
    const refused = ctx.signal.aborted ? undefined : refusalOf(error, step.verb, step.name);
    return refused === undefined ? result(error) : result(undefined, refused);
  }
  const regarding = {
    apiVersion: current.apiVersion ?? "kleym.sonda.red/v1alpha1",
    kind: current.kind ?? "InferenceIdentityBinding",
    name: current.metadata.name ?? "",
    namespace: current.metadata.namespace,
    uid: current.metadata.uid,
  };
  for (const event of plan.events) {
    ctx.events.record(regarding, event.type, event.reason, event.message);
  }
  return result();
}

/**
 * Deletes one ClusterSPIFFEID with a uid precondition. `deleted: false` when it was already gone
 * (404): someone else removing it first must never block kleym (docs/contract.md#lifecycle).
 * `answer`: the object the API server returned (at the deletion's resourceVersion), for the
 * read-your-writes view.
 */
export async function deleteClusterSPIFFEID(
  deletion: ClusterSPIFFEIDDeletion,
  ctx: {
    readonly clusterSPIFFEIDs: Pick<ResourceClient<ClusterSPIFFEID>, "delete">;
    readonly signal: AbortSignal;
    readonly logger: Logger;
  },
): Promise<{ readonly deleted: boolean; readonly answer?: ClusterSPIFFEID }> {
  try {
    const answer = await ctx.clusterSPIFFEIDs.delete(deletion.name, {
      preconditions: deletion.uid === undefined ? undefined : { uid: deletion.uid },
      signal: ctx.signal,
    });
    ctx.logger.info("deleted ClusterSPIFFEID", { clusterSPIFFEID: deletion.name });
    return { deleted: true, answer };
  } catch (error) {
    if (error instanceof ApiError && error.isNotFound()) return { deleted: false };
    if (error instanceof ApiError && error.isConflict()) {
      throw new ApplyConflictError(
        `ClusterSPIFFEID ${deletion.name} is no longer the object kleym planned to delete ` +
          `(uid ${deletion.uid}): ${error.message}`,
        { cause: error },
      );
    }
    throw error;
  }
}

async function createClusterSPIFFEID(
  object: ClusterSPIFFEID,
  ctx: ApplyContext,
): Promise<ClusterSPIFFEID> {
  const name = object.metadata.name ?? "";
  try {
    const created = await ctx.clusterSPIFFEIDs.create(object, { signal: ctx.signal });
    ctx.logger.info("created ClusterSPIFFEID", { clusterSPIFFEID: name });
    return created;
  } catch (error) {
    if (error instanceof ApiError && (error.isAlreadyExists() || error.isConflict())) {
      throw new ApplyConflictError(
        `ClusterSPIFFEID ${name} appeared before kleym could create it: ${error.message}`,
        { cause: error },
      );
    }
    throw error;
  }
}

async function updateClusterSPIFFEID(
  object: ClusterSPIFFEID,
  ctx: ApplyContext,
): Promise<ClusterSPIFFEID> {
  const name = object.metadata.name ?? "";
  try {
    const updated = await ctx.clusterSPIFFEIDs.update(object, { signal: ctx.signal });
    ctx.logger.info("updated ClusterSPIFFEID", { clusterSPIFFEID: name });
    return updated;
  } catch (error) {
    if (error instanceof ApiError && (error.isConflict() || error.isNotFound())) {
      throw new ApplyConflictError(
        `ClusterSPIFFEID ${name} changed since it was read: ${error.message}`,
        { cause: error },
      );
    }
    throw error;
  }
}

async function writeStatus(
  binding: InferenceIdentityBinding,
  plan: Plan,
  ctx: ApplyContext,
): Promise<InferenceIdentityBinding> {
  // The cached object is frozen: write a copy. Only `status` matters to the status subresource;
  // the rest (notably metadata.resourceVersion) makes the write conditional.
  const body: InferenceIdentityBinding = {
    apiVersion: binding.apiVersion,
    kind: binding.kind,
    metadata: structuredClone(binding.metadata),
    spec: structuredClone(binding.spec),
    status: structuredClone(plan.status),
  };
  try {
    return await ctx.bindings.updateStatus(body, { signal: ctx.signal });
  } catch (error) {
    if (error instanceof ApiError && (error.isConflict() || error.isNotFound())) {
      throw new ApplyConflictError(
        `binding ${binding.metadata.namespace}/${binding.metadata.name} changed since it was ` +
          `read: ${error.message}`,
        { cause: error },
      );
    }
    throw error;
  }
}

/**
 * Sets the binding's finalizers with a merge patch carrying its resourceVersion (a concurrent
 * change answers 409 -> `ApplyConflictError`; other controllers' finalizers are kept as read).
 */
export async function patchFinalizers(
  binding: InferenceIdentityBinding,
  finalizers: string[],
  ctx: {
    readonly bindings: Pick<ResourceClient<InferenceIdentityBinding>, "patch">;
    readonly signal: AbortSignal;
  },
): Promise<InferenceIdentityBinding> {
  const namespace = binding.metadata.namespace ?? "";
  const name = binding.metadata.name ?? "";
  try {
    return await ctx.bindings.patch(name, "merge", {
      metadata: { resourceVersion: binding.metadata.resourceVersion, finalizers },
    }, { namespace, signal: ctx.signal });
  } catch (error) {
    if (error instanceof ApiError && error.isConflict()) {
      throw new ApplyConflictError(
        `binding ${namespace}/${name} changed while kleym updated its finalizers: ${error.message}`,
        { cause: error },
      );
    }
    throw error;
  }
}
