/**
 * The read-your-writes view (apis/mutation_cache.ts) under every ordering of kleym's write
 * answer, the watch's ADDED / MODIFIED / DELETED / BOOKMARK, a relist, a reset (not served) and
 * TTL expiry. The stand-in informer (informer_standin.ts) feeds a real `Cache` exactly the way
 * `Informer` does: cache first, then `onProgress`, then the object handlers.
 */
import { deepEqual, equal } from "node:assert/strict";
import { objectKey } from "../../apis/cache.ts";
import { FakeClock } from "../../apis/clock.ts";
import { MutationCache } from "../../apis/mutation_cache.ts";
import type { KubeObject } from "../../apis/rest.ts";
import { InformerStandIn } from "./informer_standin.ts";

const TTL = 30_000;

function obj(name: string, rv: string, extra: Partial<KubeObject["metadata"]> = {}): KubeObject {
  return {
    apiVersion: "v1",
    kind: "Thing",
    metadata: { name, resourceVersion: rv, labels: { owner: "b" }, ...extra },
  };
}

/** The stand-in with the shorthand the orderings below read best in. */
class Source extends InformerStandIn<KubeObject> {
  constructor() {
    super();
    this.cache.addIndex("owner", (o) => [o.metadata.labels?.owner ?? ""]);
  }
  added(o: KubeObject): void {
    this.upsert(o);
  }
  modified(o: KubeObject): void {
    this.upsert(o);
  }
  deleted(name: string, rv: string): void {
    this.delete(name, rv);
  }
  bookmark(rv: string): void {
    this.progress(rv);
  }
}

function setup() {
  const clock = new FakeClock(1_000);
  const source = new Source();
  const view = new MutationCache(source, { clock, ttlMs: TTL });
  return { clock, source, view };
}

const rvOf = (o: KubeObject | undefined) => o?.metadata.resourceVersion;

