// docs/contract.md#inputs: pool selector normalisation for v1 and v1alpha2 pools; rejection of
// anything unsafe.

import assert from "node:assert/strict";
import { normalisePoolSelector } from "../../reconcile/selectors.ts";
import type { PoolApiVersion } from "../../reconcile/types.ts";
import { assertStateError } from "./reconcile_helpers.ts";

const V1: PoolApiVersion = "inference.networking.k8s.io/v1";
const V1ALPHA2: PoolApiVersion = "inference.networking.x-k8s.io/v1alpha2";
const INVALID_POOL_SELECTOR = { condition: "UnsafeSelector", reason: "InvalidPoolSelector" };

function pool(apiVersion: PoolApiVersion, selector: unknown) {
  return { apiVersion, object: { metadata: { name: "pool-a" }, spec: { selector } } };
}

Deno.test("normalisePoolSelector reads both pool shapes into one sorted label map", async (t) => {
  const cases: [string, PoolApiVersion, unknown, Record<string, string>][] = [
    ["v1 matchLabels", V1, { matchLabels: { app: "model-server" } }, { app: "model-server" }],
    ["v1alpha2 flat map", V1ALPHA2, { app: "model-server" }, { app: "model-server" }],
    [
      "keys come out in code-unit order",
      V1,
      { matchLabels: { tier: "gpu", "example.com/App": "x", Zone: "a" } },
      { Zone: "a", "example.com/App": "x", tier: "gpu" },
    ],
    ["empty value is a valid label value", V1ALPHA2, { app: "" }, { app: "" }],
    ["empty matchExpressions is no expressions", V1, {
      matchLabels: { a: "b" },
      matchExpressions: [],
    }, { a: "b" }],
    ["null matchExpressions is no expressions", V1, {
      matchLabels: { a: "b" },
      matchExpressions: null,
    }, { a: "b" }],
  ];
  for (const [label, apiVersion, selector, expected] of cases) {
    await t.step(label, () => {
      const labels = normalisePoolSelector(pool(apiVersion, selector));
      assert.deepEqual(labels, expected, label);
      assert.deepEqual(Object.keys(labels), Object.keys(expected), `${label}: key order`);
    });
  }
});

Deno.test("normalisePoolSelector rejects unsafe or undecodable selectors, naming field and value", async (t) => {
  const cases: [string, PoolApiVersion, unknown, string[]][] = [
    ["no selector", V1, undefined, ['InferencePool "pool-a" has no spec.selector']],
    ["null selector", V1ALPHA2, null, ["has no spec.selector"]],
    ["selector is a list", V1ALPHA2, ["app"], ['spec.selector ["app"] is not a map of labels']],
    ["selector is a string", V1, "app=x", ['spec.selector "app=x"']],
    ["v1 without matchLabels", V1, {}, ["has no spec.selector.matchLabels"]],
    ["v1 empty matchLabels", V1, { matchLabels: {} }, ["spec.selector.matchLabels is empty"]],
    ["v1alpha2 empty map", V1ALPHA2, {}, ["spec.selector is empty"]],
    ["v1 matchLabels is a list", V1, { matchLabels: ["a"] }, ["spec.selector.matchLabels"]],
    [
      "matchExpressions",
      V1,
      { matchLabels: { a: "b" }, matchExpressions: [{ key: "a", operator: "Exists" }] },
      ["spec.selector.matchExpressions", '"operator":"Exists"', "not supported"],
    ],
    ["v1alpha2 shape in a v1 pool", V1, { app: "x" }, [
      'spec.selector has unsupported field "app"',
    ]],
    [
      "v1 shape in a v1alpha2 pool",
      V1ALPHA2,
      { matchLabels: { app: "x" } },
      ['spec.selector["matchLabels"] value {"app":"x"} is not a string'],
    ],
    ["numeric value", V1, { matchLabels: { replicas: 3 } }, [
      'spec.selector.matchLabels["replicas"] value 3 is not a string',
    ]],
    ["boolean value", V1ALPHA2, { canary: true }, [
      'spec.selector["canary"] value true is not a string',
    ]],
    ["null value", V1ALPHA2, { app: null }, ["value null is not a string"]],
    [
      "leading whitespace in value",
      V1,
      { matchLabels: { app: " model-server" } },
      ['value " model-server"', "leading or trailing whitespace"],
    ],
    ["trailing whitespace in value", V1ALPHA2, { app: "model-server\t" }, [
      "leading or trailing whitespace",
    ]],
    ["whitespace in key", V1, { matchLabels: { "app ": "x" } }, [
      'key "app "',
      "leading or trailing whitespace",
    ]],
    ["bad key", V1, { matchLabels: { "-app": "x" } }, ['key "-app" is not a valid label key']],
    ["bad key prefix", V1ALPHA2, { "Example.com/app": "x" }, ['the prefix "Example.com"']],
    ["too many slashes", V1, { matchLabels: { "a/b/c": "x" } }, ['key "a/b/c"']],
    ["bad value", V1, { matchLabels: { app: "model server" } }, [
      'value "model server" is not a valid label value',
    ]],
    ["long value", V1ALPHA2, { app: "v".repeat(64) }, ["at most 63 characters (this one has 64)"]],
  ];
  for (const [label, apiVersion, selector, parts] of cases) {
    await t.step(label, () => {
      const error = assertStateError(
        () => normalisePoolSelector(pool(apiVersion, selector)),
        { ...INVALID_POOL_SELECTOR, includes: parts },
        label,
      );
      assert.ok(error.message.startsWith('InferencePool "pool-a" '), `${label}: ${error.message}`);
    });
  }
});

Deno.test("normalisePoolSelector gives the exact message a user sees for a whitespace value", () => {
  const error = assertStateError(
    () => normalisePoolSelector(pool(V1, { matchLabels: { app: "model-server " } })),
    INVALID_POOL_SELECTOR,
  );
  assert.equal(
    error.message,
    'InferencePool "pool-a" spec.selector.matchLabels["app"] value "model-server " is not a valid ' +
      "label value: a label value must not have leading or trailing whitespace",
  );
});

Deno.test("normalisePoolSelector rejects a pool object that is not an object at all", () => {
  for (const object of [undefined, null, "pool", 42, { spec: "x" }]) {
    assertStateError(
      () => normalisePoolSelector({ apiVersion: V1, object }),
      { ...INVALID_POOL_SELECTOR, includes: ["has no spec.selector"] },
      JSON.stringify(object),
    );
  }
});
