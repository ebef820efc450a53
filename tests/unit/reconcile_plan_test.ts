// docs/contract.md#rendering to docs/contract.md#lifecycle: planning one binding's reconcile
// against a simulated cluster — steady state, drift, ownership (foreign holders, leftovers, stale
// objects), failures, collisions and events.

import assert from "node:assert/strict";
import {
  collisionMessage,
  NO_PEERS,
  type Participant,
  participant,
  verdictAmong,
} from "../../reconcile/collision.ts";
import { StateError } from "../../reconcile/errors.ts";
import { isNoop, type Plan, type PlanInput, planReconcile } from "../../reconcile/plan.ts";
import { planDeletion } from "../../reconcile/ownership.ts";
import { renderBinding } from "../../reconcile/render.ts";
import type { ObjectMeta } from "kubernetes-types/meta/v1.d.ts";
import {
  type BindingInput,
  FINALIZER,
  type ObservedClusterSPIFFEID,
  type ResolvedInputs,
} from "../../reconcile/types.ts";

const config = { trustDomain: "kleym.sonda.red" };
const T0 = new Date("2025-03-01T10:00:00Z");
const T1 = new Date("2025-03-01T11:00:00Z");
const T2 = new Date("2025-03-01T12:00:00Z");
const NAME_A = "kleym-default-objective-a-objective-3ace974d";

const resolved: ResolvedInputs = {
  pool: {
    apiVersion: "inference.networking.k8s.io/v1",
    object: {
      metadata: { name: "pool-a" },
      spec: { selector: { matchLabels: { app: "model-server" } } },
    },
  },
  objective: {
    apiVersion: "inference.networking.x-k8s.io/v1alpha2",
    object: { spec: { poolRef: { name: "pool-a", group: "inference.networking.k8s.io" } } },
  },
};

/** A small stand-in for the cluster: ClusterSPIFFEIDs by name and one binding's status. */
class World {
  objects = new Map<string, ObservedClusterSPIFFEID>();
  status: unknown = undefined;
  generation = 1;
  private serial = 0;

  binding(name = "objective-a", spec: Record<string, unknown> = {}): BindingInput {
    return {
      metadata: {
        name,
        namespace: "default",
        uid: `uid-${name}`,
        generation: this.generation,
        finalizers: [FINALIZER],
      },
      spec: {
        poolRef: { name: "pool-a" },
        objectiveRef: { name },
        serviceAccountName: "inference-sa",
        mode: "PerObjective",
        containerName: "main",
        ...spec,
      },
      status: this.status,
    };
  }

  /** Store an object the way the API server returns it (server fields, JSON round trip). */
  put(object: ObservedClusterSPIFFEID): ObservedClusterSPIFFEID {
    const copy: { metadata: ObjectMeta; spec?: unknown } = JSON.parse(JSON.stringify(object));
    const stored = {
      ...copy,
      metadata: {
        ...copy.metadata,
        uid: copy.metadata.uid ?? `server-uid-${++this.serial}`,
        resourceVersion: String(++this.serial),
      },
    };
    this.objects.set(stored.metadata.name ?? "", stored);
    return stored;
  }

  /** Plan the binding as the edge would: managed-by-labelled objects plus the name holder. */
  plan(
    binding: BindingInput,
    candidates: readonly Participant[] = [],
    now = T1,
    extra: Partial<PlanInput> = {},
  ): Plan {
    const rendered = renderBinding(binding, resolved, config);
    const self = participant(binding, rendered);
    const managed = [...this.objects.values()].filter((o) =>
      o.metadata.labels?.["kleym.sonda.red/managed-by"] === "kleym"
    );
    const nameHolder = rendered.ok ? this.objects.get(rendered.identity.name) : undefined;
    return planReconcile({
      binding,
      rendered,
      config,
      managed,
      nameHolder,
      exclusivity: self === undefined ? NO_PEERS : verdictAmong(self, candidates),
      now,
      ...extra,
    });
  }

