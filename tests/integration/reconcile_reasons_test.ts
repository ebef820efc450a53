/**
 * Every reason of docs/contract.md#reasons is reached by a real object, with a message that
 * names the offending field and value. Where do the others live:
 * - InferencePoolCRDMissing, InferenceObjectiveCRDMissing, ClusterSPIFFEIDCRDMissing:
 *   reconcile_crds_test.ts (a private control plane without those CRDs);
 * - SVIDTTLOutOfRange, DNSNameNotAllowed, FederationNotAllowed: svid_test.ts (operator process);
 * - ClusterSPIFFEIDNameTaken, IdentityCollision, TargetObjectiveNotFound, InvalidObjectiveRef
 *   (objective pointing elsewhere / group mismatch): reconcile_lifecycle_test.ts and below.
 *
 * Shapes kleym's CRD refuses at admission (an unknown mode, a PerObjective binding without
 * objectiveRef, a PoolOnly binding with a containerName, an unsupported group) are reached on a
 * private control plane that serves a copy of kleym's CRD with those rules removed: objects can
 * predate the rules, and the controller must re-validate (docs/contract.md#api).
 *
 * UnsafeSelector/UnsafeSelector cannot be reached through real objects: rendering always builds
 * `k8s:ns:` from the binding's own namespace and `k8s:sa:` from a validated non-empty service
 * account, so the safety check is a second line of defence. The last test proves both halves.
 */
import assert from "node:assert/strict";
import { parse, stringify } from "yaml";
import { DEFAULT_CRDS } from "../../hack/upstream.ts";
import { kleymCrdText, startControlPlane } from "../harness/controlplane.ts";
import { testEnv } from "../harness/env.ts";
import { waitSettled } from "../harness/settle.ts";
import { isRecord } from "../../reconcile/json.ts";
import { checkSelectorSafety, renderBinding } from "../../reconcile/render.ts";
import { isStateError } from "../../reconcile/errors.ts";
import {
  adminClients,
  apply,
  binding,
  conditionOf,
  eventsOf,
  managedOf,
  objective,
  pollUntil,
  poolV1,
  poolV1alpha2,
  startController,
  waitReason,
} from "./reconcile_helpers.ts";

const K8S = "inference.networking.k8s.io";

interface Case {
  reason: string;
  condition: string;
  /** Fragments the message must contain (field and value). */
  includes: string[];
  objects: (ns: string) => unknown[];
  name: string;
}

/** Applies every case's objects at once, then checks each case in its own step. */
async function expectReasons(
  t: Deno.TestContext,
  c: Awaited<ReturnType<typeof adminClients>>,
  kubectl: (args: string[], opts?: { stdin?: string }) => Promise<string>,
  ns: string,
  cases: Case[],
): Promise<void> {
  await apply(kubectl, ...cases.flatMap((x) => x.objects(ns)));
  for (const x of cases) {
    await t.step(`${x.reason} (${x.name.slice(0, 40)})`, () => expectCase(c, ns, x));
  }
}

async function expectCase(
  c: Awaited<ReturnType<typeof adminClients>>,
  ns: string,
  x: Case,
): Promise<void> {
  const b = await waitReason(c, ns, x.name, x.reason);
  const failing = conditionOf(b, x.condition);
  assert.equal(failing?.status, "True", `${x.reason}: ${x.condition} is True`);
  assert.equal(failing?.reason, x.reason);
  for (const part of x.includes) {
    assert.ok(failing?.message.includes(part), `${x.reason}: ${failing?.message} lacks ${part}`);
  }
  assert.equal(b.status?.computedSpiffeIDs, undefined);
  // (A name over 63 characters cannot even be a label selector value: it never had output.)
  if (x.name.length <= 63) assert.deepEqual(await managedOf(c, ns, x.name), []);
  await pollUntil(
    `Warning ${x.reason} event`,
    60_000,
    async () =>
      (await eventsOf(c, ns, x.name)).some((e) => e.type === "Warning" && e.reason === x.reason),
  );
}

