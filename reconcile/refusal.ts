/**
 * Fail closed on a refusal (docs/contract.md#fail-closed): when the API server refuses one of
 * kleym's writes with an answer that sending the same request again cannot change — 400, 403 or
 * 422: an admission policy or webhook, a missing permission — the write is not a fault to retry
 * blindly but a fact to report on the binding.
 *
 * The data path stays one way: apply.ts returns the refused step as data (`Refusal`); the
 * reconciler hands the refusals to the pure plan (`PlanInput.refusals`), which turns them into
 * `RenderFailure/ClusterSPIFFEIDRejected` (status IDs and selectors cleared, the binding's managed
 * ClusterSPIFFEIDs deleted, except those whose own delete was refused: the message says so).
 *
 * Retry: the reason's retry class is `backoff` (errors.ts): the key is reconciled again after
 * `refusalBackoffMs(attempt, capMs)` (1 s, doubling, capped at the retry period), and each retry
 * tries the real write again, so the binding recovers on its own once the refusal stops.
 *
 * A refused write of the binding itself (verb `binding`: its status or finalizer) cannot be
 * reported on the status: the reconciler turns it into a Warning event (`STATUS_REJECTED_EVENT`)
 * and a warn log line, then retries with backoff.
 *
 * API: `Refusal`, `refusalOf(error, verb, name)`, `rejectedError(refusals)`,
 * `refusedDeletes(refusals)`, `refusalBackoffMs`, `STATUS_REJECTED_EVENT`, `DELETE_REJECTED_EVENT`.
 */
import { ApiError } from "../apis/errors.ts";
import { Reasons, StateError } from "./errors.ts";

/**
 * The write that was refused: a ClusterSPIFFEID create/update/delete, or a write of the binding
 * itself (its finalizer or status).
 */
export type RefusedVerb = "create" | "update" | "delete" | "binding";

export interface Refusal {
  readonly verb: RefusedVerb;
  /** The ClusterSPIFFEID's name (the binding's for `binding`). */
  readonly name: string;
  /** HTTP status of the answer (400, 403 or 422). */
  readonly code: number;
  /** The API server's message, quoted on the binding. */
  readonly message: string;
}

/** Event reason of a refused binding write (not a condition reason: it cannot be on the status). */
export const STATUS_REJECTED_EVENT = "BindingUpdateRejected";

/**
 * Event reason of a refused delete while finalizing a binding (finalize.ts): the binding is going,
 * its status no longer matters, the event and the finalizer it keeps say what is left.
 */
export const DELETE_REJECTED_EVENT = "ClusterSPIFFEIDDeleteRejected";

/** HTTP codes a retry of the same request cannot change (docs/contract.md#fail-closed). */
const REFUSAL_CODES: ReadonlySet<number> = new Set([400, 403, 422]);

/** The refusal `error` is, when it is one; anything else (409, 5xx, no answer) is not. */
export function refusalOf(error: unknown, verb: RefusedVerb, name: string): Refusal | undefined {
  if (!(error instanceof ApiError) || !REFUSAL_CODES.has(error.status)) return undefined;
  return { verb, name, code: error.status, message: error.message };
}

/** Names whose delete was refused: the plan must not ask for them again in the same reconcile. */
export function refusedDeletes(refusals: readonly Refusal[]): ReadonlySet<string> {
  return new Set(refusals.filter((r) => r.verb === "delete").map((r) => r.name));
}

/** `RenderFailure/ClusterSPIFFEIDRejected`, quoting the API server for every refused write. */
export function rejectedError(refusals: readonly Refusal[]): StateError {
  const [first, ...rest] = refusals;
  const what = (r: Refusal) =>
    `the API server refused to ${r.verb} ClusterSPIFFEID ${r.name} (HTTP ${r.code}): ` +
    r.message;
  const others = rest.map((r) =>
    r.verb === "delete"
      ? `; removing the binding's ClusterSPIFFEID ${r.name} was refused too, so it still ` +
        `exists (HTTP ${r.code}): ${r.message}`
      : `; ${what(r)}`
  );
  return new StateError(
    "RenderFailure",
    Reasons.ClusterSPIFFEIDRejected,
    `${first === undefined ? "the API server refused a write" : what(first)}${others.join("")}`,
  );
}

/** Wait before the next attempt after `attempt` refused reconciles in a row (0-based). */
export function refusalBackoffMs(attempt: number, capMs: number): number {
  return Math.min(capMs, 1_000 * 2 ** Math.min(attempt, 20));
}