  apply(plan: Plan): void {
    for (const { name, uid } of plan.deletes) {
      assert.equal(this.objects.get(name)?.metadata.uid, uid, `delete precondition for ${name}`);
      this.objects.delete(name);
    }
    if (plan.create) {
      assert.ok(!this.objects.has(plan.create.metadata.name), "create of an existing name");
      this.put(plan.create);
    }
    if (plan.update) {
      const current = this.objects.get(plan.update.metadata.name);
      assert.equal(plan.update.metadata.resourceVersion, current?.metadata.resourceVersion);
      this.put(plan.update);
    }
    if (plan.writeStatus) this.status = JSON.parse(JSON.stringify(plan.status)) as unknown;
  }
}

function condition(plan: Plan, type: string) {
  const found = plan.status.conditions.find((c) => c.type === type);
  assert.ok(found, `condition ${type}`);
  return found;
}

function eventReasons(plan: Plan): string[] {
  return plan.events.map((e) => `${e.type}/${e.reason}`);
}

function reconciled(world: World, binding = world.binding()): void {
  world.apply(world.plan(binding, [], T0));
}

Deno.test("the first reconcile creates the ClusterSPIFFEID; later ones write nothing", () => {
  const world = new World();
  const first = world.plan(world.binding(), [], T0);
  assert.equal(first.create?.metadata.name, NAME_A);
  assert.equal(first.update, undefined);
  assert.deepEqual(first.deletes, []);
  assert.ok(first.writeStatus);
  assert.deepEqual(eventReasons(first), ["Normal/Reconciled"]);
  assert.ok(first.events[0].message.includes(`created ClusterSPIFFEID ${NAME_A}`));
  assert.deepEqual(first.outcome, {
    condition: "Ready",
    reason: "Reconciled",
    mode: "PerObjective",
  });
  world.apply(first);

  for (const now of [T1, T2]) {
    const again = world.plan(world.binding(), [], now);
    assert.ok(isNoop(again), `steady state at ${now.toISOString()}: ${JSON.stringify(again)}`);
  }
});

Deno.test("drift is repaired by one update that keeps labels and annotations others added", () => {
  const world = new World();
  reconciled(world);
  const original = world.objects.get(NAME_A);
  assert.ok(original);
  const tampered = world.put({
    ...original,
    metadata: {
      ...original.metadata,
      labels: { ...original.metadata.labels, team: "ml" },
      annotations: { ...original.metadata.annotations, "example.com/note": "keep me" },
      finalizers: ["example.com/hold"],
    },
    spec: {
      ...(original.spec as Record<string, unknown>),
      workloadSelectorTemplates: ["k8s:ns:default"],
      podSelector: { matchLabels: { app: "model-server", extra: "x" } },
      admin: true,
    },
  });

  const plan = world.plan(world.binding());
  assert.ok(plan.update);
  assert.equal(plan.create, undefined);
  assert.deepEqual(plan.deletes, []);
  assert.equal(plan.writeStatus, false);
  assert.equal(plan.update.metadata.resourceVersion, tampered.metadata.resourceVersion);
  assert.equal(plan.update.metadata.uid, tampered.metadata.uid);
  assert.deepEqual(plan.update.metadata.labels, {
    "kleym.sonda.red/managed-by": "kleym",
    "kleym.sonda.red/binding-name": "objective-a",
    "kleym.sonda.red/binding-namespace": "default",
    team: "ml",
  });
  assert.deepEqual(plan.update.metadata.annotations, {
    "kleym.sonda.red/binding-uid": "uid-objective-a",
    "example.com/note": "keep me",
  });
  assert.deepEqual(plan.update.metadata.finalizers, ["example.com/hold"]);
  assert.deepEqual(plan.update.spec, original.spec, "kleym owns the whole spec");
  assert.deepEqual(eventReasons(plan), ["Normal/Reconciled"]);
  assert.ok(plan.events[0].message.includes(`restored ClusterSPIFFEID ${NAME_A}`));

  world.apply(plan);
  assert.ok(isNoop(world.plan(world.binding())));
});

