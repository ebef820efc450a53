// The project's examples (tests/fixtures/examples, docs/contract.md#rendering to
// docs/contract.md#status), run through the pure core: every binding is planned and the plans
// applied to a simulated cluster until nothing changes, then the ClusterSPIFFEIDs and binding
// statuses are compared field by field with expected.yaml. Fields expected.yaml does not list (uid,
// resourceVersion, timestamps) are not compared; the binding finalizer is the edge's job
// (docs/contract.md#lifecycle) and is covered by its tests, not here.

import assert from "node:assert/strict";
import { parse, parseAllDocuments } from "yaml";
import { NO_PEERS, participant, verdictAmong } from "../../reconcile/collision.ts";
import { Reasons, StateError } from "../../reconcile/errors.ts";
import { isRecord } from "../../reconcile/json.ts";
import { isNoop, planReconcile } from "../../reconcile/plan.ts";
import { renderBinding } from "../../reconcile/render.ts";
import {
  type BindingInput,
  FINALIZER,
  type ObjectiveApiVersion,
  type ObservedClusterSPIFFEID,
  type PoolApiVersion,
  type ResolvedInputs,
} from "../../reconcile/types.ts";

const EXAMPLES = new URL("../fixtures/examples/", import.meta.url);
const config = { trustDomain: "kleym.sonda.red" }; // examples/README.md: no class name
const POOL_VERSIONS: readonly string[] = [
  "inference.networking.k8s.io/v1",
  "inference.networking.x-k8s.io/v1alpha2",
];
const OBJECTIVE_VERSIONS: readonly string[] = [
  "inference.networking.x-k8s.io/v1alpha2",
  "inference.networking.k8s.io/v1",
];

interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace: string };
  spec?: unknown;
}

function isManifest(value: unknown): value is Manifest {
  return isRecord(value) && typeof value.apiVersion === "string" &&
    typeof value.kind === "string" && isRecord(value.metadata) &&
    typeof value.metadata.name === "string" && typeof value.metadata.namespace === "string";
}

function inputs(example: string): Manifest[] {
  const text = Deno.readTextFileSync(new URL(`${example}/input.yaml`, EXAMPLES));
  return parseAllDocuments(text).map((doc) => {
    const value: unknown = doc.toJS();
    assert.ok(isManifest(value), `${example}: not a manifest`);
    return value;
  });
}

interface Expected {
  clusterSPIFFEIDs: Record<string, unknown>[];
  bindings: { name: string; namespace: string; status: unknown }[];
}

function expected(example: string): Expected {
  const value: unknown = parse(
    Deno.readTextFileSync(new URL(`${example}/expected.yaml`, EXAMPLES)),
  );
  assert.ok(
    isRecord(value) && Array.isArray(value.clusterSPIFFEIDs) && Array.isArray(value.bindings),
  );
  return value as unknown as Expected;
}

/** What the edge would resolve from its caches for this binding, from the example's manifests. */
function resolve(binding: Manifest, manifests: readonly Manifest[]): ResolvedInputs | StateError {
  const spec = isRecord(binding.spec) ? binding.spec : {};
  const ref = (field: string) => {
    const value = spec[field];
    return isRecord(value) && typeof value.name === "string" ? value.name : undefined;
  };
  const find = (kind: string, name: string | undefined) =>
    manifests.find((m) =>
      m.kind === kind && m.metadata.name === name &&
      m.metadata.namespace === binding.metadata.namespace
    );
  const pool = find("InferencePool", ref("poolRef"));
  if (pool === undefined) {
    return new StateError("InvalidRef", Reasons.TargetPoolNotFound, "InferencePool not found");
  }
  assert.ok(POOL_VERSIONS.includes(pool.apiVersion));
  const objective = find("InferenceObjective", ref("objectiveRef"));
  if (objective !== undefined) assert.ok(OBJECTIVE_VERSIONS.includes(objective.apiVersion));
  return {
    pool: { apiVersion: pool.apiVersion as PoolApiVersion, object: pool },
    objective: objective === undefined
      ? undefined
      : { apiVersion: objective.apiVersion as ObjectiveApiVersion, object: objective },
  };
}

/** A simulated cluster that plans and applies every binding until a full round writes nothing. */
class Cluster {
  readonly objects = new Map<string, ObservedClusterSPIFFEID>();
  readonly statuses = new Map<string, unknown>();
  private clock = Date.parse("2025-03-01T10:00:00Z");

  converge(manifests: readonly Manifest[]): void {
    for (let round = 0; round < 5; round++) {
      const now = new Date(this.clock += 60_000);
      const bindings = manifests.filter((m) => m.kind === "InferenceIdentityBinding");
      const inputs = bindings.map((m): [BindingInput, ResolvedInputs | StateError] => [
        {
          metadata: {
            ...m.metadata,
            uid: `uid-${m.metadata.name}`,
            generation: 1,
            finalizers: [FINALIZER],
          },
          spec: m.spec,
          status: this.statuses.get(m.metadata.name),
        },
        resolve(m, manifests),
      ]);
      const candidates = inputs.flatMap(([binding, resolved]) =>
        participant(binding, renderBinding(binding, resolved, config)) ?? []
      );
      let wrote = false;
      for (const [binding, resolved] of inputs) {
        const rendered = renderBinding(binding, resolved, config);
        const self = participant(binding, rendered);
        const plan = planReconcile({
          binding,
          rendered,
          config,
          managed: [...this.objects.values()],
          nameHolder: rendered.ok ? this.objects.get(rendered.identity.name) : undefined,
          exclusivity: self === undefined ? NO_PEERS : verdictAmong(self, candidates),
          now,
        });
        if (isNoop(plan)) continue;
        wrote = true;
        for (const { name } of plan.deletes) this.objects.delete(name);
        for (const object of [plan.create, plan.update]) {
          if (object) this.objects.set(object.metadata.name, JSON.parse(JSON.stringify(object)));
        }
        if (plan.writeStatus) {
          this.statuses.set(binding.metadata?.name ?? "", JSON.parse(JSON.stringify(plan.status)));
        }
      }
      if (!wrote) return;
    }
    assert.fail("the examples did not converge: some reconcile keeps writing");
  }
}

