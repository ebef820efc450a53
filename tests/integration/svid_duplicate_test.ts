/**
 * Same SPIFFE ID, different SVID options (docs/contract.md#duplicate-id): two bindings that render
 * the same SPIFFE ID and the same selectors but ask for different SVID lifetimes would leave SPIRE
 * two registrations of one identity to choose between, so both are a DuplicateSPIFFEID conflict:
 * no ClusterSPIFFEID for either. Asking for the same lifetime — even written differently, `60m`
 * and `1h` — is no conflict (the rendering is canonical). Operator as a process.
 */
import assert from "node:assert/strict";
import {
  applyDeploy,
  serviceAccountKubeconfig,
  startOperator,
  tempDir,
  testEnv,
} from "./operator_support.ts";
import {
  adminClients,
  apply,
  binding,
  conditionOf,
  managedOf,
  pollUntil,
  poolV1,
  waitReason,
} from "./reconcile_helpers.ts";

/** PoolOnly binding `name` on the shared pool `pool`, service account `inference-sa`. */
function onPool(ns: string, name: string, x509TTL: string) {
  const b = binding(ns, name, { poolRef: { name: "pool" }, mode: "PoolOnly" });
  (b.spec as unknown as Record<string, unknown>).svid = { x509TTL };
  return b;
}

Deno.test("same SPIFFE ID and selectors, different svid options: DuplicateSPIFFEID, and recovery", async (t) => {
  const env = await testEnv();
  await applyDeploy(env);
  const kubeconfig = await serviceAccountKubeconfig(env, await tempDir());
  const c = await adminClients(env.kubeconfigPath);
  const ns = await env.newNamespace("svid-dup");
  const op = startOperator({ name: "svid-dup-operator", kubeconfig });
  try {
    await t.step(
      "x509TTL 1h and 2h on one pool and account: both in conflict, no output",
      async () => {
        await apply(
          env.kubectl,
          poolV1(ns, "pool", { app: "model" }),
          onPool(ns, "a", "1h"),
          onPool(ns, "b", "2h"),
        );
        for (const [name, peer] of [["a", "b"], ["b", "a"]]) {
          const got = await waitReason(c, ns, name, "DuplicateSPIFFEID");
          const conflict = conditionOf(got, "Conflict");
          assert.equal(conflict?.status, "True");
          assert.ok(conflict?.message.includes(`spiffe://kleym.sonda.red/ns/${ns}/pool/pool`));
          assert.ok(conflict?.message.includes(peer), conflict?.message);
          assert.equal(got.status?.computedSpiffeIDs, undefined);
        }
        await pollUntil("no ClusterSPIFFEID for either binding", 60_000, async () => {
          return (await managedOf(c, ns)).length === 0;
        });
      },
    );

    await t.step(
      "the same lifetime written differently (60m, 1h): no conflict, both Ready",
      async () => {
        await apply(env.kubectl, onPool(ns, "b", "60m"));
        for (const name of ["a", "b"]) await waitReason(c, ns, name, "Reconciled");
        await pollUntil("one ClusterSPIFFEID per binding, ttl 1h", 60_000, async () => {
          const owned = await managedOf(c, ns);
          return owned.length === 2 &&
            owned.every((o) => (o.spec as unknown as Record<string, unknown>).ttl === "1h");
        });
      },
    );
  } finally {
    await op.stop();
    c.close();
  }
});
