// SPEC 5: collision fingerprints, who takes part, grouping, and the exact Conflict message.

import assert from "node:assert/strict";
import {
  type CollisionCandidate,
  collisionCandidate,
  collisionError,
  collisionFingerprint,
  collisionMessage,
  collisionPeers,
  groupCollisions,
} from "../../reconcile/collision.ts";
import { renderBinding } from "../../reconcile/render.ts";
import type { BindingInput, ResolvedInputs } from "../../reconcile/types.ts";

const resolved = (labels: Record<string, string> = { app: "model-server" }): ResolvedInputs => ({
  pool: {
    apiVersion: "inference.networking.k8s.io/v1",
    object: { metadata: { name: "pool-a" }, spec: { selector: { matchLabels: labels } } },
  },
  objective: {
    apiVersion: "inference.networking.x-k8s.io/v1alpha2",
    object: { spec: { poolRef: { name: "pool-a" } } },
  },
});

interface BindingOptions {
  namespace?: string;
  containerName?: string;
  serviceAccountName?: string;
  mode?: string;
  labels?: Record<string, string>;
  deleting?: boolean;
}

/** Render a binding named `name` (objective of the same name) and return its candidate. */
function candidate(name: string, options: BindingOptions = {}): CollisionCandidate | undefined {
  const mode = options.mode ?? "PerObjective";
  const binding: BindingInput = {
    metadata: {
      name,
      namespace: options.namespace ?? "default",
      uid: `uid-${name}`,
      ...(options.deleting ? { deletionTimestamp: "2025-01-01T00:00:00Z" } : {}),
    },
    spec: {
      poolRef: { name: "pool-a" },
      objectiveRef: { name },
      serviceAccountName: options.serviceAccountName ?? "inference-sa",
      mode,
      ...(mode === "PerObjective" ? { containerName: options.containerName ?? "main" } : {}),
    },
  };
  const outcome = renderBinding(binding, resolved(options.labels), { trustDomain: "td" });
  return collisionCandidate(binding, outcome);
}

function present(c: CollisionCandidate | undefined): CollisionCandidate {
  assert.ok(c !== undefined, "expected a collision candidate");
  return c;
}

Deno.test("collisionFingerprint ignores ordering and duplicates but not content", async (t) => {
  const base = collisionFingerprint("default", { a: "1", b: "2" }, ["k8s:ns:default", "k8s:sa:x"]);
  assert.equal(
    collisionFingerprint("default", { b: "2", a: "1" }, ["k8s:sa:x", "k8s:ns:default", "k8s:sa:x"]),
    base,
  );
  const different: [string, string][] = [
    [
      "namespace",
      collisionFingerprint("other", { a: "1", b: "2" }, ["k8s:ns:default", "k8s:sa:x"]),
    ],
    ["labels", collisionFingerprint("default", { a: "1" }, ["k8s:ns:default", "k8s:sa:x"])],
    [
      "selectors",
      collisionFingerprint("default", { a: "1", b: "2" }, ["k8s:ns:default", "k8s:sa:y"]),
    ],
  ];
  for (const [label, fingerprint] of different) {
    await t.step(label, () => {
      assert.notEqual(fingerprint, base, label);
    });
  }
});

Deno.test("collisionCandidate includes only PerObjective bindings that render and are live", async (t) => {
  const cases: [string, CollisionCandidate | undefined, boolean][] = [
    ["PerObjective", candidate("a"), true],
    ["PoolOnly never takes part", candidate("a", { mode: "PoolOnly" }), false],
    ["failing render", candidate("a", { containerName: "Bad_Name" }), false],
    ["unsafe pool selector", candidate("a", { labels: {} }), false],
    ["being deleted", candidate("a", { deleting: true }), false],
  ];
  for (const [label, c, included] of cases) {
    await t.step(label, () => {
      assert.equal(c !== undefined, included, label);
    });
  }
});

Deno.test("collisionPeers finds bindings with the same selector set, sorted by name", async (t) => {
  const a = present(candidate("objective-a"));
  const cases: [string, (CollisionCandidate | undefined)[], string[]][] = [
    ["two-way", [a, candidate("objective-b")], ["objective-b"]],
    ["three-way", [candidate("objective-c"), a, candidate("objective-b")], [
      "objective-b",
      "objective-c",
    ]],
    ["self only", [a], []],
    ["different container", [a, candidate("objective-b", { containerName: "sidecar" })], []],
    [
      "different service account",
      [a, candidate("objective-b", { serviceAccountName: "other" })],
      [],
    ],
    ["different pool labels", [a, candidate("objective-b", { labels: { app: "other" } })], []],
    ["other namespace", [a, candidate("objective-b", { namespace: "team" })], []],
    ["PoolOnly peer", [a, candidate("objective-b", { mode: "PoolOnly" })], []],
    ["duplicate entries", [a, candidate("objective-b"), candidate("objective-b")], ["objective-b"]],
  ];
  for (const [label, candidates, expected] of cases) {
    await t.step(label, () => {
      const list = candidates.filter((c): c is CollisionCandidate => c !== undefined);
      assert.deepEqual(collisionPeers(a, list), expected, label);
    });
  }
});

Deno.test("groupCollisions returns every group of two or more, members sorted", () => {
  const candidates = [
    candidate("c"),
    candidate("a"),
    candidate("b"),
    candidate("solo", { containerName: "sidecar" }),
    candidate("y", { namespace: "team" }),
    candidate("x", { namespace: "team" }),
    candidate("p", { mode: "PoolOnly" }),
  ].filter((c): c is CollisionCandidate => c !== undefined);
  const groups = groupCollisions(candidates).map((g) => [g.namespace, g.members]);
  assert.deepEqual(groups, [["default", ["a", "b", "c"]], ["team", ["x", "y"]]]);
});

Deno.test("collisionMessage is the exact machine-parseable SPEC 5 message", async (t) => {
  const suffix = ": PerObjective bindings must not share the same pod selector and container name";
  const cases: [string[], string][] = [
    [["objective-b"], `identity collision with bindings objective-b${suffix}`],
    [
      ["objective-c", "objective-b"],
      `identity collision with bindings objective-b, objective-c${suffix}`,
    ],
  ];
  for (const [peers, expected] of cases) {
    await t.step(`${JSON.stringify(peers)}`, () => {
      assert.equal(collisionMessage(peers), expected);
    });
  }
  const error = collisionError(["objective-a"]);
  assert.equal(error.condition, "Conflict");
  assert.equal(error.reason, "IdentityCollision");
  assert.equal(error.message, `identity collision with bindings objective-a${suffix}`);
});

Deno.test("a three-way collision that loses one member leaves the other two naming each other", () => {
  const [a, b, c] = ["objective-a", "objective-b", "objective-c"].map((n) => present(candidate(n)));
  const before = [a, b, c];
  assert.deepEqual(collisionPeers(a, before), ["objective-b", "objective-c"]);
  const after = [a, b, present(candidate("objective-c", { containerName: "sidecar" }))];
  assert.deepEqual(collisionPeers(a, after), ["objective-b"]);
  assert.deepEqual(collisionPeers(b, after), ["objective-a"]);
  assert.deepEqual(collisionPeers(after[2], after), []);
});