/**
 * Every field `expected` lists must be in `actual` with the same value. Lists of `{type: …}`
 * entries are list-maps (conditions) and match by type; other lists match element by element.
 */
function assertSubset(actual: unknown, expected: unknown, path: string): void {
  if (Array.isArray(expected)) {
    assert.ok(Array.isArray(actual), `${path}: expected a list, got ${JSON.stringify(actual)}`);
    const keyed = expected.length > 0 &&
      expected.every((e) => isRecord(e) && typeof e.type === "string");
    if (keyed) {
      for (const entry of expected as Record<string, unknown>[]) {
        const match = actual.find((a) => isRecord(a) && a.type === entry.type);
        assertSubset(match, entry, `${path}[type=${entry.type}]`);
      }
    } else {
      assert.equal(actual.length, expected.length, `${path}: length`);
      expected.forEach((entry, i) => assertSubset(actual[i], entry, `${path}[${i}]`));
    }
  } else if (isRecord(expected)) {
    assert.ok(isRecord(actual), `${path}: expected an object, got ${JSON.stringify(actual)}`);
    for (const [key, value] of Object.entries(expected)) {
      assertSubset(actual[key], value, `${path}.${key}`);
    }
  } else {
    assert.equal(actual, expected, path);
  }
}

function assertMatchesExpected(cluster: Cluster, want: Expected, label: string): void {
  assert.deepEqual(
    [...cluster.objects.keys()].sort(),
    want.clusterSPIFFEIDs.map((o) => (o.metadata as { name: string }).name).sort(),
    `${label}: ClusterSPIFFEID names`,
  );
  for (const object of want.clusterSPIFFEIDs) {
    const name = (object.metadata as { name: string }).name;
    const actual = cluster.objects.get(name);
    assertSubset(actual, object, `${label}: ${name}`);
    // The spec is kleym's entirely: nothing beyond what the example lists (e.g. no className).
    assert.deepEqual(
      Object.keys(actual?.spec as object).sort(),
      Object.keys(object.spec as object).sort(),
      `${label}: ${name} spec fields`,
    );
  }
  for (const binding of want.bindings) {
    assertSubset(cluster.statuses.get(binding.name), binding.status, `${label}: ${binding.name}`);
  }
}

Deno.test("the per-objective example renders its ClusterSPIFFEID and Ready status exactly", () => {
  const cluster = new Cluster();
  cluster.converge(inputs("per-objective"));
  assertMatchesExpected(cluster, expected("per-objective"), "per-objective");
});

Deno.test("the seed's v1-objective example renders the same ClusterSPIFFEID and status", () => {
  const cluster = new Cluster();
  cluster.converge(inputs("per-objective-v1-objective"));
  assertMatchesExpected(
    cluster,
    expected("per-objective-v1-objective"),
    "per-objective-v1-objective",
  );
});

Deno.test("the pool-only example renders its ClusterSPIFFEID and Ready status exactly", () => {
  const cluster = new Cluster();
  cluster.converge(inputs("pool-only"));
  assertMatchesExpected(cluster, expected("pool-only"), "pool-only");
});

Deno.test("the collision example puts both bindings in Conflict and removes their objects", () => {
  const cluster = new Cluster();
  const first = inputs("per-objective");
  cluster.converge(first);
  cluster.converge([...first, ...inputs("collision")]);
  assertMatchesExpected(cluster, expected("collision"), "collision");
});

Deno.test("after the collision is fixed, objective-a recovers on its own", async (t) => {
  const fixes: [string, (manifests: Manifest[]) => Manifest[]][] = [
    [
      "objective-b deleted",
      (ms) =>
        ms.filter((m) =>
          m.metadata.name !== "objective-b" || m.kind !== "InferenceIdentityBinding"
        ),
    ],
    [
      "objective-b moved to the sidecar container",
      (ms) =>
        ms.map((m) =>
          m.kind === "InferenceIdentityBinding" && m.metadata.name === "objective-b"
            ? { ...m, spec: { ...(m.spec as object), containerName: "sidecar" } }
            : m
        ),
    ],
  ];
  for (const [label, fix] of fixes) {
    await t.step(label, () => {
      const cluster = new Cluster();
      const colliding = [...inputs("per-objective"), ...inputs("collision")];
      cluster.converge(colliding);
      cluster.converge(fix(colliding));
      const want = expected("per-objective");
      assertSubset(
        cluster.objects.get("kleym-default-objective-a-objective-3ace974d"),
        want.clusterSPIFFEIDs[0],
        label,
      );
      assertSubset(cluster.statuses.get("objective-a"), want.bindings[0].status, label);
    });
  }
});