Deno.test("a kleym label changed by someone else is restored", () => {
  const world = new World();
  reconciled(world);
  const original = world.objects.get(NAME_A);
  assert.ok(original);
  world.put({
    ...original,
    metadata: { ...original.metadata, annotations: { "kleym.sonda.red/binding-uid": "tampered" } },
  });
  const plan = world.plan(world.binding());
  assert.equal(
    plan.update?.metadata.annotations?.["kleym.sonda.red/binding-uid"],
    "uid-objective-a",
  );
});

Deno.test("an object labelled for this binding but stamped with another UID is adopted", async (t) => {
  const cases: [string, Record<string, string> | undefined][] = [
    ["other UID", { "kleym.sonda.red/binding-uid": "uid-of-an-earlier-binding" }],
    ["no annotation (written by the Go implementation)", undefined],
  ];
  for (const [label, annotations] of cases) {
    await t.step(label, () => {
      const world = new World();
      reconciled(world);
      const original = world.objects.get(NAME_A);
      assert.ok(original);
      const leftover = world.put({ ...original, metadata: { ...original.metadata, annotations } });
      const plan = world.plan(world.binding());
      assert.equal(plan.create, undefined, label);
      assert.deepEqual(plan.deletes, [], label);
      assert.equal(plan.update?.metadata.uid, leftover.metadata.uid, label);
      assert.equal(
        plan.update?.metadata.annotations?.["kleym.sonda.red/binding-uid"],
        "uid-objective-a",
        label,
      );
      assert.ok(plan.events.some((e) => e.message.includes("adopted ClusterSPIFFEID")), label);
    });
  }
});

Deno.test("stale managed objects are deleted and the new one created", () => {
  const world = new World();
  reconciled(world);
  // The user switches the binding to PoolOnly: a new SPIFFE ID, a new name.
  const poolOnly = () =>
    world.binding("objective-a", {
      mode: "PoolOnly",
      containerName: undefined,
      objectiveRef: undefined,
    });
  const plan = world.plan(poolOnly());
  const old = world.objects.get(NAME_A);
  assert.deepEqual(plan.deletes, [{ name: NAME_A, uid: old?.metadata.uid }]);
  assert.equal(
    plan.create?.spec.spiffeIDTemplate,
    "spiffe://kleym.sonda.red/ns/default/pool/pool-a",
  );
  assert.ok(plan.events[0].message.includes(`deleted stale ClusterSPIFFEID ${NAME_A}`));
  world.apply(plan);
  assert.deepEqual([...world.objects.keys()], ["kleym-default-objective-a-pool-ede236a0"]);
  assert.ok(isNoop(world.plan(poolOnly())));
});

Deno.test("objects of other bindings or not managed by kleym are never deleted or updated", () => {
  const world = new World();
  const others = [
    {
      "kleym.sonda.red/managed-by": "kleym",
      "kleym.sonda.red/binding-name": "objective-b",
      "kleym.sonda.red/binding-namespace": "default",
    },
    {
      "kleym.sonda.red/managed-by": "kleym",
      "kleym.sonda.red/binding-name": "objective-a",
      "kleym.sonda.red/binding-namespace": "team",
    },
    {
      "kleym.sonda.red/managed-by": "someone",
      "kleym.sonda.red/binding-name": "objective-a",
      "kleym.sonda.red/binding-namespace": "default",
    },
  ];
  others.forEach((labels, i) => world.put({ metadata: { name: `other-${i}`, labels }, spec: {} }));
  const failing = world.binding("objective-a", { containerName: "Bad_Name" });
  for (const binding of [world.binding(), failing]) {
    const plan = world.plan(binding);
    assert.deepEqual(plan.deletes, []);
    assert.equal(plan.update, undefined);
  }
  assert.deepEqual(planDeletion(world.binding(), [...world.objects.values()]), []);
});

