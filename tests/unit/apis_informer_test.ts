/**
 * Informer bookkeeping against a scripted transport: these tests pin kleym's own rules (no double
 * apply, relist difference, not-served handling). The same behaviour against a real API server is
 * in tests/integration/apis_watch_test.ts.
 */
import { deepEqual, equal, ok } from "node:assert/strict";
import { FakeClock } from "../../apis/clock.ts";
import { type KubeObject, ResourceClient, RestClient } from "../../apis/rest.ts";
import type { KubeRequest, Transport } from "../../apis/transport.ts";
import { keepFields } from "../../apis/slim.ts";
import { Informer } from "../../apis/watch.ts";
import { pollUntil } from "../harness/poll.ts";

/** In-process state: poll every macrotask; the deadline only bounds a failure. */
const until = (cond: () => boolean, what: string) =>
  pollUntil(what, 30_000, cond, { intervalMs: 0 });

const enc = new TextEncoder();

function cm(name: string, rv: string): KubeObject {
  return {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { namespace: "ns", name, resourceVersion: rv },
  };
}

type WatchStep = { status: number; reason?: string } | ReadableStreamDefaultController<Uint8Array>;

/** A scripted API server: queued list answers, and watches whose streams the test drives. */
class Script {
  requests: KubeRequest[] = [];
  lists: ({ items: KubeObject[]; rv: string } | { status: number; reason: string })[] = [];
  watchErrors: ({ status: number; reason: string } | undefined)[] = [];
  watches: ReadableStreamDefaultController<Uint8Array>[] = [];

  transport: Transport = (req) => {
    this.requests.push(req);
    if (req.query?.watch) {
      const err = this.watchErrors.shift();
      if (err) return Promise.resolve(statusResponse(err.status, err.reason));
      let ctl!: ReadableStreamDefaultController<Uint8Array>;
      const body = new ReadableStream<Uint8Array>({ start: (c) => void (ctl = c) });
      this.watches.push(ctl);
      req.signal?.addEventListener("abort", () => {
        try {
          ctl.error(new Error("aborted"));
        } catch { /* closed already */ }
      });
      return Promise.resolve(new Response(body, { status: 200 }));
    }
    const l = this.lists.shift();
    if (!l) return Promise.resolve(statusResponse(500, "InternalError"));
    if ("status" in l) return Promise.resolve(statusResponse(l.status, l.reason));
    return Promise.resolve(
      new Response(
        JSON.stringify({
          kind: "ConfigMapList",
          metadata: { resourceVersion: l.rv },
          items: l.items,
        }),
      ),
    );
  };

  watchRequests(): KubeRequest[] {
    return this.requests.filter((r) => r.query?.watch);
  }
  listRequests(): KubeRequest[] {
    return this.requests.filter((r) => !r.query?.watch);
  }
}

function statusResponse(code: number, reason: string): Response {
  return new Response(
    JSON.stringify({ kind: "Status", apiVersion: "v1", code, reason, message: reason }),
    {
      status: code,
    },
  );
}

function send(
  ctl: ReadableStreamDefaultController<Uint8Array>,
  type: string,
  object: unknown,
): void {
  ctl.enqueue(enc.encode(JSON.stringify({ type, object }) + "\n"));
}

function setup(script: Script) {
  const clock = new FakeClock();
  const client = new ResourceClient<KubeObject>(new RestClient(script.transport), {
    group: "",
    version: "v1",
    plural: "configmaps",
    kind: "ConfigMap",
    namespaced: true,
  });
  const errors: unknown[] = [];
  const informer = new Informer(client, {
    clock,
    random: () => 0.5,
    onError: (e) => errors.push(e),
    notServedRetryMs: 30_000,
    // These tests count and fire the backoff timers; the idle limit has its own test below.
    idleTimeoutMs: 0,
  });
  const seen: string[] = [];
  informer.addHandler({
    onAdd: (o) => seen.push(`add ${o.metadata.name}@${o.metadata.resourceVersion}`),
    onUpdate: (old, o) =>
      seen.push(
        `update ${o.metadata.name}@${old.metadata.resourceVersion}->${o.metadata.resourceVersion}`,
      ),
    onDelete: (o) => seen.push(`delete ${o.metadata.name}@${o.metadata.resourceVersion}`),
  });
  const ac = new AbortController();
  const done = informer.run(ac.signal);
  /** Fire the next pending backoff timer. */
  const skipWait = () => clock.advance((clock.nextTimerAt() ?? clock.now()) - clock.now());
  return { clock, informer, seen, errors, ac, done, skipWait };
}

