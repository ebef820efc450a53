// Shared helpers for the reconcile unit tests (not a test file itself).

import assert from "node:assert/strict";
import { isStateError, type StateError } from "../../reconcile/errors.ts";

/** Run `fn`, require it to throw a StateError, and return that error for further checks. */
export function catchStateError(fn: () => unknown): StateError {
  try {
    fn();
  } catch (error) {
    assert.ok(isStateError(error), `expected a StateError, got ${error}`);
    return error;
  }
  assert.fail("expected a StateError, but nothing was thrown");
}

export interface ExpectedStateError {
  readonly condition: string;
  readonly reason: string;
  /** Fragments the message must contain (field names, values). */
  readonly includes?: readonly string[];
}

export function assertStateError(
  fn: () => unknown,
  expected: ExpectedStateError,
  label = "",
): StateError {
  const error = catchStateError(fn);
  const context = `${label}: ${JSON.stringify(error.message)}`;
  assert.equal(error.condition, expected.condition, context);
  assert.equal(error.reason, expected.reason, context);
  for (const part of expected.includes ?? []) {
    assert.ok(error.message.includes(part), `${context} lacks ${JSON.stringify(part)}`);
  }
  return error;
}