Deno.test("a foreign object holding the desired name is reported and never touched", async (t) => {
  const cases: [string, Record<string, string> | undefined, string][] = [
    ["unlabelled", undefined, "it is not managed by kleym"],
    ["another binding's", {
      "kleym.sonda.red/managed-by": "kleym",
      "kleym.sonda.red/binding-name": "objective-a",
      "kleym.sonda.red/binding-namespace": "team",
    }, "it belongs to binding team/objective-a"],
  ];
  for (const [label, labels, owner] of cases) {
    await t.step(label, () => {
      const world = new World();
      world.put({ metadata: { name: NAME_A, labels }, spec: { spiffeIDTemplate: "x" } });
      const plan = world.plan(world.binding());
      assert.equal(plan.create, undefined, label);
      assert.equal(plan.update, undefined, label);
      assert.deepEqual(plan.deletes, [], label);
      const ready = condition(plan, "Ready");
      assert.deepEqual([ready.status, ready.reason], ["False", "ClusterSPIFFEIDNameTaken"], label);
      assert.equal(
        ready.message,
        `ClusterSPIFFEID "${NAME_A}" already exists and ${owner}; kleym never overwrites it: ` +
          "delete or rename that object, or rename this binding",
      );
      assert.equal(condition(plan, "RenderFailure").status, "True", label);
      assert.deepEqual(eventReasons(plan), ["Warning/ClusterSPIFFEIDNameTaken"], label);
    });
  }
});

Deno.test("a name holder that does not carry the desired name is ignored", () => {
  const world = new World();
  const plan = planReconcile({
    binding: world.binding(),
    rendered: renderBinding(world.binding(), resolved, config),
    config,
    managed: [],
    nameHolder: { metadata: { name: "something-else" } },
    now: T0,
  });
  assert.equal(plan.create?.metadata.name, NAME_A);
});

Deno.test("a failing binding deletes its objects, clears its identity, warns once", () => {
  const world = new World();
  reconciled(world);
  const broken = () => world.binding("objective-a", { serviceAccountName: "Inference_SA" });
  const plan = world.plan(broken());
  const uid = world.objects.get(NAME_A)?.metadata.uid;
  assert.deepEqual(plan.deletes, [{ name: NAME_A, uid }]);
  assert.equal(plan.create, undefined);
  assert.equal(plan.status.computedSpiffeIDs, undefined);
  assert.equal(plan.status.renderedSelectors, undefined);
  assert.equal(plan.status.trustDomain, "kleym.sonda.red");
  assert.deepEqual(eventReasons(plan), ["Warning/InvalidServiceAccountName"]);
  assert.deepEqual(plan.outcome, {
    condition: "RenderFailure",
    reason: "InvalidServiceAccountName",
    mode: "PerObjective",
  });
  world.apply(plan);
  assert.equal(world.objects.size, 0);
  assert.ok(isNoop(world.plan(broken(), [], T2)), "an unchanged failure writes nothing");
});

Deno.test("resolution errors from the edge become the binding's status", () => {
  const world = new World();
  const missing = new StateError(
    "InvalidRef",
    "InferencePoolCRDMissing",
    "no InferencePool CRD is served",
  );
  const plan = planReconcile({
    binding: world.binding(),
    rendered: renderBinding(world.binding(), missing, config),
    config,
    managed: [],
    now: T0,
  });
  const invalidRef = condition(plan, "InvalidRef");
  assert.deepEqual(
    [invalidRef.status, invalidRef.reason, invalidRef.message],
    ["True", "InferencePoolCRDMissing", "no InferencePool CRD is served"],
  );
});

