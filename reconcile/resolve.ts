/**
 * Resolution of a binding's `poolRef` / `objectiveRef` from the informer caches
 * (docs/contract.md#inputs).
 *
 * The edge hands in one `ResolveSource` per supported served version; the order of the lists is
 * the fixed search order of docs/contract.md#inputs:
 *
 * - pools: `inference.networking.k8s.io/v1`, then `inference.networking.x-k8s.io/v1alpha2`;
 * - objectives: `inference.networking.x-k8s.io/v1alpha2`, then `inference.networking.k8s.io/v1`.
 *
 * A ref without a group takes the first served version that has the object; a ref with a group
 * looks only in that group. The result is `ResolvedInputs` or the `StateError` that explains why
 * not (the pure core reports it); the only thing this module throws is `CacheNotReadyError`.
 *
 * Decisions:
 * - A group-pinned ref to a supported group the cluster does not serve is
 *   `InvalidRef/InferencePoolCRDMissing` (or `...ObjectiveCRDMissing`), naming the group: the
 *   reference is well-formed, the cluster lacks the CRD, and a CRD install fixes it (retried on
 *   a timer, docs/contract.md#lifecycle). An *unsupported* group is
 *   `InvalidPoolRef`/`InvalidObjectiveRef` (validate.ts, reported before resolution).
 * - A version that is served but whose informer has not listed yet cannot answer "absent":
 *   reporting `TargetPoolNotFound` then would be a lie that flaps to Ready a moment later, so
 *   resolution throws `CacheNotReadyError` and the work loop retries with backoff (no status
 *   write). The informer's first sync also re-enqueues every binding.
 * - PoolOnly bindings never resolve an objective (docs/contract.md#api: the objectiveRef is
 *   ignored), so a missing objective CRD does not concern them.
 * - Spec errors are returned as-is: `renderBinding` validates the spec first and reports the
 *   same error, so resolution never hides a spec problem behind a resolution one.
 *
 * API: `resolveInputs(binding, sources): ResolvedInputs | StateError`, `resolveSpec(spec,
 * namespace, sources)` (the same for a validated spec), `CacheNotReadyError`,
 * `POOL_VERSIONS`, `OBJECTIVE_VERSIONS`.
 */

import { bindingKey } from "./bindings.ts";
import { isStateError, Reasons, StateError } from "./errors.ts";
import { show } from "./json.ts";
import {
  type BindingInput,
  groupOf,
  type InferenceGroup,
  type ObjectiveApiVersion,
  type PoolApiVersion,
  type ResolvedInputs,
  type ResolvedObjective,
  type ResolvedPool,
  type ValidBindingSpec,
} from "./types.ts";
import { validateBindingSpec } from "./validate.ts";

/** docs/contract.md#inputs: pool versions in resolution order. */
export const POOL_VERSIONS: readonly PoolApiVersion[] = [
  "inference.networking.k8s.io/v1",
  "inference.networking.x-k8s.io/v1alpha2",
];

/** docs/contract.md#inputs: objective versions in resolution order. */
export const OBJECTIVE_VERSIONS: readonly ObjectiveApiVersion[] = [
  "inference.networking.x-k8s.io/v1alpha2",
  "inference.networking.k8s.io/v1",
];

/** What the edge knows about one served (or not) version of a kind. */
export interface ResolveSource<V extends string> {
  readonly apiVersion: V;
  /** Discovery says the API server serves this version. */
  readonly served: boolean;
  /** Its informer has completed a list (the cache can answer "absent"). */
  readonly synced: boolean;
  /** The cached object, or undefined. Only asked when served and synced. */
  get(namespace: string, name: string): unknown;
}

export interface ResolveSources {
  /** In POOL_VERSIONS order. */
  readonly pools: readonly ResolveSource<PoolApiVersion>[];
  /** In OBJECTIVE_VERSIONS order. */
  readonly objectives: readonly ResolveSource<ObjectiveApiVersion>[];
}

