/**
 * Proves the SPIRE e2e stack on its own (no kleym): a private control plane, SPIRE Server and
 * SPIRE Controller Manager, a Node and a Pod created straight through the API, hand-written
 * ClusterSPIFFEIDs, and the registration entries SPIRE Server ends up with.
 */
import assert from "node:assert/strict";
import { type ControlPlane, startControlPlane } from "../harness/controlplane.ts";
import { type SpireEntry, type SpireStack, startSpire } from "../harness/spire.ts";
import { waitForEntries } from "./support.ts";

const TRUST_DOMAIN = "smoke.kleym.test";
const NS = "smoke";
const NODE = "node-a";

interface Meta {
  metadata: { uid: string; name: string };
}

async function create(cp: ControlPlane, obj: unknown): Promise<Meta> {
  return JSON.parse(
    await cp.kubectl(["create", "-o", "json", "-f", "-"], { stdin: JSON.stringify(obj) }),
  ) as Meta;
}

function clusterSPIFFEID(name: string, spiffeId: string, className?: string) {
  return {
    apiVersion: "spire.spiffe.io/v1alpha1",
    kind: "ClusterSPIFFEID",
    metadata: { name },
    spec: {
      spiffeIDTemplate: spiffeId,
      podSelector: { matchLabels: { app: "smoke" } },
      namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": NS } },
      workloadSelectorTemplates: [`k8s:ns:${NS}`, "k8s:sa:smoke-sa"],
      hint: `hint-${name}`,
      ...(className === undefined ? {} : { className }),
    },
  };
}

const ids = (entries: SpireEntry[]) => entries.map((e) => e.spiffeId);

Deno.test("SPIRE e2e stack", async (t) => {
  const cp = await startControlPlane({ crds: [] });
  const stacks: SpireStack[] = [];
  try {
    let start = performance.now();
    const classless = await startSpire(cp, { trustDomain: TRUST_DOMAIN });
    stacks.push(classless);
    console.log(
      `SPIRE stack (server + controller manager + CRDs) up in ${
        Math.round(performance.now() - start)
      } ms`,
    );

    await cp.kubectl(["create", "namespace", NS]);
    const node = await create(cp, { apiVersion: "v1", kind: "Node", metadata: { name: NODE } });
    const pod = await create(cp, {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "workload", namespace: NS, labels: { app: "smoke" } },
      spec: {
        nodeName: NODE,
        serviceAccountName: "smoke-sa",
        containers: [{ name: "app", image: "registry.invalid/app:1" }],
      },
    });

    await t.step(
      "a ClusterSPIFFEID selecting a pod bound to a Node becomes one entry parented to that node's k8s_psat agent ID",
      async () => {
        const spiffeId = `spiffe://${TRUST_DOMAIN}/ns/${NS}/pool/plain`;
        await create(cp, clusterSPIFFEID("plain", spiffeId));
        const entries = await waitForEntries(
          classless,
          "classless entries",
          (es) => es.length > 0,
          ids,
        );
        assert.equal(entries.length, 1, `exactly one entry expected, got ${ids(entries)}`);
        const [entry] = entries;
        assert.equal(entry.spiffeId, spiffeId);
        // The controller manager's default parent ID template, spelled out literally.
        const parent =
          `spiffe://${TRUST_DOMAIN}/spire/agent/k8s_psat/kleym-e2e/${node.metadata.uid}`;
        assert.equal(entry.parentId, parent);
        assert.equal(classless.agentId(node.metadata.uid), parent);
        assert.deepEqual(entry.selectors, [
          `k8s:ns:${NS}`,
          `k8s:pod-uid:${pod.metadata.uid}`,
          "k8s:sa:smoke-sa",
        ]);
        assert.equal(entry.hint, "hint-plain");
        assert.equal(entry.downstream, false);
      },
    );

    await t.step(
      "a controller manager with a className reconciles only ClusterSPIFFEIDs of that class, and classless ones too only with watchClassless",
      async () => {
        start = performance.now();
        const [classed, classedPlusClassless] = await Promise.all([
          startSpire(cp, { trustDomain: TRUST_DOMAIN, className: "kleym", installCrds: false }),
          startSpire(cp, {
            trustDomain: TRUST_DOMAIN,
            className: "kleym",
            watchClassless: true,
            installCrds: false,
          }),
        ]);
        stacks.push(classed, classedPlusClassless);
        console.log(`two more SPIRE stacks up in ${Math.round(performance.now() - start)} ms`);

        // Objects that must be ignored are created before the one that must be picked up: a
        // reconcile pass that renders the last one has seen the earlier ones in its cache.
        const other = `spiffe://${TRUST_DOMAIN}/ns/${NS}/pool/other`;
        const kleym = `spiffe://${TRUST_DOMAIN}/ns/${NS}/pool/kleym`;
        const plain = `spiffe://${TRUST_DOMAIN}/ns/${NS}/pool/plain`;
        await create(cp, clusterSPIFFEID("other", other, "other"));
        await create(cp, clusterSPIFFEID("kleym", kleym, "kleym"));

        const onlyKleym = await waitForEntries(
          classed,
          "kleym's entry only",
          (es) => ids(es).includes(kleym),
          ids,
        );
        assert.deepEqual(ids(onlyKleym), [kleym]);

        const kleymAndPlain = await waitForEntries(
          classedPlusClassless,
          "kleym's and the plain entry",
          (es) => ids(es).includes(kleym) && ids(es).includes(plain),
          ids,
        );
        assert.deepEqual(ids(kleymAndPlain), [kleym, plain]);

        // The classless controller manager must have ignored both classed objects. Deleting
        // "plain" (created before them) forces a pass that has them in its cache: once that
        // pass has removed plain's entry, nothing else may be left.
        await cp.kubectl(["delete", "clusterspiffeid", "plain", "--wait=true"]);
        const none = await waitForEntries(
          classless,
          "the plain entry gone",
          (es) => !ids(es).includes(plain),
          ids,
        );
        assert.deepEqual(ids(none), []);
      },
    );
  } finally {
    for (const s of stacks.reverse()) await s.stop();
    await cp.stop();
  }
});
