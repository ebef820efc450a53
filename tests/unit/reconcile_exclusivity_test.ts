// docs/contract.md#exclusivity, #exclusivity-cost: the exclusivity engine (reconcile/exclusivity.ts)
// against the brute-force rules (collision.ts `verdictAmong`) under seeded churn: every verdict
// equals the brute-force one, every binding whose verdict a change altered is reported as
// affected (new and former peers), and the overlap gauge counts exactly the overlapping bindings.

import assert from "node:assert/strict";
import { keyOf } from "../../apis/cache.ts";
import type { InferenceIdentityBinding } from "../../generated/kleym.sonda.red/v1alpha1.ts";
import {
  type Participant,
  participant,
  type Verdict,
  verdictAmong,
} from "../../reconcile/collision.ts";
import { ExclusivityEngine } from "../../reconcile/exclusivity.ts";
import { renderBinding } from "../../reconcile/render.ts";
import { type ResolveSources, resolveSpec } from "../../reconcile/resolve.ts";
import { rng } from "../resilience/operator.ts";

const config = { trustDomain: "td" };
const NAMESPACES = ["a", "b"];
const POOLS = ["p0", "p1", "p2", "p3", "p4"];
const LABEL_KEYS = ["app", "role", "tier"];

/** A little cluster: pools with label maps, bindings; objectives `<pool>-<n>` target their pool. */
class World {
  readonly pools = new Map<string, Record<string, string>>();
  readonly bindings = new Map<string, InferenceIdentityBinding>();
  served = 0;

  sources(): ResolveSources {
    return {
      pools: [{
        apiVersion: "inference.networking.k8s.io/v1",
        served: true,
        synced: true,
        get: (ns, name) => {
          const labels = this.pools.get(keyOf(ns, name));
          return labels && { metadata: { name }, spec: { selector: { matchLabels: labels } } };
        },
      }],
      objectives: [{
        apiVersion: "inference.networking.k8s.io/v1",
        served: true,
        synced: true,
        get: (_ns, name) => ({
          metadata: { name },
          spec: { poolRef: { name: name.split("-")[0] } },
        }),
      }],
    };
  }

  participants(): Map<string, Participant> {
    const out = new Map<string, Participant>();
    const sources = this.sources();
    for (const [key, b] of this.bindings) {
      const ns = b.metadata.namespace ?? "";
      const p = participant(b, renderBinding(b, (s) => resolveSpec(s, ns, sources), config));
      if (p) out.set(key, p);
    }
    return out;
  }
}

function randomLabels(random: () => number): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const k of LABEL_KEYS) if (random() < 0.5) labels[k] = random() < 0.5 ? "x" : "y";
  if (Object.keys(labels).length === 0) labels.app = "x";
  return labels;
}

function randomBinding(random: () => number, ns: string, name: string): InferenceIdentityBinding {
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(random() * xs.length)];
  const pool = pick(POOLS);
  const perObjective = random() < 0.6;
  return {
    apiVersion: "kleym.sonda.red/v1alpha1",
    kind: "InferenceIdentityBinding",
    metadata: { namespace: ns, name, uid: `uid-${name}-${random()}` },
    spec: {
      poolRef: { name: pool },
      serviceAccountName: pick(["s1", "s1", "s2"]),
      mode: perObjective ? "PerObjective" : "PoolOnly",
      ...(perObjective
        ? {
          objectiveRef: { name: `${pool}-${pick(["0", "1"])}` },
          containerName: pick(["c1", "c2"]),
        }
        : {}),
    },
  } as InferenceIdentityBinding;
}

function rig(world: World) {
  const affected: string[][] = [];
  let overlapping = -1;
  const engine = new ExclusivityEngine({
    bindings: { get: (key) => world.bindings.get(key) },
    keys: () => world.bindings.keys(),
    sources: () => world.sources(),
    servedGeneration: () => world.served,
    config,
    onAffected: (keys) => affected.push([...keys]),
    onOverlapping: (n) => overlapping = n,
  });
  return { engine, affected, overlapping: () => overlapping };
}

const bruteForce = (all: Map<string, Participant>, key: string): Verdict | undefined => {
  const self = all.get(key);
  return self && verdictAmong(self, all.values());
};

