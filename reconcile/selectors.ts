/**
 * Normalise an InferencePool's selector into one flat `matchLabels` map (docs/contract.md#inputs).
 *
 * - `inference.networking.k8s.io/v1` pools carry `spec.selector.matchLabels`;
 * - `inference.networking.x-k8s.io/v1alpha2` pools carry a flat label map in `spec.selector`.
 *
 * Anything kleym cannot render as an exact, safe pod selector is rejected with
 * UnsafeSelector/InvalidPoolSelector, naming the field and value: an empty selector,
 * `matchExpressions` (set-based rules cannot become SPIRE pod-label selectors), non-string values,
 * keys or values that are not Kubernetes label syntax, values with surrounding whitespace, and any
 * shape that is not a flat string map. Input is never "fixed up". An empty label value is allowed
 * (see `labelValueProblem`). `matchExpressions: []` (or null) is treated as no expressions.
 *
 * API: `normalisePoolSelector(pool: ResolvedPool): LabelMap` — throws `StateError`; the result's
 * keys are in code-unit order.
 */

import { isRecord, show } from "./json.ts";
import { Reasons, StateError } from "./errors.ts";
import type { LabelMap, ResolvedPool } from "./types.ts";
import { labelKeyProblem, labelValueProblem } from "./validate.ts";

export function normalisePoolSelector(pool: ResolvedPool): LabelMap {
  const object = isRecord(pool.object) ? pool.object : {};
  const name = isRecord(object.metadata) ? object.metadata.name : undefined;
  const what = `InferencePool ${show(typeof name === "string" ? name : "")}`;
  const fail = (message: string) =>
    new StateError("UnsafeSelector", Reasons.InvalidPoolSelector, `${what} ${message}`);

  const spec = isRecord(object.spec) ? object.spec : {};
  const selector = spec.selector;
  if (selector === undefined || selector === null) throw fail("has no spec.selector");
  if (!isRecord(selector)) {
    throw fail(`spec.selector ${show(selector)} is not a map of labels`);
  }

  let field: string;
  let labels: unknown;
  if (pool.apiVersion === "inference.networking.k8s.io/v1") {
    field = "spec.selector.matchLabels";
    const expressions = selector.matchExpressions;
    if (expressions !== undefined && expressions !== null && !isEmptyArray(expressions)) {
      throw fail(
        `spec.selector.matchExpressions ${show(expressions)} is not supported: ` +
          "kleym renders only exact label matches (matchLabels)",
      );
    }
    const unknownField = Object.keys(selector).find((key) =>
      key !== "matchLabels" && key !== "matchExpressions"
    );
    if (unknownField !== undefined) {
      throw fail(`spec.selector has unsupported field ${show(unknownField)}`);
    }
    labels = selector.matchLabels;
    if (labels === undefined || labels === null) throw fail(`has no ${field}`);
    if (!isRecord(labels)) throw fail(`${field} ${show(labels)} is not a map of labels`);
  } else {
    field = "spec.selector";
    labels = selector;
  }
  return decodeLabelMap(labels as Record<string, unknown>, field, fail);
}

function decodeLabelMap(
  labels: Record<string, unknown>,
  field: string,
  fail: (message: string) => StateError,
): LabelMap {
  const keys = Object.keys(labels).sort();
  if (keys.length === 0) {
    throw fail(`${field} is empty: an empty selector would select every pod in the namespace`);
  }
  const result: Record<string, string> = {};
  for (const key of keys) {
    const keyProblem = labelKeyProblem(key);
    if (keyProblem !== undefined) {
      throw fail(`${field} key ${show(key)} is not a valid label key: ${keyProblem}`);
    }
    const value = labels[key];
    if (typeof value !== "string") {
      throw fail(`${field}[${show(key)}] value ${show(value)} is not a string`);
    }
    const valueProblem = labelValueProblem(value);
    if (valueProblem !== undefined) {
      throw fail(
        `${field}[${show(key)}] value ${show(value)} is not a valid label value: ${valueProblem}`,
      );
    }
    result[key] = value;
  }
  return result;
}

function isEmptyArray(value: unknown): boolean {
  return Array.isArray(value) && value.length === 0;
}