/** A served version's cache has not synced yet: retry later, report nothing. */
export class CacheNotReadyError extends Error {
  override readonly name = "CacheNotReadyError";
  readonly apiVersion: string;

  constructor(apiVersion: string, kind: string) {
    super(`the ${kind} cache for ${apiVersion} has not synced yet`);
    this.apiVersion = apiVersion;
  }
}

export function resolveInputs(
  binding: BindingInput,
  sources: ResolveSources,
): ResolvedInputs | StateError {
  let spec;
  try {
    spec = validateBindingSpec(binding.spec);
  } catch (error) {
    if (isStateError(error)) return error;
    throw error;
  }
  return resolveSpec(spec, bindingKey(binding).namespace, sources);
}

/**
 * Resolution of an already validated spec: what the reconciler hands to `renderBinding` as its
 * resolver, so one reconcile validates the spec once (in the order above).
 */
export function resolveSpec(
  spec: ValidBindingSpec,
  namespace: string,
  sources: ResolveSources,
): ResolvedInputs | StateError {
  const pool = find(
    sources.pools,
    namespace,
    spec.poolRef.name,
    spec.poolRef.group,
    poolMessages,
  );
  if (isStateError(pool)) return pool;
  const resolvedPool: ResolvedPool = { apiVersion: pool.apiVersion, object: pool.object };
  if (spec.mode !== "PerObjective" || spec.objectiveRef === undefined) {
    return { pool: resolvedPool };
  }

  const objective = find(
    sources.objectives,
    namespace,
    spec.objectiveRef.name,
    spec.objectiveRef.group,
    objectiveMessages,
  );
  if (isStateError(objective)) return objective;
  const resolvedObjective: ResolvedObjective = {
    apiVersion: objective.apiVersion,
    object: objective.object,
  };
  return { pool: resolvedPool, objective: resolvedObjective };
}

interface Messages {
  readonly kind: string;
  readonly field: string;
  crdMissing(message: string): StateError;
  notFound(message: string): StateError;
}

const poolMessages: Messages = {
  kind: "InferencePool",
  field: "spec.poolRef",
  crdMissing: (m) => new StateError("InvalidRef", Reasons.InferencePoolCRDMissing, m),
  notFound: (m) => new StateError("InvalidRef", Reasons.TargetPoolNotFound, m),
};

const objectiveMessages: Messages = {
  kind: "InferenceObjective",
  field: "spec.objectiveRef",
  crdMissing: (m) => new StateError("InvalidRef", Reasons.InferenceObjectiveCRDMissing, m),
  notFound: (m) => new StateError("InvalidRef", Reasons.TargetObjectiveNotFound, m),
};

function find<V extends PoolApiVersion | ObjectiveApiVersion>(
  all: readonly ResolveSource<V>[],
  namespace: string,
  name: string,
  group: InferenceGroup | undefined,
  messages: Messages,
): { apiVersion: V; object: unknown } | StateError {
  const { kind, field } = messages;
  const candidates = group === undefined
    ? all
    : all.filter((source) => groupOf(source.apiVersion) === group);
  const served = candidates.filter((source) => source.served);
  if (served.length === 0) {
    const wanted = candidates.map((source) => source.apiVersion).join(", ");
    return messages.crdMissing(
      group === undefined
        ? `no ${kind} API is served by this cluster (looked for ${wanted}): ` +
          `install the Gateway API Inference Extension ${kind} CRD`
        : `${field}.group ${show(group)} asks for ${kind} ${wanted}, which this cluster does ` +
          `not serve: install that CRD or change ${field}.group`,
    );
  }
  for (const source of served) {
    if (!source.synced) throw new CacheNotReadyError(source.apiVersion, kind);
    const object = source.get(namespace, name);
    if (object !== undefined) return { apiVersion: source.apiVersion, object };
  }
  const where = served.map((source) => source.apiVersion).join(", ");
  return messages.notFound(
    `${kind} ${show(name)} (${field}.name) was not found in namespace ${show(namespace)} ` +
      `(looked in ${where})`,
  );
}
