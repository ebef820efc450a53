/**
 * The CLI's only access to the cluster: GET requests, by construction. `ClusterReader` wraps a
 * `RestClient` and exposes `get` and `list` only, each sending `method: "GET"`; the CLI never
 * holds a `ResourceClient` (which has write verbs). Every request carries the run's deadline
 * signal (`--timeout`).
 *
 * `gatherInspect` / `gatherStatus` do the reads for the two commands and hand plain data to the
 * pure report builders (inspect.ts, status.ts).
 */
import { Discovery } from "../apis/discovery.ts";
import { ApiError } from "../apis/errors.ts";
import {
  LEASE_DESCRIPTOR,
  type ResourceDescriptor,
  resourcePath,
  type RestClient,
} from "../apis/rest.ts";
import { inferenceIdentityBindingResource } from "../generated/kleym.sonda.red/v1alpha1.ts";
import { clusterSPIFFEIDResource } from "../generated/spire.spiffe.io/v1alpha1.ts";
import { isRecord } from "../reconcile/json.ts";
import { OBJECTIVE_VERSIONS, POOL_VERSIONS } from "../reconcile/resolve.ts";
import type { BindingInput } from "../reconcile/types.ts";
import type { InspectCommand } from "./args.ts";
import {
  buildInspectionReport,
  type ClusterObjectRead,
  type InspectInput,
  needsClusterSPIFFEIDs,
  type PodsRead,
} from "./inspect.ts";
import {
  type FetchedRefs,
  identityConfig,
  refsToFetch,
  renderConfig,
  renderForInspect,
  type ServedApis,
} from "./inspect_render.ts";
import { decodePod } from "./matching.ts";
import type { CrossCheckInput } from "./crosscheck.ts";
import type { BindingInspectionReport, KleymStatusReport } from "./report.ts";
import {
  buildStatusReport,
  type ListRead,
  type ObjectRead,
  OPERATOR_LABEL_SELECTOR,
  OPERATOR_LEASE,
} from "./status.ts";

/** A read of something the CLI cannot do without was refused (exit 4). */
export class PermissionFailure extends Error {
  override readonly name = "PermissionFailure";
}

export class ClusterReader {
  readonly #rest: RestClient;
  readonly #signal: AbortSignal;

  constructor(rest: RestClient, signal: AbortSignal) {
    this.#rest = rest;
    this.#signal = signal;
  }

