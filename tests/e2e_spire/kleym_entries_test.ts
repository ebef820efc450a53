/**
 * SPIRE end to end (docs/spire-e2e.md), the entries SPIRE Server holds: kleym runs as a separate
 * process (deploy.yaml's identity, exactly its permissions) next to a real SPIRE Server and SPIRE
 * Controller Manager on the run's shared control plane; Nodes and Pods are created straight through
 * the API; the registration entries are read back with `spire-server entry show -output json`. One
 * operator, one SPIRE stack, one namespace per example (plus one foreign namespace), scenarios in
 * sequence.
 *
 * Negative checks ("no entry for ...") are made only after a barrier: entries that a reconcile
 * pass of the controller manager rendered from objects created *after* the ones that must be
 * ignored. The controller manager's pod cache is fed by one watch, in order, so that pass had the
 * earlier pod in its cache and would have rendered it.
 */
import assert from "node:assert/strict";
import { testEnv } from "../harness/env.ts";
import { startSpire } from "../harness/spire.ts";
import {
  cleanUp,
  createNode,
  createPod,
  entriesForPods,
  entriesWithId,
  fixtureIdentity,
  fixtureIn,
  type Identity,
  managedClusterSPIFFEIDs,
  type NodeRef,
  pollUntil,
  startedTogether,
  startKleym,
  suffix,
  TRUST_DOMAIN,
  waitForEntries,
  waitForIdentityEntries,
  waitReady,
} from "./support.ts";

const POOL_LABELS = { app: "model-server" };
const V2_LABELS = { app: "model-server-v2" };

