// docs/contract.md#api, docs/contract.md#inputs: re-validation of the binding spec, binding name,
// label syntax, and the rule that an objective must target the binding's pool.

import assert from "node:assert/strict";
import {
  checkBindingName,
  checkObjectiveTargetsPool,
  dns1123LabelProblem,
  dns1123SubdomainProblem,
  labelKeyProblem,
  labelValueProblem,
  validateBindingSpec,
} from "../../reconcile/validate.ts";
import { assertStateError } from "./reconcile_helpers.ts";

const perObjective = {
  poolRef: { name: "pool-a" },
  objectiveRef: { name: "objective-a" },
  serviceAccountName: "inference-sa",
  mode: "PerObjective",
  containerName: "main",
};
const poolOnly = {
  poolRef: { name: "pool-a" },
  serviceAccountName: "inference-sa",
  mode: "PoolOnly",
};

Deno.test("validateBindingSpec decodes valid specs, defaulting the mode to PerObjective", async (t) => {
  const cases: [string, unknown, unknown][] = [
    ["explicit PerObjective", perObjective, {
      mode: "PerObjective",
      poolRef: { name: "pool-a" },
      objectiveRef: { name: "objective-a" },
      serviceAccountName: "inference-sa",
      containerName: "main",
    }],
    ["absent mode", { ...perObjective, mode: undefined }, {
      mode: "PerObjective",
      poolRef: { name: "pool-a" },
      objectiveRef: { name: "objective-a" },
      serviceAccountName: "inference-sa",
      containerName: "main",
    }],
    ["empty mode and groups", {
      ...perObjective,
      mode: "",
      poolRef: { name: "pool-a", group: "" },
      objectiveRef: { name: "objective-a", group: "inference.networking.x-k8s.io" },
    }, {
      mode: "PerObjective",
      poolRef: { name: "pool-a" },
      objectiveRef: { name: "objective-a", group: "inference.networking.x-k8s.io" },
      serviceAccountName: "inference-sa",
      containerName: "main",
    }],
    ["PoolOnly ignores objectiveRef, allows empty containerName", {
      ...poolOnly,
      poolRef: { name: "pool-a", group: "inference.networking.k8s.io" },
      objectiveRef: { name: "x", group: "bogus" },
      containerName: "",
    }, {
      mode: "PoolOnly",
      poolRef: { name: "pool-a", group: "inference.networking.k8s.io" },
      objectiveRef: undefined,
      serviceAccountName: "inference-sa",
      containerName: undefined,
    }],
    ["253-character service account", { ...poolOnly, serviceAccountName: "a".repeat(253) }, {
      mode: "PoolOnly",
      poolRef: { name: "pool-a" },
      objectiveRef: undefined,
      serviceAccountName: "a".repeat(253),
      containerName: undefined,
    }],
  ];
  for (const [label, spec, expected] of cases) {
    await t.step(label, () => {
      assert.deepEqual(validateBindingSpec(spec), expected, label);
    });
  }
});

