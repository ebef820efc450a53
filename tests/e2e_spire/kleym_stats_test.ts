/**
 * SPIRE's figures on the binding (docs/reconciler.md, "SPIRE's figures"): each binding shows what
 * SPIRE Controller Manager (SCM) registered for its ClusterSPIFFEID (`status.spire`, copied from
 * the object's `status.stats`), and kleym writes the binding only when those figures change. One
 * kleym (`--spire-stats-interval`, the coalescing bound, set short here so the test is quick) next
 * to one classless SPIRE stack, on the run's shared control plane.
 *
 * Writes are counted by watching the binding (tests/e2e_spire/binding_watch.ts: every change of
 * it, in order, none folded), after kleym has settled (queue idle, write counter still): "exactly
 * one write per change" is then a property of what the API server saw, not a sample.
 *
 * Deadlines per figure change are derived from the configuration the test sets: SCM's idle pass
 * interval (`gcInterval`; pod events start a pass at once) plus kleym's coalescing bound plus a
 * few seconds for a busy machine.
 */
import assert from "node:assert/strict";
import { activityFromMetrics, waitSettled } from "../harness/settle.ts";
import { testEnv } from "../harness/env.ts";
import { delay } from "../harness/poll.ts";
import { startSpire } from "../harness/spire.ts";
import { type BindingWrites, watchBinding } from "./binding_watch.ts";
import {
  cleanUp,
  type ClusterSPIFFEIDStats,
  createNode,
  createPod,
  fixtureIdentity,
  fixtureIn,
  managedClusterSPIFFEIDs,
  type NodeRef,
  pollUntil,
  startedTogether,
  startKleym,
  suffix,
  TRUST_DOMAIN,
  waitReady,
} from "./support.ts";

const POOL_LABELS = { app: "model-server" };
const GC_INTERVAL_MS = 2_000;
const STATS_INTERVAL_S = 3;
const STATS_INTERVAL_MS = STATS_INTERVAL_S * 1000;
const FEW_SECONDS_MS = 10_000;
/** One figure change reaches the binding within this (SCM pass + kleym's bound + slack). */
const CHANGE_DEADLINE_MS = GC_INTERVAL_MS + STATS_INTERVAL_MS + FEW_SECONDS_MS;
/**
 * The steady-state window is the property under test (figures-only changes are coalesced, not
 * written each time).
 */
const STEADY_WINDOW_MS = 60_000;

const FIGURES = [
  "namespacesSelected",
  "namespacesIgnored",
  "podsSelected",
  "entriesToSet",
  "entriesMasked",
  "entryFailures",
  "podEntryRenderFailures",
] as const;

type Spire = Record<(typeof FIGURES)[number], number> & {
  clusterSPIFFEIDName: string;
  lastChangeTime: string;
};

const spireOf = (b: { status?: unknown }): Spire | undefined =>
  (b.status as { spire?: Spire } | undefined)?.spire;

/** SCM's stats as the binding must show them: every figure, an absent one as 0. */
const figures = (stats: ClusterSPIFFEIDStats | undefined) =>
  Object.fromEntries(FIGURES.map((f) => [f, stats?.[f] ?? 0]));

