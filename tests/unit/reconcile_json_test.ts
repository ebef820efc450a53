import { equal } from "node:assert/strict";
import { jsonEqual } from "../../reconcile/json.ts";

Deno.test("jsonEqual compares as the values would serialise", async (t) => {
  const cases: [string, unknown, unknown, boolean][] = [
    ["same primitives", "a", "a", true],
    ["different primitives", 1, "1", false],
    ["null is not an empty object", null, {}, false],
    ["an array is not an object", [], {}, false],
    ["key order does not matter", { a: 1, b: [1, { c: 2, d: 3 }] }, {
      b: [1, { d: 3, c: 2 }],
      a: 1,
    }, true],
    ["array order matters", [1, 2], [2, 1], false],
    ["arrays of different length", [1], [1, 1], false],
    ["a key holding undefined is absent (left)", { a: 1, b: undefined }, { a: 1 }, true],
    ["a key holding undefined is absent (right)", { a: 1 }, { a: 1, b: undefined }, true],
    ["a missing key is a difference (left)", { a: 1 }, { a: 1, b: 2 }, false],
    ["a missing key is a difference (right)", { a: 1, b: 2 }, { a: 1 }, false],
    ["undefined against a value", { a: undefined }, { a: 0 }, false],
    ["nested difference", { a: { b: { c: [1, 2] } } }, { a: { b: { c: [1, 3] } } }, false],
    ["same count, different keys", { a: 1, b: undefined }, { b: 1 }, false],
    [
      "inherited properties do not count",
      Object.assign(Object.create({ x: 1 }), { a: 1 }),
      { a: 1 },
      true,
    ],
  ];
  for (const [name, a, b, want] of cases) {
    await t.step(name, () => {
      equal(jsonEqual(a, b), want);
      equal(jsonEqual(b, a), want, "symmetric");
    });
  }
});
