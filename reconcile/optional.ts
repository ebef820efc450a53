/**
 * The optional resources (docs/contract.md#discovery): those that exist only while some CRD is
 * installed, with what their informers need (descriptor, decoder, label selector, what the cache
 * keeps), and the maps from a supported GAIE version to its id. served.ts watches them while they
 * are served.
 *
 * API: `OptionalId`, `OptionalSpec`, `OPTIONAL`, `POOL_IDS`, `OBJECTIVE_IDS`, `MANAGED_SELECTOR`.
 */
import type { KubeObject, ResourceDescriptor } from "../apis/rest.ts";
import * as gaieV1 from "../generated/inference.networking.k8s.io/v1.ts";
import * as gaieV1alpha2 from "../generated/inference.networking.x-k8s.io/v1alpha2.ts";
import {
  clusterSPIFFEIDResource,
  decodeClusterSPIFFEID,
} from "../generated/spire.spiffe.io/v1alpha1.ts";
import { cachedInput, cachedManaged } from "./cached.ts";
import {
  LABEL_MANAGED_BY,
  MANAGED_BY_VALUE,
  type ObjectiveApiVersion,
  type PoolApiVersion,
} from "./types.ts";

/** The resources that exist only while some CRD is installed. */
export type OptionalId =
  | "pools.v1"
  | "pools.v1alpha2"
  | "objectives.v1alpha2"
  | "objectives.v1"
  | "clusterspiffeids";

export interface OptionalSpec {
  readonly id: OptionalId;
  readonly descriptor: ResourceDescriptor;
  readonly decode: (u: unknown) => KubeObject;
  readonly labelSelector?: string;
  /** What the cache keeps of each object (cached.ts). */
  readonly transform: (o: KubeObject) => KubeObject;
}

export const MANAGED_SELECTOR = `${LABEL_MANAGED_BY}=${MANAGED_BY_VALUE}`;

export const OPTIONAL: readonly OptionalSpec[] = [
  {
    id: "pools.v1",
    descriptor: gaieV1.inferencePoolResource,
    decode: gaieV1.decodeInferencePool,
    transform: cachedInput,
  },
  {
    id: "pools.v1alpha2",
    descriptor: gaieV1alpha2.inferencePoolResource,
    decode: gaieV1alpha2.decodeInferencePool,
    transform: cachedInput,
  },
  {
    id: "objectives.v1alpha2",
    descriptor: gaieV1alpha2.inferenceObjectiveResource,
    decode: gaieV1alpha2.decodeInferenceObjective,
    transform: cachedInput,
  },
  {
    id: "objectives.v1",
    descriptor: gaieV1.inferenceObjectiveResource,
    decode: gaieV1.decodeInferenceObjective,
    transform: cachedInput,
  },
  {
    id: "clusterspiffeids",
    descriptor: clusterSPIFFEIDResource,
    decode: decodeClusterSPIFFEID,
    labelSelector: MANAGED_SELECTOR,
    transform: cachedManaged,
  },
];

export const POOL_IDS: Readonly<Record<PoolApiVersion, OptionalId>> = {
  "inference.networking.k8s.io/v1": "pools.v1",
  "inference.networking.x-k8s.io/v1alpha2": "pools.v1alpha2",
};
export const OBJECTIVE_IDS: Readonly<Record<ObjectiveApiVersion, OptionalId>> = {
  "inference.networking.x-k8s.io/v1alpha2": "objectives.v1alpha2",
  "inference.networking.k8s.io/v1": "objectives.v1",
};
