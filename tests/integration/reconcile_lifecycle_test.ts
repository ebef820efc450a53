/**
 * The lifecycle (docs/contract.md#inputs, docs/contract.md#ownership, docs/contract.md#lifecycle)
 * against a real API server with the controller in-process (one controller for the file, one
 * namespace per step): resolution across the two GAIE groups, updates in place, mode switches,
 * objective removal, three-way collisions, deletion with and without foreign finalizers, foreign
 * objects at the desired name, and drift repair.
 */
import assert from "node:assert/strict";
import { testEnv } from "../harness/env.ts";
import { clusterSPIFFEIDName } from "../../reconcile/naming.ts";
import {
  adminClients,
  apply,
  binding,
  conditionOf,
  eventsOf,
  FINALIZER,
  getBinding,
  getCsid,
  managedOf,
  objective,
  pollUntil,
  poolV1,
  poolV1alpha2,
  startController,
  TRUST_DOMAIN,
  waitGone,
  waitReason,
} from "./reconcile_helpers.ts";

const K8S = "inference.networking.k8s.io";
const XK8S = "inference.networking.x-k8s.io";
const PER_OBJECTIVE = { serviceAccountName: "inference-sa", containerName: "main" };

Deno.test("reconcile lifecycle against a real API server", async (t) => {
  const env = await testEnv();
  const c = await adminClients(env.kubeconfigPath);
  const op = await startController(env.kubeconfigPath, { crdRetryMs: 2_000 });
  const k = env.kubectl;
  try {
    await t.step("a v1alpha2 pool's flat selector renders; an ungrouped ref finds it", async () => {
      const ns = await env.newNamespace("flat");
      await apply(
        k,
        poolV1alpha2(ns, "p2", { app: "flat", tier: "gpu" }),
        objective(`${XK8S}/v1alpha2`, ns, "o2", { name: "p2", group: XK8S }),
        binding(ns, "pool", { poolRef: { name: "p2" }, mode: "PoolOnly" }),
        binding(ns, "obj", {
          poolRef: { name: "p2", group: XK8S },
          objectiveRef: { name: "o2" },
          ...PER_OBJECTIVE,
        }),
      );
      await waitReason(c, ns, "pool", "Reconciled");
      const b = await waitReason(c, ns, "obj", "Reconciled");
      assert.deepEqual(b.status?.renderedSelectors?.[0].selectors, [
        "k8s:container-name:main",
        `k8s:ns:${ns}`,
        "k8s:pod-label:app:flat",
        "k8s:pod-label:tier:gpu",
        "k8s:sa:inference-sa",
      ]);
      const [object] = await managedOf(c, ns, "pool");
      assert.deepEqual(object.spec.podSelector, { matchLabels: { app: "flat", tier: "gpu" } });
      assert.deepEqual(object.spec.namespaceSelector, {
        matchLabels: { "kubernetes.io/metadata.name": ns },
      });
    });

    await t.step("an objective pointing at another pool is InvalidObjectiveRef", async () => {
      const ns = await env.newNamespace("otherpool");
      await apply(
        k,
        poolV1(ns, "pool-a", { app: "a" }),
        poolV1(ns, "pool-b", { app: "b" }),
        objective(`${K8S}/v1`, ns, "obj", { name: "pool-b" }),
        binding(ns, "b", {
          poolRef: { name: "pool-a" },
          objectiveRef: { name: "obj" },
          ...PER_OBJECTIVE,
        }),
      );
      const b = await waitReason(c, ns, "b", "InvalidObjectiveRef");
      const invalid = conditionOf(b, "InvalidRef");
      assert.equal(invalid?.status, "True");
      assert.match(invalid?.message ?? "", /"pool-b"/);
      assert.match(invalid?.message ?? "", /spec\.poolRef\.name/);
      assert.deepEqual(await managedOf(c, ns, "b"), []);
      await pollUntil(
        "Warning InvalidObjectiveRef event",
        60_000,
        async () =>
          (await eventsOf(c, ns, "b")).some((e) =>
            e.type === "Warning" && e.reason === "InvalidObjectiveRef"
          ),
      );
    });

    await t.step(
      "an objective whose poolRef group disagrees with the pool's group is InvalidObjectiveRef",
      async () => {
        const ns = await env.newNamespace("groupmismatch");
        // The x-k8s.io objective CRD defaults poolRef.group to inference.networking.k8s.io; the
        // pool only exists in x-k8s.io (v1alpha2), so the groups disagree
        // (docs/contract.md#inputs).
        await apply(
          k,
          poolV1alpha2(ns, "p", { app: "x" }),
          objective(`${XK8S}/v1alpha2`, ns, "o", { name: "p" }),
          binding(ns, "b", {
            poolRef: { name: "p" },
            objectiveRef: { name: "o" },
            ...PER_OBJECTIVE,
          }),
        );
        const b = await waitReason(c, ns, "b", "InvalidObjectiveRef");
        const message = conditionOf(b, "InvalidRef")?.message ?? "";
        assert.match(message, /spec\.poolRef\.group "inference\.networking\.k8s\.io"/);
        assert.match(message, /inference\.networking\.x-k8s\.io/);
      },
    );

    await t.step(
      "a pool label change updates the same-named ClusterSPIFFEID in place",
      async () => {
        const ns = await env.newNamespace("inplace");
        await apply(
          k,
          poolV1(ns, "p", { app: "one" }),
          binding(ns, "b", { poolRef: { name: "p" }, mode: "PoolOnly" }),
        );
        await waitReason(c, ns, "b", "Reconciled");
        const [before] = await managedOf(c, ns, "b");
        await apply(k, poolV1(ns, "p", { app: "two" }));
        const after = await pollUntil("ClusterSPIFFEID follows the pool", 60_000, async () => {
          const [o] = await managedOf(c, ns, "b");
          return o?.spec.podSelector?.matchLabels?.app === "two" ? o : undefined;
        });
        assert.equal(after.metadata.name, before.metadata.name);
        assert.equal(after.metadata.uid, before.metadata.uid, "updated in place, not re-created");
        assert.ok(after.spec.workloadSelectorTemplates?.includes("k8s:pod-label:app:two"));
        const b = await pollUntil("status follows", 60_000, async () => {
          const got = await getBinding(c, ns, "b");
          return got?.status?.renderedSelectors?.[0].selectors.includes("k8s:pod-label:app:two")
            ? got
            : undefined;
        });
        assert.equal(conditionOf(b, "Ready")?.status, "True");
      },
    );

    await t.step("a mode switch PerObjective -> PoolOnly replaces the object", async () => {
      const ns = await env.newNamespace("modeswitch");
      await apply(
        k,
        poolV1(ns, "p", { app: "m" }),
        objective(`${K8S}/v1`, ns, "o", { name: "p" }),
        binding(ns, "b", { poolRef: { name: "p" }, objectiveRef: { name: "o" }, ...PER_OBJECTIVE }),
      );
      await waitReason(c, ns, "b", "Reconciled");
      const [old] = await managedOf(c, ns, "b");
      assert.match(old.metadata.name ?? "", /-objective-[0-9a-f]{8}$/);
      await apply(
        k,
        binding(ns, "b", { poolRef: { name: "p" }, objectiveRef: { name: "o" }, mode: "PoolOnly" }),
      );
      const replaced = await pollUntil(
        "pool object replaces objective object",
        60_000,
        async () => {
          const objects = await managedOf(c, ns, "b");
          return objects.length === 1 && objects[0].metadata.name !== old.metadata.name
            ? objects[0]
            : undefined;
        },
      );
      assert.match(replaced.metadata.name ?? "", /-pool-[0-9a-f]{8}$/);
      assert.equal(replaced.spec.spiffeIDTemplate, `spiffe://${TRUST_DOMAIN}/ns/${ns}/pool/p`);
      assert.equal(await getCsid(c, old.metadata.name ?? ""), undefined, "old object deleted");
      const b = await pollUntil("status names the pool identity", 60_000, async () => {
        const got = await getBinding(c, ns, "b");
        return got?.status?.computedSpiffeIDs?.[0].mode === "PoolOnly" ? got : undefined;
      });
      assert.equal(conditionOf(b, "Ready")?.status, "True");
      assert.deepEqual(b.status?.computedSpiffeIDs, [{
        spiffeID: `spiffe://${TRUST_DOMAIN}/ns/${ns}/pool/p`,
        mode: "PoolOnly",
      }]);
    });

    await t.step(
      "an objective deleted -> InvalidRef and no output; re-created -> Ready",
      async () => {
        const ns = await env.newNamespace("objgone");
        const o = objective(`${K8S}/v1`, ns, "o", { name: "p" });
        await apply(
          k,
          poolV1(ns, "p", { app: "g" }),
          o,
          binding(ns, "b", {
            poolRef: { name: "p" },
            objectiveRef: { name: "o" },
            ...PER_OBJECTIVE,
          }),
        );
        await waitReason(c, ns, "b", "Reconciled");
        await c.objectivesV1.delete("o", { namespace: ns });
        const b = await waitReason(c, ns, "b", "TargetObjectiveNotFound");
        assert.equal(conditionOf(b, "InvalidRef")?.status, "True");
        assert.match(
          conditionOf(b, "InvalidRef")?.message ?? "",
          /"o" \(spec\.objectiveRef\.name\)/,
        );
        assert.equal(b.status?.computedSpiffeIDs, undefined);
        await pollUntil(
          "output removed",
          60_000,
          async () => (await managedOf(c, ns, "b")).length === 0,
        );
        await apply(k, o);
        await waitReason(c, ns, "b", "Reconciled");
        assert.equal((await managedOf(c, ns, "b")).length, 1);
      },
    );

    await t.step(
      "three-way collision: one leaves, two still collide; one fixed, all recover",
      async () => {
        const ns = await env.newNamespace("threeway");
        const three = ["x", "y", "z"];
        await apply(
          k,
          poolV1(ns, "p", { app: "shared" }),
          ...three.map((n) => objective(`${K8S}/v1`, ns, `o-${n}`, { name: "p" })),
          ...three.map((n) =>
            binding(ns, n, {
              poolRef: { name: "p" },
              objectiveRef: { name: `o-${n}` },
              ...PER_OBJECTIVE,
            })
          ),
        );
        const message = (peers: string[]) =>
          `identity collision with bindings ${peers.join(", ")}: ` +
          "PerObjective bindings must not share the same pod selector and container name";
        // The three bindings arrive one by one, so a binding may first collide with one peer
        // and only later with both: wait for the final message rather than the first collision.
        for (const n of three) {
          await waitReason(c, ns, n, "IdentityCollision");
          const peers = three.filter((m) => m !== n);
          await pollUntil(
            `${n} names ${peers.join(", ")}`,
            60_000,
            async () =>
              conditionOf(await getBinding(c, ns, n), "Conflict")?.message === message(peers),
          );
        }
        assert.deepEqual(await managedOf(c, ns), []);

        await c.bindings.delete("z", { namespace: ns });
        await waitGone(c.bindings, "z", ns);
        for (const [n, peer] of [["x", "y"], ["y", "x"]]) {
          await pollUntil(
            `${n} names only ${peer}`,
            60_000,
            async () =>
              conditionOf(await getBinding(c, ns, n), "Conflict")?.message === message([peer]),
          );
        }

        await apply(
          k,
          binding(ns, "y", {
            poolRef: { name: "p" },
            objectiveRef: { name: "o-y" },
            serviceAccountName: "inference-sa",
            containerName: "sidecar",
          }),
        );
        for (const n of ["x", "y"]) {
          const b = await waitReason(c, ns, n, "Reconciled");
          assert.equal(conditionOf(b, "Conflict")?.status, "False");
          await pollUntil(
            `${n} ClusterSPIFFEID back`,
            60_000,
            async () => (await managedOf(c, ns, n)).length === 1,
          );
        }
        await pollUntil(
          "IdentityCollisionResolved on x",
          60_000,
          async () =>
            (await eventsOf(c, ns, "x")).some((e) => e.reason === "IdentityCollisionResolved"),
        );
      },
    );

    await t.step("deleting a binding deletes its objects, then the finalizer", async () => {
      const ns = await env.newNamespace("delete");
      await apply(
        k,
        poolV1(ns, "p", { app: "d" }),
        binding(ns, "b", { poolRef: { name: "p" }, mode: "PoolOnly" }),
      );
      const b = await waitReason(c, ns, "b", "Reconciled");
      assert.deepEqual(b.metadata.finalizers, [FINALIZER]);
      const [object] = await managedOf(c, ns, "b");
      await c.bindings.delete("b", { namespace: ns });
      await waitGone(c.bindings, "b", ns);
      assert.equal(await getCsid(c, object.metadata.name ?? ""), undefined);
    });

    await t.step(
      "a child held by a foreign finalizer makes the binding wait until released",
      async () => {
        const ns = await env.newNamespace("held");
        await apply(
          k,
          poolV1(ns, "p", { app: "h" }),
          binding(ns, "b", { poolRef: { name: "p" }, mode: "PoolOnly" }),
        );
        await waitReason(c, ns, "b", "Reconciled");
        const [object] = await managedOf(c, ns, "b");
        const name = object.metadata.name ?? "";
        await c.csids.patch(name, "merge", { metadata: { finalizers: ["example.com/hold"] } });
        await c.bindings.delete("b", { namespace: ns });
        await pollUntil(
          "child being deleted",
          60_000,
          async () => (await getCsid(c, name))?.metadata.deletionTimestamp !== undefined,
        );
        // The binding re-checks (on the child's events and every ~2 s) and keeps waiting.
        await pollUntil(
          "the binding waits through a confirmation retry",
          60_000,
          () =>
            op.logs.filter((l) =>
              l.binding === `${ns}/b` && String(l.msg).startsWith("waiting for managed")
            ).length >= 2,
        );
        const waiting = await getBinding(c, ns, "b");
        assert.ok(waiting?.metadata.deletionTimestamp);
        assert.deepEqual(waiting?.metadata.finalizers, [FINALIZER], "finalizer kept while held");
        await c.csids.patch(name, "merge", { metadata: { finalizers: null } });
        await waitGone(c.bindings, "b", ns);
        assert.equal(await getCsid(c, name), undefined);
      },
    );

    await t.step("a child already deleted by someone else does not block deletion", async () => {
      const ns = await env.newNamespace("gone");
      await apply(
        k,
        poolV1(ns, "p", { app: "g" }),
        binding(ns, "b", { poolRef: { name: "p" }, mode: "PoolOnly" }),
      );
      await waitReason(c, ns, "b", "Reconciled");
      const [object] = await managedOf(c, ns, "b");
      await Promise.all([
        c.csids.delete(object.metadata.name ?? ""),
        c.bindings.delete("b", { namespace: ns }),
      ]);
      await waitGone(c.bindings, "b", ns, 60_000);
      assert.deepEqual(await managedOf(c, ns, "b"), []);
    });

    await t.step("a foreign ClusterSPIFFEID at the desired name is never touched", async () => {
      const ns = await env.newNamespace("foreign");
      const id = `spiffe://${TRUST_DOMAIN}/ns/${ns}/pool/p`;
      const name = clusterSPIFFEIDName(ns, "b", "PoolOnly", id);
      const foreign = await c.csids.create({
        apiVersion: "spire.spiffe.io/v1alpha1",
        kind: "ClusterSPIFFEID",
        metadata: { name, labels: { owner: "someone-else" } },
        spec: { spiffeIDTemplate: "spiffe://other.example/x", hint: "theirs" },
      });
      await apply(
        k,
        poolV1(ns, "p", { app: "f" }),
        binding(ns, "b", { poolRef: { name: "p" }, mode: "PoolOnly" }),
      );
      const b = await waitReason(c, ns, "b", "ClusterSPIFFEIDNameTaken");
      assert.equal(conditionOf(b, "RenderFailure")?.status, "True");
      assert.match(conditionOf(b, "RenderFailure")?.message ?? "", new RegExp(name));
      assert.match(conditionOf(b, "RenderFailure")?.message ?? "", /not managed by kleym/);
      // Two more retries look the name up again: the foreign object stays exactly as it was.
      const gets = () =>
        op.requests.count({ verb: "get", resource: "clusterspiffeids.spire.spiffe.io" });
      const getsAtReport = gets();
      await pollUntil(
        "two retries of the name-taken binding",
        60_000,
        () => gets() >= getsAtReport + 2,
      );
      const still = await getCsid(c, name);
      assert.equal(still?.metadata.resourceVersion, foreign.metadata.resourceVersion);
      assert.deepEqual(still?.metadata.labels, { owner: "someone-else" });
      // Once the foreign object goes, the binding takes the name on its own (next retry).
      await c.csids.delete(name);
      await waitReason(c, ns, "b", "Reconciled");
      assert.equal(
        (await getCsid(c, name))?.metadata.labels?.["kleym.sonda.red/managed-by"],
        "kleym",
      );
    });

    await t.step(
      "edits and deletes of a managed object are repaired without touching the binding",
      async () => {
        const ns = await env.newNamespace("drift");
        await apply(
          k,
          poolV1(ns, "p", { app: "r" }),
          binding(ns, "b", { poolRef: { name: "p" }, mode: "PoolOnly" }),
        );
        await waitReason(c, ns, "b", "Reconciled");
        await pollUntil(
          "binding settled",
          60_000,
          async () => (await managedOf(c, ns, "b")).length === 1,
        );
        const bindingBefore = await getBinding(c, ns, "b");
        const [object] = await managedOf(c, ns, "b");
        const name = object.metadata.name ?? "";
        await c.csids.patch(name, "merge", {
          metadata: { labels: { "team.example.com/owner": "platform" } },
          spec: { hint: "tampered", podSelector: { matchLabels: { app: "evil" } }, admin: true },
        });
        const repaired = await pollUntil("edit repaired", 60_000, async () => {
          const o = await getCsid(c, name);
          return o?.spec.hint === `${ns}/b` ? o : undefined;
        });
        assert.equal(repaired.metadata.uid, object.metadata.uid);
        assert.deepEqual(repaired.spec, object.spec, "kleym's spec restored whole");
        assert.equal(
          repaired.metadata.labels?.["team.example.com/owner"],
          "platform",
          "extra label kept",
        );

        await c.csids.delete(name);
        const recreated = await pollUntil("delete repaired", 60_000, async () => {
          const o = await getCsid(c, name);
          return o !== undefined && o.metadata.uid !== object.metadata.uid ? o : undefined;
        });
        assert.deepEqual(recreated.spec, object.spec);
        const bindingAfter = await getBinding(c, ns, "b");
        assert.equal(
          bindingAfter?.metadata.resourceVersion,
          bindingBefore?.metadata.resourceVersion,
          "the binding itself was not written",
        );
      },
    );
  } finally {
    await op.stop();
    c.close();
  }
});