Deno.test("the engine's verdicts, affected sets and overlap count match brute force under churn", async (t) => {
  for (const seed of [1, 2, 3, 4]) {
    await t.step(`seed ${seed}`, () => {
      const random = rng(seed);
      const world = new World();
      for (const ns of NAMESPACES) {
        for (const p of POOLS) world.pools.set(keyOf(ns, p), randomLabels(random));
        for (let i = 0; i < 12; i++) {
          const b = randomBinding(random, ns, `b${i}`);
          world.bindings.set(keyOf(ns, `b${i}`), b);
        }
      }
      const { engine, affected, overlapping } = rig(world);
      const changedKeys = new Set<string>();
      engine.changed(world.bindings.keys());
      let previous = new Map<string, string>();
      const keys = () =>
        NAMESPACES.flatMap((ns) => [...Array(12).keys()].map((i) => `${ns}/b${i}`));
      for (let step = 0; step < 150; step++) {
        const all = world.participants();
        affected.length = 0;
        const now = new Map<string, string>();
        for (const key of keys()) {
          const expected = bruteForce(all, key);
          const got = engine.verdict(key);
          if (expected === undefined) {
            assert.deepEqual(got.collision.length + got.duplicate.length + got.overlap.length, 0);
          } else {
            assert.deepEqual(got, expected, `seed ${seed} step ${step} ${key}`);
          }
          now.set(key, JSON.stringify(got));
        }
        const overlappingNow = [...all.keys()].filter((k) =>
          bruteForce(all, k)!.overlap.length > 0
        );
        assert.equal(engine.overlapping, overlappingNow.length);
        assert.equal(overlapping(), overlappingNow.length);
        // Every key whose verdict changed since the last step was reported (or was the changed one).
        const reported = new Set(affected.flat());
        for (const [key, verdict] of now) {
          if (step > 0 && previous.get(key) !== verdict && !changedKeys.has(key)) {
            assert.ok(reported.has(key), `seed ${seed} step ${step}: ${key} changed, not reported`);
          }
        }
        previous = now;
        // One change: a binding written or deleted, or a pool's labels.
        changedKeys.clear();
        const ns = NAMESPACES[Math.floor(random() * NAMESPACES.length)];
        const r = random();
        if (r < 0.6) {
          const name = `b${Math.floor(random() * 12)}`;
          world.bindings.set(keyOf(ns, name), randomBinding(random, ns, name));
          engine.changed([keyOf(ns, name)]);
          changedKeys.add(keyOf(ns, name));
        } else if (r < 0.8) {
          const name = `b${Math.floor(random() * 12)}`;
          world.bindings.delete(keyOf(ns, name));
          engine.changed([keyOf(ns, name)]);
          changedKeys.add(keyOf(ns, name));
        } else {
          const pool = POOLS[Math.floor(random() * POOLS.length)];
          world.pools.set(keyOf(ns, pool), randomLabels(random));
          const referrers = [...world.bindings.entries()].filter(([, b]) =>
            b.metadata.namespace === ns &&
            (b.spec as { poolRef: { name: string } }).poolRef.name === pool
          ).map(([k]) => k);
          engine.inputsChanged(referrers);
          for (const k of referrers) changedKeys.add(k);
        }
      }
    });
  }
});

Deno.test("the first verdict already sees every cached binding (no half-built index at start)", () => {
  const world = new World();
  world.pools.set("a/p0", { app: "x" });
  for (const [name, sa] of [["chat", "s1"], ["chat-2", "s2"]]) {
    world.bindings.set(`a/${name}`, {
      metadata: { namespace: "a", name, uid: name },
      spec: {
        poolRef: { name: "p0" },
        objectiveRef: { name: "p0-0" },
        serviceAccountName: sa,
        containerName: "c1",
      },
    } as InferenceIdentityBinding);
  }
  const { engine, affected } = rig(world);
  // Nothing was marked changed: the served generation's first look renders the whole cache.
  const self = participant(
    world.bindings.get("a/chat")!,
    renderBinding(
      world.bindings.get("a/chat")!,
      (s) => resolveSpec(s, "a", world.sources()),
      config,
    ),
  );
  const verdict = engine.observe("a/chat", self);
  assert.deepEqual(verdict.duplicate, ["chat-2"]);
  // Both were new to the engine: each is reconciled for its own event, nobody else is affected.
  assert.deepEqual(affected.flat(), []);
  // The same rendering again changes nothing and affects nobody.
  engine.observe("a/chat", self);
  assert.deepEqual(affected, []);
  // Leaving (deleted): the former peer is affected and its verdict is clear.
  world.bindings.delete("a/chat");
  engine.observe("a/chat", undefined);
  assert.deepEqual(affected.flat(), ["a/chat-2"]);
  assert.deepEqual(engine.verdict("a/chat-2").duplicate, []);
});

Deno.test("announce remembers the last overlap warning per binding until it leaves", () => {
  const world = new World();
  const { engine } = rig(world);
  engine.announce("a/x", "m1");
  assert.equal(engine.announced("a/x"), "m1");
  engine.announce("a/x", undefined);
  assert.equal(engine.announced("a/x"), undefined);
});
