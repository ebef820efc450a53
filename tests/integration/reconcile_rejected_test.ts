/**
 * Fail closed on a refusal (docs/contract.md#fail-closed), with a real ValidatingAdmissionPolicy
 * (admissionregistration.k8s.io/v1) on the run's kube-apiserver: a platform policy that denies
 * creates and updates of the ClusterSPIFFEIDs of one namespace. A new binding, and a Ready binding
 * whose pool changed, both report `RenderFailure/ClusterSPIFFEIDRejected` quoting the policy,
 * with no ClusterSPIFFEID left; once the policy goes they are Ready with exactly the current
 * rendering (the oracle of tests/resilience/contract.ts), by themselves.
 *
 * The races are made to happen (docs/testing.md): kleym's request is held in the controller's
 * transport while the policy is added (the write meets it), or while it is removed (the failure
 * report lands after the refusal stopped; the backoff retry must still recover).
 */
import assert from "node:assert/strict";
import { ApiError } from "../../apis/errors.ts";
import type { KubeRequest } from "../../apis/transport.ts";
import { testEnv } from "../harness/env.ts";
import { denyingPolicy } from "../harness/admission_policy.ts";
import { Gate } from "../harness/request_gate.ts";
import {
  type Clients as OracleClients,
  clients,
  compare,
  snapshot,
} from "../resilience/contract.ts";
import {
  adminClients,
  apply,
  binding,
  type Clients,
  conditionOf,
  eventsOf,
  managedOf,
  pollUntil,
  poolV1,
  startController,
  waitReason,
} from "./reconcile_helpers.ts";

const LABEL = "kleym.sonda.red/binding-namespace";
const POLICY_MESSAGE = "platform policy: no ClusterSPIFFEIDs for this namespace";

/** A VAP (+ binding) denying CREATE/UPDATE of ClusterSPIFFEIDs labelled for `ns`. */
function policy(ns: string): unknown[] {
  return denyingPolicy({
    name: `deny-csid-${ns}`,
    apiGroup: "spire.spiffe.io",
    resource: "clusterspiffeids",
    operations: ["CREATE", "UPDATE"],
    expression: `!has(object.metadata.labels) || ` +
      `!('${LABEL}' in object.metadata.labels) || ` +
      `object.metadata.labels['${LABEL}'] != '${ns}'`,
    message: `${POLICY_MESSAGE} (${ns})`,
  });
}

const STATUS_MESSAGE = "platform policy: binding status is read-only here";

/** A VAP (+ binding) denying UPDATE of the status subresource of `ns`'s bindings. */
function statusPolicy(ns: string): unknown[] {
  return denyingPolicy({
    name: `deny-status-${ns}`,
    apiGroup: "kleym.sonda.red",
    resource: "inferenceidentitybindings/status",
    operations: ["UPDATE"],
    expression: `object.metadata.namespace != '${ns}'`,
    message: `${STATUS_MESSAGE} (${ns})`,
  });
}

/** Whether a dry-run status update of binding `probe` in `ns` is refused right now. */
async function statusPolicyActive(c: Clients, ns: string): Promise<boolean> {
  const probe = await c.bindings.get("probe", { namespace: ns });
  try {
    await c.rest.json({
      method: "PUT",
      path:
        `/apis/kleym.sonda.red/v1alpha1/namespaces/${ns}/inferenceidentitybindings/probe/status`,
      query: { dryRun: "All" },
      body: JSON.stringify(probe),
    });
    return false;
  } catch (error) {
    if (error instanceof ApiError && (error.status === 403 || error.status === 422)) return true;
    throw error;
  }
}

/** Whether a dry-run create of a ClusterSPIFFEID labelled for `ns` is refused right now. */
async function policyActive(c: Clients, ns: string): Promise<boolean> {
  try {
    await c.rest.json({
      method: "POST",
      path: "/apis/spire.spiffe.io/v1alpha1/clusterspiffeids",
      query: { dryRun: "All" },
      body: JSON.stringify({
        apiVersion: "spire.spiffe.io/v1alpha1",
        kind: "ClusterSPIFFEID",
        metadata: {
          name: `probe-${ns}`,
          labels: { "kleym.sonda.red/binding-namespace": ns },
        },
        spec: { spiffeIDTemplate: "spiffe://probe.example/x" },
      }),
    });
    return false;
  } catch (error) {
    if (error instanceof ApiError && (error.status === 403 || error.status === 422)) return true;
    throw error;
  }
}

