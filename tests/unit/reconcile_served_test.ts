/**
 * Served APIs (reconcile/served.ts): informers start and stop with what discovery reports, the
 * controller hears about changes, a poke re-reads discovery at once, and `join` waits for every
 * loop and informer; a resource stops being watched only when it is really gone (absent on two
 * discovery reads and a LIST answering 404: docs/contract.md#fail-static). Discovery is a
 * stand-in; the informers run against a transport that answers every LIST with an empty list (404
 * for the resources in `gone`) and holds every watch open until it is aborted (the informer's own
 * behaviour against a real API server is tested in tests/integration/apis_watch_test.ts).
 */
import { deepEqual, equal, ok } from "node:assert/strict";
import { FakeClock } from "../../apis/clock.ts";
import { RestClient } from "../../apis/rest.ts";
import type { Transport } from "../../apis/transport.ts";
import { Logger } from "../../observe/log.ts";
import { Metrics } from "../../observe/metrics.ts";
import { ServedApis } from "../../reconcile/served.ts";
import { pollUntil } from "../harness/poll.ts";

/** In-process state: look again after every macrotask (the deadline only bounds a failure). */
const until = (cond: () => boolean, what: string) =>
  pollUntil(what, 60_000, cond, { intervalMs: 0 });

/** Group-version paths whose LISTs answer 404 (the CRD is really gone). */
const gone = new Set<string>();

const emptyLists: Transport = (req) => {
  if ([...gone].some((prefix) => req.path.startsWith(prefix))) {
    return Promise.resolve(new Response(JSON.stringify({ code: 404 }), { status: 404 }));
  }
  if (!req.query?.watch) {
    return Promise.resolve(
      new Response(JSON.stringify({ kind: "List", metadata: { resourceVersion: "1" }, items: [] })),
    );
  }
  const body = new ReadableStream<Uint8Array>({
    start: (ctl) => {
      req.signal?.addEventListener("abort", () => {
        try {
          ctl.error(new Error("aborted"));
        } catch { /* closed */ }
      });
    },
  });
  return Promise.resolve(new Response(body));
};

/**
 * Discovery stand-in: serves exactly the `group/version/plural` strings in `served`; those in
 * `failed` are `unknown` (their group-version's document failed).
 */
class FakeDiscovery {
  served = new Set<string>();
  failed = new Set<string>();
  refreshes = 0;
  refresh(): Promise<void> {
    this.refreshes++;
    return Promise.resolve();
  }
  state(group: string, version: string, plural: string): "served" | "absent" | "unknown" {
    const key = `${group}/${version}/${plural}`;
    return this.served.has(key) ? "served" : this.failed.has(key) ? "unknown" : "absent";
  }
}

const POOLS_V1 = "inference.networking.k8s.io/v1/inferencepools";
const CSIDS = "spire.spiffe.io/v1alpha1/clusterspiffeids";

function setup() {
  const clock = new FakeClock();
  const discovery = new FakeDiscovery();
  const changes: string[] = [];
  const registered: string[] = [];
  const served = new ServedApis({
    rest: new RestClient(emptyLists),
    clock,
    crdRetryMs: 30_000,
    logger: new Logger({ level: "error", sink: () => {} }),
    metrics: new Metrics(),
    onInformer: (id) => registered.push(id),
    onChange: (why) => changes.push(why),
    onStatus: () => {},
    onError: () => {},
    discovery,
  });
  return { clock, discovery, served, changes, registered };
}