const SA = { serviceAccountName: "inference-sa" };

Deno.test("reasons reachable through admission: each reported with the offending field and value", async (t) => {
  const env = await testEnv();
  const c = await adminClients(env.kubeconfigPath);
  const op = await startController(env.kubeconfigPath);
  try {
    const ns = await env.newNamespace("reasons");
    const longName = `b${"x".repeat(69)}`;
    await expectReasons(t, c, env.kubectl, ns, [
      {
        name: "no-pool",
        reason: "TargetPoolNotFound",
        condition: "InvalidRef",
        includes: ['"missing"', "spec.poolRef.name"],
        objects: (n) => [binding(n, "no-pool", { poolRef: { name: "missing" }, mode: "PoolOnly" })],
      },
      {
        name: "no-objective",
        reason: "TargetObjectiveNotFound",
        condition: "InvalidRef",
        includes: ['"absent"', "spec.objectiveRef.name"],
        objects: (n) => [
          poolV1(n, "good", { app: "good" }),
          binding(n, "no-objective", {
            poolRef: { name: "good" },
            objectiveRef: { name: "absent" },
            containerName: "main",
          }),
        ],
      },
      {
        name: "wrong-pool",
        reason: "InvalidObjectiveRef",
        condition: "InvalidRef",
        includes: ['"elsewhere"', "spec.poolRef.name"],
        objects: (n) => [
          objective(`${K8S}/v1`, n, "elsewhere-o", { name: "elsewhere" }),
          binding(n, "wrong-pool", {
            poolRef: { name: "good" },
            objectiveRef: { name: "elsewhere-o" },
            containerName: "main",
          }),
        ],
      },
      {
        name: "empty-selector",
        reason: "InvalidPoolSelector",
        condition: "UnsafeSelector",
        includes: ['"empty"', "spec.selector", "empty"],
        objects: (n) => [
          poolV1alpha2(n, "empty", {}),
          binding(n, "empty-selector", {
            poolRef: { name: "empty", group: "inference.networking.x-k8s.io" },
            mode: "PoolOnly",
          }),
        ],
      },
      {
        name: "bad-key",
        reason: "InvalidPoolSelector",
        condition: "UnsafeSelector",
        includes: ['"bad key"', "spec.selector"],
        objects: (n) => [
          poolV1alpha2(n, "badkey", { "bad key": "v" }),
          binding(n, "bad-key", { poolRef: { name: "badkey" }, mode: "PoolOnly" }),
        ],
      },
      {
        name: longName,
        reason: "InvalidBindingName",
        condition: "RenderFailure",
        includes: ["metadata.name", longName],
        objects: (n) => [binding(n, longName, { poolRef: { name: "good" }, mode: "PoolOnly" })],
      },
    ]);
    // Counters move after the status write: read them once the controller has settled.
    await waitSettled("the controller", () => op.activity());
    assert.ok(
      op.metrics.bindingOutcomes.get({
        condition: "InvalidRef",
        reason: "TargetPoolNotFound",
        mode: "PoolOnly",
      }) >= 1,
    );
    // The gauge holds the current state of every binding (cluster-wide): deleting one of the
    // two InvalidPoolSelector bindings of this namespace takes exactly one out of the series.
    const selectorGauge = {
      condition: "UnsafeSelector",
      reason: "InvalidPoolSelector",
      mode: "PoolOnly",
    } as const;
    const before = op.metrics.bindings.get(selectorGauge);
    assert.ok(before >= 2);
    await c.bindings.delete("bad-key", { namespace: ns });
    await pollUntil(
      "gauge follows the deletion",
      60_000,
      () => op.metrics.bindings.get(selectorGauge) === before - 1,
    );
  } finally {
    await op.stop();
    c.close();
  }
});