async function addPolicy(env: { kubectl: Kubectl }, c: Clients, ns: string): Promise<void> {
  await apply(env.kubectl, ...policy(ns));
  await pollUntil(`policy for ${ns} enforced`, 60_000, () => policyActive(c, ns));
}

async function removePolicy(env: { kubectl: Kubectl }, c: Clients, ns: string): Promise<void> {
  const name = `deny-csid-${ns}`;
  await env.kubectl([
    "delete",
    "validatingadmissionpolicybinding,validatingadmissionpolicy",
    name,
    "--ignore-not-found",
  ]);
  await pollUntil(`policy for ${ns} gone`, 60_000, async () => !await policyActive(c, ns));
}

type Kubectl = (args: string[], opts?: { stdin?: string }) => Promise<string>;

/** The binding reports the refusal quoting the policy, and holds no ClusterSPIFFEID. */
async function assertRejected(c: Clients, ns: string, name: string): Promise<void> {
  const b = await waitReason(c, ns, name, "ClusterSPIFFEIDRejected");
  const ready = conditionOf(b, "Ready");
  assert.equal(ready?.status, "False");
  assert.deepEqual(
    [conditionOf(b, "RenderFailure")?.status, conditionOf(b, "RenderFailure")?.reason],
    ["True", "ClusterSPIFFEIDRejected"],
  );
  assert.ok(ready?.message.includes(`${POLICY_MESSAGE} (${ns})`), ready?.message);
  assert.equal(b.status?.computedSpiffeIDs, undefined);
  assert.equal(b.status?.renderedSelectors, undefined);
  await pollUntil(
    `${ns}/${name} holds no ClusterSPIFFEID`,
    60_000,
    async () => (await managedOf(c, ns, name)).length === 0,
  );
  await pollUntil(
    `${ns}/${name} Warning event`,
    60_000,
    async () =>
      (await eventsOf(c, ns, name)).some((e) =>
        e.type === "Warning" && e.reason === "ClusterSPIFFEIDRejected"
      ),
  );
}

/** Exactly the contract for `ns` (every binding Ready, its ClusterSPIFFEID as rendered). */
async function assertExact(o: OracleClients, ns: string): Promise<void> {
  let last: string[] = ["not checked"];
  try {
    await pollUntil(`${ns} holds exactly the current rendering`, 60_000, async () => {
      last = compare(await snapshot(o, [ns]));
      return last.length === 0;
    });
  } catch (error) {
    throw new Error(`${error}:\n  ${last.slice(0, 10).join("\n  ")}`);
  }
}

const isCsidUpdate = (req: KubeRequest) =>
  req.method === "PUT" && req.path.startsWith("/apis/spire.spiffe.io/v1alpha1/clusterspiffeids/");
const isStatusWrite = (ns: string) => (req: KubeRequest) =>
  req.method === "PUT" && req.path.includes(`/namespaces/${ns}/`) && req.path.endsWith("/status");