  /** The object, or undefined on 404. */
  async get(desc: ResourceDescriptor, name: string, namespace?: string): Promise<unknown> {
    try {
      return await this.#rest.json({
        method: "GET",
        path: resourcePath(desc, namespace, name),
        signal: this.#signal,
      });
    } catch (err) {
      if (err instanceof ApiError && err.isNotFound()) return undefined;
      throw err;
    }
  }

  /** Every item (follows `continue`). */
  async list(
    desc: ResourceDescriptor,
    opts: { namespace?: string; labelSelector?: string } = {},
  ): Promise<unknown[]> {
    const items: unknown[] = [];
    let cont: string | undefined;
    do {
      const page = await this.#rest.json({
        method: "GET",
        path: resourcePath(desc, opts.namespace),
        query: { labelSelector: opts.labelSelector, limit: 500, continue: cont },
        signal: this.#signal,
      });
      const o = isRecord(page) ? page : {};
      if (Array.isArray(o.items)) items.push(...o.items);
      const meta = isRecord(o.metadata) ? o.metadata : {};
      cont = typeof meta.continue === "string" && meta.continue !== "" ? meta.continue : undefined;
    } while (cont !== undefined);
    return items;
  }

  async discovery(): Promise<Discovery> {
    const d = new Discovery(this.#rest);
    await d.refresh(this.#signal);
    return d;
  }
}

const PODS: ResourceDescriptor = {
  group: "",
  version: "v1",
  plural: "pods",
  kind: "Pod",
  namespaced: true,
};

const DEPLOYMENTS: ResourceDescriptor = {
  group: "apps",
  version: "v1",
  plural: "deployments",
  kind: "Deployment",
  namespaced: true,
};

function descriptor(apiVersion: string, plural: string, kind: string): ResourceDescriptor {
  const [group, version] = apiVersion.split("/");
  return { group, version, plural, kind, namespaced: true };
}

function servedApis(d: Discovery): ServedApis {
  const served = (apiVersion: string, plural: string) => {
    const [group, version] = apiVersion.split("/");
    return d.serves(group, version, plural);
  };
  return {
    binding: served("kleym.sonda.red/v1alpha1", "inferenceidentitybindings"),
    pools: POOL_VERSIONS.filter((v) => served(v, "inferencepools")),
    objectives: OBJECTIVE_VERSIONS.filter((v) => served(v, "inferenceobjectives")),
    clusterSPIFFEID: served("spire.spiffe.io/v1alpha1", "clusterspiffeids"),
  };
}

/** Reads something the command cannot do without; a 403 is a permission failure (exit 4). */
async function required<T>(what: string, read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (err) {
    if (err instanceof ApiError && (err.isForbidden() || err.isUnauthorized())) {
      throw new PermissionFailure(`cannot read ${what}: ${err.message}`);
    }
    throw err;
  }
}

/** `read()`, or what RBAC refused (a 403); anything else is thrown on. */
async function unlessForbidden<T>(
  read: () => Promise<T>,
): Promise<T | { state: "forbidden"; message: string }> {
  try {
    return await read();
  } catch (err) {
    if (err instanceof ApiError && err.isForbidden()) {
      return { state: "forbidden", message: err.message };
    }
    throw err;
  }
}

/** One object by name: found, absent, or forbidden. */
function readObject(
  reader: ClusterReader,
  desc: ResourceDescriptor,
  name: string,
  namespace?: string,
): Promise<ObjectRead> {
  return unlessForbidden(async () => {
    const object = await reader.get(desc, name, namespace);
    return object === undefined ? { state: "absent" } : { state: "found", object };
  });
}

function labelSelector(labels: Readonly<Record<string, string>>): string {
  return Object.entries(labels).map(([k, v]) => `${k}=${v}`).join(",");
}

export async function gatherInspect(
  reader: ClusterReader,
  command: InspectCommand,
  now: () => Date,
): Promise<BindingInspectionReport> {
  const { name, namespace } = command;
  const served = servedApis(await reader.discovery());
  const binding = served.binding
    ? await required(
      `InferenceIdentityBinding ${namespace}/${name}`,
      () => reader.get(inferenceIdentityBindingResource, name, namespace),
    )
    : undefined;
  const fetched: FetchedRefs = { pools: {}, objectives: {} };
  const nothing = { state: "skipped" } as const;
  const report = (read: Omit<InspectInput, "now" | "command" | "served" | "binding" | "fetched">) =>
    buildInspectionReport({ now: now(), command, served, binding, fetched, ...read });
  if (binding === undefined) return report({ outcome: null, pods: nothing, cluster: nothing });

  const refs = refsToFetch(binding);
  if (refs.pool !== undefined) {
    for (const v of served.pools) {
      const pool = refs.pool;
      fetched.pools[v] = await required(
        `InferencePool ${namespace}/${pool} (${v})`,
        () => reader.get(descriptor(v, "inferencepools", "InferencePool"), pool, namespace),
      );
    }
  }
  if (refs.objective !== undefined) {
    for (const v of served.objectives) {
      const objective = refs.objective;
      fetched.objectives[v] = await required(
        `InferenceObjective ${namespace}/${objective} (${v})`,
        () =>
          reader.get(
            descriptor(v, "inferenceobjectives", "InferenceObjective"),
            objective,
            namespace,
          ),
      );
    }
  }

  const config = renderConfig(identityConfig(command, binding));
  const outcome = renderForInspect(binding as BindingInput, served, fetched, config);

  let pods: PodsRead = nothing;
  let cluster: ClusterObjectRead = nothing;
  if (outcome.ok) {
    pods = await unlessForbidden(async () => {
      const items = await reader.list(PODS, {
        namespace,
        labelSelector: labelSelector(outcome.identity.podLabels),
      });
      return { state: "read", items: items.map(decodePod) } as const;
    });
    if (served.clusterSPIFFEID) {
      cluster = await readObject(reader, clusterSPIFFEIDResource, outcome.identity.name);
    }
  }
  // Only to name the object that masks the binding's entries (cli/spire.ts).
  let clusterSPIFFEIDs: InspectInput["clusterSPIFFEIDs"];
  if (served.clusterSPIFFEID && needsClusterSPIFFEIDs(binding)) {
    const read = await optionalList(() => reader.list(clusterSPIFFEIDResource));
    if (read.state !== "not-served") clusterSPIFFEIDs = read;
  }
  // Its neighbours, for the duplicate-ID and overlap findings (cli/exclusivity.ts).
  const namespaceBindings = await optionalList(() =>
    reader.list(inferenceIdentityBindingResource, { namespace })
  );
  return report({
    outcome,
    pods,
    cluster,
    clusterSPIFFEIDs,
    namespaceBindings: namespaceBindings.state === "not-served" ? undefined : namespaceBindings,
  });
}

function optionalList(read: () => Promise<unknown[]>): Promise<ListRead> {
  return unlessForbidden(async () => ({ state: "listed", items: await read() }) as const);
}

export async function gatherStatus(
  reader: ClusterReader,
  now: () => Date,
): Promise<KleymStatusReport> {
  const d = await reader.discovery();
  const served = new Map<string, string[]>();
  for (const r of d.resources()) {
    const key = `${r.plural}.${r.group}`;
    served.set(key, [...(served.get(key) ?? []), r.version]);
  }
  const bindingsServed = d.serves("kleym.sonda.red", "v1alpha1", "inferenceidentitybindings");
  const bindings: ListRead = bindingsServed
    ? await optionalList(() => reader.list(inferenceIdentityBindingResource))
    : { state: "not-served" };
  const deployments = await optionalList(() =>
    reader.list(DEPLOYMENTS, { labelSelector: OPERATOR_LABEL_SELECTOR })
  );
  const lease = await readObject(
    reader,
    LEASE_DESCRIPTOR,
    OPERATOR_LEASE.name,
    OPERATOR_LEASE.namespace,
  );
  return buildStatusReport({
    now: now(),
    served,
    bindings,
    deployments,
    lease,
    crossCheck: bindings.state === "listed" ? await crossCheckReads(reader, d) : undefined,
  });
}

/** Everything the Ready bindings are cross-checked against (cli/crosscheck.ts). */
async function crossCheckReads(reader: ClusterReader, d: Discovery): Promise<CrossCheckInput> {
  const apis = servedApis(d);
  const input: CrossCheckInput = {
    served: apis,
    pools: {},
    objectives: {},
    clusterSPIFFEIDs: apis.clusterSPIFFEID
      ? await optionalList(() => reader.list(clusterSPIFFEIDResource))
      : { state: "not-served" },
  };
  for (const v of apis.pools) {
    input.pools[v] = await optionalList(() =>
      reader.list(descriptor(v, "inferencepools", "InferencePool"))
    );
  }
  for (const v of apis.objectives) {
    input.objectives[v] = await optionalList(() =>
      reader.list(descriptor(v, "inferenceobjectives", "InferenceObjective"))
    );
  }
  return input;
}