Deno.test("events at the cached resourceVersion are not applied twice and bookmarks move the resume point", async () => {
  const script = new Script();
  script.lists.push({ items: [cm("a", "1")], rv: "5" });
  const { informer, seen, ac, done, skipWait, clock } = setup(script);
  await until(() => script.watches.length === 1, "first watch");
  equal(script.watchRequests()[0].query?.resourceVersion, "5");
  equal(script.watchRequests()[0].query?.allowWatchBookmarks, true);
  ok(informer.hasSynced());
  const w1 = script.watches[0];
  send(w1, "ADDED", cm("a", "1")); // replay of what the list returned
  send(w1, "MODIFIED", cm("a", "6"));
  send(w1, "MODIFIED", cm("a", "6")); // duplicate
  send(w1, "BOOKMARK", { kind: "ConfigMap", metadata: { resourceVersion: "8" } });
  w1.close();
  await until(() => clock.pending === 1, "reconnect backoff");
  skipWait();
  await until(() => script.watches.length === 2, "second watch");
  equal(script.watchRequests()[1].query?.resourceVersion, "8", "resumes from the bookmark");
  const w2 = script.watches[1];
  send(w2, "DELETED", cm("a", "9"));
  send(w2, "DELETED", cm("a", "9")); // already gone: ignored
  await until(() => informer.resourceVersion === "9", "delete applied");
  deepEqual(seen, ["add a@1", "update a@1->6", "delete a@9"]);
  equal(informer.restarts, 1);
  equal(informer.cache.size, 0);
  ac.abort();
  await done;
  equal(informer.status().state, "stopped");
});

Deno.test("410 Gone (as ERROR event or HTTP status) relists and reports exactly what was missed", async (t) => {
  for (const how of ["ERROR event", "HTTP 410"] as const) {
    await t.step(how, async () => {
      const script = new Script();
      script.lists.push({ items: [cm("a", "1"), cm("b", "1"), cm("c", "1")], rv: "5" });
      script.lists.push({ items: [cm("a", "1"), cm("b", "7"), cm("d", "8")], rv: "9" });
      const { informer, seen, ac, done, skipWait, clock } = setup(script);
      await until(() => script.watches.length === 1, "first watch");
      if (how === "ERROR event") {
        send(script.watches[0], "ERROR", {
          kind: "Status",
          code: 410,
          reason: "Expired",
          message: "too old",
        });
      } else {
        script.watchErrors.push({ status: 410, reason: "Expired" });
        script.watches[0].close();
        await until(() => clock.pending === 1, "reconnect backoff");
        skipWait();
      }
      await until(() => script.watches.length === 2, "watch after relist");
      equal(script.listRequests().length, 2);
      equal(script.watchRequests().at(-1)?.query?.resourceVersion, "9");
      deepEqual(seen, ["add a@1", "add b@1", "add c@1", "delete c@1", "update b@1->7", "add d@8"]);
      equal(informer.relists, 1);
      deepEqual(informer.cache.keys().sort(), ["ns/a", "ns/b", "ns/d"]);
      ac.abort();
      await done;
    });
  }
});