Deno.test("the outcome's mode is bounded to the supported values", async (t) => {
  const world = new World();
  const cases: [Record<string, unknown>, string][] = [
    [{ mode: "Shared" }, "Unknown"],
    [{ mode: undefined }, "PerObjective"],
    [{ mode: "PoolOnly", containerName: "main" }, "PoolOnly"],
  ];
  for (const [spec, mode] of cases) {
    await t.step(`${JSON.stringify(spec)}`, () => {
      const plan = world.plan(world.binding("objective-a", spec));
      assert.equal(plan.outcome.mode, mode, JSON.stringify(spec));
    });
  }
});

Deno.test("lastTransitionTime survives a spec change that keeps the outcome", () => {
  const world = new World();
  reconciled(world);
  world.generation = 2;
  const plan = world.plan(world.binding(), [], T2);
  assert.ok(plan.writeStatus, "observedGeneration moved");
  assert.equal(plan.create, undefined);
  assert.equal(plan.update, undefined);
  for (const c of plan.status.conditions) {
    assert.equal(c.lastTransitionTime, "2025-03-01T10:00:00Z", c.type);
    assert.equal(c.observedGeneration, 2, c.type);
  }
});

Deno.test("an object being deleted at the desired name is left to finish", () => {
  const world = new World();
  reconciled(world);
  const original = world.objects.get(NAME_A);
  assert.ok(original);
  world.put({
    ...original,
    metadata: { ...original.metadata, deletionTimestamp: "2025-03-01T10:30:00Z" },
    spec: { changed: true },
  });
  const plan = world.plan(world.binding());
  assert.equal(plan.create, undefined);
  assert.equal(plan.update, undefined);
  assert.deepEqual(plan.deletes, []);
});

function candidateOf(world: World, name: string, spec: Record<string, unknown> = {}) {
  const binding = world.binding(name, spec);
  return participant(binding, renderBinding(binding, resolved, config));
}

Deno.test("colliding bindings report Conflict, lose their objects, and recover on their own", () => {
  const world = new World();
  reconciled(world);
  const a = candidateOf(world, "objective-a");
  const b = candidateOf(world, "objective-b");
  assert.ok(a && b);

  const colliding = world.plan(world.binding(), [a, b]);
  const conflict = condition(colliding, "Conflict");
  assert.deepEqual(
    [conflict.status, conflict.reason, conflict.message],
    ["True", "IdentityCollision", collisionMessage(["objective-b"])],
  );
  const ready = condition(colliding, "Ready");
  assert.deepEqual([ready.status, ready.reason], ["False", "IdentityCollision"]);
  assert.deepEqual(colliding.deletes.map((d) => d.name), [NAME_A]);
  assert.equal(colliding.status.computedSpiffeIDs, undefined);
  assert.deepEqual(eventReasons(colliding), ["Warning/IdentityCollision"]);
  world.apply(colliding);
  assert.ok(isNoop(world.plan(world.binding(), [a, b])), "a lasting collision writes nothing");

  // objective-b switches to another container: objective-a recovers completely.
  const bMoved = candidateOf(world, "objective-b", { containerName: "sidecar" });
  assert.ok(bMoved);
  const recovered = world.plan(world.binding(), [a, bMoved], T2);
  assert.equal(recovered.create?.metadata.name, NAME_A);
  assert.deepEqual(
    [condition(recovered, "Ready").status, condition(recovered, "Conflict").status],
    ["True", "False"],
  );
  assert.deepEqual(eventReasons(recovered), [
    "Normal/IdentityCollisionResolved",
    "Normal/Reconciled",
  ]);
  world.apply(recovered);
  assert.ok(isNoop(world.plan(world.binding(), [a, bMoved])));
});

Deno.test("a collision takes precedence over a foreign name holder", () => {
  const world = new World();
  world.put({ metadata: { name: NAME_A }, spec: {} });
  const a = candidateOf(world, "objective-a");
  const b = candidateOf(world, "objective-b");
  assert.ok(a && b);
  const plan = world.plan(world.binding(), [a, b]);
  assert.equal(condition(plan, "Ready").reason, "IdentityCollision");
  assert.deepEqual(plan.deletes, []);
});