Deno.test("the read-your-writes view: every ordering of write, watch, relist and TTL", async (t) => {
  await t.step("create answered, then ADDED: the answer shows until the watch has it", () => {
    const { source, view } = setup();
    view.recordWrite(obj("a", "5"));
    equal(rvOf(view.get("a")), "5");
    equal(view.pending("a"), true);
    source.added(obj("a", "5"));
    equal(view.pending("a"), false);
    equal(rvOf(view.get("a")), "5");
    equal(view.size, 0);
  });

  await t.step("ADDED before the create's answer: nothing recorded, the cache answers", () => {
    const { source, view } = setup();
    source.added(obj("a", "5"));
    view.recordWrite(obj("a", "5"));
    equal(view.pending("a"), false);
    equal(view.size, 0);
  });

  await t.step("ADDED rv=5 and DELETED rv=6 before the answer rv=5: never resurrected", () => {
    const { source, view } = setup();
    source.added(obj("a", "5"));
    source.deleted("a", "6");
    view.recordWrite(obj("a", "5"));
    equal(view.get("a"), undefined);
    equal(view.pending("a"), false);
  });

  await t.step("answer, ADDED, then DELETED by someone else: gone", () => {
    const { source, view } = setup();
    view.recordWrite(obj("a", "5"));
    source.added(obj("a", "5"));
    source.deleted("a", "6");
    equal(view.get("a"), undefined);
  });

  await t.step("answer, then a DELETED the cache ignores (key never held): gone", () => {
    const { source, view } = setup();
    view.recordWrite(obj("a", "5"));
    source.deleted("a", "6");
    equal(view.get("a"), undefined);
    equal(view.pending("a"), false);
  });

  await t.step("an older MODIFIED after kleym's update keeps the update", () => {
    const { source, view } = setup();
    source.added(obj("a", "3"));
    view.recordWrite(obj("a", "4"));
    view.recordWrite(obj("a", "5"));
    source.modified(obj("a", "4"));
    equal(rvOf(view.get("a")), "5");
    source.modified(obj("a", "5"));
    equal(view.pending("a"), false);
    equal(rvOf(view.get("a")), "5");
  });

  await t.step("a later answer is not replaced by an earlier one recorded late", () => {
    const { view } = setup();
    view.recordWrite(obj("a", "7"));
    view.recordWrite(obj("a", "6"));
    equal(rvOf(view.get("a")), "7");
  });

  await t.step("a foreign MODIFIED newer than kleym's update wins", () => {
    const { source, view } = setup();
    source.added(obj("a", "3"));
    view.recordWrite(obj("a", "5"));
    source.modified(obj("a", "6", { labels: { owner: "b", foreign: "yes" } }));
    equal(rvOf(view.get("a")), "6");
  });

  await t.step("a foreign MODIFIED delivered before kleym's answer wins", () => {
    const { source, view } = setup();
    source.added(obj("a", "3"));
    source.modified(obj("a", "6"));
    view.recordWrite(obj("a", "5"));
    equal(rvOf(view.get("a")), "6");
  });

  await t.step("kleym's delete hides the cached object until DELETED arrives", () => {
    const { source, view } = setup();
    source.added(obj("a", "5"));
    view.recordDeleteAnswer("a", obj("a", "6"));
    equal(view.get("a"), undefined);
    equal(view.pending("a"), true);
    source.deleted("a", "6");
    equal(view.get("a"), undefined);
    equal(view.pending("a"), false);
  });

  await t.step("DELETED delivered before kleym's delete answer: nothing recorded", () => {
    const { source, view } = setup();
    source.added(obj("a", "5"));
    source.deleted("a", "6");
    view.recordDeleteAnswer("a", obj("a", "6"));
    equal(view.pending("a"), false);
    equal(view.get("a"), undefined);
  });

  await t.step("kleym's update answered, then DELETED by someone else: gone", () => {
    const { source, view } = setup();
    source.added(obj("a", "3"));
    view.recordWrite(obj("a", "5"));
    source.modified(obj("a", "5"));
    source.deleted("a", "7");
    equal(view.get("a"), undefined);
  });

  await t.step("kleym's update answered, DELETED by someone else before the MODIFIED", () => {
    // Not an order a watch can deliver (the MODIFIED comes first); the watermark still wins.
    const { source, view } = setup();
    source.added(obj("a", "3"));
    view.recordWrite(obj("a", "5"));
    source.deleted("a", "7");
    equal(view.get("a"), undefined);
    equal(view.pending("a"), false);
  });

  await t.step("kleym's delete, then a foreign re-create: the new object shows", () => {
    const { source, view } = setup();
    source.added(obj("a", "5"));
    view.recordDelete("a", "6");
    source.deleted("a", "6");
    source.added(obj("a", "7"));
    equal(rvOf(view.get("a")), "7");
  });

  await t.step("a DELETE answer that keeps finalizers is an object being deleted", () => {
    const { source, view } = setup();
    source.added(obj("a", "5"));
    const answer = obj("a", "6", {
      deletionTimestamp: "2026-01-01T00:00:00Z",
      finalizers: ["someone/else"],
    });
    view.recordDeleteAnswer("a", answer);
    equal(view.get("a")?.metadata.deletionTimestamp, "2026-01-01T00:00:00Z");
  });

  await t.step("a DELETE answered without an object records nothing", () => {
    const { source, view } = setup();
    source.added(obj("a", "5"));
    view.recordDeleteAnswer("a", undefined);
    equal(rvOf(view.get("a")), "5");
    equal(view.pending("a"), false);
  });

  await t.step("a relist clears every entry, even a newer one", () => {
    const { source, view } = setup();
    view.recordWrite(obj("a", "9"));
    view.recordDelete("b", "9");
    source.relist([obj("b", "4")], "8");
    equal(view.size, 0);
    equal(view.get("a"), undefined);
    equal(rvOf(view.get("b")), "4");
  });

  await t.step("an answer recorded after a relist that already covers it is ignored", () => {
    const { source, view } = setup();
    source.relist([], "10");
    view.recordWrite(obj("a", "9"));
    equal(view.get("a"), undefined);
  });

  await t.step("a bookmark past the write drops it", () => {
    const { source, view } = setup();
    source.added(obj("a", "3"));
    view.recordWrite(obj("a", "5"));
    source.bookmark("5");
    equal(view.pending("a"), false);
    equal(rvOf(view.get("a")), "3");
  });

  await t.step("TTL: an entry the watch never confirms stands in until it expires", () => {
    const { clock, source, view } = setup();
    source.added(obj("a", "3"));
    view.recordWrite(obj("a", "5"));
    clock.advance(TTL - 1);
    equal(rvOf(view.get("a")), "5");
    clock.advance(1);
    equal(rvOf(view.get("a")), "3");
    equal(view.pending("a"), false);
  });

  await t.step("TTL expired, then the watch delivers the write: the cache answers", () => {
    const { clock, source, view } = setup();
    source.added(obj("a", "3"));
    view.recordWrite(obj("a", "5"));
    clock.advance(TTL);
    source.modified(obj("a", "5"));
    equal(rvOf(view.get("a")), "5");
    equal(view.size, 0);
  });

  await t.step("TTL: an expired delete no longer hides the cached object", () => {
    const { clock, source, view } = setup();
    source.added(obj("a", "3"));
    view.recordDelete("a", "4");
    clock.advance(TTL);
    equal(rvOf(view.get("a")), "3");
  });

  await t.step("not served (reset) clears everything, the watermark included", () => {
    const { source, view } = setup();
    source.added(obj("a", "9"));
    view.recordWrite(obj("b", "10"));
    source.reset();
    equal(view.size, 0);
    view.recordWrite(obj("c", "2")); // a fresh informer: no watermark yet
    equal(rvOf(view.get("c")), "2");
  });

  await t.step("a resourceVersion that is not an integer is never trusted over the cache", () => {
    const { source, view } = setup();
    source.added(obj("a", "3"));
    view.recordWrite(obj("a", "x9"));
    equal(rvOf(view.get("a")), "3");
  });

  await t.step("byIndex: written objects replace cached ones, deleted ones drop out", () => {
    const { source, view } = setup();
    source.added(obj("a", "3"));
    source.added(obj("b", "4"));
    view.recordWrite(obj("a", "5"));
    view.recordDelete("b", "6");
    view.recordWrite(obj("c", "7"));
    view.recordWrite(obj("d", "8", { labels: { owner: "other" } }));
    deepEqual(
      view.byIndex("owner", "b").map((o) => `${objectKey(o)}@${rvOf(o)}`).sort(),
      ["a@5", "c@7"],
    );
  });
});
