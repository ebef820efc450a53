// docs/cli.md "Findings": `duplicate-spiffe-id` and `identity-overlap` computed from what the
// bindings' status says is registered — also status an older operator wrote — with the
// operator's own rules (reconcile/collision.ts).

import assert from "node:assert/strict";
import { exclusivityFindings, statusParticipant } from "../../cli/exclusivity.ts";

/** A binding as an operator leaves it Ready: status with the ID and the rendered selectors. */
function ready(
  ns: string,
  name: string,
  id: string,
  mode: "PoolOnly" | "PerObjective",
  sa: string,
  labels: Record<string, string>,
  container?: string,
  readyStatus = "True",
) {
  const selectors = [
    ...(container === undefined ? [] : [`k8s:container-name:${container}`]),
    `k8s:ns:${ns}`,
    ...Object.entries(labels).map(([k, v]) => `k8s:pod-label:${k}:${v}`),
    `k8s:sa:${sa}`,
  ].sort();
  return {
    metadata: { namespace: ns, name },
    status: {
      conditions: [{
        type: "Ready",
        status: readyStatus,
        reason: "Reconciled",
        message: "Binding reconciled",
        lastTransitionTime: "2026-01-01T00:00:00Z",
      }],
      trustDomain: "td",
      computedSpiffeIDs: [{ spiffeID: id, mode }],
      renderedSelectors: [{ spiffeID: id, selectors }],
    },
  };
}

const CHAT = "spiffe://td/ns/n/objective/chat";
const POOL = "spiffe://td/ns/n/pool/llama";
const LLAMA = { app: "llama" };
const DECODE = { app: "llama", role: "decode" };

Deno.test("the issue's five bindings, as an older operator left them, give both findings", () => {
  const bindings = [
    ready("n", "chat", CHAT, "PerObjective", "llama-sa", LLAMA, "vllm"),
    ready("n", "chat-2", CHAT, "PerObjective", "batch-sa", LLAMA, "worker"),
    ready(
      "n",
      "premium",
      "spiffe://td/ns/n/objective/premium",
      "PerObjective",
      "llama-sa",
      DECODE,
      "vllm",
    ),
    ready("n", "pool-1", POOL, "PoolOnly", "llama-sa", LLAMA),
    ready("n", "pool-2", POOL, "PoolOnly", "batch-sa", LLAMA),
  ];
  const findings = exclusivityFindings(bindings);
  const summary = findings.map((f) => [f.id, f.severity, f.affectedRefs.map((r) => r.name)]);
  const byText = (a: unknown, b: unknown) => JSON.stringify(a) < JSON.stringify(b) ? -1 : 1;
  assert.deepEqual([...summary].sort(byText), [
    ["duplicate-spiffe-id", "error", ["chat", "chat-2"]],
    ["duplicate-spiffe-id", "error", ["pool-1", "pool-2"]],
    ["identity-overlap", "warning", ["chat", "pool-1"]],
    ["identity-overlap", "warning", ["chat", "premium"]],
    ["identity-overlap", "warning", ["chat-2", "pool-2"]],
    ["identity-overlap", "warning", ["pool-1", "premium"]],
  ]);
  const duplicate = findings.find((f) => f.id === "duplicate-spiffe-id")!;
  assert.match(
    duplicate.message,
    /^SPIFFE ID spiffe:\/\/td\/ns\/n\/objective\/chat is registered by bindings n\/chat, n\/chat-2 with different selectors/,
  );
  const overlap = findings.find((f) =>
    f.id === "identity-overlap" && f.message.includes("premium")
  )!;
  assert.match(
    overlap.message,
    /labelled app=llama,role=decode, container vllm, is selected by both/,
  );
  // inspect: only the findings naming the inspected binding.
  const forPremium = exclusivityFindings(bindings, { namespace: "n", name: "premium" });
  assert.deepEqual(forPremium.map((f) => f.affectedRefs.map((r) => r.name)).sort(), [
    ["chat", "premium"],
    ["pool-1", "premium"],
  ]);
});

Deno.test("twins, other namespaces and bindings that are not Ready give no finding", () => {
  assert.deepEqual(
    exclusivityFindings([
      ready("n", "twin-a", POOL, "PoolOnly", "sa", LLAMA),
      ready("n", "twin-b", POOL, "PoolOnly", "sa", LLAMA),
      ready("m", "other", "spiffe://td/ns/m/pool/llama", "PoolOnly", "sa", LLAMA),
      ready("n", "down", POOL, "PoolOnly", "batch-sa", LLAMA, undefined, "False"),
    ]),
    [],
  );
  assert.equal(statusParticipant({ metadata: { name: "x" } }), undefined);
});
