/**
 * A refused delete while a binding is being deleted (docs/contract.md#fail-closed), with a real
 * ValidatingAdmissionPolicy that denies DELETE of the ClusterSPIFFEIDs of one namespace: the
 * binding keeps its finalizer (its ClusterSPIFFEID still registers workloads, so it must not look
 * gone), a Warning event and a warn line quote the policy, and the deletion completes by itself
 * once the policy goes. Both orders are made to happen: the policy is there before the delete, and
 * it arrives while kleym's DELETE is in flight (held in the controller's transport).
 */
import assert from "node:assert/strict";
import { ApiError } from "../../apis/errors.ts";
import type { KubeRequest } from "../../apis/transport.ts";
import { DELETE_REJECTED_EVENT } from "../../reconcile/refusal.ts";
import { testEnv } from "../harness/env.ts";
import { denyingPolicy } from "../harness/admission_policy.ts";
import { Gate } from "../harness/request_gate.ts";
import {
  adminClients,
  apply,
  binding,
  type Clients,
  conditionOf,
  eventsOf,
  FINALIZER,
  managedOf,
  pollUntil,
  poolV1,
  startController,
  waitGone,
} from "./reconcile_helpers.ts";

const LABEL = "kleym.sonda.red/binding-namespace";
const MESSAGE = "platform policy: ClusterSPIFFEIDs of this namespace are kept";

/** A VAP (+ binding) denying DELETE of ClusterSPIFFEIDs labelled for `ns`. */
function deletePolicy(ns: string): unknown[] {
  return denyingPolicy({
    name: `deny-csid-delete-${ns}`,
    apiGroup: "spire.spiffe.io",
    resource: "clusterspiffeids",
    operations: ["DELETE"],
    // On DELETE the object is `oldObject`.
    expression: `!has(oldObject.metadata.labels) || ` +
      `!('${LABEL}' in oldObject.metadata.labels) || ` +
      `oldObject.metadata.labels['${LABEL}'] != '${ns}'`,
    message: `${MESSAGE} (${ns})`,
  });
}

/** Whether a dry-run delete of ClusterSPIFFEID `name` is refused right now. */
async function policyActive(c: Clients, name: string): Promise<boolean> {
  try {
    await c.rest.json({
      method: "DELETE",
      path: `/apis/spire.spiffe.io/v1alpha1/clusterspiffeids/${name}`,
      query: { dryRun: "All" },
    });
    return false;
  } catch (error) {
    if (error instanceof ApiError && (error.status === 403 || error.status === 422)) return true;
    throw error;
  }
}

const isCsidDelete = (req: KubeRequest) =>
  req.method === "DELETE" &&
  req.path.startsWith("/apis/spire.spiffe.io/v1alpha1/clusterspiffeids/");

Deno.test("a refused delete keeps the binding's finalizer, says why, and completes once allowed", async (t) => {
  const env = await testEnv();
  const c = await adminClients(env.kubeconfigPath);
  const gate = new Gate();
  // crdRetryMs caps the refusal backoff (1 s doubling): the retry comes within seconds here.
  const op = await startController(env.kubeconfigPath, { crdRetryMs: 4_000, transport: gate.wrap });
  const k = env.kubectl;

  /** A Ready binding `b` with its one ClusterSPIFFEID in a new namespace; the object's name. */
  const readyBinding = async (prefix: string): Promise<{ ns: string; object: string }> => {
    const ns = await env.newNamespace(prefix);
    await apply(
      k,
      poolV1(ns, "p", { app: "m" }),
      binding(ns, "b", { poolRef: { name: "p" }, mode: "PoolOnly" }),
    );
    const object = await pollUntil(
      "the binding Ready with its ClusterSPIFFEID",
      60_000,
      async () => {
        const b = await c.bindings.get("b", { namespace: ns });
        const managed = await managedOf(c, ns, "b");
        return conditionOf(b, "Ready")?.status === "True" && managed.length === 1
          ? managed[0].metadata.name
          : undefined;
      },
    );
    return { ns, object: object ?? "" };
  };

  /** The refusal is reported, and nothing was let go: binding, finalizer and object remain. */
  const assertHeld = async (ns: string, object: string) => {
    const quoted = `${MESSAGE} (${ns})`;
    await pollUntil(
      "a Warning event quoting the policy",
      60_000,
      async () =>
        (await eventsOf(c, ns, "b")).some((e) =>
          e.type === "Warning" && e.reason === DELETE_REJECTED_EVENT &&
          (e.note ?? "").includes(quoted) && (e.note ?? "").includes(object)
        ),
    );
    assert.ok(
      op.logs.some((l) => l.level === "warn" && JSON.stringify(l).includes(quoted)),
      "a warn line quoting the policy",
    );
    const b = await c.bindings.get("b", { namespace: ns });
    assert.ok(b.metadata.deletionTimestamp, "the binding is being deleted");
    assert.ok(b.metadata.finalizers?.includes(FINALIZER), "the binding keeps kleym's finalizer");
    assert.deepEqual((await managedOf(c, ns, "b")).map((o) => o.metadata.name), [object]);
  };

  const removePolicy = async (ns: string, object: string) => {
    await k([
      "delete",
      "validatingadmissionpolicybinding,validatingadmissionpolicy",
      `deny-csid-delete-${ns}`,
    ]);
    // Only the dry run tells when the API server stopped enforcing it.
    await pollUntil("the policy no longer enforced", 60_000, async () => {
      try {
        return !await policyActive(c, object);
      } catch (error) {
        if (error instanceof ApiError && error.isNotFound()) return true; // already deleted
        throw error;
      }
    });
  };

  const assertFinalized = async (ns: string) => {
    await waitGone(c.bindings, "b", ns);
    assert.deepEqual(await managedOf(c, ns, "b"), []);
  };

  try {
    await t.step("the policy is there before the binding is deleted", async () => {
      const { ns, object } = await readyBinding("finalize-refused");
      await apply(k, ...deletePolicy(ns));
      await pollUntil("the policy enforced", 60_000, () => policyActive(c, object));
      await c.bindings.delete("b", { namespace: ns });
      await assertHeld(ns, object);
      await removePolicy(ns, object);
      await assertFinalized(ns);
    });

    await t.step("race: the policy arrives while kleym's delete is in flight", async () => {
      const { ns, object } = await readyBinding("finalize-refused-race");
      gate.hold(isCsidDelete);
      await c.bindings.delete("b", { namespace: ns });
      await gate.held;
      await apply(k, ...deletePolicy(ns));
      await pollUntil("the policy enforced", 60_000, () => policyActive(c, object));
      gate.release();
      await assertHeld(ns, object);
      await removePolicy(ns, object);
      await assertFinalized(ns);
    });
  } finally {
    gate.release();
    await op.stop();
    c.close();
  }
});
