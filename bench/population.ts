/**
 * What the bench creates: populations of bindings, each with its own pool (and, for PerObjective,
 * its own objective), built with the one set of test manifest builders
 * (tests/harness/manifests.ts), and the bulk creates.
 */
import {
  bindingManifest,
  GAIE_V1,
  objectiveManifest,
  poolV1Manifest,
} from "../tests/harness/manifests.ts";
import type { Obj } from "../tests/resilience/model.ts";
import type { Clients } from "./clients.ts";
import { NAMESPACES, SERVICE_ACCOUNT } from "./config.ts";
import { progress } from "./report.ts";

/** An `inference.networking.k8s.io/v1` pool selecting `labels`. */
export const pool = (ns: string, name: string, labels: Record<string, string>): Obj =>
  poolV1Manifest(ns, name, { matchLabels: labels });

/** An `inference.networking.k8s.io/v1` objective on `poolName`. */
export const objective = (ns: string, name: string, poolName: string): Obj =>
  objectiveManifest(GAIE_V1, ns, name, { name: poolName });

/** A binding running as the bench's one ServiceAccount. */
export const binding = (ns: string, name: string, spec: Record<string, unknown>): Obj =>
  bindingManifest(ns, name, { serviceAccountName: SERVICE_ACCOUNT, ...spec });

/** `n` bindings over `namespaces`, each with its own pool (and objective). */
export interface Population {
  namespaces: string[];
  pools: Obj[];
  objectives: Obj[];
  bindings: Obj[];
}

/**
 * Binding i goes to namespace `i mod namespaces`; even ones are PoolOnly, odd ones PerObjective
 * (container `main`) with an objective of their own. Every pool selects `{app: model-i}`, so no two
 * bindings render the same SPIFFE ID, the same selection or overlapping selections.
 */
export function population(prefix: string, n: number, namespaces = NAMESPACES): Population {
  const p: Population = { namespaces: [], pools: [], objectives: [], bindings: [] };
  for (let i = 0; i < namespaces; i++) p.namespaces.push(`${prefix}-${i}`);
  for (let i = 0; i < n; i++) {
    const ns = p.namespaces[i % namespaces];
    const name = `b${i}`;
    p.pools.push(pool(ns, `pool-${i}`, { app: `model-${i}` }));
    if (i % 2 === 0) {
      p.bindings.push(binding(ns, name, { poolRef: { name: `pool-${i}` }, mode: "PoolOnly" }));
    } else {
      p.objectives.push(objective(ns, `objective-${i}`, `pool-${i}`));
      p.bindings.push(binding(ns, name, {
        poolRef: { name: `pool-${i}` },
        objectiveRef: { name: `objective-${i}` },
        mode: "PerObjective",
        containerName: "main",
      }));
    }
  }
  return p;
}

/** `fn` over `items`, `inFlight` at a time. */
export async function parallel<T>(
  items: readonly T[],
  inFlight: number,
  fn: (x: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(inFlight, items.length) }, async () => {
    while (next < items.length) await fn(items[next++]);
  }));
}

export const keyOf = (o: Obj) => `${o.metadata.namespace}/${o.metadata.name}`;

export async function createNamespace(c: Clients, name: string): Promise<void> {
  await c.namespaces.create({ apiVersion: "v1", kind: "Namespace", metadata: { name } });
}

/** The population's namespaces, pools and objectives (not its bindings). */
export async function createAll(c: Clients, p: Population, what: string): Promise<void> {
  for (const ns of p.namespaces) await createNamespace(c, ns);
  await parallel(p.pools, 16, async (o) => void await c.pools.create(o));
  await parallel(p.objectives, 16, async (o) => void await c.objectives.create(o));
  progress(`${what}: ${p.pools.length} pools, ${p.objectives.length} objectives created`);
}

/** The population's bindings, 16 in flight; the created objects by `ns/name`. */
export async function createBindings(c: Clients, p: Population): Promise<Map<string, Obj>> {
  const created = new Map<string, Obj>();
  await parallel(p.bindings, 16, async (b) => {
    const o = await c.bindings.create(b);
    created.set(keyOf(o), o);
  });
  return created;
}
