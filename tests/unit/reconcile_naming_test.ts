// docs/contract.md#naming: ClusterSPIFFEID names and the SHA-1 (node:crypto) behind their suffix.
// Expected names below were worked out independently (by hand and with Python's hashlib), not with
// the code under test.

import assert from "node:assert/strict";
import { clusterSPIFFEIDName, sanitizeNameBase } from "../../reconcile/naming.ts";
import type { BindingMode } from "../../reconcile/types.ts";

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

Deno.test("sanitizeNameBase lowercases, collapses other characters into one dash, trims", async (t) => {
  const cases: [string, string][] = [
    ["kleym-default-objective-a", "kleym-default-objective-a"],
    ["Kleym-Team_A-My.Binding", "kleym-team-a-my-binding"],
    ["a..b__c--d", "a-b-c-d"],
    ["--edge--", "edge"],
    ["äb", "b"],
    ["!!!", "kleym"],
    ["___...---", "kleym"],
    ["", "kleym"],
  ];
  for (const [raw, expected] of cases) {
    await t.step(raw, () => {
      assert.equal(sanitizeNameBase(raw), expected, raw);
    });
  }
});

Deno.test("clusterSPIFFEIDName reproduces the example names and sanitises odd binding names", async (t) => {
  const cases: [string, string, BindingMode, string, string][] = [
    [
      "default",
      "objective-a",
      "PerObjective",
      "spiffe://kleym.sonda.red/ns/default/objective/objective-a",
      "kleym-default-objective-a-objective-3ace974d",
    ],
    [
      "default",
      "pool-a",
      "PoolOnly",
      "spiffe://kleym.sonda.red/ns/default/pool/pool-a",
      "kleym-default-pool-a-pool-ede236a0",
    ],
    [
      "Team_A",
      "My.Binding",
      "PerObjective",
      "spiffe://td/ns/team-a/objective/o",
      "kleym-team-a-my-binding-objective-c7cc04b8",
    ],
    ["default", "!!!", "PoolOnly", "spiffe://td/ns/default/pool/p", "kleym-default-pool-9ec83585"],
  ];
  for (const [namespace, binding, mode, spiffeID, expected] of cases) {
    await t.step(`${JSON.stringify(namespace)}`, () => {
      assert.equal(clusterSPIFFEIDName(namespace, binding, mode, spiffeID), expected);
    });
  }
});

Deno.test("clusterSPIFFEIDName truncates long bases to fit 63 characters, per mode", async (t) => {
  const namespace = "very-long-namespace-name-for-testing";
  const binding = "and-an-even-longer-binding-name-that-goes-on";
  const cases: [BindingMode, string, string][] = [
    // base budget 63 - 9 - 8 - 2 = 44 characters
    [
      "PerObjective",
      `spiffe://kleym.sonda.red/ns/${namespace}/objective/obj`,
      "kleym-very-long-namespace-name-for-testing-a-objective-fbacb3b1",
    ],
    // base budget 63 - 4 - 8 - 2 = 49 characters
    [
      "PoolOnly",
      `spiffe://kleym.sonda.red/ns/${namespace}/pool/p`,
      "kleym-very-long-namespace-name-for-testing-and-an-pool-8e8d8e60",
    ],
  ];
  for (const [mode, spiffeID, expected] of cases) {
    await t.step(mode, () => {
      const name = clusterSPIFFEIDName(namespace, binding, mode, spiffeID);
      assert.equal(name, expected);
      assert.equal(name.length, 63);
    });
  }
});

Deno.test("clusterSPIFFEIDName trims a dash left at the truncation point", () => {
  // "kleym-" + 37 chars is 43 long; the 44th character is the dash before the binding name.
  const namespace = "n".repeat(37);
  const name = clusterSPIFFEIDName(
    namespace,
    "binding",
    "PerObjective",
    `spiffe://kleym.sonda.red/ns/${namespace}/objective/o`,
  );
  assert.equal(name, `kleym-${namespace}-objective-fc2d4dce`);
});

Deno.test("clusterSPIFFEIDName always yields a DNS-1123 label for maximal inputs", async (t) => {
  const inputs: [string, string][] = [
    ["a".repeat(63), "b".repeat(253)],
    ["x", "Y_.".repeat(80)],
    ["-", "-"],
  ];
  for (const [namespace, binding] of inputs) {
    await t.step(`${JSON.stringify(namespace)}`, () => {
      for (const mode of ["PoolOnly", "PerObjective"] as const) {
        const name = clusterSPIFFEIDName(namespace, binding, mode, `spiffe://td/ns/${namespace}/x`);
        assert.ok(name.length <= 63, `${name} is ${name.length} long`);
        assert.match(name, DNS1123_LABEL);
      }
    });
  }
});
