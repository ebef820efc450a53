// SPIRE Controller Manager's figures on the binding (reconcile/spire.ts through
// planReconcile) — copied from the managed ClusterSPIFFEID's status.stats, written only when they
// change, coalesced per binding, absent while not Ready, and the Warning events they bring.

import assert from "node:assert/strict";
import type { KubeObject } from "../../apis/rest.ts";
import { cachedManaged } from "../../reconcile/cached.ts";
import { mergedUpdate } from "../../reconcile/ownership.ts";
import { isNoop, type Plan, planReconcile, writesTransition } from "../../reconcile/plan.ts";
import { renderBinding } from "../../reconcile/render.ts";
import {
  decodeSpireStatus,
  maskingHolders,
  type MaskingLookup,
  planSpire,
  reportedFigures,
} from "../../reconcile/spire.ts";
import {
  type BindingInput,
  type ClusterSPIFFEID,
  FINALIZER,
  type ObservedClusterSPIFFEID,
  type ResolvedInputs,
} from "../../reconcile/types.ts";

const config = { trustDomain: "kleym.sonda.red" };
const INTERVAL = 10_000;
const T0 = new Date("2026-03-01T10:00:00Z");
const at = (ms: number) => new Date(T0.getTime() + ms);

const resolved: ResolvedInputs = {
  pool: {
    apiVersion: "inference.networking.k8s.io/v1",
    object: { spec: { selector: { matchLabels: { app: "model-server" } } } },
  },
};

/** One PoolOnly binding, its managed ClusterSPIFFEID (with SCM's stats) and its status. */
class Binding {
  status: unknown = undefined;
  generation = 1;
  object: ObservedClusterSPIFFEID | undefined;
  stats: Record<string, unknown> | undefined;

  input(): BindingInput {
    return {
      metadata: {
        name: "pool-a",
        namespace: "default",
        uid: "uid-pool-a",
        generation: this.generation,
        finalizers: [FINALIZER],
      },
      spec: { poolRef: { name: "pool-a" }, serviceAccountName: "inference-sa", mode: "PoolOnly" },
      status: this.status,
    };
  }

  plan(now: Date, opts: { masking?: MaskingLookup; peers?: boolean } = {}): Plan {
    const binding = this.input();
    const rendered = renderBinding(binding, resolved, config);
    const observed = this.object === undefined ? [] : [{
      ...this.object,
      ...(this.stats === undefined ? {} : { status: { stats: this.stats } }),
    }];
    return planReconcile({
      binding,
      rendered,
      config,
      managed: observed,
      nameHolder: observed[0],
      now,
      spireStatsIntervalMs: INTERVAL,
      masking: opts.masking,
    });
  }

  /** Carry a plan out as the API server would (the object gets server fields once created). */
  apply(plan: Plan): void {
    if (plan.create) {
      this.object = {
        ...JSON.parse(JSON.stringify(plan.create)),
        metadata: {
          ...plan.create.metadata,
          uid: "uid-csid",
          resourceVersion: "1",
          creationTimestamp: "2026-03-01T09:00:00Z",
        },
      };
    }
    if (plan.writeStatus) this.status = JSON.parse(JSON.stringify(plan.status));
  }

  /** Reconcile once at `now` and carry the plan out; returns the plan. */
  step(now: Date, opts: { masking?: MaskingLookup } = {}): Plan {
    const plan = this.plan(now, opts);
    this.apply(plan);
    return plan;
  }

  /** Ready, ClusterSPIFFEID created, SCM has not reported yet. */
  static ready(): Binding {
    const b = new Binding();
    b.step(at(-60_000));
    assert.ok(b.object, "the ClusterSPIFFEID was created");
    assert.equal(decodeSpireStatus(b.status), undefined);
    return b;
  }
}

const reasons = (plan: Plan) => plan.events.map((e) => `${e.type}/${e.reason}`);
const spireOf = (b: Binding) => decodeSpireStatus(b.status);

