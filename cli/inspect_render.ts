/**
 * What `kleym inspect binding` renders, and from what (pure):
 *
 * 1. `identityConfig(command, binding)`: trust domain and class name with their source (explicit
 *    flag, then the binding's status, then the default `kleym.sonda.red`, classless).
 * 2. `refsToFetch(binding)`: the pool/objective names the edge must GET.
 * 3. `renderForInspect(...)`: the operator's own resolution (`resolveInputs`) and rendering
 *    (`renderBinding`) over those objects — the same code, so the same SPIFFE ID, selectors and
 *    ClusterSPIFFEID name.
 * 4. `resolvedInput(...)`: what resolved, for the report (cli/inspect.ts builds it).
 */
import type { StateError } from "../reconcile/errors.ts";
import { asRecord } from "../reconcile/json.ts";
import { renderBinding, type RenderOutcome } from "../reconcile/render.ts";
import {
  OBJECTIVE_VERSIONS,
  POOL_VERSIONS,
  resolveInputs,
  type ResolveSource,
} from "../reconcile/resolve.ts";
import {
  type BindingInput,
  DEFAULT_MODE,
  groupOf,
  type ObjectiveApiVersion,
  type PoolApiVersion,
  type RenderConfig,
} from "../reconcile/types.ts";
import { INSPECT_DEFAULT_TRUST_DOMAIN } from "../flags/cli.ts";
import type { InspectCommand } from "./args.ts";
import { svidLimits, svidLimitsConfig } from "./inspect_svid.ts";
import { type IdentityConfig, type ObjectRef, type ResolvedInput } from "./report.ts";

/** The served versions kleym reads and writes, from discovery. */
export interface ServedApis {
  binding: boolean;
  pools: readonly PoolApiVersion[];
  objectives: readonly ObjectiveApiVersion[];
  clusterSPIFFEID: boolean;
}

/** Objects the edge fetched by name; a missing key means 404 (or not asked). */
export interface FetchedRefs {
  pools: Partial<Record<PoolApiVersion, unknown>>;
  objectives: Partial<Record<ObjectiveApiVersion, unknown>>;
}

export function nonEmpty(u: unknown): string | undefined {
  return typeof u === "string" && u !== "" ? u : undefined;
}

export function identityConfig(
  command: Pick<InspectCommand, "trustDomain" | "className" | "svidLimits">,
  binding: unknown,
): IdentityConfig {
  const status = asRecord(asRecord(binding).status);
  const statusTd = nonEmpty(status.trustDomain);
  const trustDomain: IdentityConfig["trustDomain"] = command.trustDomain !== undefined
    ? { value: command.trustDomain, source: "flag" }
    : statusTd !== undefined
    ? { value: statusTd, source: "binding-status" }
    : { value: INSPECT_DEFAULT_TRUST_DOMAIN, source: "default" };
  const className: IdentityConfig["className"] = command.className !== undefined
    ? { value: command.className === "" ? null : command.className, source: "flag" }
    : statusTd !== undefined
    ? { value: nonEmpty(status.clusterSPIFFEIDClassName) ?? null, source: "binding-status" }
    : { value: null, source: "default" };
  return { trustDomain, className, svidLimits: svidLimitsConfig(command) };
}

export function renderConfig(config: IdentityConfig): RenderConfig {
  const svid = svidLimits(config.svidLimits);
  return config.className.value === null
    ? { trustDomain: config.trustDomain.value, svid }
    : { trustDomain: config.trustDomain.value, className: config.className.value, svid };
}

export interface RawSpec {
  mode: string | null;
  effectiveMode: string;
  poolName: string | null;
  poolGroup: string | null;
  objectiveName: string | null;
  objectiveGroup: string | null;
  serviceAccountName: string | null;
  containerName: string | null;
}

export function rawSpec(binding: unknown): RawSpec {
  const spec = asRecord(asRecord(binding).spec);
  const pool = asRecord(spec.poolRef);
  const objective = asRecord(spec.objectiveRef);
  const mode = nonEmpty(spec.mode) ?? null;
  return {
    mode,
    effectiveMode: mode ?? DEFAULT_MODE,
    poolName: nonEmpty(pool.name) ?? null,
    poolGroup: nonEmpty(pool.group) ?? null,
    objectiveName: nonEmpty(objective.name) ?? null,
    objectiveGroup: nonEmpty(objective.group) ?? null,
    serviceAccountName: nonEmpty(spec.serviceAccountName) ?? null,
    containerName: nonEmpty(spec.containerName) ?? null,
  };
}

