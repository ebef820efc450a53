/**
 * Admission (docs/contract.md#api), the CRD's half: the real API server, serving kleym's CRD from
 * deploy.yaml, refuses binding shapes that can never work, with the CRD's own messages; for the
 * service account and container name they are word for word the reconciler's (reconcile/validate.ts
 * is asked for its message and the two are compared). Valid shapes still pass. The other half
 * (objects stored before the rules still get precise conditions) is in reconcile_reasons_test.ts,
 * on a control plane serving the CRD with its rules stripped.
 *
 * `kubectl create --dry-run=server`: admission runs in full, nothing is stored.
 */
import assert from "node:assert/strict";
import { stringify } from "yaml";
import { KUBECTL } from "../harness/controlplane.ts";
import { testEnv } from "../harness/env.ts";
import { isStateError } from "../../reconcile/errors.ts";
import { validateBindingSpec } from "../../reconcile/validate.ts";

function bindingYaml(ns: string, name: string, spec: Record<string, unknown>): string {
  return stringify({
    apiVersion: "kleym.sonda.red/v1alpha1",
    kind: "InferenceIdentityBinding",
    metadata: { name, namespace: ns },
    spec: { serviceAccountName: "inference-sa", ...spec },
  });
}

/** The reconciler's condition message for a spec (it must refuse it). */
function reconcilerMessage(spec: Record<string, unknown>): string {
  try {
    validateBindingSpec(spec);
  } catch (err) {
    if (isStateError(err)) return err.message;
    throw err;
  }
  throw new Error(`the reconciler accepts ${JSON.stringify(spec)}`);
}

Deno.test("the CRD refuses what can never work, with messages as precise as the reconciler's", async (t) => {
  const env = await testEnv();
  const ns = await env.newNamespace("admission");
  const create = async (name: string, spec: Record<string, unknown>) => {
    const child = new Deno.Command(KUBECTL, {
      args: [
        "--kubeconfig",
        env.kubeconfigPath,
        "create",
        "--dry-run=server",
        "-f",
        "-",
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(bindingYaml(ns, name, spec)));
    await w.close();
    const out = await child.output();
    return { ok: out.success, stderr: new TextDecoder().decode(out.stderr) };
  };
  const perObjective = {
    poolRef: { name: "pool-a" },
    objectiveRef: { name: "objective-a" },
    containerName: "main",
  };

  const refused: { name: string; spec: Record<string, unknown>; message: string }[] = [
    {
      name: "padded-pool",
      spec: { ...perObjective, poolRef: { name: " pool-a " } },
      message: 'spec.poolRef.name " pool-a " must not have leading or trailing whitespace',
    },
    {
      name: "template-pool",
      spec: { poolRef: { name: "{{.PodMeta.Name}}" }, mode: "PoolOnly" },
      message: 'spec.poolRef.name "{{.PodMeta.Name}}" must not contain "{{": ' +
        "SPIRE Controller Manager would evaluate it as a Go template",
    },
    {
      name: "padded-objective",
      spec: { ...perObjective, objectiveRef: { name: "objective-a\t" } },
      message:
        'spec.objectiveRef.name "objective-a\t" must not have leading or trailing whitespace',
    },
    {
      name: "template-objective",
      spec: { ...perObjective, objectiveRef: { name: "o-{{x}}" } },
      message: 'spec.objectiveRef.name "o-{{x}}" must not contain "{{": ' +
        "SPIRE Controller Manager would evaluate it as a Go template",
    },
    {
      name: "bad-sa",
      spec: { ...perObjective, serviceAccountName: "Bad_SA" },
      message: reconcilerMessage({ ...perObjective, serviceAccountName: "Bad_SA" }),
    },
    {
      name: "bad-container",
      spec: { ...perObjective, containerName: "Bad_Name" },
      message: reconcilerMessage({
        ...perObjective,
        serviceAccountName: "inference-sa",
        containerName: "Bad_Name",
      }),
    },
  ];
  // The reconciler's words, so a drift on either side fails here.
  assert.match(refused[4].message, /^spec\.serviceAccountName "Bad_SA" is not a valid DNS-1123/);
  assert.match(refused[5].message, /^spec\.containerName "Bad_Name" is not a valid DNS-1123/);

  for (const c of refused) {
    await t.step(`refused: ${c.name}`, async () => {
      const r = await create(c.name, c.spec);
      assert.equal(r.ok, false, `${c.name} was admitted`);
      // kubectl prints `The InferenceIdentityBinding "x" is invalid: <field>: Invalid value: ...: <message>`
      assert.ok(r.stderr.includes(c.message), `want ${JSON.stringify(c.message)} in:\n${r.stderr}`);
    });
  }

  for (
    const [name, spec] of [
      ["valid-per-objective", perObjective],
      ["valid-pool-only", { poolRef: { name: "pool-a" }, mode: "PoolOnly", containerName: "" }],
      ["valid-dotted-sa", { ...perObjective, serviceAccountName: "team.inference-sa" }],
    ] as const
  ) {
    await t.step(`admitted: ${name}`, async () => {
      const r = await create(name, spec);
      assert.ok(r.ok, r.stderr);
    });
  }
});