Deno.test("SCM's figures are copied onto the binding: all seven as numbers, the object's name, kleym's clock", () => {
  const b = Binding.ready();
  b.stats = { podsSelected: 2, entriesToSet: 2, namespacesSelected: 1 };
  const plan = b.step(T0);
  assert.ok(plan.writeStatus);
  assert.ok(plan.spireOnly, "nothing but status.spire changed");
  assert.equal(writesTransition(plan), false, "not a state transition (outcome metrics)");
  assert.deepEqual(reasons(plan), [], "no Reconciled event for a figures-only write");
  assert.deepEqual(spireOf(b), {
    clusterSPIFFEIDName: b.object?.metadata.name,
    namespacesSelected: 1,
    namespacesIgnored: 0,
    podsSelected: 2,
    entriesToSet: 2,
    entriesMasked: 0,
    entryFailures: 0,
    podEntryRenderFailures: 0,
    lastChangeTime: "2026-03-01T10:00:00Z",
  });
  assert.equal(plan.requeueAfterMs, undefined);
});

Deno.test("unchanged figures write nothing, however often SCM rewrites or kleym resyncs", () => {
  const b = Binding.ready();
  b.stats = { podsSelected: 2, entriesToSet: 2 };
  b.step(T0);
  for (const ms of [1, 5_000, 60_000, 3_600_000]) {
    // Key order and explicit zeros do not matter: the figures are the same.
    b.stats = { entriesToSet: 2, podsSelected: 2, entriesMasked: 0 };
    const plan = b.plan(at(ms));
    assert.ok(isNoop(plan), `at +${ms} ms: ${JSON.stringify(plan)}`);
    assert.equal(plan.requeueAfterMs, undefined);
  }
});

Deno.test("coalescing: a figures-only change is written at most once per interval, and the newest figures win", async (t) => {
  const b = Binding.ready();
  b.stats = { podsSelected: 2, entriesToSet: 2 };
  b.step(T0);
  await t.step("a change 3 s after the last one waits the remaining 7 s", () => {
    b.stats = { podsSelected: 3, entriesToSet: 3 };
    const plan = b.step(at(3_000));
    assert.equal(plan.writeStatus, false);
    assert.equal(plan.requeueAfterMs, 7_000);
    assert.equal(spireOf(b)?.podsSelected, 2, "the previous figures stay meanwhile");
    assert.deepEqual(plan.events, []);
  });
  await t.step("another change while held: still held, for what remains", () => {
    b.stats = { podsSelected: 4, entriesToSet: 4 };
    const plan = b.step(at(9_500));
    assert.equal(plan.writeStatus, false);
    assert.equal(plan.requeueAfterMs, 500);
  });
  await t.step("at the bound: one write, with the newest figures", () => {
    const plan = b.step(at(10_000));
    assert.ok(plan.writeStatus);
    assert.equal(plan.requeueAfterMs, undefined);
    assert.equal(spireOf(b)?.podsSelected, 4);
    assert.equal(spireOf(b)?.lastChangeTime, "2026-03-01T10:00:10Z");
  });
  await t.step("figures back to what was written while held: nothing to write", () => {
    b.stats = { podsSelected: 5, entriesToSet: 5 };
    assert.equal(b.step(at(12_000)).requeueAfterMs, 8_000);
    b.stats = { podsSelected: 4, entriesToSet: 4 };
    const plan = b.step(at(20_000));
    assert.ok(isNoop(plan));
    assert.equal(plan.requeueAfterMs, undefined);
  });
  await t.step("a change long after the last one is written at once", () => {
    b.stats = { podsSelected: 1, entriesToSet: 1 };
    const plan = b.step(at(600_000));
    assert.ok(plan.writeStatus);
    assert.equal(spireOf(b)?.podsSelected, 1);
  });
  await t.step("the bound is measured in whole seconds of lastChangeTime", () => {
    // Last write at +600 s exactly; kleym's clock has milliseconds, lastChangeTime does not.
    b.stats = { podsSelected: 2, entriesToSet: 2 };
    assert.equal(b.step(at(609_999)).requeueAfterMs, 1);
    assert.ok(b.step(at(610_000)).writeStatus);
  });
  await t.step("a lastChangeTime further ahead than one interval bounds nothing", () => {
    b.status = {
      ...(b.status as Record<string, unknown>),
      spire: { ...spireOf(b), lastChangeTime: "2026-03-01T11:00:00Z" },
    };
    b.stats = { podsSelected: 3, entriesToSet: 3 };
    assert.ok(b.step(at(611_000)).writeStatus);
  });
});

