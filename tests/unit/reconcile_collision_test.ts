// docs/contract.md#exclusivity: the pure rules (5.1 collide, 5.2 duplicate, 5.3 overlap and its
// witness), who takes part, and the exact Conflict messages.

import assert from "node:assert/strict";
import {
  collisionError,
  collisionFingerprint,
  collisionMessage,
  type Participant,
  participant,
  selectionKey,
  verdictAmong,
} from "../../reconcile/collision.ts";
import { renderBinding } from "../../reconcile/render.ts";
import type { BindingInput, ResolvedInputs } from "../../reconcile/types.ts";

const resolved = (
  labels: Record<string, string> = { app: "model-server" },
  pool = "pool-a",
): ResolvedInputs => ({
  pool: {
    apiVersion: "inference.networking.k8s.io/v1",
    object: { metadata: { name: pool }, spec: { selector: { matchLabels: labels } } },
  },
  objective: {
    apiVersion: "inference.networking.x-k8s.io/v1alpha2",
    object: { spec: { poolRef: { name: pool } } },
  },
});

interface BindingOptions {
  namespace?: string;
  containerName?: string;
  serviceAccountName?: string;
  mode?: string;
  labels?: Record<string, string>;
  deleting?: boolean;
  objective?: string;
  pool?: string;
}

/** Render a binding named `name` (objective of the same name) and return its candidate. */
function candidate(name: string, options: BindingOptions = {}): Participant | undefined {
  const mode = options.mode ?? "PerObjective";
  const binding: BindingInput = {
    metadata: {
      name,
      namespace: options.namespace ?? "default",
      uid: `uid-${name}`,
      ...(options.deleting ? { deletionTimestamp: "2025-01-01T00:00:00Z" } : {}),
    },
    spec: {
      poolRef: { name: options.pool ?? "pool-a" },
      objectiveRef: { name: options.objective ?? name },
      serviceAccountName: options.serviceAccountName ?? "inference-sa",
      mode,
      ...(mode === "PerObjective" ? { containerName: options.containerName ?? "main" } : {}),
    },
  };
  const outcome = renderBinding(binding, resolved(options.labels, options.pool), {
    trustDomain: "td",
  });
  return participant(binding, outcome);
}

function present(c: Participant | undefined): Participant {
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

Deno.test("participant: bindings that render and are live take part, in both modes", async (t) => {
  const cases: [string, Participant | undefined, boolean][] = [
    ["PerObjective", candidate("a"), true],
    ["PoolOnly takes part (5.2, 5.3)", candidate("a", { mode: "PoolOnly" }), true],
    ["failing render", candidate("a", { containerName: "Bad_Name" }), false],
    ["unsafe pool selector", candidate("a", { labels: {} }), false],
    ["being deleted", candidate("a", { deleting: true }), false],
  ];
  for (const [label, c, included] of cases) {
    await t.step(label, () => {
      assert.equal(c !== undefined, included, label);
    });
  }
  await t.step("PoolOnly has no 5.1 key and no container", () => {
    const p = present(candidate("a", { mode: "PoolOnly" }));
    assert.equal(p.collisionKey, undefined);
    assert.equal(p.container, undefined);
    assert.equal(p.serviceAccount, "inference-sa");
  });
});

Deno.test("5.1: collision peers have the same selector set, sorted by name", async (t) => {
  const a = present(candidate("objective-a"));
  const cases: [string, (Participant | undefined)[], string[]][] = [
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
      const list = candidates.filter((c): c is Participant => c !== undefined);
      assert.deepEqual(verdictAmong(a, list).collision, expected, label);
    });
  }
});

