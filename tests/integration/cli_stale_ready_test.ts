/**
 * Stale Ready seen by the CLI (docs/contract.md#lifecycle: Ready=True only while the
 * ClusterSPIFFEID exists as rendered), against the run's real control plane: a binding reconciled
 * by the real controller, the controller stopped (so nothing can repair), its ClusterSPIFFEID then
 * deleted — or edited — behind the operator's back. `kleym inspect binding` reports `stale-ready`
 * and exits 2, and `kleym status` reports it too; before the damage neither reports anything for
 * the namespace. A restarted controller repairs it, after which inspect is clean again (and cleans
 * up).
 */
import assert from "node:assert/strict";
import type { BindingInspectionReport, Finding, KleymStatusReport } from "../../cli/report.ts";
import { checkedReport, runCliCaptured } from "../harness/cli.ts";
import { testEnv } from "../harness/env.ts";
import { applyOperatorDeployment, setDeploymentReady } from "../harness/operator.ts";
import {
  adminClients,
  apply,
  binding,
  deleteIfExists,
  managedOf,
  objective,
  pollUntil,
  poolV1,
  startController,
  waitGone,
  waitReason,
} from "./reconcile_helpers.ts";

const cli = (args: string[]) => runCliCaptured(args);

Deno.test("kleym inspect and status: a Ready binding whose ClusterSPIFFEID was deleted or edited behind a stopped operator is a stale-ready error, exit 2", async (t) => {
  const env = await testEnv();
  const c = await adminClients(env.kubeconfigPath);
  const ns = await env.newNamespace("cli-stale");
  const kc = ["--kubeconfig", env.kubeconfigPath];
  let op = await startController(env.kubeconfigPath);
  try {
    await apply(
      env.kubectl,
      poolV1(ns, "pool", { app: "inference" }),
      objective("inference.networking.k8s.io/v1", ns, "objective", { name: "pool" }),
      binding(ns, "b", {
        poolRef: { name: "pool" },
        objectiveRef: { name: "objective" },
        containerName: "main",
      }),
    );
    await waitReason(c, ns, "b", "Reconciled");
    const [csid] = await managedOf(c, ns, "b");
    assert.ok(csid?.metadata.name);
    const name = csid.metadata.name;
    // status needs a ready operator Deployment, or operator-unavailable alone makes it exit 2.
    await applyOperatorDeployment(env.kubectl, ns);
    await setDeploymentReady(env.kubectl, ns, 1);
    await op.stop();

    const inspect = () => cli(["inspect", "binding", "b", "-n", ns, "-o", "json", ...kc]);
    // No pods exist here: zero-matched-pods (info) is expected and not what is tested.
    const problems = (fs: Finding[]) => fs.filter((f) => f.severity !== "info");
    // status is cluster-wide: only findings about this namespace's objects count here.
    const ours = (f: Finding) => f.affectedRefs.some((x) => x.namespace === ns);
    const status = async () => {
      const run = await cli(["status", "-o", "json", ...kc]);
      return { run, findings: checkedReport<KleymStatusReport>(run).findings.filter(ours) };
    };

    await t.step("in place: no finding, inspect exits 0", async () => {
      const run = await inspect();
      assert.equal(run.code, 0, run.stdout + run.stderr);
      assert.deepEqual(problems(checkedReport<BindingInspectionReport>(run).findings), []);
      assert.deepEqual((await status()).findings, []);
    });

    await t.step("deleted: inspect and status report stale-ready, exit 2", async () => {
      await c.csids.delete(name);
      await waitGone(c.csids, name);
      const run = await inspect();
      assert.equal(run.code, 2, run.stdout + run.stderr);
      const r = checkedReport<BindingInspectionReport>(run);
      assert.equal(r.renderedClusterSPIFFEID?.clusterState, "absent");
      assert.deepEqual(problems(r.findings).map((f) => [f.id, f.severity, f.reason]), [
        ["stale-ready", "error", "ClusterSPIFFEIDAbsent"],
      ]);
      assert.ok(r.findings[0].message.includes(name), r.findings[0].message);
      const s = await status();
      assert.equal(s.run.code, 2);
      assert.equal(checkedReport<KleymStatusReport>(s.run).status, "ERROR");
      assert.deepEqual(s.findings.map((f) => [f.id, f.reason]), [
        ["stale-ready", "ClusterSPIFFEIDAbsent"],
      ]);
      const text = await cli(["inspect", "binding", "b", "-n", ns, ...kc]);
      assert.equal(text.code, 2);
      assert.match(text.stdout, /stale-ready/);
    });

    await t.step(
      "edited: inspect and status report stale-ready naming the field, exit 2",
      async () => {
        // Put it back as the operator would (a restarted controller), stop it, then edit it.
        op = await startController(env.kubeconfigPath);
        await pollUntil(
          "repaired by a restarted controller",
          30_000,
          async () => (await inspect()).code === 0,
        );
        await op.stop();
        await c.csids.patch(name, "merge", {
          spec: { spiffeIDTemplate: "spiffe://evil.example/x" },
        });
        const run = await inspect();
        assert.equal(run.code, 2, run.stdout + run.stderr);
        const [f, ...rest] = problems(checkedReport<BindingInspectionReport>(run).findings);
        assert.deepEqual(rest, []);
        assert.equal(f.id, "stale-ready");
        assert.equal(f.reason, "ClusterSPIFFEIDDiffers");
        assert.match(f.message, /spec\.spiffeIDTemplate/);
        const s = await status();
        assert.equal(s.run.code, 2);
        assert.deepEqual(s.findings.map((x) => [x.id, x.reason]), [
          ["stale-ready", "ClusterSPIFFEIDDiffers"],
        ]);
      },
    );

    // Clean up with a running controller (it holds the finalizer) and prove the repair.
    op = await startController(env.kubeconfigPath);
    await pollUntil("repaired again", 30_000, async () => (await inspect()).code === 0);
    await deleteIfExists(c.bindings, "b", ns);
    await waitGone(c.bindings, "b", ns);
  } finally {
    // status is cluster-wide: a ready operator Deployment left behind would hide another test's
    // "operator unavailable".
    await env.kubectl(["delete", "deployment", "kleym-operator", "-n", ns, "--ignore-not-found"]);
    await op.stop();
    c.close();
  }
});