Deno.test("figures that change with something else in the status are written at once", () => {
  const b = Binding.ready();
  b.stats = { podsSelected: 2, entriesToSet: 2 };
  b.step(T0);
  // A spec edit (new generation) changes observedGeneration in every condition.
  b.generation = 2;
  b.stats = { podsSelected: 3, entriesToSet: 3 };
  const plan = b.step(at(1_000));
  assert.ok(plan.writeStatus);
  assert.equal(plan.spireOnly, false);
  assert.equal(plan.requeueAfterMs, undefined);
  assert.equal(spireOf(b)?.podsSelected, 3);
  assert.equal(spireOf(b)?.lastChangeTime, "2026-03-01T10:00:01Z");
});

Deno.test("status.spire is absent unless the ClusterSPIFFEID exists as rendered and SCM reported on it", async (t) => {
  await t.step("no SCM status on the object yet: absent, nothing to write", () => {
    const b = Binding.ready();
    assert.ok(isNoop(b.plan(T0)));
  });
  await t.step("a failing binding carries no figures", () => {
    const b = Binding.ready();
    b.stats = { podsSelected: 2 };
    b.step(T0);
    // Another PoolOnly binding cannot collide; make this one fail by pointing at a bad account.
    const binding = b.input();
    const bad = { ...binding, spec: { ...(binding.spec as object), serviceAccountName: "Bad_SA" } };
    const rendered = renderBinding(bad, resolved, config);
    const plan = planReconcile({
      binding: bad,
      rendered,
      config,
      managed: b.object ? [b.object] : [],
      now: at(1_000),
    });
    assert.equal(plan.outcome.condition, "RenderFailure");
    assert.ok(plan.writeStatus);
    assert.equal(plan.status.spire, undefined);
  });
  await t.step("the object is gone (re-created by this plan): the figures go", () => {
    const b = Binding.ready();
    b.stats = { podsSelected: 2 };
    b.step(T0);
    b.object = undefined;
    const plan = b.plan(at(20_000));
    assert.ok(plan.create);
    assert.ok(plan.writeStatus);
    assert.equal(plan.status.spire, undefined);
  });
  await t.step("the object is being deleted: the figures go", () => {
    const b = Binding.ready();
    b.stats = { podsSelected: 2 };
    b.step(T0);
    b.object = {
      ...b.object!,
      metadata: { ...b.object!.metadata, deletionTimestamp: "2026-03-01T10:00:05Z" },
    };
    const plan = b.plan(at(20_000));
    assert.equal(plan.status.spire, undefined);
  });
  await t.step("a drifted object being restored: the previous figures stay", () => {
    const b = Binding.ready();
    b.stats = { podsSelected: 2 };
    b.step(T0);
    b.object = { ...b.object!, spec: { ...(b.object!.spec as object), hint: "tampered" } };
    b.stats = { podsSelected: 7 };
    const plan = b.plan(at(20_000));
    assert.ok(plan.update);
    assert.equal(plan.writeStatus, false);
    assert.equal(plan.status.spire?.podsSelected, 2);
  });
});

Deno.test("failure events: SPIREEntryFailures when failures change to non-zero, never on a no-op", async (t) => {
  const b = Binding.ready();
  b.stats = { podsSelected: 2, entriesToSet: 2 };
  b.step(T0);
  await t.step("a render failure appears", () => {
    b.stats = { podsSelected: 3, entriesToSet: 2, podEntryRenderFailures: 1 };
    const plan = b.step(at(10_000));
    assert.deepEqual(reasons(plan), ["Warning/SPIREEntryFailures"]);
    const message = plan.events[0].message;
    assert.ok(message.includes(b.object!.metadata.name!), message);
    assert.ok(message.includes("1 selected pod(s) whose entry failed to render"), message);
    assert.ok(message.includes("not yet scheduled to a node"), message);
  });
  await t.step("unchanged: no write, no event", () => {
    assert.ok(isNoop(b.plan(at(30_000))));
  });
  await t.step("other figures change, failures do not: no event", () => {
    b.stats = { podsSelected: 4, entriesToSet: 3, podEntryRenderFailures: 1 };
    const plan = b.step(at(40_000));
    assert.ok(plan.writeStatus);
    assert.deepEqual(reasons(plan), []);
  });
  await t.step("entry failures too: one event naming both", () => {
    b.stats = { podsSelected: 4, entriesToSet: 3, podEntryRenderFailures: 1, entryFailures: 2 };
    const plan = b.step(at(60_000));
    assert.deepEqual(reasons(plan), ["Warning/SPIREEntryFailures"]);
    assert.ok(plan.events[0].message.includes("2 entries SPIRE Server failed to create"));
  });
  await t.step("failures cleared: no Warning", () => {
    b.stats = { podsSelected: 4, entriesToSet: 4 };
    assert.deepEqual(reasons(b.step(at(80_000))), []);
  });
});

