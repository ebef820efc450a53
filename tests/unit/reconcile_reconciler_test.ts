/**
 * The one-key reconciler (reconcile/reconciler.ts) with the exclusivity engine (exclusivity.ts),
 * in memory: informer stand-ins with real caches and read-your-writes views, a `FakeClock`, and
 * recording stand-ins for the few client calls a reconcile makes (the real API server's behaviour
 * is covered by tests/integration/reconcile_*_test.ts). These pin the reconciler's own decisions:
 * write order, what goes into the views, requeue policy, the GET only for a name known taken,
 * orphan removal only from synced caches, peer fan-out, and the per-reconcile debug line.
 */
import { deepEqual, equal, ok } from "node:assert/strict";
import { FakeClock } from "../../apis/clock.ts";
import { ApiError } from "../../apis/errors.ts";
import { MutationCache } from "../../apis/mutation_cache.ts";
import type { KubeObject } from "../../apis/rest.ts";
import type { InferenceIdentityBinding } from "../../generated/kleym.sonda.red/v1alpha1.ts";
import type { ClusterSPIFFEID } from "../../generated/spire.spiffe.io/v1alpha1.ts";
import { Logger } from "../../observe/log.ts";
import { Metrics } from "../../observe/metrics.ts";
import type { EventRegarding } from "../../apis/events.ts";
import { ExclusivityEngine } from "../../reconcile/exclusivity.ts";
import { type ReconcileClients, Reconciler } from "../../reconcile/reconciler.ts";
import type { ResolveSources } from "../../reconcile/resolve.ts";
import { FINALIZER } from "../../reconcile/types.ts";
import { ownerKey, refIndex } from "../../reconcile/watch_map.ts";
import { InformerStandIn } from "./informer_standin.ts";

const CRD_RETRY_MS = 30_000;
const config = { trustDomain: "td.example" };

function bindingOf(name: string, extra: Record<string, unknown> = {}): InferenceIdentityBinding {
  return {
    apiVersion: "kleym.sonda.red/v1alpha1",
    kind: "InferenceIdentityBinding",
    metadata: { name, namespace: "ns", uid: `uid-${name}`, generation: 1, resourceVersion: "1" },
    spec: {
      poolRef: { name: "pool" },
      objectiveRef: { name },
      serviceAccountName: "sa",
      mode: "PerObjective",
      containerName: "main",
      ...extra,
    },
  } as InferenceIdentityBinding;
}

/** Records the client calls; answers like the API server would (resourceVersions from `rv`). */
class Clients {
  calls: string[] = [];
  rv = 100;
  createFails: ApiError | undefined;
  updateFails: ApiError | undefined;
  deleteFails: ApiError | undefined;
  statusFails: ApiError | undefined;
  getAnswer: ClusterSPIFFEID | undefined;
  /** Holds every create until resolved: a reconcile caught between its verdict and its write. */
  createGate: Promise<void> | undefined;

