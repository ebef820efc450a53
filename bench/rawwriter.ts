/**
 * The minimal writer: exactly the writes one binding needs to be converged, rendered with the
 * operator's own pure functions so the result is what the operator would write. It measures the
 * raw limit and sets up converged clusters for the restart phases without the operator.
 */
import { renderBinding } from "../reconcile/render.ts";
import { successStatus } from "../reconcile/status.ts";
import { type BindingInput, FINALIZER } from "../reconcile/types.ts";
import { GAIE_V1 } from "../tests/harness/manifests.ts";
import { TRUST_DOMAIN } from "../tests/harness/operator.ts";
import type { Obj } from "../tests/resilience/model.ts";
import type { Clients } from "./clients.ts";
import { keyOf, parallel, type Population } from "./population.ts";

/**
 * Finalizer merge patch (with resourceVersion), ClusterSPIFFEID create, status update (PUT with
 * resourceVersion): 3 writes.
 */
async function rawWrite(c: Clients, b: Obj, poolObj: Obj, objectiveObj: Obj | undefined) {
  const ns = b.metadata.namespace ?? "";
  const name = b.metadata.name ?? "";
  const current = await c.bindings.patch(name, "merge", {
    metadata: { finalizers: [FINALIZER], resourceVersion: b.metadata.resourceVersion },
  }, { namespace: ns });
  const rendered = renderBinding(current as BindingInput, {
    pool: { apiVersion: GAIE_V1, object: poolObj },
    objective: objectiveObj ? { apiVersion: GAIE_V1, object: objectiveObj } : undefined,
  }, { trustDomain: TRUST_DOMAIN });
  if (!rendered.ok) throw new Error(`${ns}/${name}: ${rendered.error.message}`);
  await c.csids.create(rendered.identity.clusterSPIFFEID as unknown as Obj);
  const status = successStatus(
    rendered.identity,
    { trustDomain: TRUST_DOMAIN },
    [],
    new Date(),
    current.metadata.generation,
  );
  await c.bindings.updateStatus({ ...current, status } as Obj, { namespace: ns });
}

/** The writes of every binding of `p` (`created`: the bindings as created), `inFlight` at a time. */
export async function rawWriteAll(
  c: Clients,
  p: Population,
  created: Map<string, Obj>,
  inFlight: number,
): Promise<void> {
  const pools = new Map(p.pools.map((o) => [keyOf(o), o]));
  const objectives = new Map(p.objectives.map((o) => [keyOf(o), o]));
  await parallel(p.bindings, inFlight, async (b) => {
    const ns = b.metadata.namespace;
    const spec = b.spec as { poolRef: { name: string }; objectiveRef?: { name: string } };
    await rawWrite(
      c,
      created.get(keyOf(b))!,
      pools.get(`${ns}/${spec.poolRef.name}`)!,
      spec.objectiveRef ? objectives.get(`${ns}/${spec.objectiveRef.name}`) : undefined,
    );
  });
}