/** A foreign ClusterSPIFFEID declaring the same entries as `desired`. */
function foreign(
  desired: ClusterSPIFFEID,
  name: string,
  meta: Record<string, unknown> = {},
  spec: Record<string, unknown> = {},
): ObservedClusterSPIFFEID {
  return {
    metadata: { name, uid: `uid-${name}`, creationTimestamp: "2026-03-01T08:00:00Z", ...meta },
    spec: { ...desired.spec, ...spec },
  };
}

Deno.test("masked entries: one LIST only for the write that carries a new masked figure, and the event names the older object", async (t) => {
  const b = Binding.ready();
  const desired = (b.plan(T0).rendered as { identity: { clusterSPIFFEID: ClusterSPIFFEID } })
    .identity.clusterSPIFFEID;
  b.stats = { podsSelected: 2, entriesMasked: 2 };
  await t.step("the plan asks for the lookup before it writes", () => {
    const plan = b.plan(T0);
    assert.ok(plan.lookupMasking);
  });
  await t.step("planned again with the lookup: the Warning names the foreign object", () => {
    const plan = b.step(T0, {
      masking: { objects: [b.object!, foreign(desired, "legacy-identity")] },
    });
    assert.equal(plan.lookupMasking, false);
    assert.deepEqual(reasons(plan), ["Warning/SPIREEntriesMasked"]);
    const message = plan.events[0].message;
    assert.ok(message.includes("masks 2 of the entries"), message);
    assert.ok(message.includes("ClusterSPIFFEID legacy-identity"), message);
    assert.ok(message.includes("delete it or stop it from selecting these pods"), message);
  });
  await t.step("a held change asks for nothing", () => {
    b.stats = { podsSelected: 3, entriesMasked: 3 };
    const plan = b.plan(at(5_000));
    assert.equal(plan.writeStatus, false);
    assert.equal(plan.requeueAfterMs, 5_000);
    assert.equal(plan.lookupMasking, false);
  });
  await t.step("steady state: no lookup, no event", () => {
    b.stats = { podsSelected: 2, entriesMasked: 2 };
    const plan = b.plan(at(60_000));
    assert.ok(isNoop(plan));
    assert.equal(plan.lookupMasking, false);
  });
  await t.step("the foreign object goes: figures clear, no lookup, no Warning", () => {
    b.stats = { podsSelected: 2, entriesToSet: 2 };
    const plan = b.step(at(120_000));
    assert.ok(plan.writeStatus);
    assert.equal(plan.lookupMasking, false);
    assert.deepEqual(reasons(plan), []);
    assert.equal(spireOf(b)?.entriesMasked, 0);
  });
  await t.step("kleym could not list: the message says so and how to look", () => {
    b.stats = { podsSelected: 2, entriesMasked: 1 };
    const plan = b.plan(at(240_000), { masking: { error: "forbidden" } });
    assert.ok(plan.events[0].message.includes("could not list ClusterSPIFFEIDs"));
    assert.ok(plan.events[0].message.includes("forbidden"));
  });
  await t.step("no comparable object: the message names the SPIFFE ID to look for", () => {
    const plan = b.plan(at(240_000), { masking: { objects: [b.object!] } });
    assert.ok(plan.events[0].message.includes(desired.spec.spiffeIDTemplate));
  });
});

