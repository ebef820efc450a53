/**
 * One SPIFFE ID, one set of workloads, seen from SPIRE (docs/contract.md#duplicate-id): kleym
 * runs as a separate process next to a real SPIRE Server and SPIRE Controller Manager on the run's
 * shared control plane. While two bindings of one namespace render the same SPIFFE ID with
 * different selectors, SPIRE Server holds no entry for that ID, not even the one it held before
 * the second binding came; after the fix it holds exactly the surviving binding's selectors, one
 * entry per selected pod.
 *
 * Each "no entry" is observed as a change (the entries that existed went away), so it cannot pass
 * by looking before the controller manager had anything to render.
 */
import assert from "node:assert/strict";
import { testEnv } from "../harness/env.ts";
import { startSpire } from "../harness/spire.ts";
import {
  bindingStatus,
  cleanUp,
  createNode,
  createPod,
  entriesWithId,
  type Identity,
  managedClusterSPIFFEIDs,
  type NodeRef,
  type PodRef,
  startedTogether,
  startKleym,
  suffix,
  TRUST_DOMAIN,
  waitForEntries,
  waitForIdentityEntries,
  waitReady,
} from "./support.ts";
import {
  bindingManifest,
  GAIE_V1,
  objectiveManifest,
  poolV1Manifest,
} from "../harness/manifests.ts";

const LABELS = { app: "llama" };

/** The duplicate-ID Conflict message, peers sorted (docs/contract.md#duplicate-id). */
const duplicateMessage = (id: string, peers: string[]) =>
  `SPIFFE ID ${id} is also rendered by bindings ${
    [...peers].sort().join(", ")
  } with different selectors: one SPIFFE ID must select one set of workloads`;

/** What a binding of `ns` on the pool declares (PerObjective when `container` is given). */
function identity(
  ns: string,
  binding: string,
  spiffeId: string,
  serviceAccount: string,
  container?: string,
): Identity {
  const selectors = [
    `k8s:ns:${ns}`,
    `k8s:sa:${serviceAccount}`,
    ...Object.entries(LABELS).map(([k, v]) => `k8s:pod-label:${k}:${v}`),
    ...(container ? [`k8s:container-name:${container}`] : []),
  ].sort();
  return { spiffeId, selectors, hint: `${ns}/${binding}` };
}

