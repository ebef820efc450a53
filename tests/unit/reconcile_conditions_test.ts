// docs/contract.md#status: the five conditions, how they merge with what a binding reports, and
// status equality.

import assert from "node:assert/strict";

import {
  decodeConditions,
  failureConditions,
  formatTime,
  mergeConditions,
  successConditions,
} from "../../reconcile/conditions.ts";
import { StateError } from "../../reconcile/errors.ts";
import {
  failureStatus,
  statusEquals,
  statusMergePatch,
  successStatus,
} from "../../reconcile/status.ts";
import { renderBinding } from "../../reconcile/render.ts";
import type { BindingCondition, BindingStatus } from "../../reconcile/types.ts";

const T0 = new Date("2025-03-01T10:00:00.123Z");
const T1 = new Date("2025-03-01T11:30:00.999Z");

Deno.test("successConditions are exactly the contract's success set", () => {
  assert.deepEqual(successConditions(), [
    { type: "Ready", status: "True", reason: "Reconciled", message: "Binding reconciled" },
    {
      type: "Conflict",
      status: "False",
      reason: "Resolved",
      message: "No identity collision detected",
    },
    { type: "InvalidRef", status: "False", reason: "Resolved", message: "References are valid" },
    { type: "UnsafeSelector", status: "False", reason: "Resolved", message: "Selectors are safe" },
    { type: "RenderFailure", status: "False", reason: "Resolved", message: "Rendering is healthy" },
  ]);
});

Deno.test("failureConditions set Ready=False and the failing condition True, others Resolved", () => {
  const cases = [
    new StateError("Conflict", "IdentityCollision", "collides"),
    new StateError("InvalidRef", "TargetPoolNotFound", "no pool"),
    new StateError("UnsafeSelector", "InvalidPoolSelector", "bad selector"),
    new StateError("RenderFailure", "InvalidContainerName", "bad container"),
  ];
  for (const error of cases) {
    const conditions = failureConditions(error);
    assert.deepEqual(conditions.map((c) => c.type), [
      "Ready",
      "Conflict",
      "InvalidRef",
      "UnsafeSelector",
      "RenderFailure",
    ]);
    for (const condition of conditions) {
      if (condition.type === "Ready" || condition.type === error.condition) {
        assert.deepEqual(
          [condition.status, condition.reason, condition.message],
          [condition.type === "Ready" ? "False" : "True", error.reason, error.message],
          `${error.reason}: ${condition.type}`,
        );
      } else {
        assert.deepEqual([condition.status, condition.reason], ["False", "Resolved"]);
        assert.notEqual(condition.message, error.message);
      }
    }
  }
});

Deno.test("formatTime writes RFC 3339 with second precision", () => {
  assert.equal(formatTime(T0), "2025-03-01T10:00:00Z");
  assert.equal(formatTime(new Date(Date.UTC(2024, 1, 29, 23, 59, 59))), "2024-02-29T23:59:59Z");
});

Deno.test("mergeConditions keeps lastTransitionTime unless a condition's status changes", () => {
  const first = mergeConditions([], successConditions(), T0, 1);
  assert.ok(first.every((c) => c.lastTransitionTime === "2025-03-01T10:00:00Z"));

  // Failure at T1: Ready and InvalidRef flip status; the other three only keep False.
  const error = new StateError("InvalidRef", "TargetPoolNotFound", "InferencePool missing");
  const second = mergeConditions(first, failureConditions(error), T1, 2);
  const times = Object.fromEntries(second.map((c) => [c.type, c.lastTransitionTime]));
  assert.deepEqual(times, {
    Ready: "2025-03-01T11:30:00Z",
    Conflict: "2025-03-01T10:00:00Z",
    InvalidRef: "2025-03-01T11:30:00Z",
    UnsafeSelector: "2025-03-01T10:00:00Z",
    RenderFailure: "2025-03-01T10:00:00Z",
  });

  // A different failure of the same condition later: statuses unchanged, reason/message new.
  const later = new Date("2025-03-02T00:00:00Z");
  const other = new StateError("InvalidRef", "InvalidPoolRef", "spec.poolRef.group");
  const third = mergeConditions(second, failureConditions(other), later, 3);
  const ready = third.find((c) => c.type === "Ready");
  assert.deepEqual(ready, {
    type: "Ready",
    status: "False",
    reason: "InvalidPoolRef",
    message: "spec.poolRef.group",
    lastTransitionTime: "2025-03-01T11:30:00Z",
    observedGeneration: 3,
  });
});

Deno.test("mergeConditions stamps observedGeneration only when the binding has a generation", () => {
  assert.ok(
    mergeConditions([], successConditions(), T0, 7).every((c) => c.observedGeneration === 7),
  );
  assert.ok(
    mergeConditions([], successConditions(), T0, undefined).every((c) =>
      !Object.hasOwn(c, "observedGeneration")
    ),
  );
});