Deno.test("maskingHolders: the objects SCM prefers that declare the same entries", async (t) => {
  const b = Binding.ready();
  const self = b.object!;
  const desired = (b.plan(T0).rendered as { identity: { clusterSPIFFEID: ClusterSPIFFEID } })
    .identity.clusterSPIFFEID;
  const created = self.metadata.creationTimestamp;
  const cases: [string, ObservedClusterSPIFFEID, boolean][] = [
    ["older, same templates", foreign(desired, "a"), true],
    [
      "older, selector templates in another order",
      foreign(desired, "a", {}, {
        workloadSelectorTemplates: [...desired.spec.workloadSelectorTemplates].reverse(),
      }),
      true,
    ],
    [
      "newer (SCM keeps the oldest)",
      foreign(desired, "a", { creationTimestamp: "2026-03-01T09:30:00Z" }),
      false,
    ],
    [
      "same second, lower uid",
      foreign(desired, "a", { creationTimestamp: created, uid: "a" }),
      true,
    ],
    [
      "same second, higher uid",
      foreign(desired, "a", { creationTimestamp: created, uid: "zz" }),
      false,
    ],
    ["another SPIFFE ID", foreign(desired, "a", {}, { spiffeIDTemplate: "spiffe://x/y" }), false],
    [
      "fewer selectors",
      foreign(desired, "a", {}, { workloadSelectorTemplates: ["k8s:ns:default"] }),
      false,
    ],
    [
      "classed, ours classless (an SCM with watchClassless handles both)",
      foreign(desired, "a", {}, { className: "other" }),
      true,
    ],
    ["itself", self, false],
  ];
  for (const [name, other, masks] of cases) {
    await t.step(name, () => {
      assert.deepEqual(
        maskingHolders({ ...self, spec: desired.spec }, [other]),
        masks ? [other.metadata.name] : [],
      );
    });
  }
  await t.step("same second: SCM keeps an object not being deleted over one being deleted", () => {
    const deleting = {
      ...self,
      metadata: { ...self.metadata, deletionTimestamp: "2026-03-01T10:00:00Z" },
    };
    const other = foreign(desired, "a", { creationTimestamp: created, uid: "zz" });
    assert.deepEqual(maskingHolders({ ...deleting, spec: desired.spec }, [other]), ["a"]);
  });
  await t.step("classed ours vs another class: not handled by the same SCM", () => {
    const classed = { ...desired, spec: { ...desired.spec, className: "kleym" } };
    assert.deepEqual(
      maskingHolders({ ...self, spec: classed.spec }, [
        foreign(classed, "a", {}, { className: "other" }),
      ]),
      [],
    );
    assert.deepEqual(
      maskingHolders({ ...self, spec: classed.spec }, [
        foreign(classed, "a", {}, { className: "" }),
      ]),
      ["a"],
    );
  });
});

Deno.test("reportedFigures and decodeSpireStatus read only well-formed values", () => {
  assert.equal(reportedFigures({ metadata: {} }), undefined);
  assert.equal(reportedFigures({ metadata: {}, status: { stats: "x" } }), undefined);
  assert.deepEqual(
    reportedFigures({ metadata: {}, status: { stats: { podsSelected: -1, entriesToSet: 1.5 } } }),
    {
      namespacesSelected: 0,
      namespacesIgnored: 0,
      podsSelected: 0,
      entriesToSet: 0,
      entriesMasked: 0,
      entryFailures: 0,
      podEntryRenderFailures: 0,
    },
  );
  // A partial status.spire (not kleym's shape) counts as absent: the next write replaces it.
  assert.equal(
    decodeSpireStatus({
      spire: { clusterSPIFFEIDName: "x", lastChangeTime: "t", podsSelected: 1 },
    }),
    undefined,
  );
  const d = planSpire({
    previous: undefined,
    source: { kind: "keep" },
    othersChanged: false,
    now: T0,
    intervalMs: INTERVAL,
  });
  assert.deepEqual(d, { spire: undefined, events: [], lookupMasking: false });
});

Deno.test("the managed cache keeps status.stats and nothing else of status; an update never sends status", () => {
  const served = {
    apiVersion: "spire.spiffe.io/v1alpha1",
    kind: "ClusterSPIFFEID",
    metadata: {
      name: "c",
      resourceVersion: "7",
      labels: { a: "b" },
      managedFields: [{ manager: "scm" }],
    },
    spec: { spiffeIDTemplate: "spiffe://td/x" },
    status: { stats: { podsSelected: 2 }, somethingElse: { big: "x".repeat(100) } },
  } as unknown as KubeObject;
  const cached = cachedManaged(served);
  assert.deepEqual(cached, {
    apiVersion: "spire.spiffe.io/v1alpha1",
    kind: "ClusterSPIFFEID",
    metadata: { name: "c", resourceVersion: "7", labels: { a: "b" } },
    spec: { spiffeIDTemplate: "spiffe://td/x" },
    status: { stats: { podsSelected: 2 } },
  });
  const noStatus = cachedManaged({ ...served, status: undefined } as unknown as KubeObject);
  assert.equal("status" in noStatus, false);
  const desired = new Binding().plan(T0).create;
  assert.ok(desired);
  const update = mergedUpdate(cached, desired);
  assert.equal("status" in update, false, "the PUT body carries no status");
});