Deno.test("served APIs follow discovery and join every loop they started", async (t) => {
  await t.step("start: an informer per served resource; sources and the managed view", async () => {
    const s = setup();
    s.discovery.served = new Set([POOLS_V1, CSIDS]);
    const ac = new AbortController();
    await s.served.start(ac.signal);
    deepEqual(s.served.ids().sort(), ["clusterspiffeids", "pools.v1"]);
    deepEqual(s.registered.sort(), ["clusterspiffeids", "pools.v1"]);
    await s.served.settled();
    const pools = s.served.sources().pools;
    deepEqual(pools.map((p) => [p.apiVersion, p.served, p.synced]), [
      ["inference.networking.k8s.io/v1", true, true],
      ["inference.networking.x-k8s.io/v1alpha2", false, false],
    ]);
    ok(s.served.clusterSPIFFEIDs()?.view, "the managed ClusterSPIFFEIDs come with a view");
    ac.abort();
    await s.served.join();
  });

  await t.step(
    "a CRD removed and another installed: informers follow, the controller hears",
    async () => {
      const s = setup();
      s.discovery.served = new Set([POOLS_V1, CSIDS]);
      const ac = new AbortController();
      await s.served.start(ac.signal);
      await s.served.settled();
      const generation = s.served.generation;
      const changesBefore = s.changes.filter((c) => c === "served").length;
      s.discovery.served = new Set([
        CSIDS,
        "inference.networking.x-k8s.io/v1alpha2/inferencepools",
      ]);
      gone.add("/apis/inference.networking.k8s.io/v1/");
      try {
        s.served.poke(); // as an informer's 404 would: re-read now, not in 30 s
        await until(() => s.served.ids().includes("pools.v1alpha2"), "the new informer");
        ok(s.served.ids().includes("pools.v1"), "one absent read is not enough");
        await until(() => s.clock.pending > 0 && s.discovery.refreshes === 2, "a confirming read");
        s.clock.advance(1_000);
        await until(() => !s.served.ids().includes("pools.v1"), "the removal");
        deepEqual(s.served.ids().sort(), ["clusterspiffeids", "pools.v1alpha2"]);
        equal(s.served.generation, generation + 2);
        equal(s.changes.filter((c) => c === "served").length, changesBefore + 2);
        equal(s.clock.now(), 1_000, "the poke and the confirmation did not wait for the timer");
      } finally {
        gone.clear();
      }
      ac.abort();
      await s.served.join();
    },
  );

  await t.step(
    "a failing discovery document (503, Stale) never stops a watch, however long",
    async () => {
      const s = setup();
      s.discovery.served = new Set([POOLS_V1, CSIDS]);
      const ac = new AbortController();
      await s.served.start(ac.signal);
      await s.served.settled();
      s.discovery.served = new Set([CSIDS]);
      s.discovery.failed = new Set([POOLS_V1]);
      for (let i = 1; i <= 10; i++) {
        s.clock.advance(30_000);
        await until(() => s.discovery.refreshes === 1 + i, `refresh ${i}`);
      }
      deepEqual(s.served.ids().sort(), ["clusterspiffeids", "pools.v1"]);
      deepEqual(s.changes.filter((c) => c === "served"), []);
      ac.abort();
      await s.served.join();
    },
  );

  await t.step(
    "absent from discovery on every read, but its LIST answers: still watched",
    async () => {
      const s = setup();
      s.discovery.served = new Set([POOLS_V1, CSIDS]);
      const ac = new AbortController();
      await s.served.start(ac.signal);
      await s.served.settled();
      s.discovery.served = new Set([CSIDS]);
      for (let i = 1; i <= 6; i++) {
        s.clock.advance(30_000);
        await until(() => s.discovery.refreshes > i, `refresh ${i}`);
      }
      ok(s.served.ids().includes("pools.v1"));
      deepEqual(s.changes.filter((c) => c === "served"), []);
      ac.abort();
      await s.served.join();
    },
  );

  await t.step(
    "start-up while a group-version's document fails: watched, its LIST decides",
    async () => {
      const s = setup();
      s.discovery.served = new Set([CSIDS]);
      s.discovery.failed = new Set([POOLS_V1]);
      const ac = new AbortController();
      await s.served.start(ac.signal);
      await s.served.settled();
      deepEqual(s.served.ids().sort(), ["clusterspiffeids", "pools.v1"]);
      ac.abort();
      await s.served.join();
    },
  );

  await t.step("discovery is re-read every crdRetryMs", async () => {
    const s = setup();
    const ac = new AbortController();
    await s.served.start(ac.signal);
    const before = s.discovery.refreshes;
    s.clock.advance(30_000);
    await until(() => s.discovery.refreshes === before + 1, "the periodic refresh");
    ac.abort();
    await s.served.join();
  });

  await t.step("join resolves once the loop and every informer ended", async () => {
    const s = setup();
    s.discovery.served = new Set([POOLS_V1, CSIDS]);
    const ac = new AbortController();
    await s.served.start(ac.signal);
    await s.served.settled();
    ac.abort();
    await s.served.join();
    for (const id of ["pools.v1", "clusterspiffeids"] as const) {
      equal(s.served.running(id)?.informer.status().state, "stopped", id);
    }
    equal(s.clock.pending, 0, "no timer left behind");
  });
});