  readonly clients: ReconcileClients = {
    bindings: {
      patch: (name: string, _type: string, body: unknown) => {
        this.calls.push(`patch binding ${name}`);
        const finalizers = (body as { metadata: { finalizers: string[] } }).metadata.finalizers;
        return Promise.resolve(this.#answer({ ...this.current(name), finalizers }));
      },
      updateStatus: (object: InferenceIdentityBinding) => {
        this.calls.push(`status ${object.metadata.name}`);
        if (this.statusFails) return Promise.reject(this.statusFails);
        return Promise.resolve({ ...structuredClone(object), metadata: this.#meta(object) });
      },
    } as unknown as ReconcileClients["bindings"],
    clusterSPIFFEIDs: {
      get: (name: string) => {
        this.calls.push(`get ${name}`);
        if (this.getAnswer) return Promise.resolve(this.getAnswer);
        return Promise.reject(new ApiError({ status: 404, reason: "NotFound" }));
      },
      create: async (object: ClusterSPIFFEID) => {
        this.calls.push(`create ${object.metadata.name}`);
        await this.createGate;
        if (this.createFails) throw this.createFails;
        return { ...structuredClone(object), metadata: this.#meta(object) };
      },
      update: (object: ClusterSPIFFEID) => {
        this.calls.push(`update ${object.metadata.name}`);
        if (this.updateFails) return Promise.reject(this.updateFails);
        return Promise.resolve({ ...structuredClone(object), metadata: this.#meta(object) });
      },
      delete: (name: string) => {
        this.calls.push(`delete ${name}`);
        if (this.deleteFails) return Promise.reject(this.deleteFails);
        return Promise.resolve({ metadata: { name, resourceVersion: String(++this.rv) } });
      },
      listAll: () => {
        this.calls.push("list");
        return Promise.resolve({ metadata: {}, items: [] });
      },
    } as unknown as ReconcileClients["clusterSPIFFEIDs"],
  };

  current: (name: string) => KubeObject["metadata"] = () => ({});

  #answer(metadata: KubeObject["metadata"]): InferenceIdentityBinding {
    return { ...bindingOf(metadata.name ?? ""), metadata: this.#meta({ metadata }) };
  }

  #meta(object: { metadata: KubeObject["metadata"] }): KubeObject["metadata"] {
    return { uid: "server-uid", ...object.metadata, resourceVersion: String(++this.rv) };
  }
}

function rig(opts: { servedOutput?: boolean } = {}) {
  const clock = new FakeClock(Date.parse("2026-01-01T00:00:00Z"));
  const bindings = new InformerStandIn<InferenceIdentityBinding>();
  bindings.cache.addIndex("namespace", (b) => [b.metadata.namespace ?? ""]);
  bindings.cache.addIndex("pool", (b) => refIndex(b, "poolRef"));
  const bindingsView = new MutationCache(bindings, { clock });
  const csids = new InformerStandIn<KubeObject>();
  csids.cache.addIndex("owner", (o) => {
    const owner = ownerKey(o);
    return owner === undefined ? [] : [owner];
  });
  const csidView = new MutationCache(csids, { clock });
  const pool = { metadata: { name: "pool" }, spec: { selector: { matchLabels: { app: "m" } } } };
  const sources = (): ResolveSources => ({
    pools: [{
      apiVersion: "inference.networking.k8s.io/v1",
      served: true,
      synced: true,
      get: (_ns, name) => name === "pool" ? pool : undefined,
    }],
    objectives: [{
      apiVersion: "inference.networking.k8s.io/v1",
      served: true,
      synced: true,
      get: (_ns, name) => ({ metadata: { name }, spec: { poolRef: { name: "pool" } } }),
    }],
  });
  const enqueued: string[] = [];
  const exclusivity = new ExclusivityEngine({
    bindings: bindingsView,
    keys: () => bindings.cache.keys(),
    sources,
    servedGeneration: () => 0,
    config,
    onAffected: (keys) => enqueued.push(...keys),
  });
  bindings.addHandler({
    onAdd: (b) => exclusivity.changed([`${b.metadata.namespace}/${b.metadata.name}`]),
    onUpdate: (_, b) => exclusivity.changed([`${b.metadata.namespace}/${b.metadata.name}`]),
    onDelete: (b) => exclusivity.changed([`${b.metadata.namespace}/${b.metadata.name}`]),
  });
  const events: string[] = [];
  const logs: Record<string, unknown>[] = [];
  const clients = new Clients();
  clients.current = (name) => bindingsView.get(`ns/${name}`)?.metadata ?? {};
  const reconciler = new Reconciler({
    config,
    bindings: bindingsView,
    bindingsSynced: () => bindings.hasSynced(),
    managed: () => opts.servedOutput === false ? undefined : { informer: csids, view: csidView },
    sources,
    exclusivity,
    clients: clients.clients,
    events: {
      record: (regarding: EventRegarding, type, reason) =>
        events.push(`${regarding.name} ${type}/${reason}`),
    },
    logger: new Logger({ level: "debug", sink: (line) => logs.push(JSON.parse(line)) }),
    metrics: new Metrics(),
    clock,
    crdRetryMs: CRD_RETRY_MS,
  });
  const signal = new AbortController().signal;
  return {
    /** A new pool selector (what a pool edit delivers to the cache). */
    setPoolApp(app: string) {
      pool.spec.selector.matchLabels.app = app;
      exclusivity.inputsChanged(bindings.cache.keys()); // every binding here uses "pool"
    },
    clock,
    bindings,
    bindingsView,
    csids,
    csidView,
    clients,
    events,
    logs,
    reconciler,
    signal,
    enqueued,
  };
}

const debugLines = (logs: Record<string, unknown>[]) => logs.filter((l) => l.msg === "reconcile");

/** Reconciles `key` again while the reconciler asks for it (as the controller's queue would). */
async function settle(r: ReturnType<typeof rig>, key: string) {
  let result = await r.reconciler.reconcile(key, r.signal);
  for (let i = 0; i < 5 && result.enqueue.includes(key); i++) {
    result = await r.reconciler.reconcile(key, r.signal);
  }
  return result;
}

Deno.test("the reconciler: one key, live / deleting / gone", async (t) => {
  await t.step(
    "a new binding: the finalizer alone first, then create and status",
    async () => {
      const r = rig();
      r.bindings.upsert(bindingOf("b"));
      const first = await r.reconciler.reconcile("ns/b", r.signal);
      deepEqual(r.clients.calls, ["patch binding b"]);
      deepEqual(first.enqueue, ["ns/b"], "reconciled again at once");
      deepEqual(r.events, []);
      deepEqual(r.bindingsView.get("ns/b")?.metadata.finalizers, [FINALIZER]);
      const second = await r.reconciler.reconcile("ns/b", r.signal);
      deepEqual(r.clients.calls.map((c) => c.split(" ")[0]), ["patch", "create", "status"]);
      equal(second.next, undefined);
      const name = r.clients.calls[1].split(" ")[1];
      ok(r.csidView.pending(name), "the created object stands in until the watch has it");
      deepEqual(r.events, ["b Normal/Reconciled"]);
      deepEqual(debugLines(r.logs).map((l) => [l.binding, l.outcome, l.writes]), [
        ["ns/b", "Finalizer", 1],
        ["ns/b", "Ready/Reconciled", 2],
      ]);
    },
  );

  await t.step(
    "the next reconcile (watch not caught up) writes nothing and still logs",
    async () => {
      const r = rig();
      r.bindings.upsert(bindingOf("b"));
      await settle(r, "ns/b");
      r.clients.calls = [];
      r.events.length = 0;
      await r.reconciler.reconcile("ns/b", r.signal);
      deepEqual(r.clients.calls, [], "planned from the views: no duplicate create, no 409");
      deepEqual(r.events, []);
      const last = debugLines(r.logs).at(-1);
      deepEqual([last?.outcome, last?.writes], ["Ready/Reconciled", 0]);
      equal(typeof last?.durationMs, "number");
    },
  );

  await t.step("the created object deleted behind kleym's back is created again", async () => {
    const r = rig();
    r.bindings.upsert(bindingOf("b"));
    await settle(r, "ns/b");
    const created = r.csidView.get(r.clients.calls[1].split(" ")[1]);
    ok(created);
    r.csids.upsert(created);
    r.csids.delete(created.metadata.name ?? "", String(++r.clients.rv));
    r.clients.calls = [];
    await r.reconciler.reconcile("ns/b", r.signal);
    deepEqual(r.clients.calls.map((c) => c.split(" ")[0]), ["create"]);
  });

  await t.step(
    "AlreadyExists: requeue with backoff, then GET the name until it is free",
    async () => {
      const r = rig();
      r.bindings.upsert(bindingOf("b", {}));
      r.clients.createFails = new ApiError({ status: 409, reason: "AlreadyExists" });
      const first = await settle(r, "ns/b");
      deepEqual(first.next, { requeue: true });
      equal(debugLines(r.logs).at(-1)?.outcome, "Retry");
      r.clients.calls = [];
      r.clients.createFails = undefined;
      r.clients.getAnswer = { metadata: { name: "x", labels: {} } } as ClusterSPIFFEID;
      await r.reconciler.reconcile("ns/b", r.signal);
      ok(r.clients.calls[0].startsWith("get "), r.clients.calls.join());
    },
  );

  await t.step("a foreign holder of the name: NameTaken, retried on the timer", async () => {
    const r = rig();
    r.bindings.upsert(bindingOf("b"));
    r.clients.createFails = new ApiError({ status: 409, reason: "AlreadyExists" });
    await settle(r, "ns/b");
    const name = r.clients.calls.find((c) => c.startsWith("create "))?.split(" ")[1] ?? "";
    r.clients.getAnswer = { metadata: { name, labels: {} } } as ClusterSPIFFEID;
    const second = await r.reconciler.reconcile("ns/b", r.signal);
    deepEqual(second.next, { requeueAfterMs: CRD_RETRY_MS });
    equal(debugLines(r.logs).at(-1)?.outcome, "RenderFailure/ClusterSPIFFEIDNameTaken");
  });

  await t.step(
    "ClusterSPIFFEID API not served: CRD-missing status, retried on the timer",
    async () => {
      const r = rig({ servedOutput: false });
      r.bindings.upsert(bindingOf("b"));
      const result = await settle(r, "ns/b");
      deepEqual(result.next, { requeueAfterMs: CRD_RETRY_MS });
      deepEqual(r.clients.calls.map((c) => c.split(" ")[0]), ["patch", "status"]);
      deepEqual(r.events, ["b Warning/ClusterSPIFFEIDCRDMissing"]);
    },
  );

  await t.step("managed cache not synced yet: retry, nothing written", async () => {
    const r = rig();
    r.csids.synced = false;
    r.bindings.upsert(bindingOf("b"));
    deepEqual((await r.reconciler.reconcile("ns/b", r.signal)).next, { requeue: true });
    deepEqual(r.clients.calls, []);
  });

  await t.step("gone: its orphan is deleted — only when both caches are synced", async () => {
    const r = rig();
    const orphan = {
      metadata: {
        name: "orphan",
        uid: "u1",
        resourceVersion: "5",
        labels: {
          "kleym.sonda.red/managed-by": "kleym",
          "kleym.sonda.red/binding-namespace": "ns",
          "kleym.sonda.red/binding-name": "b",
        },
      },
    };
    r.csids.upsert(orphan);
    r.bindings.synced = false;
    await r.reconciler.reconcile("ns/b", r.signal);
    deepEqual(r.clients.calls, []);
    r.bindings.synced = true;
    await r.reconciler.reconcile("ns/b", r.signal);
    deepEqual(r.clients.calls, ["delete orphan"]);
    equal(r.csidView.get("orphan"), undefined, "the delete's answer hides the cached copy");
    equal(debugLines(r.logs).at(-1)?.outcome, "Gone");
  });

  await t.step("deleting: finalize (confirmation LIST), then the finalizer goes", async () => {
    const r = rig();
    r.bindings.upsert({
      ...bindingOf("b"),
      metadata: {
        ...bindingOf("b").metadata,
        deletionTimestamp: "2026-01-01T00:00:00Z",
        finalizers: [FINALIZER],
      },
    });
    const result = await r.reconciler.reconcile("ns/b", r.signal);
    deepEqual(r.clients.calls, ["list", "patch binding b"]);
    equal(result.next, undefined);
    deepEqual(
      [debugLines(r.logs).at(-1)?.outcome, debugLines(r.logs).at(-1)?.writes],
      ["Deleting/Finalized", 1],
    );
  });
});

Deno.test("SPIRE's figures: one status write per change, a held change requeues, a new masked figure costs one LIST", async () => {
  const r = rig();
  r.bindings.upsert(bindingOf("b"));
  await settle(r, "ns/b");
  const name = r.clients.calls.find((c) => c.startsWith("create "))?.split(" ")[1] ?? "";
  const created = r.csidView.get(name);
  ok(created);
  /** SCM writes status.stats (a status-subresource update: new resourceVersion). */
  const scm = (stats: Record<string, number>) =>
    r.csids.upsert({
      ...structuredClone(created),
      metadata: { ...created.metadata, resourceVersion: String(++r.clients.rv) },
      status: { stats },
    } as KubeObject);
  const reconcile = async () => {
    r.clients.calls = [];
    r.events.length = 0;
    return await r.reconciler.reconcile("ns/b", r.signal);
  };

  scm({ podsSelected: 2, entriesToSet: 2 });
  let result = await reconcile();
  deepEqual(r.clients.calls, ["status b"]);
  deepEqual(r.events, [], "a figures-only write is not 'Reconciled'");
  equal(result.next, undefined);
  equal(r.bindingsView.get("ns/b")?.status?.spire?.podsSelected, 2);

  r.clock.advance(1_000);
  scm({ podsSelected: 3, entriesToSet: 3 });
  result = await reconcile();
  deepEqual(r.clients.calls, [], "held: within 10 s of the last change");
  deepEqual(result.next, { requeueAfterMs: 9_000 });

  r.clock.advance(9_000);
  result = await reconcile();
  deepEqual(r.clients.calls, ["status b"]);
  equal(result.next, undefined);
  equal(r.bindingsView.get("ns/b")?.status?.spire?.podsSelected, 3);

  result = await reconcile();
  deepEqual(r.clients.calls, [], "steady state: no request at all");

  r.clock.advance(10_000);
  scm({ podsSelected: 3, entriesMasked: 3 });
  await reconcile();
  deepEqual(r.clients.calls, ["list", "status b"]);
  deepEqual(r.events, ["b Warning/SPIREEntriesMasked"]);
  await reconcile();
  deepEqual(r.clients.calls, [], "masked figure unchanged: no LIST, no write, no event");
  deepEqual(r.events, []);
});

Deno.test("exclusivity peers: a change enqueues the old and new peers only", async () => {
  const r = rig();
  for (const name of ["a", "b", "c"]) r.bindings.upsert(bindingOf(name));
  r.bindings.upsert(bindingOf("d", { containerName: "other" }));
  // a, b and c share pool + container: a collision of three. d stands apart.
  await settle(r, "ns/a");
  equal(debugLines(r.logs).at(-1)?.outcome, "Conflict/IdentityCollision");
  r.enqueued.length = 0;
  // Unchanged: nobody else is enqueued.
  await r.reconciler.reconcile("ns/a", r.signal);
  deepEqual(r.enqueued, []);
  // d moves to the shared container: its new peers look again; nobody else.
  r.bindings.upsert(bindingOf("d"));
  await r.reconciler.reconcile("ns/d", r.signal);
  deepEqual([...r.enqueued].sort(), ["ns/a", "ns/b", "ns/c"]);
  r.enqueued.length = 0;
  // a leaves (gone): its former peers look again.
  r.bindings.delete("ns/a", String(++r.clients.rv));
  await r.reconciler.reconcile("ns/a", r.signal);
  deepEqual([...r.enqueued].sort(), ["ns/b", "ns/c", "ns/d"]);
});

/** Ready/Conflict of a binding as the view holds it after kleym's status writes. */
function outcomeOf(r: ReturnType<typeof rig>, name: string): string {
  const conditions = (r.bindingsView.get(`ns/${name}`)?.status?.conditions ?? []) as {
    type: string;
    status: string;
    reason: string;
  }[];
  const ready = conditions.find((c) => c.type === "Ready");
  return `${ready?.status}/${ready?.reason}`;
}

Deno.test("races: a duplicate peer and a reconcile, in both orders, end in both refused", async (t) => {
  const withFinalizer = (b: InferenceIdentityBinding) => ({
    ...b,
    metadata: { ...b.metadata, finalizers: [FINALIZER] },
  });
  // a and b render one SPIFFE ID (objective "shared") with different service accounts.
  const a = withFinalizer(bindingOf("a", { objectiveRef: { name: "shared" } }));
  const b = withFinalizer(
    bindingOf("b", { objectiveRef: { name: "shared" }, serviceAccountName: "other" }),
  );

  await t.step("b arrives while a's reconcile is between its verdict and its create", async () => {
    const r = rig();
    r.bindings.upsert(a);
    let release = () => {};
    r.clients.createGate = new Promise((resolve) => release = resolve);
    const inFlight = r.reconciler.reconcile("ns/a", r.signal);
    await Promise.resolve(); // a has its verdict (no peer) and waits in create
    r.bindings.upsert(b);
    await r.reconciler.reconcile("ns/b", r.signal);
    equal(outcomeOf(r, "b"), "False/DuplicateSPIFFEID");
    ok(r.enqueued.includes("ns/a"), "b's arrival enqueues a");
    release();
    await inFlight; // a finishes with the stale verdict: created, Ready ...
    r.clients.createGate = undefined;
    r.clients.calls = [];
    await r.reconciler.reconcile("ns/a", r.signal); // ... and the queue reconciles it again
    equal(outcomeOf(r, "a"), "False/DuplicateSPIFFEID");
    ok(r.clients.calls.some((c) => c.startsWith("delete ")), "a's object is deleted");
  });

  await t.step("a is Ready first, then b arrives: b refused, a enqueued and refused", async () => {
    const r = rig();
    r.bindings.upsert(a);
    await r.reconciler.reconcile("ns/a", r.signal);
    equal(outcomeOf(r, "a"), "True/Reconciled");
    r.enqueued.length = 0;
    r.bindings.upsert(b);
    await r.reconciler.reconcile("ns/b", r.signal);
    equal(outcomeOf(r, "b"), "False/DuplicateSPIFFEID");
    deepEqual(r.enqueued, ["ns/a"]);
    await r.reconciler.reconcile("ns/a", r.signal);
    equal(outcomeOf(r, "a"), "False/DuplicateSPIFFEID");
  });

  await t.step(
    "b leaves while a's reconcile is in flight: a is enqueued and recovers",
    async () => {
      const r = rig();
      r.bindings.upsert(a);
      r.bindings.upsert(b);
      await r.reconciler.reconcile("ns/a", r.signal);
      await r.reconciler.reconcile("ns/b", r.signal);
      equal(outcomeOf(r, "a"), "False/DuplicateSPIFFEID");
      r.enqueued.length = 0;
      const inFlight = r.reconciler.reconcile("ns/a", r.signal);
      r.bindings.delete("ns/b", String(++r.clients.rv));
      await r.reconciler.reconcile("ns/b", r.signal); // gone
      deepEqual(r.enqueued, ["ns/a"]);
      await inFlight;
      await r.reconciler.reconcile("ns/a", r.signal);
      equal(outcomeOf(r, "a"), "True/Reconciled");
    },
  );
});

const refused = (status: number, message: string) =>
  new ApiError({ status, reason: status === 403 ? "Forbidden" : "Invalid", message });

function conditions(r: ReturnType<typeof rig>, key: string) {
  const status = r.bindingsView.get(key)?.status as
    | { conditions?: { type: string; status: string; reason: string; message: string }[] }
    | undefined;
  return Object.fromEntries((status?.conditions ?? []).map((c) => [c.type, c]));
}

/** A Ready binding whose ClusterSPIFFEID the managed informer holds. */
async function readyBinding(r: ReturnType<typeof rig>) {
  r.bindings.upsert(bindingOf("b"));
  await settle(r, "ns/b");
  const name = r.clients.calls.find((c) => c.startsWith("create "))?.split(" ")[1] ?? "";
  const created = r.csidView.get(name);
  ok(created);
  r.csids.upsert(created);
  const written = r.bindingsView.get("ns/b");
  ok(written);
  r.bindings.upsert(written);
  r.clients.calls = [];
  r.events.length = 0;
  return name;
}

Deno.test("fail closed on a refusal (docs/contract.md#fail-closed)", async (t) => {
  await t.step(
    "a refused create: Rejected quoting the server, no IDs, backoff, recovers by itself",
    async () => {
      const r = rig();
      r.bindings.upsert(bindingOf("b"));
      r.clients.createFails = refused(422, "denied by policy no-kleym");
      const first = await settle(r, "ns/b");
      deepEqual(r.clients.calls.map((c) => c.split(" ")[0]), ["patch", "create", "status"]);
      const c = conditions(r, "ns/b");
      deepEqual([c.Ready.status, c.Ready.reason], ["False", "ClusterSPIFFEIDRejected"]);
      deepEqual([c.RenderFailure.status, c.RenderFailure.reason], [
        "True",
        "ClusterSPIFFEIDRejected",
      ]);
      ok(c.Ready.message.includes("denied by policy no-kleym"), c.Ready.message);
      ok(c.Ready.message.includes("refused to create ClusterSPIFFEID"), c.Ready.message);
      const status = r.bindingsView.get("ns/b")?.status as Record<string, unknown>;
      equal(status.computedSpiffeIDs, undefined);
      equal(status.renderedSelectors, undefined);
      deepEqual(r.events, ["b Warning/ClusterSPIFFEIDRejected"]);
      deepEqual(first.next, { requeueAfterMs: 1_000 });
      ok(r.logs.some((l) => l.level === "warn" && String(l.msg).includes("refused")));

      r.clients.calls = [];
      const second = await r.reconciler.reconcile("ns/b", r.signal);
      deepEqual(r.clients.calls.map((c) => c.split(" ")[0]), ["create"], "no status rewrite");
      deepEqual(second.next, { requeueAfterMs: 2_000 }, "backoff doubles");
      for (let i = 0; i < 8; i++) await r.reconciler.reconcile("ns/b", r.signal);
      deepEqual(
        (await r.reconciler.reconcile("ns/b", r.signal)).next,
        { requeueAfterMs: CRD_RETRY_MS },
        "capped at the retry period",
      );

      r.clients.createFails = undefined;
      r.clients.calls = [];
      const recovered = await r.reconciler.reconcile("ns/b", r.signal);
      deepEqual(r.clients.calls.map((c) => c.split(" ")[0]), ["create", "status"]);
      equal(conditions(r, "ns/b").Ready.status, "True");
      equal(recovered.next, undefined);
    },
  );

  await t.step(
    "a Ready binding whose update is refused: its object is deleted and status cleared",
    async () => {
      const r = rig();
      const name = await readyBinding(r);
      r.setPoolApp("m2");
      r.clients.updateFails = refused(403, "ClusterSPIFFEIDs of ns are not allowed");
      const result = await r.reconciler.reconcile("ns/b", r.signal);
      deepEqual(r.clients.calls, [`update ${name}`, `delete ${name}`, "status b"]);
      const c = conditions(r, "ns/b");
      deepEqual([c.Ready.status, c.RenderFailure.reason], ["False", "ClusterSPIFFEIDRejected"]);
      ok(c.Ready.message.includes("ClusterSPIFFEIDs of ns are not allowed"), c.Ready.message);
      equal(r.csidView.get(name), undefined, "the delete's answer is in the view");
      deepEqual(result.next, { requeueAfterMs: 1_000 });
      equal(debugLines(r.logs).at(-1)?.outcome, "RenderFailure/ClusterSPIFFEIDRejected");
    },
  );

  await t.step("the delete refused too: the message says the object still exists", async () => {
    const r = rig();
    const name = await readyBinding(r);
    r.setPoolApp("m2");
    r.clients.updateFails = refused(403, "no updates");
    r.clients.deleteFails = refused(403, "no deletes either");
    await r.reconciler.reconcile("ns/b", r.signal);
    deepEqual(r.clients.calls, [`update ${name}`, `delete ${name}`, "status b"]);
    const message = conditions(r, "ns/b").Ready.message;
    ok(message.includes("no updates") && message.includes("no deletes either"), message);
    ok(message.includes("still exists"), message);
  });

  await t.step("a 409 or a 5xx is not a refusal: retried, nothing reported", async () => {
    for (const error of [refused(409, "conflict"), new ApiError({ status: 503 })]) {
      const r = rig();
      await readyBinding(r);
      r.setPoolApp("m2");
      r.clients.updateFails = error;
      try {
        await r.reconciler.reconcile("ns/b", r.signal);
      } catch { /* a fault: thrown to the queue */ }
      ok(!r.clients.calls.some((c) => c.startsWith("delete") || c.startsWith("status")));
      equal(conditions(r, "ns/b").Ready.status, "True");
    }
  });

  await t.step(
    "a refused status write: a Warning event and a warn line, then backoff",
    async () => {
      const r = rig();
      await readyBinding(r);
      r.setPoolApp("m2");
      r.clients.statusFails = refused(403, "cannot update bindings/status");
      const result = await r.reconciler.reconcile("ns/b", r.signal);
      deepEqual(r.events, ["b Warning/BindingUpdateRejected"]);
      ok(
        r.logs.some((l) =>
          l.level === "warn" && JSON.stringify(l).includes("cannot update bindings/status")
        ),
      );
      deepEqual(result.next, { requeueAfterMs: 1_000 });
    },
  );
});
