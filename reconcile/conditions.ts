/**
 * The binding's five conditions (docs/contract.md#status): which values they take on success and on
 * failure, and how a new set merges with what the binding already reports.
 *
 * API:
 * - `CONDITION_TYPES`, `ConditionType`, `ConditionState` (a condition without time/generation)
 * - `successConditions()`, `failureConditions(error)` — all five, always, in CONDITION_TYPES order
 * - `mergeConditions(existing, desired, now, generation)` — `lastTransitionTime` is kept unless
 *   the status changed (or the condition is new); `observedGeneration` is the binding's
 *   generation; condition types kleym does not own are kept after the five, untouched
 * - `decodeConditions(status: unknown)`, `findCondition(conditions, type)`, `formatTime(date)`
 */

import type { StateError } from "./errors.ts";
import { isRecord } from "./json.ts";
import type { BindingCondition } from "./types.ts";

export const CONDITION_TYPES = [
  "Ready",
  "Conflict",
  "InvalidRef",
  "UnsafeSelector",
  "RenderFailure",
] as const;
export type ConditionType = typeof CONDITION_TYPES[number];

export interface ConditionState {
  readonly type: ConditionType;
  readonly status: "True" | "False";
  readonly reason: string;
  readonly message: string;
}

export const READY_REASON = "Reconciled";
export const RESOLVED_REASON = "Resolved";

/** docs/contract.md#status: the healthy message of each non-Ready condition. */
const RESOLVED_MESSAGES: Readonly<Record<Exclude<ConditionType, "Ready">, string>> = {
  Conflict: "No identity collision detected",
  InvalidRef: "References are valid",
  UnsafeSelector: "Selectors are safe",
  RenderFailure: "Rendering is healthy",
};

function resolved(type: Exclude<ConditionType, "Ready">): ConditionState {
  return { type, status: "False", reason: RESOLVED_REASON, message: RESOLVED_MESSAGES[type] };
}

export function successConditions(): ConditionState[] {
  return [
    { type: "Ready", status: "True", reason: READY_REASON, message: "Binding reconciled" },
    resolved("Conflict"),
    resolved("InvalidRef"),
    resolved("UnsafeSelector"),
    resolved("RenderFailure"),
  ];
}

/**
 * docs/contract.md#reasons: Ready=False and the failing condition True, both with the error's
 * reason and message.
 */
export function failureConditions(error: StateError): ConditionState[] {
  const { reason, message } = error;
  return [
    { type: "Ready", status: "False", reason, message },
    ...(["Conflict", "InvalidRef", "UnsafeSelector", "RenderFailure"] as const).map((type) =>
      type === error.condition ? { type, status: "True" as const, reason, message } : resolved(type)
    ),
  ];
}

/** RFC 3339 with second precision, the way metav1.Time serialises. */
export function formatTime(date: Date): string {
  return date.toISOString().replace(/\.\d+Z$/, "Z");
}

export function mergeConditions(
  existing: readonly BindingCondition[],
  desired: readonly ConditionState[],
  now: Date,
  generation: number | undefined,
): BindingCondition[] {
  const owned = new Set<string>(desired.map((condition) => condition.type));
  const merged = desired.map((next): BindingCondition => {
    const previous = findCondition(existing, next.type);
    const lastTransitionTime = previous !== undefined && previous.status === next.status
      ? previous.lastTransitionTime
      : formatTime(now);
    const condition: BindingCondition = {
      type: next.type,
      status: next.status,
      reason: next.reason,
      message: next.message,
      lastTransitionTime,
    };
    if (generation !== undefined) condition.observedGeneration = generation;
    return condition;
  });
  return [...merged, ...existing.filter((condition) => !owned.has(condition.type))];
}

export function findCondition(
  conditions: readonly BindingCondition[],
  type: string,
): BindingCondition | undefined {
  return conditions.find((condition) => condition.type === type);
}

/**
 * The conditions in a binding's status as read from the cluster. Entries that are not
 * condition-shaped are dropped (the next status write then replaces them).
 */
export function decodeConditions(status: unknown): BindingCondition[] {
  if (!isRecord(status) || !Array.isArray(status.conditions)) return [];
  return status.conditions.filter(isCondition);
}

const CONDITION_STATUSES: readonly unknown[] = ["True", "False", "Unknown"];

function isCondition(value: unknown): value is BindingCondition {
  return isRecord(value) && typeof value.type === "string" &&
    CONDITION_STATUSES.includes(value.status) &&
    typeof value.lastTransitionTime === "string" && typeof value.reason === "string" &&
    typeof value.message === "string" &&
    (value.observedGeneration === undefined || typeof value.observedGeneration === "number");
}
