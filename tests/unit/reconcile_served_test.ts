/**
 * Served APIs (reconcile/served.ts): informers start and stop with what discovery reports, the
 * controller hears about changes, a poke re-reads discovery at once, and `join` waits for every
 * loop and informer. Discovery is a stand-in; the informers run against a transport that answers
 * every LIST with an empty list and holds every watch open until it is aborted (the informer's
 * own behaviour against a real API server is tested in tests/integration/apis_watch_test.ts).
 */
import { deepEqual, equal, ok } from "node:assert/strict";
import { FakeClock } from "../../apis/clock.ts";
import { RestClient } from "../../apis/rest.ts";
import type { Transport } from "../../apis/transport.ts";
import { Logger } from "../../observe/log.ts";
import { Metrics } from "../../observe/metrics.ts";
import { ServedApis } from "../../reconcile/served.ts";
import { pollUntil } from "../harness/poll.ts";

/** In-process state: look again after every macrotask. */
const EVERY_TASK = { intervalMs: 0 };

const emptyLists: Transport = (req) => {
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

/** Discovery stand-in: serves exactly the `group/version/plural` strings in `served`. */
class FakeDiscovery {
  served = new Set<string>();
  refreshes = 0;
  refresh(): Promise<void> {
    this.refreshes++;
    return Promise.resolve();
  }
  serves(group: string, version: string, plural: string): boolean {
    return this.served.has(`${group}/${version}/${plural}`);
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
      s.served.poke(); // as an informer's 404 would: re-read now, not in 30 s
      await pollUntil(
        "the new informer",
        60_000,
        () => s.served.ids().includes("pools.v1alpha2"),
        EVERY_TASK,
      );
      deepEqual(s.served.ids().sort(), ["clusterspiffeids", "pools.v1alpha2"]);
      equal(s.served.generation, generation + 1);
      equal(s.changes.filter((c) => c === "served").length, changesBefore + 1);
      equal(s.clock.now(), 0, "the poke did not wait for the timer");
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
    await pollUntil(
      "the periodic refresh",
      60_000,
      () => s.discovery.refreshes === before + 1,
      EVERY_TASK,
    );
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