Deno.test("a refused ClusterSPIFFEID write fails closed and recovers when the refusal stops", async (t) => {
  const env = await testEnv();
  const c = await adminClients(env.kubeconfigPath);
  const o = await clients(env.kubeconfigPath);
  const gate = new Gate();
  // crdRetryMs caps the refusal backoff (1 s doubling): recovery within seconds here.
  const op = await startController(env.kubeconfigPath, {
    crdRetryMs: 4_000,
    transport: gate.wrap,
  });
  const k = env.kubectl;
  try {
    await t.step("a new binding under the policy: Rejected, then Ready when it goes", async () => {
      const ns = await env.newNamespace("rejected-new");
      await apply(k, poolV1(ns, "p", { app: "m" }));
      await addPolicy(env, c, ns);
      await apply(k, binding(ns, "b", { poolRef: { name: "p" }, mode: "PoolOnly" }));
      await assertRejected(c, ns, "b");
      await removePolicy(env, c, ns);
      await assertExact(o, ns);
    });

    await t.step(
      "a Ready binding whose pool changed under the policy: its object goes",
      async () => {
        const ns = await env.newNamespace("rejected-ready");
        await apply(
          k,
          poolV1(ns, "p", { app: "m" }),
          binding(ns, "b", { poolRef: { name: "p" }, mode: "PoolOnly" }),
        );
        await assertExact(o, ns);
        await addPolicy(env, c, ns);
        await apply(k, poolV1(ns, "p", { app: "m2" }));
        await assertRejected(c, ns, "b");
        await removePolicy(env, c, ns);
        await assertExact(o, ns);
        const [object] = await managedOf(c, ns, "b");
        assert.deepEqual(object.spec.podSelector, { matchLabels: { app: "m2" } });
      },
    );

    await t.step("race: the policy arrives while kleym's update is in flight", async () => {
      const ns = await env.newNamespace("rejected-race-add");
      await apply(
        k,
        poolV1(ns, "p", { app: "m" }),
        binding(ns, "b", { poolRef: { name: "p" }, mode: "PoolOnly" }),
      );
      await assertExact(o, ns);
      gate.hold(isCsidUpdate);
      await apply(k, poolV1(ns, "p", { app: "m2" }));
      await gate.held;
      await addPolicy(env, c, ns);
      gate.release();
      await assertRejected(c, ns, "b");
      await removePolicy(env, c, ns);
      await assertExact(o, ns);
    });

    await t.step("race: the policy goes while kleym reports the refusal", async () => {
      const ns = await env.newNamespace("rejected-race-remove");
      await apply(
        k,
        poolV1(ns, "p", { app: "m" }),
        binding(ns, "b", { poolRef: { name: "p" }, mode: "PoolOnly" }),
      );
      await assertExact(o, ns);
      await addPolicy(env, c, ns);
      gate.hold(isStatusWrite(ns));
      await apply(k, poolV1(ns, "p", { app: "m2" }));
      await gate.held; // update refused, object deleted, the failure status on its way
      await removePolicy(env, c, ns);
      gate.release();
      await assertExact(o, ns);
      const [object] = await managedOf(c, ns, "b");
      assert.deepEqual(object.spec.podSelector, { matchLabels: { app: "m2" } });
    });
    await t.step(
      "a refused status write: a Warning event and a warn line quoting it, then Ready",
      async () => {
        const ns = await env.newNamespace("rejected-status");
        await apply(
          k,
          poolV1(ns, "p", { app: "m" }),
          binding(ns, "probe", { poolRef: { name: "p" }, mode: "PoolOnly" }),
        );
        await assertExact(o, ns);
        await apply(k, ...statusPolicy(ns));
        await pollUntil(
          `status policy for ${ns} enforced`,
          60_000,
          () => statusPolicyActive(c, ns),
        );
        await apply(k, binding(ns, "b", { poolRef: { name: "p" }, mode: "PoolOnly" }));
        const quoted = `${STATUS_MESSAGE} (${ns})`;
        await pollUntil(
          "a Warning event quoting the policy",
          60_000,
          async () =>
            (await eventsOf(c, ns, "b")).some((e) =>
              e.type === "Warning" && e.reason === "BindingUpdateRejected" &&
              (e.note ?? "").includes(quoted)
            ),
        );
        assert.ok(
          op.logs.some((l) =>
            l.level === "warn" && l.binding === `${ns}/b` && JSON.stringify(l).includes(quoted)
          ),
          "a warn line quoting the policy",
        );
        await env.kubectl([
          "delete",
          "validatingadmissionpolicybinding,validatingadmissionpolicy",
          `deny-status-${ns}`,
        ]);
        await assertExact(o, ns);
      },
    );
  } finally {
    gate.release();
    await op.stop();
    c.close();
    o.close();
  }
});
