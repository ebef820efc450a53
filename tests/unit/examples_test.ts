// examples/ is what users apply; tests/fixtures/examples/ holds the copies tests read (README
// there). The copies must say the same thing, and every example but the one labelled for
// clusters serving inference.networking.k8s.io/v1 objectives must use only APIs that upstream
// GAIE v1.5.0, SPIRE Controller Manager and kleym serve (docs/testing.md, "What a new user meets").
import assert from "node:assert/strict";
import { parseAllDocuments } from "yaml";

const ROOT = new URL("../../", import.meta.url);
const UPSTREAM_APIS = new Set([
  "inference.networking.k8s.io/v1 InferencePool",
  "inference.networking.x-k8s.io/v1alpha2 InferencePool",
  "inference.networking.x-k8s.io/v1alpha2 InferenceObjective",
  "kleym.sonda.red/v1alpha1 InferenceIdentityBinding",
]);
const V1_OBJECTIVE_EXAMPLE = "per-objective-v1-objective";

function docs(path: string): { apiVersion: string; kind: string }[] {
  return parseAllDocuments(Deno.readTextFileSync(new URL(path, ROOT))).map((d) =>
    d.toJS() as { apiVersion: string; kind: string }
  );
}

const examples = [...Deno.readDirSync(new URL("examples/", ROOT))]
  .filter((e) => e.name.endsWith(".yaml"))
  .map((e) => e.name.replace(/\.yaml$/, ""))
  .sort();

Deno.test("every example has a fixture copy with the same documents", async (t) => {
  assert.ok(examples.includes("per-objective") && examples.includes(V1_OBJECTIVE_EXAMPLE));
  for (const name of examples) {
    await t.step(name, () => {
      assert.deepEqual(
        docs(`tests/fixtures/examples/${name}/input.yaml`),
        docs(`examples/${name}.yaml`),
      );
    });
  }
});

Deno.test("examples use only upstream APIs, except the one labelled for v1 objectives", async (t) => {
  for (const name of examples) {
    await t.step(name, () => {
      const apis = docs(`examples/${name}.yaml`).map((d) => `${d.apiVersion} ${d.kind}`);
      const foreign = apis.filter((a) => !UPSTREAM_APIS.has(a));
      if (name === V1_OBJECTIVE_EXAMPLE) {
        assert.deepEqual(foreign, ["inference.networking.k8s.io/v1 InferenceObjective"]);
        const head = Deno.readTextFileSync(new URL(`examples/${name}.yaml`, ROOT));
        assert.match(head, /^# [^\n]*\n# ONLY for clusters that serve InferenceObjective/);
      } else {
        assert.deepEqual(foreign, [], `${name} uses APIs upstream GAIE does not serve`);
      }
    });
  }
});
