/**
 * The bench's API clients: loose (`Obj`) clients on the generated descriptors (generated/, the
 * same ones the operator uses), the operator's Events descriptor, and core Namespaces.
 */
import { connect } from "../apis/connect.ts";
import { EVENTS_RESOURCE } from "../apis/event_writer.ts";
import { ResourceClient, type ResourceDescriptor } from "../apis/rest.ts";
import {
  inferenceObjectiveResource,
  inferencePoolResource,
} from "../generated/inference.networking.k8s.io/v1.ts";
import { inferenceIdentityBindingResource } from "../generated/kleym.sonda.red/v1alpha1.ts";
import { clusterSPIFFEIDResource } from "../generated/spire.spiffe.io/v1alpha1.ts";
import type { Obj } from "../tests/resilience/model.ts";

/** Core namespaces: no CRD, so nothing in generated/ describes them. */
const NAMESPACES_RESOURCE: ResourceDescriptor = {
  group: "",
  version: "v1",
  plural: "namespaces",
  kind: "Namespace",
  namespaced: false,
};

export interface Clients {
  bindings: ResourceClient<Obj>;
  csids: ResourceClient<Obj>;
  namespaces: ResourceClient<Obj>;
  pools: ResourceClient<Obj>;
  objectives: ResourceClient<Obj>;
  events: ResourceClient<Obj>;
  close(): void;
}

/**
 * Untyped on purpose: the bench writes and reads the wire shapes (no decoding cost on 10,000-item
 * lists in the measuring process). `qps`/`burst` as the operator's flags (default 50 / 100).
 */
export async function clients(kubeconfig: string, qps?: number, burst?: number): Promise<Clients> {
  const c = await connect({ kubeconfig, env: () => undefined, qps, burst });
  const r = (x: ResourceDescriptor) => new ResourceClient<Obj>(c.rest, x);
  return {
    bindings: r(inferenceIdentityBindingResource),
    csids: r(clusterSPIFFEIDResource),
    namespaces: r(NAMESPACES_RESOURCE),
    pools: r(inferencePoolResource),
    objectives: r(inferenceObjectiveResource),
    events: r({ ...EVENTS_RESOURCE }),
    close: c.close,
  };
}
