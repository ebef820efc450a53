// docs/contract.md#overlap, checked as a property: for seeded random pairs of bindings (label
// maps, service accounts, modes, containers), the overlap rule (collision.ts `overlapWitness`)
// says "overlap" exactly when a brute-force oracle can build a pod — service account, labels and
// one container — whose workload selectors satisfy both rendered selector sets (the way SPIRE
// matches: every selector of an entry must be among the workload's), with different SPIFFE IDs.
// And the witness the rule names is such a pod.

import assert from "node:assert/strict";
import { overlapWitness, participant } from "../../reconcile/collision.ts";
import { renderBinding } from "../../reconcile/render.ts";
import type { BindingInput, LabelMap, ResolvedInputs } from "../../reconcile/types.ts";
import { rng } from "../resilience/operator.ts";

const KEYS = ["app", "role", "tier"];
const VALUES = ["x", "y"];
const ACCOUNTS = ["s1", "s2"];
const CONTAINERS = ["c1", "c2", "c3"];

interface Drawn {
  binding: BindingInput;
  resolved: ResolvedInputs;
}

function draw(random: () => number, name: string): Drawn {
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(random() * xs.length)];
  const labels: Record<string, string> = {};
  for (const k of KEYS) if (random() < 0.5) labels[k] = pick(VALUES);
  if (Object.keys(labels).length === 0) labels[pick(KEYS)] = pick(VALUES);
  const pool = `pool-${Math.floor(random() * 3)}`;
  const perObjective = random() < 0.6;
  const objective = `o-${Math.floor(random() * 2)}`;
  return {
    binding: {
      metadata: { namespace: "ns", name, uid: name },
      spec: {
        poolRef: { name: pool },
        serviceAccountName: pick(ACCOUNTS),
        mode: perObjective ? "PerObjective" : "PoolOnly",
        ...(perObjective
          ? { objectiveRef: { name: objective }, containerName: pick(CONTAINERS) }
          : {}),
      },
    },
    resolved: {
      pool: {
        apiVersion: "inference.networking.k8s.io/v1",
        object: { metadata: { name: pool }, spec: { selector: { matchLabels: labels } } },
      },
      objective: {
        apiVersion: "inference.networking.k8s.io/v1",
        object: { spec: { poolRef: { name: pool } } },
      },
    },
  };
}

/** The selectors SPIRE's k8s workload attestor would report for one container of a pod. */
function workloadSelectors(sa: string, labels: LabelMap, container: string): Set<string> {
  return new Set([
    "k8s:ns:ns",
    `k8s:sa:${sa}`,
    `k8s:container-name:${container}`,
    ...Object.entries(labels).map(([k, v]) => `k8s:pod-label:${k}:${v}`),
  ]);
}

const matches = (entry: readonly string[], workload: Set<string>) =>
  entry.every((s) => workload.has(s));

/** Every pod of the finite universe (each key absent or one of the values). */
function* pods(): Generator<LabelMap> {
  const choices = [undefined, ...VALUES];
  for (const a of choices) {
    for (const b of choices) {
      for (const c of choices) {
        const labels: Record<string, string> = {};
        [a, b, c].forEach((v, i) => v !== undefined && (labels[KEYS[i]] = v));
        yield labels;
      }
    }
  }
}

Deno.test("overlapWitness agrees with a brute-force oracle that builds a pod matching both", () => {
  const random = rng(0x0e1a9);
  let overlaps = 0;
  for (let i = 0; i < 3000; i++) {
    const a = draw(random, "a");
    const b = draw(random, "b");
    const config = { trustDomain: "td" };
    const ra = renderBinding(a.binding, a.resolved, config);
    const rb = renderBinding(b.binding, b.resolved, config);
    assert.ok(ra.ok && rb.ok);
    const pa = participant(a.binding, ra)!;
    const pb = participant(b.binding, rb)!;
    let oracle = false;
    if (ra.identity.spiffeID !== rb.identity.spiffeID) {
      search: for (const sa of ACCOUNTS) {
        for (const labels of pods()) {
          for (const container of CONTAINERS) {
            const workload = workloadSelectors(sa, labels, container);
            if (
              matches(ra.identity.selectors, workload) && matches(rb.identity.selectors, workload)
            ) {
              oracle = true;
              break search;
            }
          }
        }
      }
    }
    const witness = overlapWitness(pa, pb);
    assert.equal(witness !== undefined, oracle, `pair ${i}: ${JSON.stringify([pa, pb])}`);
    assert.equal(overlapWitness(pb, pa) !== undefined, oracle, `pair ${i} reversed`);
    if (witness !== undefined) {
      overlaps++;
      const workload = workloadSelectors(
        pa.serviceAccount,
        witness.labels,
        witness.container ?? "any",
      );
      assert.ok(matches(ra.identity.selectors, workload), `pair ${i}: witness fails a`);
      assert.ok(matches(rb.identity.selectors, workload), `pair ${i}: witness fails b`);
    }
  }
  // The draw is not degenerate: both outcomes occur often.
  assert.ok(overlaps > 300 && overlaps < 2700, `overlaps: ${overlaps}`);
});
