import { deepEqual, equal, ok } from "node:assert/strict";
import { freezeInterned, internedCount } from "../../apis/intern.ts";

// JavaScript cannot tell two equal strings apart, so sharing itself is measured by
// `make bench-heap`; these tests prove what can be observed: nothing changes but frozenness, and
// only the strings worth sharing enter the table.

function binding(i: number) {
  return {
    apiVersion: "kleym.sonda.red/v1alpha1",
    kind: "InferenceIdentityBinding",
    metadata: {
      name: `b-${i}`,
      namespace: "team-a",
      uid: crypto.randomUUID(),
      resourceVersion: String(1000 + i),
      creationTimestamp: "2026-12-02T10:00:00Z",
      finalizers: ["kleym.sonda.red/cleanup"],
    },
    spec: { mode: "PoolOnly", poolRef: { name: "pool-a" }, serviceAccountName: "sa" },
    status: { conditions: [{ type: "Ready", status: "True", lastTransitionTime: `t${i}` }] },
  };
}

Deno.test("freezeInterned keeps every value and freezes every level", () => {
  const o = binding(1);
  const want = structuredClone(o);
  const got = freezeInterned(o);
  equal(got, o);
  deepEqual(got, want);
  ok(Object.isFrozen(got) && Object.isFrozen(got.metadata) && Object.isFrozen(got.spec.poolRef));
  ok(Object.isFrozen(got.metadata.finalizers) && Object.isFrozen(got.status.conditions[0]));
});

Deno.test("freezeInterned shares repeated values, not per-object ones", () => {
  freezeInterned(binding(0));
  const before = internedCount();
  for (let i = 100; i < 150; i++) freezeInterned(binding(i)); // names unseen by other tests
  // new entries: the 50 names only; uid, resourceVersion and timestamps never enter the table,
  // and the shared values (namespace, kind, pool, finalizer, ...) were there after the first
  equal(internedCount() - before, 50);
});

Deno.test("freezeInterned leaves an already frozen object as it is", () => {
  const inner = Object.freeze({ name: "x" });
  const o = { spec: inner, metadata: { name: "y" } };
  freezeInterned(o);
  equal(o.spec, inner);
  ok(Object.isFrozen(o.metadata));
});
