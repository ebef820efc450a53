/**
 * A lost DELETE hidden by kleym's own write record, reproduced deterministically
 * (docs/contract.md#rendering, docs/contract.md#status, docs/contract.md#lifecycle: status tells
 * the truth): a second client deletes each new managed ClusterSPIFFEID the moment its ADDED event
 * arrives.
 *
 * The bug needs one interleaving: kleym's own watch delivers ADDED *and* DELETED for the object
 * before kleym has handled the answer to its create. On a loaded machine that happens in some
 * runs only, so the test forces it: the controller's transport holds each create's response until
 * the controller's own ClusterSPIFFEID watch stream has passed the DELETED line for that object
 * (a tee on the watch body), then lets the informer apply it (one macrotask turn: the stream
 * pipeline between the tee and the cache is microtask-only, no I/O), then releases the response.
 *
 * Property: once the deleter stops, every binding is Ready with its exact ClusterSPIFFEID back.
 * Before the fix the read-your-writes overlay kept the dead object and the binding stayed Ready
 * with no ClusterSPIFFEID at all.
 *
 * A second, small test drops one DELETED event from the controller's watch (a lost event: neither
 * the watch nor a relist caused by the watch reports it) and shows the resync repairs it, and that
 * resyncs of a binding in place make no write.
 */
import { equal } from "node:assert/strict";
import { connect } from "../../apis/connect.ts";
import { RequestCounter } from "../../apis/hooks.ts";
import type { Transport } from "../../apis/transport.ts";
import { Informer } from "../../apis/watch.ts";
import { RestClient } from "../../apis/rest.ts";
import { Logger } from "../../observe/log.ts";
import { Metrics } from "../../observe/metrics.ts";
import { Controller } from "../../reconcile/controller.ts";
import { testEnv } from "../harness/env.ts";
import {
  adminClients,
  apply,
  binding,
  conditionOf,
  managedOf,
  pollUntil,
  poolV1,
  TRUST_DOMAIN,
} from "./reconcile_helpers.ts";

const CSID_PATH = "/apis/spire.spiffe.io/v1alpha1/clusterspiffeids";
const BINDINGS = 3;
/** ClusterSPIFFEIDs the deleter removes per binding before it stops. */
const DELETES_EACH = 2;
/** Short, so the resync test sees several periods quickly. */
const SYNC_PERIOD_MS = 1_500;

/**
 * Gate in front of the controller's transport: while `active`, each create's response waits until
 * the controller's own watch stream has carried the DELETED event of that object (by uid). It can
 * also drop DELETED events from that stream (`dropDeletedOf`), so the watch never reports them.
 */
class DeleteGate {
  active = true;
  /** Names whose DELETED events the controller's watch never gets (a lost event). */
  readonly dropDeletedOf = new Set<string>();
  readonly #deletedUids = new Set<string>();
  readonly #waiters = new Map<string, () => void>();