Deno.test("validateBindingSpec reports each invalid field with its condition, reason and value", async (t) => {
  const cases: [string, unknown, string, string, string][] = [
    ["not an object", "nope", "InvalidRef", "InvalidPoolRef", "spec.poolRef.name is required"],
    [
      "unknown mode",
      { ...perObjective, mode: "Shared" },
      "RenderFailure",
      "UnsupportedMode",
      'spec.mode "Shared"',
    ],
    [
      "non-string mode",
      { ...perObjective, mode: 3 },
      "RenderFailure",
      "UnsupportedMode",
      "spec.mode 3",
    ],
    [
      "no poolRef",
      { ...perObjective, poolRef: undefined },
      "InvalidRef",
      "InvalidPoolRef",
      "spec.poolRef.name is required",
    ],
    [
      "empty pool name",
      { ...perObjective, poolRef: { name: "" } },
      "InvalidRef",
      "InvalidPoolRef",
      "spec.poolRef.name",
    ],
    [
      "unsupported pool group",
      { ...perObjective, poolRef: { name: "p", group: "apps" } },
      "InvalidRef",
      "InvalidPoolRef",
      'spec.poolRef.group "apps"',
    ],
    [
      "no objectiveRef",
      { ...perObjective, objectiveRef: undefined },
      "RenderFailure",
      "MissingObjectiveRef",
      "spec.objectiveRef.name is required",
    ],
    [
      "no objectiveRef, defaulted mode",
      { ...perObjective, mode: undefined, objectiveRef: {} },
      "RenderFailure",
      "MissingObjectiveRef",
      "PerObjective",
    ],
    [
      "unsupported objective group",
      { ...perObjective, objectiveRef: { name: "o", group: "x.io" } },
      "InvalidRef",
      "InvalidObjectiveRef",
      'spec.objectiveRef.group "x.io"',
    ],
    [
      "no service account",
      { ...perObjective, serviceAccountName: undefined },
      "RenderFailure",
      "InvalidServiceAccountName",
      "spec.serviceAccountName is required",
    ],
    [
      "upper-case service account",
      { ...perObjective, serviceAccountName: "Inference_SA" },
      "RenderFailure",
      "InvalidServiceAccountName",
      'spec.serviceAccountName "Inference_SA" is not a valid DNS-1123 subdomain',
    ],
    [
      "254-character service account",
      { ...perObjective, serviceAccountName: "a".repeat(254) },
      "RenderFailure",
      "InvalidServiceAccountName",
      "at most 253",
    ],
    [
      "numeric service account",
      { ...perObjective, serviceAccountName: 7 },
      "RenderFailure",
      "InvalidServiceAccountName",
      "spec.serviceAccountName 7",
    ],
    [
      "no containerName",
      { ...perObjective, containerName: undefined },
      "RenderFailure",
      "InvalidContainerName",
      "spec.containerName is required",
    ],
    [
      "empty containerName",
      { ...perObjective, containerName: "" },
      "RenderFailure",
      "InvalidContainerName",
      "spec.containerName is required",
    ],
    [
      "bad containerName",
      { ...perObjective, containerName: "Main_1" },
      "RenderFailure",
      "InvalidContainerName",
      'spec.containerName "Main_1" is not a valid DNS-1123 label: ',
    ],
    [
      "dotted containerName",
      { ...perObjective, containerName: "main.v1" },
      "RenderFailure",
      "InvalidContainerName",
      '"main.v1"',
    ],
    [
      "64-character containerName",
      { ...perObjective, containerName: "c".repeat(64) },
      "RenderFailure",
      "InvalidContainerName",
      "at most 63",
    ],
    [
      "containerName on PoolOnly",
      { ...poolOnly, containerName: "main" },
      "RenderFailure",
      "UnexpectedContainerName",
      'spec.containerName "main" must be empty when spec.mode is PoolOnly',
    ],
    // The first failing check wins: mode, poolRef, objectiveRef, serviceAccountName, containerName.
    ["mode before everything", { mode: "X" }, "RenderFailure", "UnsupportedMode", "spec.mode"],
    [
      "poolRef before serviceAccountName",
      { mode: "PoolOnly" },
      "InvalidRef",
      "InvalidPoolRef",
      "spec.poolRef",
    ],
    [
      "serviceAccountName before containerName",
      { ...perObjective, serviceAccountName: "", containerName: "" },
      "RenderFailure",
      "InvalidServiceAccountName",
      "spec.serviceAccountName",
    ],
  ];
  for (const [label, spec, condition, reason, message] of cases) {
    await t.step(label, () => {
      assertStateError(
        () => validateBindingSpec(spec),
        { condition, reason, includes: [message] },
        label,
      );
    });
  }
});

Deno.test("checkBindingName accepts names that fit a label value and rejects longer ones", () => {
  checkBindingName("objective-a");
  checkBindingName("b".repeat(63));
  checkBindingName("my.binding");
  assertStateError(() => checkBindingName("b".repeat(64)), {
    condition: "RenderFailure",
    reason: "InvalidBindingName",
    includes: [`metadata.name "${"b".repeat(64)}"`, "at most 63"],
  });
});

