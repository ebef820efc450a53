/**
 * `Discovery`: which group/version/resources the API server serves.
 *
 * `refresh(signal)` asks `/api` and `/apis` for aggregated discovery (apidiscovery.k8s.io v2, then
 * v2beta1), which returns every group, version and resource in two requests. A server that answers
 * with the legacy documents instead gets the per-group walk (`/api/v1`, `/apis/<g>/<v>`). Stale
 * group versions (aggregated discovery) and group versions whose own document fails (e.g. an
 * unavailable aggregated API server) are left out and listed in `failed`. Subresources are not
 * resources here; they show up in `subresources`.
 *
 * The snapshot is replaced atomically on each successful refresh; callers poll `refresh` (e.g. on a
 * timer or when CRD events arrive) and then ask `serves(group, version, plural)`.
 */
import { ApiError } from "./errors.ts";
import { groupVersionPath, type ResourceDescriptor, type RestClient } from "./rest.ts";

export interface ServedResource extends ResourceDescriptor {
  verbs: string[];
  subresources: string[];
}

const AGGREGATED_ACCEPT = [
  "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList",
  "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList",
  "application/json",
].join(",");

type Obj = Record<string, unknown>;

function obj(u: unknown): Obj {
  return typeof u === "object" && u !== null && !Array.isArray(u) ? u as Obj : {};
}
function arr(u: unknown): unknown[] {
  return Array.isArray(u) ? u : [];
}
function str(u: unknown): string {
  return typeof u === "string" ? u : "";
}
function strs(u: unknown): string[] {
  return arr(u).filter((x): x is string => typeof x === "string");
}

function keyOf(group: string, version: string, plural: string): string {
  return `${group}/${version}/${plural}`;
}

export class Discovery {
  readonly rest: RestClient;
  #resources = new Map<string, ServedResource>();
  #groupVersions = new Set<string>();
  #failed: string[] = [];
  #refreshed = false;

  readonly #aggregated: boolean;

  /** `aggregated: false` forces the legacy per-group walk (for servers or tests that need it). */
  constructor(rest: RestClient, opts: { aggregated?: boolean } = {}) {
    this.rest = rest;
    this.#aggregated = opts.aggregated ?? true;
  }

  /** Whether at least one refresh has succeeded. */
  get refreshed(): boolean {
    return this.#refreshed;
  }

  /** Group versions ("v1", "apps/v1") whose discovery failed or was stale in the last refresh. */
  get failed(): readonly string[] {
    return this.#failed;
  }

  serves(group: string, version: string, plural: string): boolean {
    return this.#resources.has(keyOf(group, version, plural));
  }

  /**
   * What the last refresh says of one resource: `served`; `unknown` when its group-version's
   * document failed or was stale (a fault says nothing about whether a CRD exists:
   * docs/contract.md#fail-static); `absent` when discovery answered and did not list it.
   */
  state(group: string, version: string, plural: string): "served" | "absent" | "unknown" {
    if (this.serves(group, version, plural)) return "served";
    return this.#failed.includes(group === "" ? version : `${group}/${version}`)
      ? "unknown"
      : "absent";
  }

  servesGroupVersion(group: string, version: string): boolean {
    return this.#groupVersions.has(group === "" ? version : `${group}/${version}`);
  }

  resource(group: string, version: string, plural: string): ServedResource | undefined {
    return this.#resources.get(keyOf(group, version, plural));
  }

  resources(): ServedResource[] {
    return [...this.#resources.values()];
  }

  /** Re-read discovery; on failure the previous snapshot stays and the error propagates. */
  async refresh(signal?: AbortSignal): Promise<void> {
    const resources = new Map<string, ServedResource>();
    const gvs = new Set<string>();
    const failed: string[] = [];
    for (const root of ["/api", "/apis"]) {
      const doc = obj(
        await this.rest.json({
          method: "GET",
          path: root,
          headers: { Accept: this.#aggregated ? AGGREGATED_ACCEPT : "application/json" },
          signal,
        }),
      );
      if (doc.kind === "APIGroupDiscoveryList") this.#readAggregated(doc, resources, gvs, failed);
      else await this.#readLegacy(root, doc, resources, gvs, failed, signal);
    }
    this.#resources = resources;
    this.#groupVersions = gvs;
    this.#failed = failed;
    this.#refreshed = true;
  }

  #readAggregated(
    doc: Obj,
    out: Map<string, ServedResource>,
    gvs: Set<string>,
    failed: string[],
  ): void {
    for (const g of arr(doc.items)) {
      const group = str(obj(obj(g).metadata).name);
      for (const v of arr(obj(g).versions)) {
        const vo = obj(v);
        const version = str(vo.version);
        const gv = group === "" ? version : `${group}/${version}`;
        if (vo.freshness === "Stale") {
          failed.push(gv);
          continue;
        }
        gvs.add(gv);
        for (const r of arr(vo.resources)) {
          const ro = obj(r);
          const plural = str(ro.resource);
          if (!plural) continue;
          out.set(keyOf(group, version, plural), {
            group,
            version,
            plural,
            kind: str(obj(ro.responseKind).kind),
            namespaced: ro.scope === "Namespaced",
            verbs: strs(ro.verbs),
            subresources: arr(ro.subresources).map((s) => str(obj(s).subresource)).filter(Boolean),
          });
        }
      }
    }
  }

  async #readLegacy(
    root: string,
    doc: Obj,
    out: Map<string, ServedResource>,
    gvs: Set<string>,
    failed: string[],
    signal?: AbortSignal,
  ): Promise<void> {
    const pairs: { group: string; version: string }[] = root === "/api"
      ? strs(doc.versions).map((version) => ({ group: "", version }))
      : arr(doc.groups).flatMap((g) =>
        arr(obj(g).versions).map((v) => ({ group: str(obj(g).name), version: str(obj(v).version) }))
      );
    for (const { group, version } of pairs) {
      const gv = group === "" ? version : `${group}/${version}`;
      let list: Obj;
      try {
        list = obj(
          await this.rest.json({ method: "GET", path: groupVersionPath(group, version), signal }),
        );
      } catch (err) {
        if (err instanceof ApiError) {
          failed.push(gv);
          continue;
        }
        throw err;
      }
      gvs.add(gv);
      const subs = new Map<string, string[]>();
      for (const r of arr(list.resources)) {
        const name = str(obj(r).name);
        const slash = name.indexOf("/");
        if (slash > 0) {
          const parent = name.slice(0, slash);
          subs.set(parent, [...(subs.get(parent) ?? []), name.slice(slash + 1)]);
        }
      }
      for (const r of arr(list.resources)) {
        const ro = obj(r);
        const plural = str(ro.name);
        if (!plural || plural.includes("/")) continue;
        out.set(keyOf(group, version, plural), {
          group,
          version,
          plural,
          kind: str(ro.kind),
          namespaced: ro.namespaced === true,
          verbs: strs(ro.verbs),
          subresources: subs.get(plural) ?? [],
        });
      }
    }
  }
}