  /** Stop holding: every waiting create answer is released. */
  open(): void {
    this.active = false;
    for (const release of this.#waiters.values()) release();
    this.#waiters.clear();
  }

  wrap(inner: Transport): Transport {
    return async (req) => {
      const res = await inner(req);
      if (req.method === "GET" && req.path === CSID_PATH && req.query?.watch && res.body) {
        return new Response(res.body.pipeThrough(this.#tee()), res);
      }
      if (req.method === "POST" && req.path === CSID_PATH && res.ok) {
        const text = await res.text();
        const uid = String(JSON.parse(text).metadata?.uid);
        if (this.active && !this.#deletedUids.has(uid)) {
          await new Promise<void>((resolve) => this.#waiters.set(uid, resolve));
          // The DELETED line has left the tee; the informer applies it within this turn.
          await new Promise((resolve) => setTimeout(resolve, 0));
        }
        return new Response(text, res);
      }
      return res;
    };
  }

  #tee(): TransformStream<Uint8Array, Uint8Array> {
    const decoder = new TextDecoder();
    const encoder = new TextEncoder();
    let buffered = "";
    return new TransformStream({
      transform: (chunk, controller) => {
        buffered += decoder.decode(chunk, { stream: true });
        const lines = buffered.split("\n");
        buffered = lines.pop() ?? "";
        for (const line of lines) {
          if (line.trim() === "") continue;
          const event = JSON.parse(line);
          const uid = String(event.object?.metadata?.uid);
          if (event.type === "DELETED" && this.dropDeletedOf.has(event.object?.metadata?.name)) {
            continue; // a lost event: the controller's watch never sees it
          }
          controller.enqueue(encoder.encode(`${line}\n`));
          if (event.type !== "DELETED") continue;
          this.#deletedUids.add(uid);
          this.#waiters.get(uid)?.();
          this.#waiters.delete(uid);
        }
      },
      flush: (controller) => {
        if (buffered !== "") controller.enqueue(encoder.encode(buffered));
      },
    });
  }
}

Deno.test("a ClusterSPIFFEID deleted the moment it appears is re-created; status never lies", async () => {
  const env = await testEnv();
  const c = await adminClients(env.kubeconfigPath);
  const ns = await env.newNamespace("write-race");

  // The deleter: its own informer on the namespace's managed objects; ADDED -> delete.
  const deleted = new Map<string, number>();
  const gate = new DeleteGate();
  const pending = new Set<Promise<unknown>>();
  const deleter = new Informer(c.csids, {
    labelSelector: `kleym.sonda.red/managed-by=kleym,kleym.sonda.red/binding-namespace=${ns}`,
  });
  deleter.addHandler({
    onAdd: (object) => {
      if (!gate.active) return;
      const owner = object.metadata.labels?.["kleym.sonda.red/binding-name"] ?? "";
      deleted.set(owner, (deleted.get(owner) ?? 0) + 1);
      const p = c.csids.delete(object.metadata.name ?? "", {
        preconditions: { uid: object.metadata.uid },
      }).catch(() => {}).finally(() => pending.delete(p));
      pending.add(p);
    },
  });
  const stopDeleter = new AbortController();
  const deleterDone = deleter.run(stopDeleter.signal);
  await deleter.waitForSync();

  const conn = await connect({ kubeconfig: env.kubeconfigPath, env: () => undefined });
  const controller = new Controller({
    rest: new RestClient(gate.wrap(conn.transport)),
    trustDomain: TRUST_DOMAIN,
    logger: new Logger({ level: "error", sink: () => {} }),
    metrics: new Metrics(),
    events: { record: () => {} }, // events are not what this test is about
  });
  const caches = new AbortController();
  const work = new AbortController();
  let running: Promise<void> | undefined;
  try {
    await controller.startCaches(caches.signal);
    running = controller.run(work.signal);

    const objects: unknown[] = [];
    for (let i = 0; i < BINDINGS; i++) {
      objects.push(poolV1(ns, `pool-${i}`, { app: `app-${i}` }));
      objects.push(binding(ns, `b-${i}`, { poolRef: { name: `pool-${i}` }, mode: "PoolOnly" }));
    }
    await apply(env.kubectl, ...objects);

    // Each deletion is answered by a re-create (the deleter sees it as the next ADDED); a
    // controller that believes its dead object never re-creates, and this poll times out.
    await pollUntil(
      `kleym re-created each deleted ClusterSPIFFEID (${DELETES_EACH}x)`,
      30_000,
      () => [...Array(BINDINGS).keys()].every((i) => (deleted.get(`b-${i}`) ?? 0) >= DELETES_EACH),
    );
    gate.open();
    await pollUntil("the deleter's last deletes finished", 10_000, () => pending.size === 0);
    stopDeleter.abort();
    await deleterDone;

    for (let i = 0; i < BINDINGS; i++) {
      const name = `b-${i}`;
      const spiffeID = `spiffe://${TRUST_DOMAIN}/ns/${ns}/pool/pool-${i}`;
      await pollUntil(`${name} Ready with its ClusterSPIFFEID back`, 15_000, async () => {
        const b = await c.bindings.get(name, { namespace: ns });
        const objects = await managedOf(c, ns, name);
        return conditionOf(b, "Ready")?.status === "True" && objects.length === 1 &&
          objects[0].metadata.deletionTimestamp === undefined &&
          objects[0].spec.spiffeIDTemplate === spiffeID &&
          b.status?.computedSpiffeIDs?.[0]?.spiffeID === spiffeID;
      });
    }
  } finally {
    gate.open();
    stopDeleter.abort();
    await deleterDone;
    work.abort();
    await running;
    caches.abort();
    conn.close();
    c.close();
  }
});

Deno.test("a DELETED event the watch never delivers is repaired by the resync; resyncs in place write nothing", async () => {
  const env = await testEnv();
  const c = await adminClients(env.kubeconfigPath);
  const ns = await env.newNamespace("resync");
  const gate = new DeleteGate();
  gate.open(); // no held creates here, only the lost event
  const requests = new RequestCounter();
  const conn = await connect({
    kubeconfig: env.kubeconfigPath,
    env: () => undefined,
    onRequest: requests.onRequest,
  });
  const controller = new Controller({
    rest: new RestClient(gate.wrap(conn.transport)),
    trustDomain: TRUST_DOMAIN,
    logger: new Logger({ level: "error", sink: () => {} }),
    metrics: new Metrics(),
    events: { record: () => {} },
    syncPeriodMs: SYNC_PERIOD_MS,
  });
  const caches = new AbortController();
  const work = new AbortController();
  let running: Promise<void> | undefined;
  try {
    await controller.startCaches(caches.signal);
    running = controller.run(work.signal);
    await apply(
      env.kubectl,
      poolV1(ns, "pool", { app: "m" }),
      binding(ns, "b", { poolRef: { name: "pool" }, mode: "PoolOnly" }),
    );
    const ready = async () => {
      const b = await c.bindings.get("b", { namespace: ns });
      const objects = await managedOf(c, ns, "b");
      return conditionOf(b, "Ready")?.status === "True" && objects.length === 1 &&
          objects[0].metadata.deletionTimestamp === undefined
        ? objects[0]
        : undefined;
    };
    const first = await pollUntil("b Ready with its ClusterSPIFFEID", 15_000, ready);

    gate.dropDeletedOf.add(first.metadata.name ?? "");
    await c.csids.delete(first.metadata.name ?? "");
    const repaired = await pollUntil(
      "the lost delete repaired by a resync",
      SYNC_PERIOD_MS * 5,
      async () => {
        const now = await ready();
        return now !== undefined && now.metadata.uid !== first.metadata.uid ? now : undefined;
      },
    );
    equal(repaired.metadata.name, first.metadata.name);

    // In place: the next resyncs (each relists the ClusterSPIFFEIDs) make no write at all.
    const writes = () =>
      ["create", "update", "patch", "delete"].reduce(
        (n, verb) => n + requests.count({ verb: verb as "create" }),
        0,
      );
    const csidLists = () =>
      requests.count({ verb: "list", resource: "clusterspiffeids.spire.spiffe.io" });
    await pollUntil(
      "the repair's writes settled",
      10_000,
      async () => (await ready()) !== undefined,
    );
    const writesBefore = writes();
    const listsBefore = csidLists();
    await pollUntil("three more resyncs", SYNC_PERIOD_MS * 8, () => csidLists() >= listsBefore + 3);
    equal(writes() - writesBefore, 0, "a resync of a binding in place writes nothing");
  } finally {
    work.abort();
    await running;
    caches.abort();
    conn.close();
    c.close();
  }
});
