/**
 * `kleym status`'s cross-check that a binding is Ready=True only while its ClusterSPIFFEID exists
 * as rendered (docs/contract.md#lifecycle), pure: every binding that says Ready=True is rendered
 * with the operator's configuration from its own status (`identityConfig` without flags), by the
 * operator's resolution and rendering (`renderForInspect`) over the pools and objectives the edge
 * listed, and compared with the ClusterSPIFFEID at the rendered name (`clusterState`), exactly as
 * `inspect` does for one binding. A binding that no longer renders is left to `binding-unhealthy`
 * once the operator sees it; lists the CLI may not read make one `rbac-limited` warning instead of
 * a guess.
 */
import type { BindingInput, ObjectiveApiVersion, PoolApiVersion } from "../reconcile/types.ts";
import { isRecord } from "../reconcile/json.ts";
import { bindingHealth, bindingMeta, staleReadyFinding } from "./findings.ts";
import { clusterDifferences, type ClusterObjectRead, clusterState } from "./inspect.ts";
import {
  type FetchedRefs,
  identityConfig,
  refsToFetch,
  renderConfig,
  renderForInspect,
  type ServedApis,
} from "./inspect_render.ts";
import type { Finding } from "./report.ts";
import type { ListRead } from "./status.ts";

export interface CrossCheckInput {
  served: ServedApis;
  /** Every served version's objects, all namespaces. */
  pools: Partial<Record<PoolApiVersion, ListRead>>;
  objectives: Partial<Record<ObjectiveApiVersion, ListRead>>;
  /** All ClusterSPIFFEIDs (an unmanaged holder of a rendered name must be seen too). */
  clusterSPIFFEIDs: ListRead;
}

/** `<namespace>/<name>` -> object, of a list that was read. */
function byKey(read: ListRead | undefined): Map<string, unknown> {
  const out = new Map<string, unknown>();
  if (read?.state !== "listed") return out;
  for (const o of read.items) {
    const { namespace, name } = bindingMeta(o);
    out.set(`${namespace}/${name}`, o);
  }
  return out;
}

export function crossCheckBindings(
  bindings: readonly unknown[],
  input: CrossCheckInput,
): Finding[] {
  const ready = bindings.filter((b) => bindingHealth(b) === "ok");
  if (ready.length === 0 || !input.served.clusterSPIFFEID) return [];
  const reads: [string, ListRead | undefined][] = [
    ["ClusterSPIFFEIDs", input.clusterSPIFFEIDs],
    ...input.served.pools.map((v): [string, ListRead | undefined] => [
      `InferencePools (${v})`,
      input.pools[v],
    ]),
    ...input.served.objectives.map((v): [string, ListRead | undefined] => [
      `InferenceObjectives (${v})`,
      input.objectives[v],
    ]),
  ];
  const refused = reads.filter(([, r]) => r?.state === "forbidden");
  if (refused.length > 0) {
    return [{
      id: "rbac-limited",
      severity: "warning",
      reason: "Forbidden",
      message: `cannot list ${
        refused.map(([what]) => what).join(", ")
      }, so whether the ${ready.length} ` +
        `Ready bindings' ClusterSPIFFEIDs are in place as rendered is unknown: ${
          refused.map(([, r]) => r?.state === "forbidden" ? r.message : "").join("; ")
        }`,
      affectedRefs: [],
    }];
  }
  const pools = new Map(input.served.pools.map((v) => [v, byKey(input.pools[v])]));
  const objectives = new Map(input.served.objectives.map((v) => [v, byKey(input.objectives[v])]));
  const csids = byKey(input.clusterSPIFFEIDs);
  const findings: Finding[] = [];
  for (const binding of ready) {
    const config = identityConfig({}, binding);
    if (config.trustDomain.source !== "binding-status") continue;
    const { namespace } = bindingMeta(binding);
    const refs = refsToFetch(binding);
    const fetched: FetchedRefs = { pools: {}, objectives: {} };
    for (const [v, objects] of pools) fetched.pools[v] = objects.get(`${namespace}/${refs.pool}`);
    for (const [v, objects] of objectives) {
      fetched.objectives[v] = objects.get(`${namespace}/${refs.objective}`);
    }
    const outcome = renderForInspect(
      binding as BindingInput,
      input.served,
      fetched,
      renderConfig(config),
    );
    if (!outcome.ok) continue;
    const object = outcome.identity.clusterSPIFFEID;
    const found = csids.get(`/${outcome.identity.name}`);
    const read: ClusterObjectRead = found === undefined
      ? { state: "absent" }
      : { state: "found", object: found };
    const stale = staleReadyFinding(binding, {
      name: outcome.identity.name,
      state: clusterState(true, read, object),
      differences: isRecord(found) ? clusterDifferences(found, object) : [],
    });
    if (stale !== undefined) findings.push(stale);
  }
  return findings;
}