/** kleym's CRD without the admission rules that forbid the shapes below. */
async function permissiveKleymCrd(): Promise<string> {
  const crd = parse(await kleymCrdText());
  const strip = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(strip);
    if (!isRecord(node)) return;
    delete node["x-kubernetes-validations"];
    delete node.enum;
    delete node.minLength;
    delete node.maxLength;
    for (const value of Object.values(node)) strip(value);
  };
  for (const version of crd.spec.versions) strip(version.schema.openAPIV3Schema.properties.spec);
  return stringify(crd);
}

Deno.test("reasons kleym's CRD forbids at admission (permissive CRD copy) and InvalidSPIFFEID", async (t) => {
  const cp = await startControlPlane({ crds: DEFAULT_CRDS });
  await cp.kubectl(["apply", "--server-side", "-f", "-"], { stdin: await permissiveKleymCrd() });
  await cp.kubectl([
    "wait",
    "--for=condition=Established",
    "--timeout=60s",
    "crd/inferenceidentitybindings.kleym.sonda.red",
  ]);
  const c = await adminClients(cp.kubeconfigPath);
  const ns = "permissive";
  await cp.kubectl(["create", "namespace", ns]);
  let op = await startController(cp.kubeconfigPath);
  try {
    await expectReasons(t, c, cp.kubectl, ns, [
      {
        name: "odd-mode",
        reason: "UnsupportedMode",
        condition: "RenderFailure",
        includes: ["spec.mode", '"Sometimes"'],
        objects: (n) => [
          poolV1(n, "p", { app: "p" }),
          binding(n, "odd-mode", { poolRef: { name: "p" }, mode: "Sometimes" }),
        ],
      },
      {
        name: "no-objective-ref",
        reason: "MissingObjectiveRef",
        condition: "RenderFailure",
        includes: ["spec.objectiveRef.name"],
        objects: (n) => [
          binding(n, "no-objective-ref", {
            poolRef: { name: "p" },
            mode: "PerObjective",
            containerName: "main",
          }),
        ],
      },
      {
        name: "pool-only-container",
        reason: "UnexpectedContainerName",
        condition: "RenderFailure",
        includes: ["spec.containerName", '"main"'],
        objects: (n) => [
          binding(n, "pool-only-container", {
            poolRef: { name: "p" },
            mode: "PoolOnly",
            containerName: "main",
          }),
        ],
      },
      {
        name: "no-container",
        reason: "InvalidContainerName",
        condition: "RenderFailure",
        includes: ["spec.containerName"],
        objects: (n) => [
          binding(n, "no-container", { poolRef: { name: "p" }, objectiveRef: { name: "o" } }),
        ],
      },
      // Refused at admission (tests/integration/crd_admission_test.ts); stored
      // before the rules they still get precise conditions.
      {
        name: "bad-sa",
        reason: "InvalidServiceAccountName",
        condition: "RenderFailure",
        includes: ["spec.serviceAccountName", '"Bad_SA"'],
        objects: (n) => [
          binding(n, "bad-sa", {
            poolRef: { name: "p" },
            mode: "PoolOnly",
            serviceAccountName: "Bad_SA",
          }),
        ],
      },
      {
        name: "bad-container",
        reason: "InvalidContainerName",
        condition: "RenderFailure",
        includes: ["spec.containerName", '"Bad_Name"'],
        objects: (n) => [
          binding(n, "bad-container", {
            poolRef: { name: "p" },
            objectiveRef: { name: "o" },
            containerName: "Bad_Name",
            ...SA,
          }),
        ],
      },
      {
        name: "padded-pool-ref",
        reason: "TargetPoolNotFound",
        condition: "InvalidRef",
        includes: ["spec.poolRef.name", '" p "'],
        objects: (
          n,
        ) => [binding(n, "padded-pool-ref", { poolRef: { name: " p " }, mode: "PoolOnly" })],
      },
      {
        name: "template-pool-ref",
        reason: "TargetPoolNotFound",
        condition: "InvalidRef",
        includes: ["spec.poolRef.name", '"{{.PodMeta.Name}}"'],
        objects: (n) => [
          binding(n, "template-pool-ref", {
            poolRef: { name: "{{.PodMeta.Name}}" },
            mode: "PoolOnly",
          }),
        ],
      },
      {
        name: "odd-pool-group",
        reason: "InvalidPoolRef",
        condition: "InvalidRef",
        includes: ["spec.poolRef.group", '"example.com"'],
        objects: (n) => [
          binding(n, "odd-pool-group", {
            poolRef: { name: "p", group: "example.com" },
            mode: "PoolOnly",
          }),
        ],
      },
      {
        name: "odd-objective-group",
        reason: "InvalidObjectiveRef",
        condition: "InvalidRef",
        includes: ["spec.objectiveRef.group", '"example.org"'],
        objects: (n) => [
          binding(n, "odd-objective-group", {
            poolRef: { name: "p" },
            objectiveRef: { name: "o", group: "example.org" },
            containerName: "main",
          }),
        ],
      },
    ]);
    await apply(cp.kubectl, binding(ns, "valid", { poolRef: { name: "p" }, mode: "PoolOnly" }));
    await waitReason(c, ns, "valid", "Reconciled");

    // InvalidSPIFFEID: nothing a binding can name produces an invalid SPIFFE ID (object names
    // are DNS subdomains), but the operator's trust domain is part of it. An operator started
    // with an invalid one reports it on the binding, naming the value.
    await op.stop();
    op = await startController(cp.kubeconfigPath, { trustDomain: "Not_A_Trust_Domain" });
    const b = await waitReason(c, ns, "valid", "InvalidSPIFFEID");
    assert.match(conditionOf(b, "RenderFailure")?.message ?? "", /"Not_A_Trust_Domain"/);
    assert.deepEqual(await managedOf(c, ns, "valid"), [], "stale identity removed");
  } finally {
    await op.stop();
    c.close();
    await cp.stop();
  }
});

