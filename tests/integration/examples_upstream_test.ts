/**
 * The examples on upstream CRDs only: on an API server that serves exactly what upstream GAIE
 * v1.5.0 installs (InferencePool v1, InferenceObjective x-k8s.io v1alpha2; no test stand-in) plus
 * kleym's and SPIRE's CRDs, the files in examples/ and the README's binding, applied with the built
 * kubectl, give exactly the ClusterSPIFFEIDs and statuses of
 * tests/fixtures/examples/<name>/expected.yaml. The example labelled for clusters serving v1
 * objectives is refused there, as its label says, and works once such a CRD is served (the
 * stand-in).
 */
import assert from "node:assert/strict";
import { parse, parseAllDocuments } from "yaml";
import { UPSTREAM_GAIE_CRDS } from "../../hack/upstream.ts";
import { REPO_ROOT, startControlPlane } from "../harness/controlplane.ts";
import {
  adminClients,
  conditionOf,
  managedOf,
  pollUntil,
  startController,
  waitGone,
  waitReason,
} from "./reconcile_helpers.ts";
import { assertExpected as assertExample, expected } from "./examples_support.ts";

/** The README's `yaml` code block (the headline binding). */
function readmeBinding(): Record<string, unknown> {
  const readme = Deno.readTextFileSync(`${REPO_ROOT}/README.md`);
  const m = /```yaml\n([\s\S]*?)```/.exec(readme);
  assert.ok(m, "README has a yaml block");
  return parse(m[1]);
}

Deno.test("examples and the README's binding on upstream GAIE CRDs only: exactly the expected objects and Ready", async (t) => {
  const cp = await startControlPlane({
    crds: ["kleym", ...UPSTREAM_GAIE_CRDS, "clusterspiffeids"],
  });
  const c = await adminClients(cp.kubeconfigPath);
  const op = await startController(cp.kubeconfigPath, { crdRetryMs: 1_000 });
  const apply = (file: string) => cp.kubectl(["apply", "-f", `${REPO_ROOT}/examples/${file}`]);

  const assertExpected = async (name: string) => {
    await assertExample(c, expected(name));
    // Exactly these managed objects, nothing else.
    const all = new Set<string>();
    for (const b of ["objective-a", "objective-b", "pool-a"]) {
      for (const o of await managedOf(c, "default", b)) all.add(o.metadata.name ?? "");
    }
    return [...all].sort();
  };

  try {
    await t.step("the cluster serves no v1 InferenceObjective", async () => {
      const out = await cp.kubectl(["api-resources", "--api-group=inference.networking.k8s.io"]);
      assert.doesNotMatch(out, /inferenceobjectives/);
    });

    await t.step("per-objective.yaml: Ready with its ClusterSPIFFEID", async () => {
      await apply("per-objective.yaml");
      assert.deepEqual(await assertExpected("per-objective"), [
        "kleym-default-objective-a-objective-3ace974d",
      ]);
    });

    await t.step("README's binding is the example's and applies unchanged", async () => {
      const example = parseAllDocuments(
        Deno.readTextFileSync(`${REPO_ROOT}/examples/per-objective.yaml`),
      ).map((d) => d.toJS() as Record<string, unknown>)
        .find((d) => d.kind === "InferenceIdentityBinding");
      assert.deepEqual(readmeBinding(), example);
      const out = await cp.kubectl(["apply", "-f", "-"], {
        stdin: JSON.stringify(readmeBinding()),
      });
      assert.match(out, /inferenceidentitybinding.kleym.sonda.red\/objective-a unchanged/);
      await assertExpected("per-objective");
    });

    await t.step("pool-only.yaml: Ready with its ClusterSPIFFEID", async () => {
      await apply("pool-only.yaml");
      const names = await assertExpected("pool-only");
      assert.equal(names.length, 2, `${names}`);
    });

    await t.step("collision.yaml: both PerObjective bindings conflict, no output", async () => {
      await apply("collision.yaml");
      await assertExpected("collision");
      assert.deepEqual(await managedOf(c, "default", "objective-a"), []);
      assert.deepEqual(await managedOf(c, "default", "objective-b"), []);
    });

    await t.step("the v1-objective example is refused here, as its label says", async () => {
      await cp.kubectl(["delete", "-f", `${REPO_ROOT}/examples/collision.yaml`]);
      await cp.kubectl(["delete", "-f", `${REPO_ROOT}/examples/per-objective.yaml`]);
      await waitGone(c.bindings, "objective-a", "default");
      await waitGone(c.bindings, "objective-b", "default");
      await assert.rejects(
        apply("per-objective-v1-objective.yaml"),
        /no matches for kind "InferenceObjective" in version "inference.networking.k8s.io\/v1"/,
      );
    });

    await t.step("... and works where a v1 InferenceObjective is served", async () => {
      await cp.installCrds(["inferenceobjectives.v1-stand-in"]);
      await pollUntil("v1 objectives served", 60_000, async () => {
        const out = await cp.kubectl(["api-resources", "--api-group=inference.networking.k8s.io"]);
        return out.includes("inferenceobjectives");
      });
      await apply("per-objective-v1-objective.yaml");
      const names = await assertExpected("per-objective-v1-objective");
      assert.ok(names.includes("kleym-default-objective-a-objective-3ace974d"), `${names}`);
      const b = await waitReason(c, "default", "objective-a", "Reconciled");
      assert.equal(conditionOf(b, "Ready")?.status, "True");
    });
  } finally {
    await op.stop();
    c.close();
    await cp.stop();
  }
});
