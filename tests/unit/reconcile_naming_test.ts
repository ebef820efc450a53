// SPEC 4: ClusterSPIFFEID names and the SHA-1 behind their suffix. Expected names below were
// worked out independently (by hand and with Python's hashlib), not with the code under test.

import assert from "node:assert/strict";
import { clusterSPIFFEIDName, sanitizeNameBase } from "../../reconcile/naming.ts";
import { sha1Hex } from "../../reconcile/sha1.ts";
import type { BindingMode } from "../../reconcile/types.ts";

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

Deno.test("sha1Hex matches the FIPS 180 and well-known test vectors", async (t) => {
  const vectors: [string, string][] = [
    ["", "da39a3ee5e6b4b0d3255bfef95601890afd80709"],
    ["abc", "a9993e364706816aba3e25717850c26c9cd0d89d"],
    [
      "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
      "84983e441c3bd26ebaae4aa1f95129e5e54670f1",
    ],
    ["The quick brown fox jumps over the lazy dog", "2fd4e1c67a2d28fced849ee1bb76e7391b93eb12"],
    ["a".repeat(1_000_000), "34aa973cd4c4daa4f61eeb2bdbad27316534016f"],
  ];
  for (const [input, expected] of vectors) {
    await t.step(`${input.length} chars`, () => {
      assert.equal(sha1Hex(input), expected, `SHA-1 of ${input.length} chars`);
    });
  }
});

Deno.test("sha1Hex agrees with WebCrypto across every padding boundary", async () => {
  // Lengths 0..200 cross the 55/56/64-byte block and length-field boundaries several times.
  for (let length = 0; length <= 200; length++) {
    const bytes = Uint8Array.from({ length }, (_, i) => (i * 7 + length) & 0xff);
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-1", bytes));
    const expected = [...digest].map((b) => b.toString(16).padStart(2, "0")).join("");
    assert.equal(sha1Hex(bytes), expected, `length ${length}`);
  }
});

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
