/**
 * The small cache never costs anyone their fields (reconcile/cached.ts, docs/benchmarks.md
 * "Memory"): the informers keep stripped copies (no managedFields, no binding labels/annotations,
 * no pool status, of a ClusterSPIFFEID's status only `stats`), and every write kleym bases on them
 * — the finalizer patch, the status PUT, the ClusterSPIFFEID PUT — leaves what others set in place,
 * on a real API server.
 */
import assert from "node:assert/strict";
import { testEnv } from "../harness/env.ts";
import {
  adminClients,
  apply,
  binding,
  FINALIZER,
  getBinding,
  getCsid,
  managedOf,
  pollUntil,
  poolV1,
  startController,
  waitReason,
} from "./reconcile_helpers.ts";

const FOREIGN_FINALIZER = "example.com/keep";

function managers(o: { metadata: { managedFields?: { manager?: string }[] } }): string[] {
  return (o.metadata.managedFields ?? []).map((m) => m.manager ?? "");
}

Deno.test("writes based on the stripped cache keep others' labels, annotations, finalizers, managedFields and conditions", async (t) => {
  const env = await testEnv();
  const c = await adminClients(env.kubeconfigPath);
  const ns = await env.newNamespace("cache");
  // Everything foreign exists before the controller first lists the binding, so kleym's first
  // writes (finalizer patch, status) are necessarily based on the stripped copy.
  await apply(env.kubectl, poolV1(ns, "pool-a", { app: "a" }));
  const lastApplied = JSON.stringify({
    note: "a second copy of the object",
    pad: "x".repeat(2000),
  });
  await c.bindings.apply({
    ...binding(ns, "b", { poolRef: { name: "pool-a" }, mode: "PoolOnly" }),
    metadata: {
      name: "b",
      namespace: ns,
      labels: { team: "payments" },
      annotations: {
        "kubectl.kubernetes.io/last-applied-configuration": lastApplied,
        "example.com/owner": "someone",
      },
      finalizers: [FOREIGN_FINALIZER],
    },
  }, { fieldManager: "someone-else" });
  await c.bindings.patch("b", "merge", {
    status: {
      conditions: [{
        type: "ExternalCheck",
        status: "True",
        reason: "Fine",
        message: "set by another controller",
        lastTransitionTime: "2026-01-01T00:00:00Z",
      }],
    },
  }, { namespace: ns, subresource: "status", fieldManager: "someone-status" });

  const op = await startController(env.kubeconfigPath);
  try {
    await t.step("binding: finalizer patch and status PUT keep the foreign fields", async () => {
      await waitReason(c, ns, "b", "Reconciled");
      const b = await getBinding(c, ns, "b");
      assert.ok(b);
      assert.deepEqual(b.metadata.labels, { team: "payments" });
      assert.equal(
        b.metadata.annotations?.["kubectl.kubernetes.io/last-applied-configuration"],
        lastApplied,
      );
      assert.equal(b.metadata.annotations?.["example.com/owner"], "someone");
      assert.deepEqual(b.metadata.finalizers, [FOREIGN_FINALIZER, FINALIZER]);
      const m = managers(b);
      assert.ok(m.includes("someone-else") && m.includes("someone-status"), m.join(", "));
      assert.ok(
        b.status?.conditions?.some((x) => x.type === "ExternalCheck" && x.reason === "Fine"),
        JSON.stringify(b.status?.conditions),
      );
      assert.ok(b.status?.conditions?.some((x) => x.type === "Ready" && x.status === "True"));
    });

    await t.step(
      "ClusterSPIFFEID: the repair PUT keeps foreign metadata and field owners",
      async () => {
        const [owned] = await managedOf(c, ns, "b");
        assert.ok(owned?.metadata.name);
        const name = owned.metadata.name;
        const desiredHint = owned.spec?.hint;
        await c.csids.patch(name, "apply", {
          apiVersion: "spire.spiffe.io/v1alpha1",
          kind: "ClusterSPIFFEID",
          metadata: {
            name,
            labels: { "example.com/extra": "y" },
            annotations: { "example.com/foreign": "z" },
          },
        }, { fieldManager: "someone-csid" });
        await c.csids.patch(name, "merge", { spec: { hint: "tampered" } }, {
          fieldManager: "tamperer",
        });
        const repaired = await pollUntil("tampered spec repaired", 20_000, async () => {
          const now = await getCsid(c, name);
          return now?.spec?.hint === desiredHint ? now : undefined;
        });
        assert.equal(repaired.metadata.labels?.["example.com/extra"], "y");
        assert.equal(repaired.metadata.annotations?.["example.com/foreign"], "z");
        assert.ok(managers(repaired).includes("someone-csid"), managers(repaired).join(", "));
        assert.equal(repaired.metadata.uid, owned.metadata.uid, "updated in place, not re-created");
      },
    );

    await t.step(
      "ClusterSPIFFEID: SPIRE's status.stats reach the binding, and the repair PUT leaves them",
      async () => {
        const [owned] = await managedOf(c, ns, "b");
        const name = owned?.metadata.name ?? "";
        // What SPIRE Controller Manager does after a pass: a status-subresource update.
        await c.csids.patch(name, "merge", {
          status: { stats: { podsSelected: 4, entriesToSet: 4, namespacesSelected: 1 } },
        }, { subresource: "status", fieldManager: "spire-controller-manager" });
        await pollUntil(
          "the figures on the binding",
          20_000,
          async () => (await getBinding(c, ns, "b"))?.status?.spire?.podsSelected === 4,
        );
        await c.csids.patch(name, "merge", { spec: { hint: "tampered again" } }, {
          fieldManager: "tamperer",
        });
        const repaired = await pollUntil("tampered spec repaired", 20_000, async () => {
          const now = await getCsid(c, name);
          return now?.spec?.hint === owned?.spec?.hint ? now : undefined;
        });
        assert.deepEqual(repaired.status?.stats, {
          podsSelected: 4,
          entriesToSet: 4,
          namespacesSelected: 1,
        });
      },
    );
  } finally {
    await op.stop();
    await c.bindings.patch("b", "merge", { metadata: { finalizers: null } }, { namespace: ns })
      .catch(() => {});
    c.close();
  }
});
