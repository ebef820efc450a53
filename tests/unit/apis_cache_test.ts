import { deepEqual, equal, ok, throws } from "node:assert/strict";
import { Cache, objectKey } from "../../apis/cache.ts";
import type { KubeObject } from "../../apis/rest.ts";

interface Binding extends KubeObject {
  spec: { pool: string; tags: string[] };
}

function b(ns: string, name: string, rv: string, pool: string, tags: string[] = []): Binding {
  return { metadata: { namespace: ns, name, resourceVersion: rv }, spec: { pool, tags } };
}

const names = (objs: KubeObject[]) => objs.map(objectKey).sort();

Deno.test("objects are keyed namespace/name, or name when cluster-scoped", () => {
  equal(objectKey({ metadata: { namespace: "a", name: "x" } }), "a/x");
  equal(objectKey({ metadata: { name: "x" } }), "x");
  const c = new Cache<KubeObject>();
  c.upsert({ metadata: { name: "x", resourceVersion: "1" } });
  c.upsert({ metadata: { namespace: "a", name: "x", resourceVersion: "2" } });
  equal(c.size, 2);
  equal(c.getByName(undefined, "x")?.metadata.resourceVersion, "1");
  equal(c.getByName("a", "x")?.metadata.resourceVersion, "2");
  deepEqual(names(c.list("a")), ["a/x"]);
});

Deno.test("stored objects are deep-frozen", () => {
  const c = new Cache<Binding>();
  const obj = b("a", "x", "1", "p", ["t"]);
  c.upsert(obj);
  const got = c.get("a/x");
  ok(got && Object.isFrozen(got) && Object.isFrozen(got.spec) && Object.isFrozen(got.spec.tags));
  ok(Object.isFrozen(got.metadata));
  throws(() => {
    (got.spec as { pool: string }).pool = "changed";
  }, TypeError);
});

Deno.test("upsert and delete return the previous object", () => {
  const c = new Cache<Binding>();
  equal(c.upsert(b("a", "x", "1", "p")), undefined);
  equal(c.upsert(b("a", "x", "2", "q"))?.metadata.resourceVersion, "1");
  equal(c.delete("a/x")?.metadata.resourceVersion, "2");
  equal(c.delete("a/x"), undefined);
});

Deno.test("secondary indexes follow adds, updates and deletes, including indexes added later", () => {
  const c = new Cache<Binding>();
  c.upsert(b("a", "x", "1", "pool-1", ["red", "blue"]));
  c.addIndex("tag", (o) => o.spec.tags);
  c.addIndex("pool", (o) => [`${o.metadata.namespace}/${o.spec.pool}`]);
  c.upsert(b("a", "y", "1", "pool-1", ["red"]));
  c.upsert(b("b", "z", "1", "pool-1", ["red", "red"]));
  deepEqual(names(c.byIndex("pool", "a/pool-1")), ["a/x", "a/y"]);
  deepEqual(names(c.byIndex("tag", "red")), ["a/x", "a/y", "b/z"]);
  // y moves pools; x is deleted
  c.upsert(b("a", "y", "2", "pool-2", []));
  c.delete("a/x");
  deepEqual(names(c.byIndex("pool", "a/pool-1")), []);
  deepEqual(names(c.byIndex("pool", "a/pool-2")), ["a/y"]);
  deepEqual(names(c.byIndex("tag", "red")), ["b/z"]);
  deepEqual(c.byIndex("tag", "blue"), []);
  deepEqual(c.indexValues("tag").sort(), ["red"]);
  throws(() => c.byIndex("nope", "v"), /no index named "nope"/);
});

Deno.test("replace returns the true difference against the cached state", () => {
  const c = new Cache<Binding>();
  c.upsert(b("a", "keep", "1", "p"));
  c.upsert(b("a", "change", "1", "p"));
  c.upsert(b("a", "gone", "1", "p"));
  const keep = c.get("a/keep");
  const diff = c.replace([
    b("a", "keep", "1", "p"),
    b("a", "change", "5", "q"),
    b("a", "new", "6", "p"),
  ]);
  deepEqual(names(diff.added), ["a/new"]);
  deepEqual(
    diff.updated.map((
      u,
    ) => [objectKey(u.obj), u.old.metadata.resourceVersion, u.obj.metadata.resourceVersion]),
    [
      ["a/change", "1", "5"],
    ],
  );
  deepEqual(names(diff.deleted), ["a/gone"]);
  equal(c.get("a/keep"), keep, "an unchanged object keeps its cached copy");
  deepEqual(c.keys().sort(), ["a/change", "a/keep", "a/new"]);
});

Deno.test("an index answers like a naive scan through every mix of one and many keys per value", () => {
  // A value's keys are held as one string or as a Set (apis/cache.ts); a seeded walk of upserts
  // and deletes over few pools crosses 0 -> 1 -> 2 -> 1 -> 0 keys per value many times.
  let seed = 7;
  const rand = (n: number) => (seed = (seed * 1103515245 + 12345) % 2147483648) % n;
  const c = new Cache<Binding>();
  c.addIndex("pool", (o) => [o.spec.pool, o.spec.pool]); // a repeated value counts once
  c.addIndex("tag", (o) => o.spec.tags);
  const live = new Map<string, Binding>();
  for (let i = 0; i < 2000; i++) {
    const name = `b${rand(6)}`;
    if (rand(3) === 0) {
      c.delete(`a/${name}`);
      live.delete(`a/${name}`);
    } else {
      const o = b("a", name, String(i), `p${rand(3)}`, rand(2) ? [`t${rand(2)}`] : []);
      live.set(`a/${name}`, o);
      c.upsert(o);
    }
    for (const v of ["p0", "p1", "p2"]) {
      const want = [...live.values()].filter((o) => o.spec.pool === v).map(objectKey).sort();
      deepEqual(names(c.byIndex("pool", v)), want, `step ${i} pool ${v}`);
    }
    for (const v of ["t0", "t1"]) {
      const want = [...live.values()].filter((o) => o.spec.tags.includes(v)).map(objectKey).sort();
      deepEqual(names(c.byIndex("tag", v)), want, `step ${i} tag ${v}`);
    }
    const present = new Set([...live.values()].map((o) => o.spec.pool));
    deepEqual(c.indexValues("pool").sort(), [...present].sort(), `step ${i} values`);
  }
});
