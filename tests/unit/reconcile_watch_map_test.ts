/**
 * Watch mapping (reconcile/watch_map.ts): which events enqueue which bindings
 * (docs/contract.md#lifecycle).
 */
import { deepEqual } from "node:assert/strict";
import type { KubeObject } from "../../apis/rest.ts";
import {
  bindingEventKeys,
  inputEventKeys,
  managedEventKeys,
  ownerKey,
  refIndex,
} from "../../reconcile/watch_map.ts";

function object(meta: Partial<KubeObject["metadata"]>, spec?: unknown): KubeObject {
  return {
    metadata: { name: "x", namespace: "ns", ...meta },
    ...(spec ? { spec } : {}),
  } as KubeObject;
}

const managedLabels = (name: string) => ({
  "kleym.sonda.red/managed-by": "kleym",
  "kleym.sonda.red/binding-namespace": "ns",
  "kleym.sonda.red/binding-name": name,
});

Deno.test("binding events: add, delete and spec/lifecycle updates enqueue; status-only does not", async (t) => {
  const b = object({ name: "b", generation: 1, uid: "u", finalizers: ["f"] });
  await t.step("add", () => deepEqual(bindingEventKeys({ type: "add", object: b }), ["ns/b"]));
  await t.step(
    "delete",
    () => deepEqual(bindingEventKeys({ type: "delete", object: b }), ["ns/b"]),
  );
  const cases: [string, Partial<KubeObject["metadata"]>, string[]][] = [
    ["status only (resourceVersion moves, generation does not)", { resourceVersion: "9" }, []],
    ["spec change (generation)", { generation: 2 }, ["ns/b"]],
    ["deletion starts", { deletionTimestamp: "2026-01-01T00:00:00Z" }, ["ns/b"]],
    ["finalizers change", { finalizers: [] }, ["ns/b"]],
    ["re-created under the same name (uid)", { uid: "v" }, ["ns/b"]],
  ];
  for (const [what, change, keys] of cases) {
    await t.step(what, () => {
      const next = object({ ...b.metadata, ...change });
      deepEqual(bindingEventKeys({ type: "update", old: b, object: next }), keys);
    });
  }
});

Deno.test("pool and objective events enqueue exactly the referring bindings", async (t) => {
  const referrers = (value: string) =>
    value === "ns/pool-a" ? [object({ name: "b1" }), object({ name: "b2" })] : [];
  const pool = object({ name: "pool-a", generation: 1 }, { selector: {} });
  await t.step("add", () => {
    deepEqual(inputEventKeys({ type: "add", object: pool }, referrers), ["ns/b1", "ns/b2"]);
  });
  await t.step("status-only update: none", () => {
    const next = object({ ...pool.metadata, resourceVersion: "7" }, { selector: {} });
    deepEqual(inputEventKeys({ type: "update", old: pool, object: next }, referrers), []);
  });
  await t.step("spec update (generation)", () => {
    const next = object({ ...pool.metadata, generation: 2 }, { selector: { a: "b" } });
    deepEqual(inputEventKeys({ type: "update", old: pool, object: next }, referrers), [
      "ns/b1",
      "ns/b2",
    ]);
  });
  await t.step("spec update without generation compares the spec", () => {
    const old = object({ name: "pool-a" }, { selector: {} });
    const next = object({ name: "pool-a" }, { selector: { a: "b" } });
    deepEqual(inputEventKeys({ type: "update", old, object: next }, referrers).length, 2);
  });
  await t.step("a pool nobody refers to", () => {
    deepEqual(inputEventKeys({ type: "delete", object: object({ name: "z" }) }, referrers), []);
  });
});

Deno.test("managed ClusterSPIFFEID events enqueue the owner (old and new when labels move; when SPIRE's stats change)", async (t) => {
  const csid = object({
    name: "c",
    namespace: undefined,
    generation: 1,
    labels: managedLabels("b"),
  });
  await t.step("add / delete", () => {
    deepEqual(managedEventKeys({ type: "add", object: csid }), ["ns/b"]);
    deepEqual(managedEventKeys({ type: "delete", object: csid }), ["ns/b"]);
  });
  await t.step("status-only update: none", () => {
    const next = object({ ...csid.metadata, resourceVersion: "5" });
    deepEqual(managedEventKeys({ type: "update", old: csid, object: next }), []);
  });
  // SCM's figures are copied onto the binding, so a change of them enqueues the owner.
  const withStats = (stats: unknown, rv: string, extra: Record<string, unknown> = {}) =>
    ({
      ...object({ ...csid.metadata, resourceVersion: rv }),
      status: { stats, ...extra },
    }) as KubeObject;
  await t.step("SCM writes stats for the first time: the owner", () => {
    const next = withStats({ podsSelected: 2 }, "5");
    deepEqual(managedEventKeys({ type: "update", old: csid, object: next }), ["ns/b"]);
  });
  await t.step("stats change (a third pod selected): the owner", () => {
    const old = withStats({ podsSelected: 2, entriesToSet: 2 }, "5");
    const next = withStats({ podsSelected: 3, entriesToSet: 3 }, "6");
    deepEqual(managedEventKeys({ type: "update", old, object: next }), ["ns/b"]);
  });
  await t.step("stats unchanged (another status field moved, key order differs): none", () => {
    const old = withStats({ podsSelected: 2, entriesToSet: 2 }, "5");
    const next = withStats({ entriesToSet: 2, podsSelected: 2 }, "6", { other: true });
    deepEqual(managedEventKeys({ type: "update", old, object: next }), []);
  });
  await t.step("labels moved to another binding: both owners", () => {
    const next = object({ ...csid.metadata, labels: managedLabels("other") });
    deepEqual(managedEventKeys({ type: "update", old: csid, object: next }), ["ns/b", "ns/other"]);
  });
  await t.step("a spec edit (generation)", () => {
    const next = object({ ...csid.metadata, generation: 2 });
    deepEqual(managedEventKeys({ type: "update", old: csid, object: next }), ["ns/b"]);
  });
  await t.step("an unlabelled object has no owner", () => {
    deepEqual(ownerKey(object({ labels: {} })), undefined);
  });
});

Deno.test("refIndex reads the ref name, and nothing from malformed specs", () => {
  deepEqual(refIndex(object({}, { poolRef: { name: "p" } }), "poolRef"), ["ns/p"]);
  deepEqual(refIndex(object({}, { poolRef: { name: "" } }), "poolRef"), []);
  deepEqual(refIndex(object({}, { poolRef: "p" }), "poolRef"), []);
  deepEqual(refIndex(object({}, {}), "objectiveRef"), []);
});