Deno.test("a resource that is not served is reported, retried slowly and picked up when it appears", async () => {
  const script = new Script();
  script.lists.push({ status: 404, reason: "NotFound" });
  script.lists.push({ items: [cm("a", "1")], rv: "3" });
  const { informer, seen, ac, done, clock } = setup(script);
  const synced = informer.waitForSync(ac.signal);
  await until(() => informer.status().state === "notServed", "notServed");
  equal(informer.hasSynced(), false);
  clock.advance(29_999);
  await until(() => clock.pending === 1, "slow retry timer");
  equal(script.listRequests().length, 1, "no retry before the not-served interval");
  clock.advance(1);
  equal(await synced, true);
  await until(() => script.watches.length === 1, "watch");
  deepEqual(seen, ["add a@1"]);
  equal(informer.status().state, "watching");
  // the resource goes away again: the watch is refused with 404, the cache empties
  script.watchErrors.push({ status: 404, reason: "NotFound" });
  script.lists.push({ status: 404, reason: "NotFound" });
  script.watches[0].close();
  await until(() => clock.pending === 1, "reconnect backoff");
  clock.advance((clock.nextTimerAt() ?? 0) - clock.now());
  await until(() => informer.status().state === "notServed", "notServed again");
  deepEqual(seen, ["add a@1", "delete a@1"]);
  equal(informer.hasSynced(), false);
  ac.abort();
  await done;
});

Deno.test("late handlers get the cached objects, and a throwing handler does not stop the loop", async () => {
  const script = new Script();
  script.lists.push({ items: [cm("a", "1"), cm("b", "1")], rv: "2" });
  const { informer, errors, ac, done } = setup(script);
  await until(() => script.watches.length === 1, "watch");
  const late: string[] = [];
  informer.addHandler({
    onAdd: (o) => {
      late.push(o.metadata.name ?? "");
      if (o.metadata.name === "c") throw new Error("handler bug");
    },
  });
  deepEqual(late.sort(), ["a", "b"]);
  send(script.watches[0], "ADDED", cm("c", "3"));
  send(script.watches[0], "ADDED", cm("d", "4"));
  await until(() => informer.resourceVersion === "4", "both events");
  deepEqual(late, ["a", "b", "c", "d"]);
  equal(errors.length, 1);
  ok(Object.isFrozen(informer.cache.get("ns/d")));
  ac.abort();
  await done;
});

Deno.test("onProgress reports every list, event, ignored event and bookmark, before the object handlers", async () => {
  const script = new Script();
  script.lists.push({ items: [cm("a", "1")], rv: "5" });
  const { informer, seen, ac, done } = setup(script);
  const progress: string[] = [];
  informer.addHandler({
    onProgress: (rv, listed) => {
      progress.push(`${rv}${listed ? " (list)" : ""}`);
      seen.push(`progress ${rv}`);
    },
  });
  await until(() => script.watches.length === 1, "first watch");
  const w = script.watches[0];
  send(w, "MODIFIED", cm("a", "6"));
  send(w, "MODIFIED", cm("a", "6")); // duplicate: not applied, still progress
  send(w, "DELETED", cm("zz", "7")); // a key the cache never held: still progress
  send(w, "BOOKMARK", { kind: "ConfigMap", metadata: { resourceVersion: "8" } });
  await until(() => informer.resourceVersion === "8", "bookmark applied");
  deepEqual(progress, ["5 (list)", "6", "6", "7", "8"]);
  deepEqual(seen.slice(-5), [
    "progress 6",
    "update a@1->6",
    "progress 6",
    "progress 7",
    "progress 8",
  ]);
  ac.abort();
  await done;
});

Deno.test("relist() closes the watch, lists again and reports what the watch never delivered", async () => {
  const script = new Script();
  script.lists.push({ items: [cm("a", "1"), cm("b", "2")], rv: "5" });
  script.lists.push({ items: [cm("a", "1")], rv: "9" }); // b's DELETED was never delivered
  const { informer, seen, ac, done } = setup(script);
  await until(() => script.watches.length === 1, "first watch");
  informer.relist();
  await until(() => script.watches.length === 2, "watch after the relist");
  equal(script.listRequests().length, 2);
  equal(script.watchRequests()[1].query?.resourceVersion, "9");
  deepEqual(seen, ["add a@1", "add b@2", "delete b@2"]);
  equal(informer.relists, 1);
  equal(informer.restarts, 0, "a requested relist is not a watch failure");
  ac.abort();
  await done;
});

