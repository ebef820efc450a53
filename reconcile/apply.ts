/**
 * Carrying out a `Plan` (plan.ts) against the API server (SPEC 4-7): the only place that writes
 * ClusterSPIFFEIDs, binding status and events for a live binding.
 *
 * Order: deletes (stale outputs go first, so a failing binding never leaves an identity behind
 * while it reports the failure), then the create or update, then the status (only when
 * `plan.writeStatus`), then the events. Every step stops the sequence on failure, so the status
 * never claims an object that was not written and an event never announces a write that did not
 * happen.
 *
 * Never clobber (SPEC 8, "write conflicts re-read and retry"):
 * - deletes carry a `uid` precondition: a same-named object someone re-created is never hit;
 *   404 means already gone (fine), a failed precondition (409) means the name now holds another
 *   object: re-plan;
 * - an update is a PUT of the observed object carrying its `resourceVersion`: 409 -> re-plan;
 * - a create that meets AlreadyExists (the name holder appeared after the plan) -> re-plan;
 * - the status is written with the binding's `resourceVersion` (PUT on the status subresource),
 *   so a status computed from an outdated spec is refused (409 -> re-plan).
 * "Re-plan" is `ApplyConflictError`; the work loop requeues the key with per-key backoff, by
 * which time the informers have delivered the newer objects.
 *
 * Events are handed to the event recorder (apis/events.ts) and never awaited (SPEC 7: a reconcile
 * never waits for an event); the recorder writes, aggregates and rate-limits them on its own.
 *
 * API: `applyPlan(plan, binding, ctx): Promise<ApplyResult>`, `recordEvent(...)`,
 * `ApplyConflictError`.
 */

import { ApiError } from "../apis/errors.ts";
import type { EventSink } from "../apis/events.ts";
import type { ResourceClient } from "../apis/rest.ts";
import type { InferenceIdentityBinding } from "../generated/kleym.sonda.red/v1alpha1.ts";
import type { ClusterSPIFFEID } from "../generated/spire.spiffe.io/v1alpha1.ts";
import type { Logger } from "../observe/log.ts";
import type { ClusterSPIFFEIDDeletion } from "./ownership.ts";
import type { Plan } from "./plan.ts";
import type { PlannedEvent } from "./types.ts";

/** A write lost a race (409 / AlreadyExists / failed precondition): re-read and re-plan. */
export class ApplyConflictError extends Error {
  override readonly name = "ApplyConflictError";
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
  }
}

export { type EventObject, eventsClient } from "../apis/events.ts";

export interface ApplyContext {
  readonly bindings: ResourceClient<InferenceIdentityBinding>;
  readonly clusterSPIFFEIDs: ResourceClient<ClusterSPIFFEID>;
  /** The event recorder: `record` returns at once (apis/events.ts). */
  readonly events: EventSink;
  readonly logger: Logger;
  readonly signal: AbortSignal;
  /** Told when a create met AlreadyExists, so the caller forgets "this name is free". */
  readonly onNameTaken?: (name: string) => void;
}

export interface ApplyResult {
  /** Number of API writes made (deletes, create/update, status). Events are not counted. */
  readonly writes: number;
  /** The binding after the status write (or the input when none was needed). */
  readonly binding: InferenceIdentityBinding;
  /** The ClusterSPIFFEID as the API server returned it from the create or update, if any. */
  readonly written?: ClusterSPIFFEID;
}

export async function applyPlan(
  plan: Plan,
  binding: InferenceIdentityBinding,
  ctx: ApplyContext,
): Promise<ApplyResult> {
  let writes = 0;
  for (const deletion of plan.deletes) {
    if (await deleteClusterSPIFFEID(deletion, ctx)) writes++;
  }
  let written: ClusterSPIFFEID | undefined;
  if (plan.create !== undefined) {
    written = await createClusterSPIFFEID(plan.create, ctx);
    writes++;
  } else if (plan.update !== undefined) {
    written = await updateClusterSPIFFEID(plan.update, ctx);
    writes++;
  }
  let current = binding;
  if (plan.writeStatus) {
    current = await writeStatus(binding, plan, ctx);
    writes++;
  }
  for (const event of plan.events) recordEvent(current, event, ctx.events);
  return { writes, binding: current, written };
}

/**
 * Deletes one ClusterSPIFFEID with a uid precondition. Returns false when it was already gone
 * (404): someone else removing it first must never block kleym (SPEC 7).
 */
export async function deleteClusterSPIFFEID(
  deletion: ClusterSPIFFEIDDeletion,
  ctx: Pick<ApplyContext, "clusterSPIFFEIDs" | "signal" | "logger">,
): Promise<boolean> {
  try {
    await ctx.clusterSPIFFEIDs.delete(deletion.name, {
      preconditions: deletion.uid === undefined ? undefined : { uid: deletion.uid },
      signal: ctx.signal,
    });
    ctx.logger.info("deleted ClusterSPIFFEID", { clusterSPIFFEID: deletion.name });
    return true;
  } catch (error) {
    if (error instanceof ApiError && error.isNotFound()) return false;
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
      ctx.onNameTaken?.(name);
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

/** Hands one event about the binding to the recorder; returns at once, never throws. */
export function recordEvent(
  binding: InferenceIdentityBinding,
  event: PlannedEvent,
  events: EventSink,
): void {
  events.record(
    {
      apiVersion: binding.apiVersion ?? "kleym.sonda.red/v1alpha1",
      kind: binding.kind ?? "InferenceIdentityBinding",
      name: binding.metadata.name ?? "",
      namespace: binding.metadata.namespace,
      uid: binding.metadata.uid,
    },
    event.type,
    event.reason,
    event.message,
  );
}
