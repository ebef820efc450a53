/**
 * CRDs that come and go (docs/contract.md#discovery): the CRD-missing reasons of
 * docs/contract.md#reasons, and a group-pinned ref to a group the cluster does not serve, on a
 * private control plane that starts with kleym's CRD only. The controller notices CRDs installed
 * and removed while it runs (discovery refreshed every `crdRetryMs`, here 1.5 s) and starts or
 * stops those watches without a restart.
 */
import assert from "node:assert/strict";
import { startControlPlane } from "../harness/controlplane.ts";
import {
  adminClients,
  apply,
  binding,
  conditionOf,
  managedOf,
  objective,
  pollUntil,
  poolV1,
  startController,
  waitReason,
} from "./reconcile_helpers.ts";

const XK8S = "inference.networking.x-k8s.io";

Deno.test("CRDs installed or removed while running: bindings report the missing CRD, then recover without a restart", async (t) => {
  const cp = await startControlPlane({ crds: ["kleym"] });
  const c = await adminClients(cp.kubeconfigPath);
  const op = await startController(cp.kubeconfigPath, { crdRetryMs: 1_500 });
  const k = cp.kubectl;
  const ns = "crds";
  try {
    await k(["create", "namespace", ns]);
    await apply(
      k,
      binding(ns, "pool-only", { poolRef: { name: "p" }, mode: "PoolOnly" }),
      binding(ns, "per-objective", {
        poolRef: { name: "p" },
        objectiveRef: { name: "o" },
        containerName: "main",
      }),
      binding(ns, "pinned", { poolRef: { name: "p", group: XK8S }, mode: "PoolOnly" }),
    );

    await t.step("no InferencePool CRD: InferencePoolCRDMissing", async () => {
      for (const name of ["pool-only", "per-objective", "pinned"]) {
        const b = await waitReason(c, ns, name, "InferencePoolCRDMissing");
        assert.equal(conditionOf(b, "InvalidRef")?.status, "True");
        assert.match(conditionOf(b, "InvalidRef")?.message ?? "", /InferencePool/);
      }
    });

    await t.step("pool CRD installed: the next missing piece is reported per binding", async () => {
      await cp.installCrds(["inferencepools.v1"]);
      await apply(k, poolV1(ns, "p", { app: "crd" }));
      const poolOnly = await waitReason(c, ns, "pool-only", "ClusterSPIFFEIDCRDMissing");
      assert.equal(conditionOf(poolOnly, "RenderFailure")?.status, "True");
      assert.match(conditionOf(poolOnly, "RenderFailure")?.message ?? "", /spire\.spiffe\.io/);
      const perObjective = await waitReason(c, ns, "per-objective", "InferenceObjectiveCRDMissing");
      assert.match(conditionOf(perObjective, "InvalidRef")?.message ?? "", /InferenceObjective/);
      // Group-pinned to x-k8s.io, which this cluster does not serve (only k8s.io/v1 pools).
      const pinned = await waitReason(c, ns, "pinned", "InferencePoolCRDMissing");
      const message = conditionOf(pinned, "InvalidRef")?.message ?? "";
      assert.match(message, /spec\.poolRef\.group "inference\.networking\.x-k8s\.io"/);
      assert.match(message, /inference\.networking\.x-k8s\.io\/v1alpha2/);
    });

    await t.step(
      "ClusterSPIFFEID CRD installed: Ready on its own, the binding untouched",
      async () => {
        await cp.installCrds(["clusterspiffeids"]);
        await waitReason(c, ns, "pool-only", "Reconciled", 60_000);
        assert.equal((await managedOf(c, ns, "pool-only")).length, 1);
        const waiting = await waitReason(c, ns, "per-objective", "InferenceObjectiveCRDMissing");
        assert.equal(conditionOf(waiting, "Ready")?.status, "False");
      },
    );

    await t.step(
      "InferenceObjective CRD installed: the waiting PerObjective binding becomes Ready",
      async () => {
        await cp.installCrds(["inferenceobjectives.v1alpha2"]);
        await pollUntil("objective API usable", 60_000, async () => {
          await apply(k, objective(`${XK8S}/v1alpha2`, ns, "o", { name: "p" }));
          return true;
        });
        await waitReason(c, ns, "per-objective", "Reconciled", 60_000);
        assert.equal((await managedOf(c, ns, "per-objective")).length, 1);
      },
    );

    await t.step(
      "InferenceObjective CRD removed: InferenceObjectiveCRDMissing and the output goes",
      async () => {
        await cp.uninstallCrds(["inferenceobjectives.v1alpha2"]);
        await waitReason(c, ns, "per-objective", "InferenceObjectiveCRDMissing", 60_000);
        await pollUntil(
          "stale identity removed",
          60_000,
          async () => (await managedOf(c, ns, "per-objective")).length === 0,
        );
        assert.equal(
          conditionOf(await c.bindings.get("pool-only", { namespace: ns }), "Ready")?.status,
          "True",
        );
      },
    );

    await t.step("the controller logged the served APIs it started and stopped watching", () => {
      const started = op.logs.filter((l) => l.msg === "API is served; watching it")
        .map((l) => l.resource);
      const stopped = op.logs.filter((l) =>
        l.msg === "API is no longer served; stopped watching it"
      )
        .map((l) => l.resource);
      assert.deepEqual(started, ["pools.v1", "clusterspiffeids", "objectives.v1alpha2"]);
      assert.deepEqual(stopped, ["objectives.v1alpha2"]);
    });
  } finally {
    await op.stop();
    c.close();
    await cp.stop();
  }
});
