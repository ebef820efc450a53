// docs/contract.md#rendering: SPIFFE IDs, workload selectors, the `{{` and safety checks, the
// desired ClusterSPIFFEID, and the order in which renderBinding reports failures.

import assert from "node:assert/strict";
import {
  checkNoTemplateMarkers,
  checkSelectorSafety,
  desiredClusterSPIFFEID,
  renderBinding,
  renderSpiffeID,
  spiffeIDProblem,
  workloadSelectors,
} from "../../reconcile/render.ts";
import { StateError } from "../../reconcile/errors.ts";
import type { ResolvedInputs, ValidBindingSpec } from "../../reconcile/types.ts";
import { assertStateError } from "./reconcile_helpers.ts";

const perObjectiveSpec: ValidBindingSpec = {
  mode: "PerObjective",
  poolRef: { name: "pool-a" },
  objectiveRef: { name: "objective-a" },
  serviceAccountName: "inference-sa",
  containerName: "main",
};
const poolOnlySpec: ValidBindingSpec = {
  mode: "PoolOnly",
  poolRef: { name: "pool-a" },
  serviceAccountName: "inference-sa",
};
const INVALID_SPIFFE_ID = { condition: "RenderFailure", reason: "InvalidSPIFFEID" };
const UNSAFE = { condition: "UnsafeSelector", reason: "UnsafeSelector" };

Deno.test("renderSpiffeID builds the pool and objective forms", () => {
  assert.equal(
    renderSpiffeID("kleym.sonda.red", "default", poolOnlySpec),
    "spiffe://kleym.sonda.red/ns/default/pool/pool-a",
  );
  assert.equal(
    renderSpiffeID("kleym.sonda.red", "default", perObjectiveSpec),
    "spiffe://kleym.sonda.red/ns/default/objective/objective-a",
  );
  assert.equal(
    renderSpiffeID("td_1.example-org", "ns", { ...poolOnlySpec, poolRef: { name: "Pool_A.v2" } }),
    "spiffe://td_1.example-org/ns/ns/pool/Pool_A.v2",
  );
});

Deno.test("renderSpiffeID rejects parts that would make an invalid SPIFFE ID, naming the part", async (t) => {
  const cases: [string, string, string, ValidBindingSpec, string[]][] = [
    ["upper-case trust domain", "Kleym.io", "default", poolOnlySpec, ['trust domain "Kleym.io"']],
    ["empty trust domain", "", "default", poolOnlySpec, [
      'trust domain ""',
      "operator configuration",
    ]],
    ["trust domain with scheme", "spiffe://td", "default", poolOnlySpec, ["trust domain"]],
    ["trust domain with path", "td/x", "default", poolOnlySpec, ['trust domain "td/x"']],
    ["empty namespace", "td", "", poolOnlySpec, ['metadata.namespace ""']],
    [
      "pool name with a colon",
      "td",
      "default",
      { ...poolOnlySpec, poolRef: { name: "pool:a" } },
      ['spec.poolRef.name "pool:a"', "letters, digits"],
    ],
    [
      "objective name with a slash",
      "td",
      "default",
      { ...perObjectiveSpec, objectiveRef: { name: "a/b" } },
      ['spec.objectiveRef.name "a/b"'],
    ],
    [
      "dot-dot objective",
      "td",
      "default",
      { ...perObjectiveSpec, objectiveRef: { name: ".." } },
      ['spec.objectiveRef.name ".."'],
    ],
    [
      "template marker",
      "td",
      "default",
      { ...poolOnlySpec, poolRef: { name: "{{.PodMeta.Name}}" } },
      ['"{{.PodMeta.Name}}"'],
    ],
    ["longer than 2048 bytes", "t".repeat(2100), "default", poolOnlySpec, ["2048 bytes"]],
  ];
  for (const [label, trustDomain, namespace, spec, parts] of cases) {
    await t.step(label, () => {
      const error = assertStateError(
        () => renderSpiffeID(trustDomain, namespace, spec),
        { ...INVALID_SPIFFE_ID, includes: parts },
        label,
      );
      assert.match(error.message, /^SPIFFE ID "spiffe:\/\/.*" is not valid: /, label);
    });
  }
});