Deno.test("planDeletion lists every owned object not already going away", () => {
  const world = new World();
  reconciled(world);
  const stale = world.put({
    metadata: {
      name: "kleym-default-objective-a-pool-ede236a0",
      labels: world.objects.get(NAME_A)?.metadata.labels,
    },
  });
  world.put({
    metadata: {
      name: "going",
      labels: stale.metadata.labels,
      deletionTimestamp: "2025-03-01T10:30:00Z",
    },
  });
  const deletes = planDeletion(world.binding(), [...world.objects.values()]);
  assert.deepEqual(deletes.map((d) => d.name).sort(), [NAME_A, stale.metadata.name].sort());
  assert.ok(deletes.every((d) => d.uid !== undefined));
});

Deno.test("warn-mode overlap warnings: once per change of peers, none on a restart's quiet pass", async (t) => {
  const peer = (name: string, rev: string) => ({
    name,
    labels: { app: "model-server", rev },
    container: "main",
  });
  const overlapping = (...peers: ReturnType<typeof peer>[]) => ({
    exclusivity: { ...NO_PEERS, serviceAccount: "inference-sa", overlap: peers },
  });
  const warnings = (plan: Plan) =>
    plan.events.filter((e) => e.reason === "IdentityOverlap").map((e) => e.message);
  const converged = () => {
    const world = new World();
    world.apply(world.plan(world.binding()));
    return world;
  };

  await t.step("a new binding that overlaps is warned about as it is written", () => {
    const world = new World();
    const plan = world.plan(world.binding(), [], T1, overlapping(peer("pool-only", "1")));
    assert.equal(warnings(plan).length, 1);
    assert.match(warnings(plan)[0], /pool-only/);
    assert.equal(plan.overlapNotice, "pool-only");
  });
  await t.step("a restart's first pass over a converged binding: no event, no write", () => {
    const world = converged();
    const plan = world.plan(world.binding(), [], T2, overlapping(peer("pool-only", "1")));
    assert.ok(isNoop(plan), eventReasons(plan).join(", "));
    assert.equal(plan.overlapNotice, "pool-only", "remembered for the next change");
  });
  await t.step("the same peers with other labels (a pool edit): no new warning", () => {
    const world = converged();
    const plan = world.plan(world.binding(), [], T2, {
      ...overlapping(peer("pool-only", "2")),
      overlapAnnounced: "pool-only",
    });
    assert.deepEqual(warnings(plan), []);
  });
  await t.step("a peer joins a known binding: one warning naming both peers", () => {
    const world = converged();
    const plan = world.plan(world.binding(), [], T2, {
      ...overlapping(peer("pool-only", "1"), peer("pool-two", "1")),
      overlapAnnounced: "pool-only",
    });
    assert.equal(warnings(plan).length, 1);
    assert.match(warnings(plan)[0], /pool-only[\s\S]*pool-two/);
    assert.equal(plan.overlapNotice, "pool-only,pool-two");
  });
  await t.step("an overlap that comes back after it ended is warned about again", () => {
    const world = converged();
    const ended = world.plan(world.binding(), [], T2, { overlapAnnounced: "pool-only" });
    assert.equal(ended.overlapNotice, "");
    const back = world.plan(world.binding(), [], T2, {
      ...overlapping(peer("pool-only", "1")),
      overlapAnnounced: ended.overlapNotice,
    });
    assert.equal(warnings(back).length, 1);
  });
  await t.step("refuse mode: the conflict's event, never the warn-mode one", () => {
    const world = converged();
    const plan = world.plan(world.binding(), [], T2, {
      ...overlapping(peer("pool-only", "1")),
      identityOverlap: "refuse",
      overlapAnnounced: "",
    });
    assert.equal(condition(plan, "Conflict").reason, "IdentityOverlap");
    assert.equal(warnings(plan).length, 1);
    assert.doesNotMatch(warnings(plan)[0], /stays Ready/);
    assert.equal(plan.overlapNotice, undefined);
  });
});