/** Names the edge must GET (in every served version): the pool, and the objective unless PoolOnly. */
export function refsToFetch(binding: unknown): { pool?: string; objective?: string } {
  const raw = rawSpec(binding);
  return {
    pool: raw.poolName ?? undefined,
    objective: raw.effectiveMode === "PoolOnly" ? undefined : raw.objectiveName ?? undefined,
  };
}

/** The operator's resolution and rendering, over objects fetched by name instead of caches. */
export function renderForInspect(
  binding: BindingInput,
  served: ServedApis,
  fetched: FetchedRefs,
  config: RenderConfig,
): RenderOutcome {
  const source = <V extends PoolApiVersion | ObjectiveApiVersion>(
    apiVersion: V,
    isServed: boolean,
    objects: Partial<Record<V, unknown>>,
  ): ResolveSource<V> => ({
    apiVersion,
    served: isServed,
    synced: true,
    get: (_namespace, name) => {
      const object = objects[apiVersion];
      return asRecord(asRecord(object).metadata).name === name ? object : undefined;
    },
  });
  const resolved = resolveInputs(binding, {
    pools: POOL_VERSIONS.map((v) => source(v, served.pools.includes(v), fetched.pools)),
    objectives: OBJECTIVE_VERSIONS.map((v) =>
      source(v, served.objectives.includes(v), fetched.objectives)
    ),
  });
  return renderBinding(binding, resolved, config);
}

/**
 * The first served version (in the contract's order, docs/contract.md#inputs, within the pinned
 * group) holding the object.
 */
export function foundAt<V extends PoolApiVersion | ObjectiveApiVersion>(
  order: readonly V[],
  served: readonly V[],
  objects: Partial<Record<V, unknown>>,
  group: string | null,
): V | null {
  for (const v of order) {
    if (group !== null && groupOf(v) !== group) continue;
    if (served.includes(v) && objects[v] !== undefined) return v;
  }
  return null;
}

export function resolvedInput(
  binding: unknown,
  served: ServedApis,
  fetched: FetchedRefs,
  outcome: RenderOutcome | null,
): ResolvedInput {
  const raw = rawSpec(binding);
  const poolAt = raw.poolName === null
    ? null
    : foundAt(POOL_VERSIONS, served.pools, fetched.pools, raw.poolGroup);
  const objectiveAt = raw.objectiveName === null
    ? null
    : foundAt(OBJECTIVE_VERSIONS, served.objectives, fetched.objectives, raw.objectiveGroup);
  return {
    mode: raw.effectiveMode,
    serviceAccountName: raw.serviceAccountName,
    containerName: raw.containerName,
    pool: {
      name: raw.poolName,
      requestedGroup: raw.poolGroup,
      apiVersion: poolAt,
      found: poolAt !== null,
      podLabels: outcome?.ok ? { ...outcome.identity.podLabels } : null,
    },
    objective: raw.effectiveMode === "PoolOnly" ? null : {
      name: raw.objectiveName,
      requestedGroup: raw.objectiveGroup,
      apiVersion: objectiveAt,
      found: objectiveAt !== null,
    },
  };
}

/** Whether `config` is the operator's own (from the binding's status), so its rendering is too. */
export function isOperatorConfig(config: IdentityConfig, binding: unknown): boolean {
  const operator = identityConfig({}, binding);
  return operator.trustDomain.source === "binding-status" &&
    operator.trustDomain.value === config.trustDomain.value &&
    operator.className.value === config.className.value;
}

export function refsFor(
  error: StateError,
  namespace: string,
  raw: RawSpec,
  binding: ObjectRef,
): ObjectRef[] {
  const refs = [binding];
  const pick = <V extends string>(order: readonly V[], group: string | null): V =>
    order.find((v) => group === null || v.startsWith(`${group}/`)) ?? order[0];
  if (error.reason === "TargetPoolNotFound" && raw.poolName !== null) {
    refs.push({
      apiVersion: pick(POOL_VERSIONS, raw.poolGroup),
      kind: "InferencePool",
      namespace,
      name: raw.poolName,
    });
  }
  if (error.reason === "TargetObjectiveNotFound" && raw.objectiveName !== null) {
    refs.push({
      apiVersion: pick(OBJECTIVE_VERSIONS, raw.objectiveGroup),
      kind: "InferenceObjective",
      namespace,
      name: raw.objectiveName,
    });
  }
  return refs;
}