Deno.test("kleym + SPIRE: the examples become exactly the intended SPIRE entries, and follow deletion, collision and pool changes", async (t) => {
  const started = performance.now();
  const env = await testEnv();
  const [stack, kleym] = await startedTogether(
    startSpire(env, { trustDomain: TRUST_DOMAIN }),
    startKleym("e2e-entries"),
  );
  console.log(`  SPIRE stack + kleym up: ${Math.round(performance.now() - started)} ms`);

  const namespaces: string[] = [];
  const nodes: NodeRef[] = [];
  let failed = false;
  /** A named step, timed; a failed step marks the test failed (t.step does not throw). */
  const step = async (name: string, label: string, f: () => Promise<void>) => {
    const start = performance.now();
    if (!await t.step(name, f)) failed = true;
    console.log(`  ${label}: ${Math.round(performance.now() - start)} ms`);
  };
  try {
    const [nsObjective, nsPool, nsOther] = await Promise.all(
      ["e2e-objective", "e2e-pool", "e2e-other"].map((p) => env.newNamespace(p)),
    );
    namespaces.push(nsObjective, nsPool, nsOther);
    const run = suffix();
    const [nodeA, nodeB] = await Promise.all(
      ["a", "b"].map((n) => createNode(env, `e2e-${run}-${n}`)),
    );
    nodes.push(nodeA, nodeB);

    // The foreign pod first: every later reconcile pass has it in its pod cache.
    const foreign = await createPod(env, {
      namespace: nsOther,
      name: "model-server-0",
      labels: POOL_LABELS,
      node: nodeA,
    });
    const pod = (namespace: string, name: string, labels: Record<string, string>, node: NodeRef) =>
      createPod(env, { namespace, name, labels, node });
    const [obj0, obj1, v2Pod, pool0, pool1] = await Promise.all([
      pod(nsObjective, "model-server-0", POOL_LABELS, nodeA),
      pod(nsObjective, "model-server-1", POOL_LABELS, nodeB),
      pod(nsObjective, "model-server-v2-0", V2_LABELS, nodeB),
      pod(nsPool, "model-server-0", POOL_LABELS, nodeB),
      pod(nsPool, "model-server-1", POOL_LABELS, nodeA),
    ]);
    const objPods = [obj0, obj1];
    const poolPods = [pool0, pool1];

    const objId = fixtureIdentity("per-objective", nsObjective);
    const poolId = fixtureIdentity("pool-only", nsPool);

    /** kleym's status must report the identity the entries are checked against. */
    const assertStatusDeclares = async (ns: string, binding: string, id: Identity) => {
      const s = await waitReady(env, ns, binding);
      assert.equal(s.computedSpiffeIDs?.[0]?.spiffeID, id.spiffeId);
      assert.deepEqual(s.renderedSelectors?.[0]?.selectors, id.selectors);
      assert.equal(id.hint, `${ns}/${binding}`);
    };

    await step(
      "PerObjective example: each matching pod in the binding's namespace has exactly one entry with kleym's SPIFFE ID, its node's agent ID as parent, pod-uid plus kleym's selectors, hint <ns>/<binding>",
      "PerObjective entries",
      async () => {
        await env.kubectl(["apply", "-f", "-"], { stdin: fixtureIn("per-objective", nsObjective) });
        await assertStatusDeclares(nsObjective, "objective-a", objId);
        const got = await waitForIdentityEntries(stack, objId, objPods);
        // Two pods on two nodes: two different parents.
        assert.notEqual(got[0].parentId, got[1].parentId);
      },
    );

    await step(
      "PoolOnly example: each matching pod in the binding's namespace has exactly one entry with kleym's SPIFFE ID, its node's agent ID as parent, pod-uid plus kleym's selectors, hint <ns>/<binding>",
      "PoolOnly entries",
      async () => {
        await env.kubectl(["apply", "-f", "-"], { stdin: fixtureIn("pool-only", nsPool) });
        await assertStatusDeclares(nsPool, "pool-a", poolId);
        await waitForIdentityEntries(stack, poolId, poolPods);
      },
    );

    await step(
      "a pod with the pool's labels in another namespace gets no entry, and podsSelected counts only the binding namespace's pods",
      "namespace isolation",
      async () => {
        // Barrier: the pool binding's entries were rendered by a pass that had the foreign pod
        // (created first) and both ClusterSPIFFEIDs in its caches.
        const entries = await stack.entries();
        assert.deepEqual(entriesForPods(entries, [foreign]), [], "foreign pod has entries");
        // In the binding's namespace, a pod the pool does not select gets none either.
        assert.deepEqual(entriesForPods(entries, [v2Pod]), [], "unselected pod has entries");
        // Without kleym's namespaceSelector both objects would select 3 pods in 3 namespaces.
        for (const [ns, binding] of [[nsObjective, "objective-a"], [nsPool, "pool-a"]]) {
          const stats = await pollUntil(`${binding} stats`, 60_000, async () => {
            const [csid] = await managedClusterSPIFFEIDs(env, ns, binding);
            const s = csid?.status?.stats;
            return s?.podsSelected === 2 && s.namespacesSelected === 1 ? s : undefined;
          });
          assert.equal(stats.podEntryRenderFailures ?? 0, 0);
        }
      },
    );

    await step(
      "collision example: while objective-a and objective-b collide neither SPIFFE ID has an entry; deleting objective-b brings objective-a's entries back",
      "collision and recovery",
      async () => {
        const bId = `spiffe://${TRUST_DOMAIN}/ns/${nsObjective}/objective/objective-b`;
        await env.kubectl(["apply", "-f", "-"], { stdin: fixtureIn("collision", nsObjective) });
        await waitReady(env, nsObjective, "objective-a", "IdentityCollision");
        await waitReady(env, nsObjective, "objective-b", "IdentityCollision");
        await waitForEntries(
          stack,
          "no entries for objective-a or objective-b while they collide",
          (es) => entriesWithId(es, objId.spiffeId).length + entriesWithId(es, bId).length === 0,
          (es) => [...entriesWithId(es, objId.spiffeId), ...entriesWithId(es, bId)],
        );
        // The entries went because nothing declares them any more.
        assert.deepEqual(await managedClusterSPIFFEIDs(env, nsObjective, "objective-a"), []);
        assert.deepEqual(await managedClusterSPIFFEIDs(env, nsObjective, "objective-b"), []);
        // PoolOnly bindings take no part: the other namespace's entries are untouched.
        assert.equal(entriesWithId(await stack.entries(), poolId.spiffeId).length, 2);

        await env.kubectl([
          "delete",
          "inferenceidentitybindings",
          "objective-b",
          "-n",
          nsObjective,
          "--wait=true",
          "--timeout=60s",
        ]);
        await assertStatusDeclares(nsObjective, "objective-a", objId);
        const entries = await waitForIdentityEntries(stack, objId, objPods);
        assert.equal(entries.length, 2);
        // Barrier: objective-a's entries came back in a pass after objective-b was gone.
        assert.deepEqual(entriesWithId(await stack.entries(), bId), []);
      },
    );

    await step(
      "changing the pool's labels moves objective-a's entries to the newly matching pods",
      "pool label change",
      async () => {
        await env.kubectl([
          "patch",
          "inferencepools.inference.networking.k8s.io",
          "pool-a",
          "-n",
          nsObjective,
          "--type=merge",
          "-p",
          JSON.stringify({ spec: { selector: { matchLabels: V2_LABELS } } }),
        ]);
        const moved: Identity = {
          ...objId,
          selectors: objId.selectors.map((s) =>
            s === "k8s:pod-label:app:model-server" ? "k8s:pod-label:app:model-server-v2" : s
          ).sort(),
        };
        assert.notDeepEqual(moved.selectors, objId.selectors);
        await waitForIdentityEntries(stack, moved, [v2Pod]);
        // The formerly matching pods hold no entry under any SPIFFE ID.
        assert.deepEqual(entriesForPods(await stack.entries(), objPods), []);
        const s = await waitReady(env, nsObjective, "objective-a");
        assert.deepEqual(s.renderedSelectors?.[0]?.selectors, moved.selectors);
      },
    );

    await step(
      "deleting the PoolOnly binding removes its entries and only its entries",
      "binding deletion",
      async () => {
        await env.kubectl([
          "delete",
          "inferenceidentitybindings",
          "pool-a",
          "-n",
          nsPool,
          "--wait=true",
          "--timeout=60s",
        ]);
        const entries = await waitForEntries(
          stack,
          `no entries for ${poolId.spiffeId}`,
          (es) => entriesWithId(es, poolId.spiffeId).length === 0,
          (es) => entriesWithId(es, poolId.spiffeId),
        );
        assert.deepEqual(await managedClusterSPIFFEIDs(env, nsPool, "pool-a"), []);
        assert.deepEqual(entriesForPods(entries, poolPods), []);
        // objective-a, in another namespace, keeps its entry.
        assert.equal(entriesForPods(entries, [v2Pod]).length, 1);
      },
    );
  } catch (e) {
    failed = true;
    throw e;
  } finally {
    const errors = await cleanUp(env, namespaces, nodes);
    await kleym.stop();
    await stack.stop();
    console.log(`  whole test: ${Math.round(performance.now() - started)} ms`);
    if (failed) console.error(`kleym log tail:\n${kleym.logTail()}`);
    else assert.deepEqual(errors, [], "clean-up failed");
  }
});