Deno.test("mergeConditions keeps condition types kleym does not own, after its five", () => {
  const foreign: BindingCondition = {
    type: "example.com/Audited",
    status: "True",
    reason: "Checked",
    message: "ok",
    lastTransitionTime: "2020-01-01T00:00:00Z",
  };
  const merged = mergeConditions([foreign], successConditions(), T0, 1);
  assert.deepEqual(merged.map((c) => c.type), [
    "Ready",
    "Conflict",
    "InvalidRef",
    "UnsafeSelector",
    "RenderFailure",
    "example.com/Audited",
  ]);
  assert.deepEqual(merged[5], foreign);
});

Deno.test("decodeConditions keeps well-formed conditions and drops the rest", async (t) => {
  const good = {
    type: "Ready",
    status: "True",
    reason: "Reconciled",
    message: "m",
    lastTransitionTime: "2025-01-01T00:00:00Z",
  };
  const cases: [unknown, number][] = [
    [undefined, 0],
    [{ conditions: "x" }, 0],
    [{ conditions: [good, { type: "Ready" }, null, 3] }, 1],
    [{ conditions: [{ ...good, observedGeneration: "1" }] }, 0],
    [{ conditions: [{ ...good, status: "Maybe" }] }, 0],
    [{ conditions: [good, { ...good, type: "Conflict", observedGeneration: 2 }] }, 2],
  ];
  for (const [status, count] of cases) {
    await t.step(`${JSON.stringify(status)}`, () => {
      assert.equal(decodeConditions(status).length, count);
    });
  }
});

const identity = (() => {
  const outcome = renderBinding(
    {
      metadata: { name: "pool-a", namespace: "default", uid: "u" },
      spec: { poolRef: { name: "pool-a" }, serviceAccountName: "inference-sa", mode: "PoolOnly" },
    },
    {
      pool: {
        apiVersion: "inference.networking.x-k8s.io/v1alpha2",
        object: { spec: { selector: { app: "model-server" } } },
      },
    },
    { trustDomain: "kleym.sonda.red" },
  );
  assert.ok(outcome.ok);
  return outcome.identity;
})();

Deno.test("successStatus reports SPIFFE ID, selectors, trust domain and class name", () => {
  const status = successStatus(identity, { trustDomain: "td", className: "spire" }, [], T0, 1);
  assert.equal(status.trustDomain, "td");
  assert.equal(status.clusterSPIFFEIDClassName, "spire");
  assert.deepEqual(status.computedSpiffeIDs, [{ spiffeID: identity.spiffeID, mode: "PoolOnly" }]);
  assert.deepEqual(status.renderedSelectors, [{
    spiffeID: "spiffe://kleym.sonda.red/ns/default/pool/pool-a",
    selectors: ["k8s:ns:default", "k8s:pod-label:app:model-server", "k8s:sa:inference-sa"],
  }]);
  const noClass = successStatus(identity, { trustDomain: "td", className: "" }, [], T0, 1);
  assert.ok(!Object.hasOwn(noClass, "clusterSPIFFEIDClassName"));
});

Deno.test("failureStatus clears the identity but keeps the configured trust domain and class", () => {
  const error = new StateError("RenderFailure", "InvalidSPIFFEID", "bad");
  const status = failureStatus(error, { trustDomain: "td", className: "c" }, [], T0, 1);
  assert.deepEqual(Object.keys(status).sort(), [
    "clusterSPIFFEIDClassName",
    "conditions",
    "trustDomain",
  ]);
});

Deno.test("statusEquals ignores condition order but nothing else", async (t) => {
  const desired = successStatus(identity, { trustDomain: "td" }, [], T0, 1);
  const asRead: BindingStatus = JSON.parse(JSON.stringify(desired));
  assert.ok(statusEquals(asRead, desired), "a round-tripped status is equal");
  assert.ok(
    statusEquals({ ...asRead, conditions: [...asRead.conditions].reverse() }, desired),
    "condition order does not matter",
  );
  const changes: [string, unknown][] = [
    ["no status yet", undefined],
    ["empty status", {}],
    ["older generation", {
      ...asRead,
      conditions: mergeConditions([], successConditions(), T0, 0),
    }],
    ["older transition time", {
      ...asRead,
      conditions: mergeConditions([], successConditions(), T1, 1),
    }],
    ["other trust domain", { ...asRead, trustDomain: "x" }],
    ["stale class name", { ...asRead, clusterSPIFFEIDClassName: "c" }],
    ["missing selectors", { ...asRead, renderedSelectors: undefined }],
  ];
  for (const [label, current] of changes) {
    await t.step(label, () => {
      assert.ok(!statusEquals(current, desired), label);
    });
  }
});

Deno.test("statusMergePatch removes fields the desired status no longer carries", () => {
  const error = new StateError("Conflict", "IdentityCollision", "collides");
  const status = failureStatus(error, { trustDomain: "td" }, [], T0, 1);
  const patch = statusMergePatch(status);
  assert.deepEqual(
    { ...patch.status, conditions: undefined },
    {
      conditions: undefined,
      trustDomain: "td",
      clusterSPIFFEIDClassName: null,
      computedSpiffeIDs: null,
      renderedSelectors: null,
      spire: null,
    },
  );
  assert.equal(patch.status.conditions, status.conditions);
});