Deno.test("kleym + SPIRE: each binding shows what SPIRE Controller Manager registered, written only when the figures change", async (t) => {
  const started = performance.now();
  const env = await testEnv();
  const [stack, kleym] = await startedTogether(
    startSpire(env, { trustDomain: TRUST_DOMAIN, gcIntervalMs: GC_INTERVAL_MS }),
    startKleym("e2e-stats", [`--spire-stats-interval=${STATS_INTERVAL_S}s`]),
  );
  console.log(`  SPIRE stack + kleym up: ${Math.round(performance.now() - started)} ms`);

  const namespaces: string[] = [];
  const nodes: NodeRef[] = [];
  const watches: BindingWrites[] = [];
  const foreignObjects: string[] = [];
  let failed = false;
  const step = async (name: string, f: () => Promise<void>) => {
    if (!await t.step(name, f)) failed = true;
  };
  const bindingEvents = async (ns: string) =>
    (JSON.parse(await env.kubectl(["get", "events.events.k8s.io", "-n", ns, "-o", "json"])) as {
      items: { regarding?: { name?: string }; reason?: string; type?: string; note?: string }[];
    }).items;
  const bindingObject = async (ns: string, name: string) =>
    JSON.parse(await env.kubectl(["get", "iib", name, "-n", ns, "-o", "json"])) as {
      status?: unknown;
    };
  const settled = () =>
    waitSettled("kleym", async () => activityFromMetrics(await kleym.operator.metrics()));
  /** The binding's figures equal its ClusterSPIFFEID's stats: nothing is held or on its way. */
  const inStep = async (ns: string, binding: string, w: BindingWrites) => {
    const [csid] = await managedClusterSPIFFEIDs(env, ns, binding);
    const spire = spireOf(w.latest());
    return csid?.status?.stats !== undefined && spire !== undefined &&
      JSON.stringify(figures(spire)) === JSON.stringify(figures(csid.status.stats));
  };
  try {
    const [nsPods, nsMasked, nsFailing] = await Promise.all(
      ["e2e-stats", "e2e-masked", "e2e-failing"].map((p) => env.newNamespace(p)),
    );
    namespaces.push(nsPods, nsMasked, nsFailing);
    const node = await createNode(env, `e2e-${suffix()}-stats`);
    nodes.push(node);
    const pod = (namespace: string, name: string) =>
      createPod(env, { namespace, name, labels: POOL_LABELS, node });

    await step(
      "acceptance 1: 2 pods -> podsSelected 2; a third -> 3; one deleted -> 2; each change within SCM's pass interval plus the coalescing bound plus a few seconds, and exactly one binding write per change",
      async () => {
        await Promise.all([pod(nsPods, "model-server-0"), pod(nsPods, "model-server-1")]);
        await env.kubectl(["apply", "-f", "-"], { stdin: fixtureIn("pool-only", nsPods) });
        await waitReady(env, nsPods, "pool-a");
        const w = await watchBinding(env, nsPods, "pool-a");
        watches.push(w);
        await pollUntil("podsSelected 2", 60_000, () => spireOf(w.latest())?.podsSelected === 2);
        await pollUntil("figures in step with SCM", 60_000, () => inStep(nsPods, "pool-a", w));
        await settled();

        const change = async (what: string, act: () => Promise<unknown>, pods: number) => {
          const before = w.writes().length;
          const t0 = performance.now();
          await act();
          const seen = await pollUntil(
            `${what}: podsSelected ${pods}`,
            CHANGE_DEADLINE_MS,
            () => spireOf(w.latest())?.podsSelected === pods && w.latest(),
          );
          const ms = Math.round(performance.now() - t0);
          await settled();
          assert.ok(await inStep(nsPods, "pool-a", w), "the figures are SCM's, copied");
          const writes = w.writes().slice(before);
          console.log(`  ${what}: podsSelected ${pods} on the binding after ${ms} ms`);
          assert.equal(writes.length, 1, `writes: ${JSON.stringify(writes.map(spireOf))}`);
          assert.equal(spireOf(seen)?.entriesToSet, pods);
          return spireOf(seen) as Spire;
        };
        const three = await change("a third pod", () => pod(nsPods, "model-server-2"), 3);
        const two = await change("one pod deleted", () =>
          env.kubectl([
            "delete",
            "pod",
            "model-server-1",
            "-n",
            nsPods,
            "--grace-period=0",
            "--force",
          ]), 2);
        // The coalescing bound, as the status records it (lastChangeTime has whole seconds).
        const apart = Date.parse(two.lastChangeTime) - Date.parse(three.lastChangeTime);
        assert.ok(apart >= STATS_INTERVAL_MS, `figures-only writes ${apart} ms apart`);
        // The printer column shows the figure (kubectl aligns a column's values under its header).
        const [header, row] = (await env.kubectl(["get", "iib", "pool-a", "-n", nsPods]))
          .split("\n");
        const at = header.indexOf("PODS");
        assert.ok(at >= 0, header);
        assert.equal(row.slice(at).split(/\s/)[0], "2", `${header}\n${row}`);
      },
    );

    await step(
      "acceptance 2: an older foreign ClusterSPIFFEID with the same SPIFFE ID and selectors masks the binding's entries; the binding shows entriesMasked and a Warning naming it; deleting it clears the figures",
      async () => {
        await Promise.all([pod(nsMasked, "model-server-0"), pod(nsMasked, "model-server-1")]);
        const id = fixtureIdentity("pool-only", nsMasked);
        const foreignName = `legacy-${nsMasked}`;
        foreignObjects.push(foreignName);
        await env.kubectl(["create", "-f", "-"], {
          stdin: JSON.stringify({
            apiVersion: "spire.spiffe.io/v1alpha1",
            kind: "ClusterSPIFFEID",
            metadata: { name: foreignName },
            spec: {
              spiffeIDTemplate: id.spiffeId,
              podSelector: { matchLabels: POOL_LABELS },
              namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": nsMasked } },
              workloadSelectorTemplates: id.selectors,
              hint: "legacy",
            },
          }),
        });
        const foreign = async () =>
          JSON.parse(await env.kubectl(["get", "clusterspiffeid", foreignName, "-o", "json"])) as {
            metadata: { creationTimestamp: string };
            status?: { stats?: ClusterSPIFFEIDStats };
          };
        // Barrier: SCM registers the foreign object's entries.
        const created = await pollUntil(
          "the foreign object's entries are set",
          60_000,
          async () => {
            const f = await foreign();
            return f.status?.stats?.entriesToSet === 2 && f.metadata.creationTimestamp;
          },
        );
        // SCM keeps the object with the older creationTimestamp, which has whole seconds: the
        // binding's object must be created in a later second for "older" to hold.
        await pollUntil(
          "a second past the foreign object's creation",
          5_000,
          () => Date.now() >= Date.parse(created) + 1000,
        );
        await env.kubectl(["apply", "-f", "-"], { stdin: fixtureIn("pool-only", nsMasked) });
        await waitReady(env, nsMasked, "pool-a");
        const [ours] = await managedClusterSPIFFEIDs(env, nsMasked, "pool-a");
        const w = await watchBinding(env, nsMasked, "pool-a");
        watches.push(w);
        const masked = await pollUntil("entriesMasked 2", 60_000, () => {
          const s = spireOf(w.latest());
          return s?.entriesMasked === 2 && s.podsSelected === 2 && s;
        });
        assert.equal(masked.entriesToSet, 0);
        assert.equal(masked.clusterSPIFFEIDName, ours.metadata.name);
        const warning = await pollUntil(
          "a SPIREEntriesMasked Warning",
          30_000,
          async () =>
            (await bindingEvents(nsMasked)).find((e) =>
              e.regarding?.name === "pool-a" && e.reason === "SPIREEntriesMasked"
            ),
        );
        assert.equal(warning.type, "Warning");
        assert.ok(warning.note?.includes(`ClusterSPIFFEID ${foreignName}`), warning.note);
        assert.ok(warning.note?.includes("delete it or stop it from selecting"), warning.note);

        await env.kubectl(["delete", "clusterspiffeid", foreignName, "--wait=true"]);
        const cleared = await pollUntil("entriesMasked 0", CHANGE_DEADLINE_MS, () => {
          const s = spireOf(w.latest());
          return s?.entriesMasked === 0 && s.entriesToSet === 2 && s;
        });
        assert.equal(cleared.podsSelected, 2);
      },
    );

    await step(
      "a selected pod whose Node does not exist: podEntryRenderFailures on the binding and a SPIREEntryFailures Warning saying why",
      async () => {
        await pod(nsFailing, "model-server-0");
        await createPod(env, {
          namespace: nsFailing,
          name: "model-server-1",
          labels: POOL_LABELS,
          node: { name: `gone-${suffix()}`, uid: "" },
        });
        await env.kubectl(["apply", "-f", "-"], { stdin: fixtureIn("pool-only", nsFailing) });
        const s = await pollUntil("podEntryRenderFailures 1", 60_000, async () => {
          const spire = spireOf(await bindingObject(nsFailing, "pool-a"));
          return spire?.podEntryRenderFailures === 1 && spire;
        });
        assert.deepEqual([s.podsSelected, s.entriesToSet, s.entryFailures], [2, 1, 0]);
        const warning = await pollUntil(
          "a SPIREEntryFailures Warning",
          30_000,
          async () =>
            (await bindingEvents(nsFailing)).find((e) =>
              e.regarding?.name === "pool-a" && e.reason === "SPIREEntryFailures"
            ),
        );
        assert.equal(warning.type, "Warning");
        assert.ok(warning.note?.includes("1 selected pod(s) whose entry failed to render"));
        assert.ok(warning.note?.includes("Node is gone"), warning.note);
      },
    );

    await step(
      "acceptance 3: 60 s of steady state with SPIRE running: zero writes from kleym",
      async () => {
        for (const [ns, w] of [[nsPods, watches[0]], [nsMasked, watches[1]]] as const) {
          assert.ok(w, "the bindings of the steps above are watched");
          await pollUntil(`${ns} figures in step`, 60_000, () => inStep(ns, "pool-a", w));
        }
        const before = await settled();
        const writesBefore = watches.map((w) => w.writes().length);
        const logsBefore = kleym.operator.logs.length;
        const window = delay(STEADY_WINDOW_MS);
        // Inside the window both controllers react, with nothing to change: a foreign label on
        // kleym's object (kleym reconciles its binding: no drift, others' labels stay; SCM runs a
        // pass: same stats, so it writes no status) and a pod the pool does not select (a pass).
        const [ours] = await managedClusterSPIFFEIDs(env, nsPods, "pool-a");
        await env.kubectl(["label", "clusterspiffeid", ours.metadata.name, "example.com/seen=yes"]);
        await createPod(env, {
          namespace: nsPods,
          name: "other-0",
          labels: { app: "other" },
          node,
        });
        await window;
        const after = activityFromMetrics(await kleym.operator.metrics());
        const reconciles = kleym.operator.logs.slice(logsBefore).filter((l) =>
          l.msg === "reconcile" && l.binding === `${nsPods}/pool-a`
        );
        assert.ok(reconciles.length >= 1, "kleym reconciled the binding in the window");
        assert.deepEqual(reconciles.map((l) => l.writes).filter((n) => n !== 0), []);
        // SCM kept running its passes throughout: it still answers and its entries are there.
        assert.ok((await stack.entries()).length >= 4, "SPIRE still holds the pods' entries");
        console.log(`  steady window: ${after.writes - before.writes} writes from kleym`);
        assert.equal(after.writes - before.writes, 0, "kleym wrote in steady state");
        assert.deepEqual(watches.map((w) => w.writes().length), writesBefore);
      },
    );
  } catch (e) {
    failed = true;
    throw e;
  } finally {
    await Promise.all(watches.map((w) => w.stop()));
    for (const name of foreignObjects) {
      await env.kubectl(["delete", "clusterspiffeid", name, "--ignore-not-found"]).catch(() => {});
    }
    const errors = await cleanUp(env, namespaces, nodes);
    await kleym.stop();
    await stack.stop();
    console.log(`  whole test: ${Math.round(performance.now() - started)} ms`);
    if (failed) {
      console.error(`kleym log tail:\n${kleym.logTail(60)}`);
    } else assert.deepEqual(errors, [], "clean-up failed");
  }
});