Deno.test("the Kubernetes syntax helpers accept and reject what Kubernetes does", async (t) => {
  const cases: [string, (value: string) => string | undefined, string, boolean][] = [
    ["label", dns1123LabelProblem, "main", true],
    ["label", dns1123LabelProblem, "a-1", true],
    ["label", dns1123LabelProblem, "", false],
    ["label", dns1123LabelProblem, "-a", false],
    ["label", dns1123LabelProblem, "a.b", false],
    ["label", dns1123LabelProblem, "A", false],
    ["label", dns1123LabelProblem, "x".repeat(63), true],
    ["label", dns1123LabelProblem, "x".repeat(64), false],
    ["subdomain", dns1123SubdomainProblem, "a.b-c.d", true],
    ["subdomain", dns1123SubdomainProblem, "a..b", false],
    ["subdomain", dns1123SubdomainProblem, "a.", false],
    ["subdomain", dns1123SubdomainProblem, "x".repeat(254), false],
    ["key", labelKeyProblem, "app", true],
    ["key", labelKeyProblem, "App_Name.v1", true],
    ["key", labelKeyProblem, "example.com/app", true],
    ["key", labelKeyProblem, `${"p".repeat(253)}/${"n".repeat(63)}`, true],
    ["key", labelKeyProblem, "", false],
    ["key", labelKeyProblem, " app", false],
    ["key", labelKeyProblem, "my app", false],
    ["key", labelKeyProblem, "-app", false],
    ["key", labelKeyProblem, "app_", false],
    ["key", labelKeyProblem, "/app", false],
    ["key", labelKeyProblem, "example.com/", false],
    ["key", labelKeyProblem, "Example.com/app", false],
    ["key", labelKeyProblem, "a/b/c", false],
    ["key", labelKeyProblem, "n".repeat(64), false],
    ["value", labelValueProblem, "model-server", true],
    ["value", labelValueProblem, "", true],
    ["value", labelValueProblem, "My_Value.1", true],
    ["value", labelValueProblem, "v".repeat(63), true],
    ["value", labelValueProblem, "v".repeat(64), false],
    ["value", labelValueProblem, " model", false],
    ["value", labelValueProblem, "model\n", false],
    ["value", labelValueProblem, "a b", false],
    ["value", labelValueProblem, "_x", false],
    ["value", labelValueProblem, "a/b", false],
    ["value", labelValueProblem, "ünï", false],
  ];
  for (const [kind, problem, value, valid] of cases) {
    await t.step(kind, () => {
      const result = problem(value);
      assert.equal(result === undefined, valid, `${kind} ${JSON.stringify(value)}: ${result}`);
    });
  }
});

Deno.test("checkObjectiveTargetsPool requires the same pool name and a matching group", async (t) => {
  const objective = (poolRef: unknown) => ({
    metadata: { name: "objective-a" },
    spec: { poolRef },
  });
  const accepted: [
    string,
    unknown,
    "inference.networking.k8s.io" | "inference.networking.x-k8s.io",
  ][] = [
    ["name only", { name: "pool-a" }, "inference.networking.x-k8s.io"],
    ["defaulted group and kind", {
      name: "pool-a",
      group: "inference.networking.k8s.io",
      kind: "InferencePool",
    }, "inference.networking.k8s.io"],
    [
      "x-k8s group",
      { name: "pool-a", group: "inference.networking.x-k8s.io" },
      "inference.networking.x-k8s.io",
    ],
    ["empty group", { name: "pool-a", group: "" }, "inference.networking.k8s.io"],
  ];
  for (const [label, poolRef, poolGroup] of accepted) {
    await t.step(label, () => {
      assert.doesNotThrow(
        () => checkObjectiveTargetsPool(objective(poolRef), "objective-a", "pool-a", poolGroup),
        label,
      );
    });
  }

  const rejected: [unknown, string[]][] = [
    [undefined, ['InferenceObjective "objective-a" has no spec.poolRef.name', '"pool-a"']],
    [{ name: "pool-b" }, ['InferencePool "pool-b"', 'spec.poolRef.name is "pool-a"']],
    [{ name: "pool-a", kind: "Service" }, ['spec.poolRef.kind "Service"']],
    [{ name: "pool-a", group: "apps" }, ['spec.poolRef.group "apps" is not a supported group']],
    [
      { name: "pool-a", group: "inference.networking.x-k8s.io" },
      ['spec.poolRef.group "inference.networking.x-k8s.io"', '("inference.networking.k8s.io")'],
    ],
  ];
  for (const [poolRef, parts] of rejected) {
    await t.step(`${JSON.stringify(poolRef)}`, () => {
      assertStateError(
        () =>
          checkObjectiveTargetsPool(
            objective(poolRef),
            "objective-a",
            "pool-a",
            "inference.networking.k8s.io",
          ),
        { condition: "InvalidRef", reason: "InvalidObjectiveRef", includes: parts },
      );
    });
  }
});
