/**
 * The binding's status as a whole (docs/contract.md#api, docs/contract.md#status): what it should
 * say after a reconcile, whether that differs from what it says now (an unchanged status is never
 * written), and how to write it.
 *
 * Decisions:
 * - On failure `computedSpiffeIDs` and `renderedSelectors` are removed (absent, not `[]`), while
 *   `trustDomain` and `clusterSPIFFEIDClassName` stay: they describe the operator's configuration,
 *   not an identity, and help explain a failure such as an invalid SPIFFE ID.
 * - `clusterSPIFFEIDClassName` is present only when a non-empty class name is configured.
 * - Conditions compare as a set keyed by type (the list is a list-map; order carries no meaning).
 *
 * API:
 * - `successStatus(identity, config, existing, now, generation): BindingStatus`
 * - `failureStatus(error, config, existing, now, generation): BindingStatus`
 * - `statusEquals(current: unknown, desired: BindingStatus): boolean`
 * - `withoutSpire(status)`: the status without `spire` (SCM's figures, spire.ts), to tell a
 *   figures-only change from any other
 * - `statusMergePatch(desired)`: a JSON merge patch body for the status subresource that also
 *   removes fields the desired status no longer has. Writing the status whole (update of the
 *   status subresource with the binding's resourceVersion) is equally correct.
 */

import {
  type ConditionState,
  failureConditions,
  mergeConditions,
  successConditions,
} from "./conditions.ts";
import type { StateError } from "./errors.ts";
import { isRecord, jsonEqual } from "./json.ts";
import { compareCodeUnits } from "../apis/compare.ts";
import type { RenderedIdentity } from "./render.ts";
import type { BindingCondition, BindingStatus, RenderConfig } from "./types.ts";

function baseStatus(
  desired: readonly ConditionState[],
  config: RenderConfig,
  existing: readonly BindingCondition[],
  now: Date,
  generation: number | undefined,
): BindingStatus {
  const status: BindingStatus = {
    conditions: mergeConditions(existing, desired, now, generation),
    trustDomain: config.trustDomain,
  };
  if (config.className !== undefined && config.className !== "") {
    status.clusterSPIFFEIDClassName = config.className;
  }
  return status;
}

export function successStatus(
  identity: RenderedIdentity,
  config: RenderConfig,
  existing: readonly BindingCondition[],
  now: Date,
  generation: number | undefined,
): BindingStatus {
  return {
    ...baseStatus(successConditions(), config, existing, now, generation),
    computedSpiffeIDs: [{ spiffeID: identity.spiffeID, mode: identity.mode }],
    renderedSelectors: [{ spiffeID: identity.spiffeID, selectors: [...identity.selectors] }],
  };
}

export function failureStatus(
  error: StateError,
  config: RenderConfig,
  existing: readonly BindingCondition[],
  now: Date,
  generation: number | undefined,
): BindingStatus {
  return baseStatus(failureConditions(error), config, existing, now, generation);
}

/** True when writing `desired` would not change what the binding reports. */
export function statusEquals(current: unknown, desired: BindingStatus): boolean {
  return jsonEqual(comparable(current), comparable(desired));
}

export function withoutSpire(status: unknown): unknown {
  if (!isRecord(status) || status.spire === undefined) return status;
  const { spire: _, ...rest } = status;
  return rest;
}

function comparable(status: unknown): unknown {
  if (!isRecord(status)) return {};
  if (!Array.isArray(status.conditions)) return status;
  const conditions = [...status.conditions].sort((a, b) =>
    compareCodeUnits(conditionType(a), conditionType(b))
  );
  return { ...status, conditions: conditions.length === 0 ? undefined : conditions };
}

function conditionType(value: unknown): string {
  return isRecord(value) && typeof value.type === "string" ? value.type : "";
}

/** `{status: …}` with every field kleym owns set, or `null` to remove it. */
export function statusMergePatch(desired: BindingStatus): { status: Record<string, unknown> } {
  return {
    status: {
      conditions: desired.conditions,
      trustDomain: desired.trustDomain ?? null,
      clusterSPIFFEIDClassName: desired.clusterSPIFFEIDClassName ?? null,
      computedSpiffeIDs: desired.computedSpiffeIDs ?? null,
      renderedSelectors: desired.renderedSelectors ?? null,
      spire: desired.spire ?? null,
    },
  };
}
