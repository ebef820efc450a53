/**
 * docs/cli.md "Findings", docs/contract.md#duplicate-id and #overlap from outside: bindings an older
 * operator left Ready — status written as it wrote it, before the rules existed, and no operator
 * running now — are reported by `kleym status` (a `duplicate-spiffe-id` error naming both, an
 * `identity-overlap` warning naming both) and by `kleym inspect binding` (only what names it),
 * against a real API server.
 */
import assert from "node:assert/strict";
import type { BindingInspectionReport, Finding, KleymStatusReport } from "../../cli/report.ts";
import { testEnv } from "../harness/env.ts";
import { checkedReport, runCliCaptured } from "../harness/cli.ts";
import { adminClients, apply, binding, poolV1, TRUST_DOMAIN } from "./reconcile_helpers.ts";

Deno.test("kleym status and inspect report duplicate IDs and overlaps an older operator left Ready", async () => {
  const env = await testEnv();
  const c = await adminClients(env.kubeconfigPath);
  const ns = await env.newNamespace("old-operator");
  const kc = ["--kubeconfig", env.kubeconfigPath];
  try {
    await apply(
      env.kubectl,
      poolV1(ns, "llama", { app: "llama" }),
      poolV1(ns, "llama-decode", { app: "llama", role: "decode" }),
      binding(ns, "pool-1", {
        poolRef: { name: "llama" },
        mode: "PoolOnly",
        serviceAccountName: "llama-sa",
      }),
      binding(ns, "pool-2", {
        poolRef: { name: "llama" },
        mode: "PoolOnly",
        serviceAccountName: "batch-sa",
      }),
      binding(ns, "premium", {
        poolRef: { name: "llama-decode" },
        objectiveRef: { name: "premium" },
        serviceAccountName: "llama-sa",
        containerName: "vllm",
      }),
    );
    // What the seed's operator wrote for each: Ready, the ID and the rendered selectors.
    const poolID = `spiffe://${TRUST_DOMAIN}/ns/${ns}/pool/llama`;
    const written: [string, string, "PoolOnly" | "PerObjective", string[]][] = [
      ["pool-1", poolID, "PoolOnly", [
        `k8s:ns:${ns}`,
        "k8s:pod-label:app:llama",
        "k8s:sa:llama-sa",
      ]],
      ["pool-2", poolID, "PoolOnly", [
        `k8s:ns:${ns}`,
        "k8s:pod-label:app:llama",
        "k8s:sa:batch-sa",
      ]],
      ["premium", `spiffe://${TRUST_DOMAIN}/ns/${ns}/objective/premium`, "PerObjective", [
        "k8s:container-name:vllm",
        `k8s:ns:${ns}`,
        "k8s:pod-label:app:llama",
        "k8s:pod-label:role:decode",
        "k8s:sa:llama-sa",
      ]],
    ];
    const now = new Date().toISOString().replace(/\.\d+Z$/, "Z");
    for (const [name, spiffeID, mode, selectors] of written) {
      const current = await c.bindings.get(name, { namespace: ns });
      await c.bindings.updateStatus({
        ...current,
        status: {
          trustDomain: TRUST_DOMAIN,
          computedSpiffeIDs: [{ spiffeID, mode }],
          renderedSelectors: [{ spiffeID, selectors }],
          conditions: ["Ready", "Conflict", "InvalidRef", "UnsafeSelector", "RenderFailure"].map((
            type,
          ) => ({
            type,
            status: type === "Ready" ? "True" : "False",
            reason: type === "Ready" ? "Reconciled" : "Resolved",
            message: type === "Ready" ? "Binding reconciled" : "fine",
            lastTransitionTime: now,
            observedGeneration: current.metadata.generation,
          })),
        },
      });
    }
    const names = (f: Finding) => f.affectedRefs.map((r) => r.name);
    const mine = (f: Finding) => f.affectedRefs.some((r) => r.namespace === ns);
    // (No ClusterSPIFFEID exists for these, so `stale-ready` findings appear too: not this test's.)
    const exclusivity = (f: Finding) =>
      f.id === "duplicate-spiffe-id" || f.id === "identity-overlap";

    const status = await runCliCaptured(["status", "-o", "json", ...kc]);
    const report = checkedReport<KleymStatusReport>(status);
    assert.deepEqual(
      report.findings.filter(mine).filter(exclusivity).map((f) => [f.id, f.severity, names(f)]),
      [
        ["duplicate-spiffe-id", "error", ["pool-1", "pool-2"]],
        ["identity-overlap", "warning", ["pool-1", "premium"]],
      ],
      status.stdout,
    );
    assert.equal(report.status, "ERROR");
    assert.equal(status.code, 2);

    const inspect = await runCliCaptured([
      "inspect",
      "binding",
      "premium",
      "-n",
      ns,
      "-o",
      "json",
      ...kc,
    ]);
    const inspected = checkedReport<BindingInspectionReport>(inspect);
    assert.deepEqual(
      inspected.findings.filter((f) =>
        f.id === "identity-overlap" || f.id === "duplicate-spiffe-id"
      )
        .map((f) => [f.id, names(f)]),
      [["identity-overlap", ["pool-1", "premium"]]],
      inspect.stdout,
    );
    const overlap = inspected.findings.find((f) => f.id === "identity-overlap");
    assert.match(
      overlap?.message ?? "",
      /labelled app=llama,role=decode, container vllm, is selected by both/,
    );
  } finally {
    // No operator ran here: the bindings have no finalizer and go at once, so later cluster-wide
    // `kleym status` runs and operators do not see them. (Not the namespace: the harness runs no
    // namespace controller, so a deleted namespace would stay Terminating with its bindings, and
    // a later operator's events there would be refused.)
    for (const name of ["pool-1", "pool-2", "premium"]) {
      await c.bindings.delete(name, { namespace: ns });
    }
    c.close();
  }
});