Deno.test("UnsafeSelector: the safety check rejects foreign namespaces and empty accounts, and rendering never trips it", () => {
  for (
    const [selectors, ns] of [
      [["k8s:ns:other", "k8s:sa:a"], "mine"],
      [["k8s:ns:mine", "k8s:ns:other", "k8s:sa:a"], "mine"],
      [["k8s:ns:mine", "k8s:sa:"], "mine"],
      [["k8s:ns:mine"], "mine"],
    ] as const
  ) {
    try {
      checkSelectorSafety(selectors, ns);
      assert.fail(`accepted ${selectors}`);
    } catch (error) {
      assert.ok(isStateError(error));
      assert.equal(error.reason, "UnsafeSelector");
    }
  }
  // Rendering any binding that passes validation builds exactly the safe shape.
  const labels = [{ app: "x" }, { "k8s:ns:other": "" }, { "a.b/c": "k8s-sa-" }];
  for (const ns of ["a", "ns-1", "x".repeat(63)]) {
    for (const mode of ["PoolOnly", "PerObjective"]) {
      for (const matchLabels of labels) {
        const outcome = renderBinding(
          {
            metadata: { name: "b", namespace: ns, uid: "u" },
            spec: {
              poolRef: { name: "p" },
              objectiveRef: { name: "o" },
              serviceAccountName: "sa",
              mode,
              containerName: mode === "PerObjective" ? "c" : undefined,
            },
          },
          {
            pool: {
              apiVersion: "inference.networking.k8s.io/v1",
              object: { metadata: { name: "p" }, spec: { selector: { matchLabels } } },
            },
            objective: {
              apiVersion: "inference.networking.k8s.io/v1",
              object: { spec: { poolRef: { name: "p" } } },
            },
          },
          { trustDomain: "td" },
        );
        if (!outcome.ok) {
          assert.notEqual(outcome.error.reason, "UnsafeSelector", outcome.error.message);
          continue;
        }
        assert.deepEqual(outcome.identity.selectors.filter((s) => s.startsWith("k8s:ns:")), [
          `k8s:ns:${ns}`,
        ]);
      }
    }
  }
});
