/**
 * `StateError`: a problem with the binding or its inputs that the user must fix, reported on the
 * binding's status rather than retried blindly (SPEC 6; docs/architecture.md "Errors").
 *
 * API:
 * - `Reasons`: every reason kleym reports, by name.
 * - `new StateError(condition, reason, message)`: the type system only accepts a reason that
 *   belongs to the condition (`ReasonFor<C>`).
 * - `isStateError(value)`: narrow a caught value.
 *
 * Reasons added beyond SPEC 6 (both RenderFailure):
 * - `ClusterSPIFFEIDNameTaken`: the desired ClusterSPIFFEID name is held by an object kleym does
 *   not own (SPEC 4 asks for "a clear reason such as" this one).
 * - `InvalidBindingName`: the binding's name is longer than a label value may be (63), so it
 *   cannot label its ClusterSPIFFEID.
 */

/** The condition types a failure can set to True (everything but Ready). */
export type FailureCondition = "Conflict" | "InvalidRef" | "UnsafeSelector" | "RenderFailure";

/** Reasons by the condition they belong to (SPEC 6). */
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
  ],
  Conflict: ["IdentityCollision"],
} as const satisfies Record<FailureCondition, readonly string[]>;

export type ReasonFor<C extends FailureCondition> = typeof REASONS_BY_CONDITION[C][number];
export type FailureReason = ReasonFor<FailureCondition>;

/** Every failure reason by name, so callers write `Reasons.TargetPoolNotFound`, not a string. */
export const Reasons = Object.freeze(
  Object.fromEntries(
    Object.values(REASONS_BY_CONDITION).flat().map((reason) => [reason, reason]),
  ),
) as { readonly [R in FailureReason]: R };

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
