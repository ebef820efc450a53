// docs/contract.md#exclusivity, #reasons: the Conflict messages are exact and every parser gives
// back what its formatter was given (the CLI reads operator-written conditions with them).

import assert from "node:assert/strict";
import {
  collisionMessage,
  conflictResolvedEvents,
  duplicateError,
  duplicateMessage,
  OVERLAP_LISTED,
  overlapError,
  overlapMessage,
  parseCollisionMessage,
  parseConflictPeers,
  parseDuplicateMessage,
  parseOverlapMessage,
} from "../../reconcile/conflict_messages.ts";
import type { OverlapPeer } from "../../reconcile/collision.ts";
import type { BindingCondition } from "../../reconcile/types.ts";

Deno.test("duplicateMessage is exactly the contract's text, peers sorted", () => {
  assert.equal(
    duplicateMessage("spiffe://td/ns/a/objective/chat", ["chat-3", "chat-2"]),
    "SPIFFE ID spiffe://td/ns/a/objective/chat is also rendered by bindings chat-2, chat-3 " +
      "with different selectors: one SPIFFE ID must select one set of workloads",
  );
  const error = duplicateError("spiffe://td/ns/a/pool/llama", ["pool-2"]);
  assert.deepEqual([error.condition, error.reason], ["Conflict", "DuplicateSPIFFEID"]);
});

Deno.test("every Conflict message parses back to what formatted it", async (t) => {
  await t.step("IdentityCollision", () => {
    for (const peers of [["b"], ["a.b-c", "z", "m"]]) {
      assert.deepEqual(parseCollisionMessage(collisionMessage(peers))?.peers, [...peers].sort());
    }
  });
  await t.step("DuplicateSPIFFEID", () => {
    const id = "spiffe://kleym.sonda.red/ns/team-a/objective/chat";
    for (const peers of [["chat-2"], ["x", "chat-2", "b.c"]]) {
      assert.deepEqual(parseDuplicateMessage(duplicateMessage(id, peers)), {
        spiffeID: id,
        peers: [...peers].sort(),
      });
    }
  });
  await t.step("IdentityOverlap, with each peer's witness", () => {
    const peers: OverlapPeer[] = [
      { name: "premium", labels: { app: "llama", role: "decode" }, container: "vllm" },
      { name: "pool-1", labels: { app: "llama" }, container: "vllm" },
      { name: "all", labels: {} },
      { name: "dotted.name", labels: { "example.com/tier": "gold_1.2" } },
    ];
    const message = overlapMessage("llama-sa", peers);
    const parsed = parseOverlapMessage(message);
    assert.deepEqual(parsed, {
      serviceAccount: "llama-sa",
      peers: [...peers].sort((a, b) => (a.name < b.name ? -1 : 1)),
      more: 0,
    });
    assert.equal(overlapError("llama-sa", peers).message, message);
    assert.match(message, /^identity overlap with bindings all, dotted\.name, pool-1, premium: /);
  });
  await t.step("IdentityOverlap with many peers names the first ones and counts the rest", () => {
    const many: OverlapPeer[] = Array.from({ length: 500 }, (_, i) => ({
      name: `objective-${String(i).padStart(3, "0")}-${"x".repeat(200)}`,
      labels: { app: "llama", "example.com/role": "decode" },
      container: "vllm",
    }));
    const message = overlapMessage("sa", many);
    assert.ok(message.length < 32768, `${message.length} characters`); // a condition message's limit
    const parsed = parseOverlapMessage(message);
    assert.equal(parsed?.peers.length, OVERLAP_LISTED);
    assert.equal(parsed?.more, 500 - OVERLAP_LISTED);
    assert.deepEqual(parsed?.peers, many.slice(0, OVERLAP_LISTED));
  });
  await t.step("parseConflictPeers reads any of the three, nothing else", () => {
    assert.deepEqual(parseConflictPeers(collisionMessage(["b", "a"])), ["a", "b"]);
    assert.deepEqual(parseConflictPeers(duplicateMessage("spiffe://t/ns/n/pool/p", ["q"])), [
      "q",
    ]);
    assert.deepEqual(
      parseConflictPeers(overlapMessage("sa", [{ name: "p", labels: { a: "1" } }])),
      ["p"],
    );
    assert.deepEqual(parseConflictPeers("No identity collision detected"), []);
  });
});

Deno.test("leaving any of the three conflicts brings its Resolved event", async (t) => {
  const conflict = (reason: string): BindingCondition => ({
    type: "Conflict",
    status: "True",
    reason,
    message: "m",
    lastTransitionTime: "2026-01-01T00:00:00Z",
  });
  const resolved = {
    conditions: [{ ...conflict("Resolved"), status: "False" as const }],
  };
  for (const reason of ["IdentityCollision", "DuplicateSPIFFEID", "IdentityOverlap"]) {
    await t.step(reason, () => {
      const events = conflictResolvedEvents([conflict(reason)], resolved);
      assert.deepEqual(events.map((e) => `${e.type}/${e.reason}`), [`Normal/${reason}Resolved`]);
    });
  }
  await t.step("moving from one conflict to another is not a resolution", () => {
    const next = { conditions: [conflict("IdentityCollision")] };
    assert.deepEqual(conflictResolvedEvents([conflict("DuplicateSPIFFEID")], next), []);
  });
});