Deno.test("spiffeIDProblem accepts valid SPIFFE IDs and explains invalid ones", async (t) => {
  const cases: [string, boolean][] = [
    ["spiffe://kleym.sonda.red/ns/default/pool/pool-a", true],
    ["spiffe://td", true],
    ["spiffe://td/a_b.c-D", true],
    ["http://td/a", false],
    ["spiffe://TD/a", false],
    ["spiffe:///a", false],
    ["spiffe://td/a//b", false],
    ["spiffe://td/a/", false],
    ["spiffe://td/./a", false],
    ["spiffe://td/a b", false],
    [`spiffe://td/${"a".repeat(2040)}`, false],
  ];
  for (const [id, valid] of cases) {
    await t.step(id, () => {
      const problem = spiffeIDProblem(id);
      assert.equal(problem === undefined, valid, `${id.slice(0, 40)}: ${problem}`);
    });
  }
});

Deno.test("workloadSelectors lists ns, sa, pod labels and container, sorted by code units", async (t) => {
  const cases: [string, ValidBindingSpec, Record<string, string>, string[]][] = [
    ["PerObjective example", perObjectiveSpec, { app: "model-server" }, [
      "k8s:container-name:main",
      "k8s:ns:default",
      "k8s:pod-label:app:model-server",
      "k8s:sa:inference-sa",
    ]],
    ["PoolOnly has no container selector", poolOnlySpec, { app: "model-server" }, [
      "k8s:ns:default",
      "k8s:pod-label:app:model-server",
      "k8s:sa:inference-sa",
    ]],
    // Code-unit order puts "Z" (90) before "a" (97) and "-" < "." < "_"; a locale-aware sort
    // would not.
    [
      "upper case and punctuation",
      poolOnlySpec,
      { "a_b": "3", "a.b": "2", "a-b": "1", Zone: "z" },
      [
        "k8s:ns:default",
        "k8s:pod-label:Zone:z",
        "k8s:pod-label:a-b:1",
        "k8s:pod-label:a.b:2",
        "k8s:pod-label:a_b:3",
        "k8s:sa:inference-sa",
      ],
    ],
    ["empty label value", poolOnlySpec, { canary: "" }, [
      "k8s:ns:default",
      "k8s:pod-label:canary:",
      "k8s:sa:inference-sa",
    ]],
  ];
  for (const [label, spec, podLabels, expected] of cases) {
    await t.step(label, () => {
      assert.deepEqual(workloadSelectors("default", spec, podLabels), expected, label);
    });
  }
});

Deno.test("checkSelectorSafety requires exactly the binding namespace and a service account", async (t) => {
  checkSelectorSafety(["k8s:ns:default", "k8s:sa:inference-sa"], "default");
  const cases: [string, string[], string][] = [
    ["no namespace selector", ["k8s:sa:sa"], "default"],
    ["other namespace", ["k8s:ns:other", "k8s:sa:sa"], "default"],
    ["two namespaces", ["k8s:ns:default", "k8s:ns:other", "k8s:sa:sa"], "default"],
    ["empty binding namespace", ["k8s:ns:", "k8s:sa:sa"], ""],
    ["no service account", ["k8s:ns:default", "k8s:pod-label:app:x"], "default"],
    ["empty service account", ["k8s:ns:default", "k8s:sa:"], "default"],
  ];
  for (const [label, selectors, namespace] of cases) {
    await t.step(label, () => {
      assertStateError(() => checkSelectorSafety(selectors, namespace), UNSAFE, label);
    });
  }
});

Deno.test("checkNoTemplateMarkers rejects any rendered value containing {{", () => {
  checkNoTemplateMarkers(["spiffe://td/ns/a/pool/b", "k8s:pod-label:a:{b}"]);
  assertStateError(
    () => checkNoTemplateMarkers(["k8s:ns:a", "k8s:pod-label:a:{{x}}"]),
    { ...INVALID_SPIFFE_ID, includes: ['"k8s:pod-label:a:{{x}}"', "Go template"] },
  );
});

Deno.test("desiredClusterSPIFFEID sets className only when one is configured", async (t) => {
  const base = {
    objectName: "n",
    bindingName: "b",
    namespace: "ns",
    uid: "u",
    spiffeID: "spiffe://td/ns/ns/pool/p",
    selectors: ["k8s:ns:ns", "k8s:sa:sa"],
    podLabels: { app: "x" },
  };
  const cases: [string | undefined, boolean][] = [[undefined, false], ["", false], ["spire", true]];
  for (const [className, present] of cases) {
    await t.step(`className ${className}`, () => {
      const object = desiredClusterSPIFFEID({ ...base, className });
      assert.equal(Object.hasOwn(object.spec, "className"), present, String(className));
      if (present) assert.equal(object.spec.className, className);
    });
  }
  const object = desiredClusterSPIFFEID(base);
  assert.deepEqual(object.metadata.annotations, { "kleym.sonda.red/binding-uid": "u" });
  assert.deepEqual(object.spec.namespaceSelector, {
    matchLabels: { "kubernetes.io/metadata.name": "ns" },
  });
  assert.equal(object.spec.hint, "ns/b");
});

