/**
 * The cluster as the oracle sees it: typed loose clients for everything the contract involves, a
 * snapshot of the inputs and the managed output, and the comparison with the independent model
 * (model.ts). Shared by the resilience suite (whole cluster) and the integration tests that prove
 * convergence to "exactly the contract" (docs/testing.md, "Racing the operator on purpose"), which
 * scope the snapshot to their namespaces because the run's control plane is shared.
 */
import { connect } from "../../apis/connect.ts";
import { ResourceClient, type ResourceDescriptor, type RestClient } from "../../apis/rest.ts";
import {
  bindingProblems,
  canon,
  csidProblems,
  expectState,
  K8S_GROUP,
  key,
  type ModelInputs,
  type Obj,
  type ObjectiveVersion,
  type PoolVersion,
  XK8S_GROUP,
} from "./model.ts";
import { TRUST_DOMAIN } from "../harness/operator.ts";

const desc = (
  group: string,
  version: string,
  plural: string,
  kind: string,
  namespaced = true,
): ResourceDescriptor => ({ group, version, plural, kind, namespaced });

export interface Clients {
  rest: RestClient;
  bindings: ResourceClient<Obj>;
  csids: ResourceClient<Obj>;
  namespaces: ResourceClient<Obj>;
  pools: Record<PoolVersion, ResourceClient<Obj>>;
  objectives: Record<ObjectiveVersion, ResourceClient<Obj>>;
  close(): void;
}

export async function clients(kubeconfig: string): Promise<Clients> {
  const c = await connect({ kubeconfig, env: () => undefined, qps: 1000, burst: 1000 });
  const r = (d: ResourceDescriptor) => new ResourceClient<Obj>(c.rest, d);
  return {
    rest: c.rest,
    bindings: r(
      desc("kleym.sonda.red", "v1alpha1", "inferenceidentitybindings", "InferenceIdentityBinding"),
    ),
    csids: r(desc("spire.spiffe.io", "v1alpha1", "clusterspiffeids", "ClusterSPIFFEID", false)),
    namespaces: r(desc("", "v1", "namespaces", "Namespace", false)),
    pools: {
      [`${K8S_GROUP}/v1`]: r(desc(K8S_GROUP, "v1", "inferencepools", "InferencePool")),
      [`${XK8S_GROUP}/v1alpha2`]: r(
        desc(XK8S_GROUP, "v1alpha2", "inferencepools", "InferencePool"),
      ),
    } as Record<PoolVersion, ResourceClient<Obj>>,
    objectives: {
      [`${XK8S_GROUP}/v1alpha2`]: r(
        desc(XK8S_GROUP, "v1alpha2", "inferenceobjectives", "InferenceObjective"),
      ),
      [`${K8S_GROUP}/v1`]: r(desc(K8S_GROUP, "v1", "inferenceobjectives", "InferenceObjective")),
    } as Record<ObjectiveVersion, ResourceClient<Obj>>,
    close: c.close,
  };
}

export interface Snapshot {
  inputs: ModelInputs;
  csids: Obj[];
  /** Set when the snapshot covers only these namespaces' inputs and managed objects. */
  namespaces?: ReadonlySet<string>;
}

/**
 * Inputs and ClusterSPIFFEIDs as the API server holds them. With `namespaces`, only those
 * namespaces' inputs and the managed objects labelled for them (other tests share the cluster).
 */
export async function snapshot(c: Clients, namespaces?: readonly string[]): Promise<Snapshot> {
  const [bindings, csids, ...rest] = await Promise.all([
    c.bindings.listAll(),
    c.csids.listAll(),
    ...Object.values(c.pools).map((p) => p.listAll()),
    ...Object.values(c.objectives).map((o) => o.listAll()),
  ]);
  const scope = namespaces === undefined ? undefined : new Set(namespaces);
  const inScope = (o: Obj) => scope === undefined || scope.has(o.metadata.namespace ?? "");
  const poolVersions = Object.keys(c.pools) as PoolVersion[];
  const objectiveVersions = Object.keys(c.objectives) as ObjectiveVersion[];
  return {
    inputs: {
      trustDomain: TRUST_DOMAIN,
      bindings: bindings.items.filter(inScope),
      pools: poolVersions.flatMap((v, i) =>
        rest[i].items.filter(inScope).map((object) => ({ version: v, object }))
      ),
      objectives: objectiveVersions.flatMap((v, i) =>
        rest[poolVersions.length + i].items.filter(inScope).map((object) => ({
          version: v,
          object,
        }))
      ),
    },
    csids: scope === undefined
      ? csids.items
      : csids.items.filter((o) =>
        o.metadata.labels?.["kleym.sonda.red/managed-by"] === "kleym" &&
        scope.has(o.metadata.labels?.["kleym.sonda.red/binding-namespace"] ?? "")
      ),
    namespaces: scope,
  };
}

const FINALIZER = "kleym.sonda.red/inferenceidentitybinding-finalizer";

/** ClusterSPIFFEID name -> `<namespace>/<binding>` of its managed holder (from owner labels). */
export function holdersOf(csids: readonly Obj[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const o of csids) {
    const l = o.metadata.labels ?? {};
    if (l["kleym.sonda.red/managed-by"] !== "kleym") continue;
    out.set(
      o.metadata.name ?? "",
      key(l["kleym.sonda.red/binding-namespace"] ?? "", l["kleym.sonda.red/binding-name"] ?? ""),
    );
  }
  return out;
}

/** Every difference between the cluster and the model (empty when they agree). */
export function compare(s: Snapshot): string[] {
  const expected = expectState(s.inputs, holdersOf(s.csids));
  const problems: string[] = [];
  for (const b of s.inputs.bindings) {
    const k = key(b.metadata.namespace ?? "", b.metadata.name ?? "");
    if (b.metadata.deletionTimestamp) {
      problems.push(`${k}: still being deleted (finalizers ${canon(b.metadata.finalizers)})`);
      continue;
    }
    if (!(b.metadata.finalizers ?? []).includes(FINALIZER)) problems.push(`${k}: no finalizer`);
    problems.push(...bindingProblems(b, expected.bindings.get(k)!, TRUST_DOMAIN));
  }
  const managed = s.csids.filter((o) =>
    o.metadata.labels?.["kleym.sonda.red/managed-by"] === "kleym"
  );
  for (const o of s.csids) {
    if (!managed.includes(o)) problems.push(`unmanaged ClusterSPIFFEID ${o.metadata.name} exists`);
  }
  for (const o of managed) {
    const e = expected.csids.get(o.metadata.name ?? "");
    if (!e) {
      problems.push(`orphan ClusterSPIFFEID ${o.metadata.name} (${canon(o.metadata.labels)})`);
    } else problems.push(...csidProblems(o, e));
  }
  for (const name of expected.csids.keys()) {
    if (!managed.some((o) => o.metadata.name === name)) {
      problems.push(`missing ClusterSPIFFEID ${name}`);
    }
  }
  return problems;
}
