/**
 * `make demo ONCE=1` (docs/operations.md, "Demo"): from the Makefile down, it brings up a control
 * plane, applies deploy.yaml and the PerObjective example, runs the operator and prints the
 * ClusterSPIFFEID the user's example expects. Runs against a control plane of its own
 * (KLEYM_TESTENV_HOME).
 */
import assert from "node:assert/strict";
import { parseAllDocuments } from "yaml";
import { REPO_ROOT } from "../harness/controlplane.ts";

Deno.test("make demo ONCE=1 prints the PerObjective example's ClusterSPIFFEID and a Ready binding", async () => {
  const home = await Deno.makeTempDir({ prefix: "kleym-demo-home-" });
  const env = { KLEYM_TESTENV_HOME: home };
  try {
    const out = await new Deno.Command("make", {
      args: ["-s", "--no-print-directory", "demo", "ONCE=1"],
      cwd: REPO_ROOT,
      env,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stdout = new TextDecoder().decode(out.stdout);
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    // Step headers go to stderr; stdout holds the apply output, then the ClusterSPIFFEID YAML,
    // then the binding's status YAML.
    const start = stdout.indexOf("apiVersion: spire.spiffe.io/v1alpha1");
    const end = stdout.indexOf("\nstatus:", start);
    assert.ok(start >= 0 && end > start, `no ClusterSPIFFEID YAML in:\n${stdout}`);
    const yamlText = stdout.slice(start, end);
    const csid = parseAllDocuments(yamlText)[0].toJSON() as {
      metadata: { name: string; labels: Record<string, string> };
      spec: Record<string, unknown>;
    };
    assert.equal(csid.metadata.name, "kleym-default-objective-a-objective-3ace974d");
    assert.deepEqual(csid.metadata.labels, {
      "kleym.sonda.red/managed-by": "kleym",
      "kleym.sonda.red/binding-name": "objective-a",
      "kleym.sonda.red/binding-namespace": "default",
    });
    assert.deepEqual(csid.spec, {
      spiffeIDTemplate: "spiffe://kleym.sonda.red/ns/default/objective/objective-a",
      podSelector: { matchLabels: { app: "model-server" } },
      namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "default" } },
      workloadSelectorTemplates: [
        "k8s:container-name:main",
        "k8s:ns:default",
        "k8s:pod-label:app:model-server",
        "k8s:sa:inference-sa",
      ],
      fallback: false,
      hint: "default/objective-a",
    });
    assert.match(stdout, /reason: Reconciled\n\s+status: "True"\n\s+type: Ready/);
    // It leaves the control plane running, and says so.
    assert.match(
      new TextDecoder().decode(out.stderr).trimEnd(),
      /`make cluster-down` stops it$/,
    );
  } finally {
    await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", `${REPO_ROOT}/tools/testenv.ts`, "down"],
      env,
      stdout: "null",
      stderr: "null",
    }).output();
    await Deno.remove(home, { recursive: true });
  }
});