Deno.test("the transform shapes every listed and watched object before the cache and handlers", async () => {
  const script = new Script();
  const fat = (name: string, rv: string): KubeObject => ({
    ...cm(name, rv),
    metadata: {
      namespace: "ns",
      name,
      resourceVersion: rv,
      managedFields: [{ manager: "kubectl", operation: "Update" }],
      labels: { big: "x".repeat(100) },
    },
  });
  script.lists.push({ items: [fat("a", "1"), fat("b", "2")], rv: "5" });
  const client = new ResourceClient<KubeObject>(new RestClient(script.transport), {
    group: "",
    version: "v1",
    plural: "configmaps",
    kind: "ConfigMap",
    namespaced: true,
  });
  const transformed: string[] = [];
  const informer = new Informer(client, {
    clock: new FakeClock(),
    random: () => 0.5,
    transform: (o) => {
      transformed.push(`${o.metadata.name}@${o.metadata.resourceVersion}`);
      return keepFields<KubeObject>([], [])(o);
    },
  });
  const handed: KubeObject[] = [];
  informer.addHandler({
    onAdd: (o) => handed.push(o),
    onUpdate: (_old, o) => handed.push(o),
    onDelete: (o) => handed.push(o),
  });
  const ac = new AbortController();
  const done = informer.run(ac.signal);
  await until(() => script.watches.length === 1, "first watch");
  send(script.watches[0], "MODIFIED", fat("a", "6"));
  send(script.watches[0], "DELETED", fat("b", "7"));
  await until(() => informer.resourceVersion === "7", "events applied");
  deepEqual(transformed, ["a@1", "b@2", "a@6", "b@7"]);
  for (const o of [...handed, ...informer.cache.list()]) {
    deepEqual(Object.keys(o.metadata).sort(), ["name", "namespace", "resourceVersion"]);
  }
  equal(handed.length, 4);
  ac.abort();
  await done;
});

Deno.test("a watch quiet for the idle limit is reopened from its resume point; deliveries keep it open (docs/contract.md#dead-connections)", async () => {
  const script = new Script();
  script.lists.push({ items: [cm("a", "1")], rv: "5" });
  const clock = new FakeClock();
  const client = new ResourceClient<KubeObject>(new RestClient(script.transport), {
    group: "",
    version: "v1",
    plural: "configmaps",
    kind: "ConfigMap",
    namespaced: true,
  });
  const errors: unknown[] = [];
  const informer = new Informer(client, {
    clock,
    random: () => 0.5,
    idleTimeoutMs: 10_000,
    onError: (e) => errors.push(e),
  });
  const ac = new AbortController();
  const done = informer.run(ac.signal);
  await until(() => script.watches.length === 1, "first watch");
  // Deliveries 6 s apart: never 10 s of silence, so never reopened.
  for (let i = 0; i < 3; i++) {
    clock.advance(6_000);
    send(script.watches[0], "BOOKMARK", { metadata: { resourceVersion: String(6 + i) } });
    await until(() => informer.resourceVersion === String(6 + i), `bookmark ${i}`);
  }
  equal(script.watches.length, 1, "a live watch stays open");
  // Then the stream stalls without closing: reopened after the limit, from the last bookmark.
  clock.advance(9_999);
  await new Promise((r) => setTimeout(r, 0));
  equal(script.watches.length, 1, "not before the limit");
  clock.advance(1);
  await until(() => clock.pending > 0 && informer.idleReopens === 1, "the idle reopen");
  clock.advance(clock.nextTimerAt()! - clock.now()); // the short reconnect delay
  await until(() => script.watches.length === 2, "second watch");
  equal(script.watchRequests()[1].query?.resourceVersion, "8", "resumes, no relist");
  equal(script.listRequests().length, 1);
  ok(errors.some((e) => e instanceof Error && e.name === "WatchIdleError"), "reported");
  // A watch request that never answers at all is covered by the same limit.
  ac.abort();
  await done;
});
