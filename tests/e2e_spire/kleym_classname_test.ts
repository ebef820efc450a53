/**
 * SPIRE end to end (docs/spire-e2e.md), class names: kleym started with
 * `--clusterspiffeid-class-name`, next to two SPIRE stacks on the run's shared control plane — one
 * whose controller manager has that `className`, one classless. Each stack has its own SPIRE
 * Server, so each one's entries show exactly what its controller manager did with kleym's
 * ClusterSPIFFEID.
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
  expectedEntries,
  fixtureIdentity,
  fixtureIn,
  type Identity,
  managedClusterSPIFFEIDs,
  type NodeRef,
  startedTogether,
  startKleym,
  suffix,
  TRUST_DOMAIN,
  waitForIdentityEntries,
  waitReady,
} from "./support.ts";

const CLASS = "kleym";

Deno.test("kleym with a ClusterSPIFFEID class name: a controller manager of that class registers its workloads, a classless one ignores them", async (t) => {
  const started = performance.now();
  const env = await testEnv();
  const [classed, kleym] = await startedTogether(
    startSpire(env, { trustDomain: TRUST_DOMAIN, className: CLASS }),
    startKleym("e2e-classname", [`--clusterspiffeid-class-name=${CLASS}`]),
  );
  const classless = await startSpire(env, { trustDomain: TRUST_DOMAIN, installCrds: false })
    .catch(async (e) => {
      await kleym.stop();
      await classed.stop();
      throw e;
    });
  console.log(`  two SPIRE stacks + kleym up: ${Math.round(performance.now() - started)} ms`);

  const namespaces: string[] = [];
  const nodes: NodeRef[] = [];
  const barrierName = `kleym-e2e-classless-barrier-${suffix()}`;
  let failed = false;
  const step = async (name: string, label: string, f: () => Promise<void>) => {
    const start = performance.now();
    if (!await t.step(name, f)) failed = true;
    console.log(`  ${label}: ${Math.round(performance.now() - start)} ms`);
  };
  try {
    const ns = await env.newNamespace("e2e-class");
    namespaces.push(ns);
    const node = await createNode(env, `e2e-${suffix()}-class`);
    nodes.push(node);
    const pods = await Promise.all(
      ["model-server-0", "model-server-1"].map((name) =>
        createPod(env, { namespace: ns, name, labels: { app: "model-server" }, node })
      ),
    );
    const id = fixtureIdentity("pool-only", ns);

    await step(
      "a controller manager configured with kleym's class name turns kleym's classed ClusterSPIFFEID into entries",
      "classed controller manager",
      async () => {
        await env.kubectl(["apply", "-f", "-"], { stdin: fixtureIn("pool-only", ns) });
        const s = await waitReady(env, ns, "pool-a");
        assert.equal(s.clusterSPIFFEIDClassName, CLASS);
        assert.equal(s.computedSpiffeIDs?.[0]?.spiffeID, id.spiffeId);
        const csids = await managedClusterSPIFFEIDs(env, ns, "pool-a");
        assert.equal(csids.length, 1);
        assert.equal(csids[0].spec.className, CLASS);
        await waitForIdentityEntries(classed, id, pods);
      },
    );

    await step(
      "a classless controller manager ignores kleym's classed ClusterSPIFFEID",
      "classless controller manager",
      async () => {
        // Barrier: a classless ClusterSPIFFEID for the same pods, created after kleym's. Once
        // the classless controller manager has rendered it, it has seen kleym's object too.
        const barrier: Identity = {
          spiffeId: `spiffe://${TRUST_DOMAIN}/e2e/classless-barrier`,
          selectors: [`k8s:ns:${ns}`],
          hint: "classless-barrier",
        };
        await env.kubectl(["create", "-f", "-"], {
          stdin: JSON.stringify({
            apiVersion: "spire.spiffe.io/v1alpha1",
            kind: "ClusterSPIFFEID",
            metadata: { name: barrierName },
            spec: {
              spiffeIDTemplate: barrier.spiffeId,
              podSelector: { matchLabels: { app: "model-server" } },
              namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": ns } },
              workloadSelectorTemplates: barrier.selectors,
              hint: barrier.hint,
            },
          }),
        });
        await waitForIdentityEntries(classless, barrier, pods);
        const entries = await classless.entries();
        assert.deepEqual(entriesWithId(entries, id.spiffeId), []);
        // The only entries for these pods are the barrier's.
        assert.deepEqual(entriesForPods(entries, pods), expectedEntries(classless, barrier, pods));
      },
    );
  } catch (e) {
    failed = true;
    throw e;
  } finally {
    await env.kubectl(["delete", "clusterspiffeid", barrierName, "--ignore-not-found"])
      .catch(() => {});
    const errors = await cleanUp(env, namespaces, nodes);
    await kleym.stop();
    await classless.stop();
    await classed.stop();
    console.log(`  whole test: ${Math.round(performance.now() - started)} ms`);
    if (failed) console.error(`kleym log tail:\n${kleym.logTail()}`);
    else assert.deepEqual(errors, [], "clean-up failed");
  }
});