const binding = (spec: unknown, name = "objective-a") => ({
  metadata: { name, namespace: "default", uid: "uid-1" },
  spec,
});
const validSpec = {
  poolRef: { name: "pool-a" },
  objectiveRef: { name: "objective-a" },
  serviceAccountName: "inference-sa",
  containerName: "main",
};
const resolved = (poolRef: unknown = { name: "pool-a" }): ResolvedInputs => ({
  pool: {
    apiVersion: "inference.networking.k8s.io/v1",
    object: { metadata: { name: "pool-a" }, spec: { selector: { matchLabels: { app: "x" } } } },
  },
  objective: {
    apiVersion: "inference.networking.x-k8s.io/v1alpha2",
    object: { metadata: { name: "objective-a" }, spec: { poolRef } },
  },
});
const config = { trustDomain: "kleym.sonda.red" };

Deno.test("renderBinding returns failures in order: spec, name, resolution, selector, refs", async (t) => {
  const notFound = new StateError(
    "InvalidRef",
    "TargetPoolNotFound",
    "InferencePool pool-a not found",
  );
  const badPool: ResolvedInputs = {
    ...resolved(),
    pool: { apiVersion: "inference.networking.k8s.io/v1", object: { spec: { selector: {} } } },
  };
  const cases: [string, ReturnType<typeof binding>, ResolvedInputs | StateError, string][] = [
    [
      "spec error beats resolution error",
      binding({ ...validSpec, containerName: "" }),
      notFound,
      "InvalidContainerName",
    ],
    ["long binding name", binding(validSpec, "b".repeat(64)), notFound, "InvalidBindingName"],
    ["resolution error", binding(validSpec), notFound, "TargetPoolNotFound"],
    ["pool selector", binding(validSpec), badPool, "InvalidPoolSelector"],
    ["objective missing", binding(validSpec), { pool: resolved().pool }, "TargetObjectiveNotFound"],
    [
      "objective on another pool",
      binding(validSpec),
      resolved({ name: "pool-b" }),
      "InvalidObjectiveRef",
    ],
    ["bad trust domain", binding(validSpec), resolved(), "InvalidSPIFFEID"],
  ];
  for (const [label, input, resolution, reason] of cases) {
    await t.step(label, () => {
      const outcome = renderBinding(
        input,
        resolution,
        label === "bad trust domain" ? { trustDomain: "Bad" } : config,
      );
      assert.equal(outcome.ok, false, label);
      if (!outcome.ok) {
        assert.equal(outcome.error.reason, reason, `${label}: ${outcome.error.message}`);
      }
    });
  }
});

Deno.test("renderBinding never throws on malformed bindings", () => {
  for (const input of [{}, { spec: null }, { metadata: {}, spec: [] }, binding("spec")]) {
    const outcome = renderBinding(input, resolved(), config);
    assert.equal(outcome.ok, false);
  }
});

Deno.test("renderBinding ignores the objective for PoolOnly bindings", () => {
  const spec = { poolRef: { name: "pool-a" }, serviceAccountName: "sa", mode: "PoolOnly" };
  const outcome = renderBinding(binding(spec, "pool-a"), resolved({ name: "elsewhere" }), config);
  assert.ok(outcome.ok);
  assert.equal(outcome.identity.spiffeID, "spiffe://kleym.sonda.red/ns/default/pool/pool-a");
  assert.equal(outcome.identity.name, "kleym-default-pool-a-pool-ede236a0");
});

Deno.test("renderBinding with a resolver validates once and resolves only a valid binding", () => {
  const calls: ValidBindingSpec[] = [];
  const resolver = (spec: ValidBindingSpec) => {
    calls.push(spec);
    return resolved();
  };
  const spec = { poolRef: { name: "pool-a" }, serviceAccountName: "sa", mode: "PoolOnly" };
  const ok = renderBinding(binding(spec, "pool-a"), resolver, config);
  assert.ok(ok.ok);
  assert.equal(calls.length, 1);
  assert.deepEqual(calls[0].poolRef, { name: "pool-a" });
  assert.equal(calls[0].mode, "PoolOnly");
  const invalid = renderBinding(
    binding({ ...spec, serviceAccountName: "Bad_SA" }),
    resolver,
    config,
  );
  assert.equal(invalid.ok, false);
  assert.equal(calls.length, 1, "an invalid spec is reported without resolving its refs");
});
