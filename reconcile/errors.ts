/**
 * `StateError`: a problem with the binding or its inputs that the user must fix, reported on the
 * binding's status rather than retried blindly (docs/contract.md#status; docs/architecture.md
 * "Errors").
 *
 * API:
 * - `Reasons`: every reason kleym reports, by name.
 * - `new StateError(condition, reason, message)`: the type system only accepts a reason that
 *   belongs to the condition (`ReasonFor<C>`).
 * - `isStateError(value)`: narrow a caught value.
 * - `RETRY_CLASS` / `retryClass(reason)`: how a failure is retried (docs/contract.md#lifecycle),
 *   one entry per reason.
 * - `ApplyConflictError`: a write lost a race; re-read and re-plan.
 *
 * Reasons kleym added to the original list (all RenderFailure, all in docs/contract.md#reasons;
 * `ClusterSPIFFEIDRejected` is refusal.ts's):
 * - `ClusterSPIFFEIDNameTaken`: the desired ClusterSPIFFEID name is held by an object kleym does
 *   not own (docs/contract.md#ownership).
 * - `InvalidBindingName`: the binding's name is longer than a label value may be (63), so it
 *   cannot label its ClusterSPIFFEID.
 */

/** The condition types a failure can set to True (everything but Ready). */
export type FailureCondition = "Conflict" | "InvalidRef" | "UnsafeSelector" | "RenderFailure";

/** Reasons by the condition they belong to (docs/contract.md#reasons). */
export const REASONS_BY_CONDITION = {
  InvalidRef: [
    "TargetPoolNotFound",
    "TargetObjectiveNotFound",
    "InvalidPoolRef",
    "InvalidObjectiveRef",
    "InferencePoolCRDMissing",
    "InferenceObjectiveCRDMissing",
  ],
  UnsafeSelector: ["InvalidPoolSelector", "UnsafeSelector"],
  RenderFailure: [
    "InvalidServiceAccountName",
    "MissingObjectiveRef",
    "InvalidContainerName",
    "UnexpectedContainerName",
    "InvalidSPIFFEID",
    "UnsupportedMode",
    "ClusterSPIFFEIDCRDMissing",
    "ClusterSPIFFEIDNameTaken",
    "InvalidBindingName",
    "ClusterSPIFFEIDRejected",
    "SVIDTTLOutOfRange",
    "DNSNameNotAllowed",
    "FederationNotAllowed",
  ],
  Conflict: ["IdentityCollision", "DuplicateSPIFFEID", "IdentityOverlap"],
} as const satisfies Record<FailureCondition, readonly string[]>;

export type ReasonFor<C extends FailureCondition> = typeof REASONS_BY_CONDITION[C][number];
export type FailureReason = ReasonFor<FailureCondition>;

/** Every failure reason by name, so callers write `Reasons.TargetPoolNotFound`, not a string. */
export const Reasons = Object.freeze(
  Object.fromEntries(
    Object.values(REASONS_BY_CONDITION).flat().map((reason) => [reason, reason]),
  ),
) as { readonly [R in FailureReason]: R };

/**
 * How a failure is retried (docs/contract.md#lifecycle):
 * - `watch`: a change of something kleym watches fixes it (the binding, a pool, an objective, a
 *   managed ClusterSPIFFEID), and that change re-enqueues the binding; no timer;
 * - `timer`: nothing kleym watches announces the fix (a CRD appearing, a foreign object at the
 *   desired name going away): requeue after the retry period (`crdRetryMs`, ~30 s);
 * - `backoff`: the API server refused a write (refusal.ts, docs/contract.md#fail-closed): try the
 *   write again after a per-key backoff (1 s doubling, capped at the retry period), so the binding
 *   recovers by itself when the refusal stops.
 */
export type RetryClass = "watch" | "timer" | "backoff";

/** The retry class of every reason; `satisfies` makes a new reason without one a type error. */
export const RETRY_CLASS = {
  TargetPoolNotFound: "watch",
  TargetObjectiveNotFound: "watch",
  InvalidPoolRef: "watch",
  InvalidObjectiveRef: "watch",
  InferencePoolCRDMissing: "timer",
  InferenceObjectiveCRDMissing: "timer",
  InvalidPoolSelector: "watch",
  UnsafeSelector: "watch",
  InvalidServiceAccountName: "watch",
  MissingObjectiveRef: "watch",
  InvalidContainerName: "watch",
  UnexpectedContainerName: "watch",
  InvalidSPIFFEID: "watch",
  UnsupportedMode: "watch",
  ClusterSPIFFEIDCRDMissing: "timer",
  ClusterSPIFFEIDNameTaken: "timer",
  InvalidBindingName: "watch",
  ClusterSPIFFEIDRejected: "backoff",
  // A limit flag changes only with a restart, and start-up reconciles every binding.
  SVIDTTLOutOfRange: "watch",
  DNSNameNotAllowed: "watch",
  FederationNotAllowed: "watch",
  IdentityCollision: "watch",
  // Both are decided by other bindings' renderings; every change of those re-enqueues exactly
  // the bindings whose outcome can change (exclusivity.ts), so no timer.
  DuplicateSPIFFEID: "watch",
  IdentityOverlap: "watch",
} as const satisfies Record<FailureReason, RetryClass>;

export function retryClass(reason: FailureReason): RetryClass {
  return RETRY_CLASS[reason];
}

export class StateError<C extends FailureCondition = FailureCondition> extends Error {
  override readonly name = "StateError";
  readonly condition: C;
  readonly reason: ReasonFor<C>;

  constructor(condition: C, reason: ReasonFor<C>, message: string) {
    super(message);
    this.condition = condition;
    this.reason = reason;
  }
}

export function isStateError(value: unknown): value is StateError {
  return value instanceof StateError;
}

/**
 * A write lost a race (409, AlreadyExists, a failed uid precondition): the work loop requeues
 * the key with per-key backoff and re-plans from the (by then newer) caches.
 */
export class ApplyConflictError extends Error {
  override readonly name = "ApplyConflictError";
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
  }
}