Deno.test("kleym + SPIRE: two bindings rendering one SPIFFE ID with different selectors leave SPIRE Server no entry for it; after the fix it holds exactly the survivor's selectors", async (t) => {
  const started = performance.now();
  const env = await testEnv();
  const [stack, kleym] = await startedTogether(
    startSpire(env, { trustDomain: TRUST_DOMAIN }),
    startKleym("e2e-duplicate-id"),
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
  const apply = (objects: unknown[]) =>
    env.kubectl(["apply", "-f", "-"], {
      stdin: JSON.stringify({ apiVersion: "v1", kind: "List", items: objects }),
    });
  const deleteBinding = (ns: string, name: string) =>
    env.kubectl([
      "delete",
      "inferenceidentitybindings",
      name,
      "-n",
      ns,
      "--wait=true",
      "--timeout=60s",
    ]);
  /** Both conditions carry DuplicateSPIFFEID with the contract's message naming `peers`. */
  const assertDuplicate = async (ns: string, name: string, id: string, peers: string[]) => {
    await waitReady(env, ns, name, "DuplicateSPIFFEID");
    const s = await bindingStatus(env, ns, name);
    const conflict = s.conditions?.find((c) => c.type === "Conflict");
    const ready = s.conditions?.find((c) => c.type === "Ready");
    assert.deepEqual(
      { status: conflict?.status, reason: conflict?.reason, message: conflict?.message },
      { status: "True", reason: "DuplicateSPIFFEID", message: duplicateMessage(id, peers) },
    );
    assert.deepEqual(
      { status: ready?.status, message: ready?.message },
      { status: "False", message: duplicateMessage(id, peers) },
    );
    assert.equal(s.computedSpiffeIDs?.length ?? 0, 0, `${name}: status still names an ID`);
    assert.equal(s.renderedSelectors?.length ?? 0, 0, `${name}: status still names selectors`);
    assert.deepEqual(await managedClusterSPIFFEIDs(env, ns, name), [], `${name}: output lingers`);
  };
  /** Ready again with exactly `id`, and its Conflict condition resolved. */
  const assertServes = async (ns: string, name: string, id: Identity) => {
    const s = await waitReady(env, ns, name);
    const conflict = s.conditions?.find((c) => c.type === "Conflict");
    assert.deepEqual([conflict?.status, conflict?.reason], ["False", "Resolved"]);
    assert.equal(s.computedSpiffeIDs?.[0]?.spiffeID, id.spiffeId);
    assert.deepEqual(s.renderedSelectors?.[0]?.selectors, id.selectors);
  };
  /** Waits until SPIRE Server holds no entry carrying `spiffeId`. */
  const waitNoEntries = (spiffeId: string) =>
    waitForEntries(
      stack,
      `no entries for ${spiffeId}`,
      (es) => entriesWithId(es, spiffeId).length === 0,
      (es) => entriesWithId(es, spiffeId),
    );

  try {
    const [nsPool, nsObjective] = await Promise.all(
      ["e2e-dup-pool", "e2e-dup-objective"].map((p) => env.newNamespace(p)),
    );
    namespaces.push(nsPool, nsObjective);
    const node = await createNode(env, `e2e-${suffix()}-dup`);
    nodes.push(node);
    // In each namespace: one pod of the model server's account, one of the batch account, both
    // carrying the pool's labels (the pool selects both: the account is the difference).
    const podsOf = async (namespace: string): Promise<PodRef[]> =>
      await Promise.all([
        createPod(env, {
          namespace,
          name: "llama-0",
          labels: LABELS,
          node,
          serviceAccountName: "llama-sa",
          containerName: "vllm",
        }),
        createPod(env, {
          namespace,
          name: "batch-0",
          labels: LABELS,
          node,
          serviceAccountName: "batch-sa",
          containerName: "worker",
        }),
      ]);
    const [poolPods, objectivePods] = await Promise.all([podsOf(nsPool), podsOf(nsObjective)]);

    await step(
      "PoolOnly bindings of one pool with different service accounts: while both exist SPIRE Server holds no entry for the pool's ID; deleting one leaves exactly the other's entries",
      "PoolOnly duplicate and deletion",
      async () => {
        const ns = nsPool;
        const id = `spiffe://${TRUST_DOMAIN}/ns/${ns}/pool/llama`;
        const survivor = identity(ns, "pool-1", id, "llama-sa");
        await apply([
          poolV1Manifest(ns, "llama", { matchLabels: LABELS }),
          bindingManifest(ns, "pool-1", {
            poolRef: { name: "llama" },
            mode: "PoolOnly",
            serviceAccountName: "llama-sa",
          }),
        ]);
        await assertServes(ns, "pool-1", survivor);
        await waitForIdentityEntries(stack, survivor, poolPods);

        await apply([bindingManifest(ns, "pool-2", {
          poolRef: { name: "llama" },
          mode: "PoolOnly",
          serviceAccountName: "batch-sa",
        })]);
        await assertDuplicate(ns, "pool-1", id, ["pool-2"]);
        await assertDuplicate(ns, "pool-2", id, ["pool-1"]);
        // pool-1's entries existed; now nothing declares the ID and SPIRE Server drops them.
        await waitNoEntries(id);

        await deleteBinding(ns, "pool-2");
        await assertServes(ns, "pool-1", survivor);
        const entries = await waitForIdentityEntries(stack, survivor, poolPods);
        assert.equal(entries.length, poolPods.length);
        assert.ok(
          entries.every((e) => !e.selectors.includes("k8s:sa:batch-sa")),
          "an entry still carries the deleted binding's service account",
        );
      },
    );

    await step(
      "PerObjective bindings of one objective with different accounts and containers: no entry for the objective's ID while both exist; moving one to another objective gives each ID exactly its binding's selectors",
      "PerObjective duplicate and change",
      async () => {
        const ns = nsObjective;
        const chatId = `spiffe://${TRUST_DOMAIN}/ns/${ns}/objective/chat`;
        const batchId = `spiffe://${TRUST_DOMAIN}/ns/${ns}/objective/batch`;
        const chat = identity(ns, "chat", chatId, "llama-sa", "vllm");
        const perObjective = (objective: string, sa: string, container: string) => ({
          poolRef: { name: "llama" },
          objectiveRef: { name: objective },
          mode: "PerObjective",
          serviceAccountName: sa,
          containerName: container,
        });
        await apply([
          poolV1Manifest(ns, "llama", { matchLabels: LABELS }),
          objectiveManifest(GAIE_V1, ns, "chat", { name: "llama" }),
          objectiveManifest(GAIE_V1, ns, "batch", { name: "llama" }),
          bindingManifest(ns, "chat", perObjective("chat", "llama-sa", "vllm")),
        ]);
        await assertServes(ns, "chat", chat);
        await waitForIdentityEntries(stack, chat, objectivePods);

        await apply([bindingManifest(ns, "chat-2", perObjective("chat", "batch-sa", "worker"))]);
        await assertDuplicate(ns, "chat", chatId, ["chat-2"]);
        await assertDuplicate(ns, "chat-2", chatId, ["chat"]);
        await waitNoEntries(chatId);

        // The fix by change, not deletion: chat-2 gets an objective (and so an ID) of its own.
        await apply([bindingManifest(ns, "chat-2", perObjective("batch", "batch-sa", "worker"))]);
        const batch = identity(ns, "chat-2", batchId, "batch-sa", "worker");
        await assertServes(ns, "chat", chat);
        await assertServes(ns, "chat-2", batch);
        await waitForIdentityEntries(stack, chat, objectivePods);
        await waitForIdentityEntries(stack, batch, objectivePods);
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