Deno.test("5.2: the same SPIFFE ID with a different selection, in both modes", async (t) => {
  const cases: [string, Participant, Participant, boolean][] = [
    [
      "PerObjective, one objective, other service account",
      present(candidate("chat", { objective: "chat" })),
      present(candidate("chat-2", { objective: "chat", serviceAccountName: "batch-sa" })),
      true,
    ],
    [
      "PerObjective, one objective, other container",
      present(candidate("chat", { objective: "chat" })),
      present(candidate("chat-2", { objective: "chat", containerName: "worker" })),
      true,
    ],
    [
      "PoolOnly, one pool, other service account",
      present(candidate("p1", { mode: "PoolOnly" })),
      present(candidate("p2", { mode: "PoolOnly", serviceAccountName: "batch-sa" })),
      true,
    ],
    [
      "PoolOnly twins (same pool and account) are not duplicates",
      present(candidate("p1", { mode: "PoolOnly" })),
      present(candidate("p2", { mode: "PoolOnly" })),
      false,
    ],
    [
      "different IDs are never duplicates",
      present(candidate("a")),
      present(candidate("b", { serviceAccountName: "batch-sa" })),
      false,
    ],
    [
      "other namespace",
      present(candidate("p1", { mode: "PoolOnly" })),
      present(candidate("p2", { mode: "PoolOnly", namespace: "team", serviceAccountName: "x" })),
      false,
    ],
  ];
  for (const [label, a, b, expected] of cases) {
    await t.step(label, () => {
      assert.deepEqual(verdictAmong(a, [b]).duplicate, expected ? [b.name] : [], label);
      assert.deepEqual(verdictAmong(b, [a]).duplicate, expected ? [a.name] : [], label);
    });
  }
  await t.step("selectionKey: every rendered field but the ID and hint counts (svid too)", () => {
    const spec = {
      spiffeIDTemplate: "spiffe://td/ns/default/pool/p",
      hint: "default/p1",
      podSelector: { matchLabels: { b: "2", a: "1" } },
      workloadSelectorTemplates: ["k8s:ns:default", "k8s:sa:x"],
    };
    const key = selectionKey(spec);
    assert.equal(
      selectionKey({ ...spec, hint: "default/p2", spiffeIDTemplate: "spiffe://td/other" }),
      key,
    );
    assert.equal(selectionKey({ ...spec, podSelector: { matchLabels: { a: "1", b: "2" } } }), key);
    assert.notEqual(selectionKey({ ...spec, ttl: "1h" }), key);
    assert.notEqual(selectionKey({ ...spec, dnsNameTemplates: ["a.example"] }), key);
    assert.notEqual(selectionKey({ ...spec, className: "other" }), key);
  });
});

Deno.test("5.3: overlap needs one account, compatible labels, meeting containers, other IDs", async (t) => {
  const llama = { app: "llama" };
  const decode = { app: "llama", role: "decode" };
  const chat = present(
    candidate("chat", { objective: "chat", containerName: "vllm", labels: llama }),
  );
  const cases: [
    string,
    Participant,
    { labels: Record<string, string>; container?: string } | undefined,
  ][] = [
    [
      "sub-selector, same container",
      present(candidate("premium", { containerName: "vllm", labels: decode, pool: "decode" })),
      { labels: decode, container: "vllm" },
    ],
    [
      "PoolOnly on the same pool selects every container",
      present(candidate("pool-1", { mode: "PoolOnly", labels: llama })),
      { labels: llama, container: "vllm" },
    ],
    [
      "other container",
      present(candidate("premium", { containerName: "other", labels: decode, pool: "decode" })),
      undefined,
    ],
    [
      "other service account",
      present(candidate("b", { serviceAccountName: "batch-sa", labels: decode, pool: "decode" })),
      undefined,
    ],
    [
      "a key required with two values",
      present(candidate("b", { containerName: "vllm", labels: { app: "mistral" }, pool: "m" })),
      undefined,
    ],
    [
      "disjoint keys can both match one pod",
      present(candidate("b", { containerName: "vllm", labels: { tier: "gold" }, pool: "g" })),
      { labels: { app: "llama", tier: "gold" }, container: "vllm" },
    ],
    [
      "the same SPIFFE ID is 5.1/5.2 business, not an overlap",
      present(candidate("chat-2", { objective: "chat", containerName: "vllm", labels: decode })),
      undefined,
    ],
  ];
  for (const [label, other, witness] of cases) {
    await t.step(label, () => {
      const got = verdictAmong(chat, [other]).overlap;
      assert.deepEqual(got, witness === undefined ? [] : [{ name: other.name, ...witness }]);
      const back = verdictAmong(other, [chat]).overlap;
      assert.deepEqual(back.map((p) => p.name), witness === undefined ? [] : ["chat"]);
    });
  }
});

Deno.test("collisionMessage is the exact machine-parseable Conflict message", async (t) => {
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
  const peers = (self: Participant, list: Participant[]) => verdictAmong(self, list).collision;
  assert.deepEqual(peers(a, before), ["objective-b", "objective-c"]);
  const after = [a, b, present(candidate("objective-c", { containerName: "sidecar" }))];
  assert.deepEqual(peers(a, after), ["objective-b"]);
  assert.deepEqual(peers(b, after), ["objective-a"]);
  assert.deepEqual(peers(after[2], after), []);
});
