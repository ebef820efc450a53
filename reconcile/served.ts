/**
 * Served APIs (docs/contract.md#discovery): which optional resources the API server serves, and one
 * informer for each while it does. Optional: InferencePools v1 / v1alpha2, InferenceObjectives
 * v1alpha2 / v1, and managed ClusterSPIFFEIDs (label-filtered by
 * `kleym.sonda.red/managed-by=kleym`; foreign objects are never cached), the latter with an `owner`
 * index and a read-your-writes view (apis/mutation_cache.ts).
 *
 * Served versions come from API discovery (apis/discovery.ts), read at start, then every
 * `crdRetryMs` (the ~30 s retry timer of docs/contract.md#lifecycle) and at once when an informer
 * finds its resource gone (404, `poke`). A resource that becomes served gets an informer (so does
 * one whose discovery document failed: its LIST decides). One that stops being served loses it (its
 * informer is aborted; cache and view go with it) only when it is really gone — absent from
 * discovery on consecutive reads (the second ~1 s after the first) and a LIST answering 404
 * (presence.ts, docs/contract.md#fail-static); a discovery fault changes nothing. Either way
 * `onChange("served")` asks the controller to look at every binding again, as does a new informer's
 * first sync (`onChange("synced")`). Why polling rather than a watch on CustomResourceDefinitions:
 * no RBAC beyond what every authenticated user has (discovery), no cache of the cluster's CRD
 * schemas (large), and the detection delay equals the retry period the contract asks for anyway
 * (docs/contract.md#lifecycle). Cost: two discovery GETs per period, no writes; a removal costs one
 * more discovery read and one LIST.
 *
 * Relist bookkeeping: watch restarts of every optional informer are sampled into
 * `kleym_watch_restarts_total` each discovery period; relists need no action here (the views
 * clear themselves on a relist, and a relist reports its difference to the handlers).
 *
 * Every loop is owned: `start(signal)` starts the discovery loop and the informers under
 * `signal`; `join()` resolves once the loop and every informer ever started have ended.
 *
 * API: `ServedApis`, `RunningInformer`; `OptionalId` (optional.ts, the table of optional
 * resources) is re-exported.
 */
import { type Clock, delay } from "../apis/clock.ts";
import { Discovery } from "../apis/discovery.ts";
import { MutationCache } from "../apis/mutation_cache.ts";
import { type KubeObject, ResourceClient, type RestClient } from "../apis/rest.ts";
import { Ticker } from "../apis/ticker.ts";
import { Informer, type InformerStatus } from "../apis/watch.ts";
import type { Logger } from "../observe/log.ts";
import type { Metrics } from "../observe/metrics.ts";
import {
  OBJECTIVE_VERSIONS,
  POOL_VERSIONS,
  type ResolveSource,
  type ResolveSources,
} from "./resolve.ts";
import type { ObjectiveApiVersion, PoolApiVersion } from "./types.ts";
import { cachedManaged } from "./cached.ts";
import {
  OBJECTIVE_IDS,
  OPTIONAL,
  type OptionalId,
  type OptionalSpec,
  POOL_IDS,
} from "./optional.ts";
import { listAnswersNotFound, Presence } from "./presence.ts";
import { ownerKey } from "./watch_map.ts";

/** Wait before re-reading discovery to confirm a resource it stopped listing. */
const CONFIRM_DELAY_MS = 1_000;

export type { OptionalId } from "./optional.ts";

export interface RunningInformer {
  readonly id: OptionalId;
  readonly informer: Informer<KubeObject>;
  /** The read-your-writes view (ClusterSPIFFEIDs only). */
  readonly view?: MutationCache<KubeObject>;
  readonly abort: AbortController;
  /** Synced once, or found not served: startCaches need not wait for it. */
  readonly settled: Promise<void>;
  lastRestarts: number;
}

export interface ServedApisOptions {
  rest: RestClient;
  clock: Clock;
  crdRetryMs: number;
  /** The informers' watch idle limit (apis/idle.ts); default theirs. */
  watchIdleMs?: number;
  logger: Logger;
  metrics: Metrics;
  /** Called for each optional informer before it starts (the controller registers handlers). */
  onInformer(id: OptionalId, informer: Informer<KubeObject>): void;
  /** The served set changed, or a new informer synced: every binding should be looked at. */
  onChange(why: "served" | "synced"): void;
  /** Informer status changes, for logging (`resource` is the OptionalId). */
  onStatus(resource: string, status: InformerStatus): void;
  onError(resource: string, error: unknown): void;
  /** Which resources are served; default API discovery over `rest` (tests hand in a stand-in). */
  discovery?: Pick<Discovery, "refresh" | "state">;
}

export class ServedApis {
  readonly #opts: ServedApisOptions;
  readonly #discovery: Pick<Discovery, "refresh" | "state">;
  readonly #ticker: Ticker;
  readonly #running = new Map<OptionalId, RunningInformer>();
  /** Every informer and loop promise ever started (joined by `join`). */
  readonly #owned: Promise<void>[] = [];
  #signal: AbortSignal | undefined;
  #generation = 0;
  readonly #presence = new Presence<OptionalId>();
  /** The confirming re-read of a resource discovery stopped listing (at most crdRetryMs). */
  readonly #confirmMs: number;

  constructor(opts: ServedApisOptions) {
    this.#opts = opts;
    this.#discovery = opts.discovery ?? new Discovery(opts.rest);
    this.#ticker = new Ticker(opts.clock, opts.crdRetryMs);
    this.#confirmMs = Math.min(opts.crdRetryMs, CONFIRM_DELAY_MS);
  }

  /** Bumped whenever the set of served optional APIs changes. */
  get generation(): number {
    return this.#generation;
  }

  /** Reads discovery (retrying until it answers), starts the informers and the refresh loop. */
  async start(signal: AbortSignal): Promise<void> {
    this.#signal = signal;
    await this.#refreshUntilDone(signal);
    if (signal.aborted) return;
    await this.#applyServed(true);
    this.#owned.push(
      this.#loop(signal).catch((error) =>
        this.#opts.logger.error("discovery loop ended", { error })
      ),
    );
  }

  /** Resolves once every running optional informer has synced or been found not served. */
  async settled(): Promise<void> {
    await Promise.all([...this.#running.values()].map((r) => r.settled));
  }

  /** Every loop and informer this started has ended (call after aborting `start`'s signal). */
  async join(): Promise<void> {
    await Promise.all(this.#owned);
  }

  /** Re-read discovery now (an informer saw its resource gone). */
  poke(): void {
    this.#ticker.poke();
  }

  /** Resync: every running informer lists again (see `Informer.relist`). */
  relist(): void {
    for (const running of this.#running.values()) running.informer.relist();
  }

  ids(): OptionalId[] {
    return [...this.#running.keys()];
  }

  running(id: OptionalId): RunningInformer | undefined {
    return this.#running.get(id);
  }

  /** The managed ClusterSPIFFEIDs' informer and view, while the API is served. */
  clusterSPIFFEIDs():
    | { informer: Informer<KubeObject>; view: MutationCache<KubeObject> }
    | undefined {
    const running = this.#running.get("clusterspiffeids");
    return running?.view === undefined
      ? undefined
      : { informer: running.informer, view: running.view };
  }

  /**
   * What resolution reads (resolve.ts), one source per supported version in the order of
   * docs/contract.md#inputs.
   */
  sources(): ResolveSources {
    const source = <V extends PoolApiVersion | ObjectiveApiVersion>(
      apiVersion: V,
      id: OptionalId,
    ): ResolveSource<V> => {
      const running = this.#running.get(id);
      return {
        apiVersion,
        served: running !== undefined,
        synced: running?.informer.hasSynced() ?? false,
        get: (namespace, name) => running?.informer.cache.getByName(namespace, name),
      };
    };
    return {
      pools: POOL_VERSIONS.map((v) => source(v, POOL_IDS[v])),
      objectives: OBJECTIVE_VERSIONS.map((v) => source(v, OBJECTIVE_IDS[v])),
    };
  }

  async #refreshUntilDone(signal: AbortSignal): Promise<void> {
    for (let attempt = 0; !signal.aborted; attempt++) {
      try {
        await this.#discovery.refresh(signal);
        return;
      } catch (error) {
        if (signal.aborted) return;
        const wait = Math.min(this.#opts.crdRetryMs, 200 * 2 ** Math.min(attempt, 10));
        this.#opts.logger.warn("API discovery failed; retrying", { error, retryInMs: wait });
        if (!await delay(this.#opts.clock, wait, signal)) return;
      }
    }
  }

  /** Re-reads discovery every crdRetryMs, sooner when poked or confirming a removal. */
  async #loop(signal: AbortSignal): Promise<void> {
    let soon = false;
    const next = () =>
      soon ? delay(this.#opts.clock, this.#confirmMs, signal) : this.#ticker.wait(signal);
    while (await next()) {
      soon = false;
      try {
        await this.#discovery.refresh(signal);
        soon = await this.#applyServed(false);
      } catch (error) {
        if (signal.aborted) return;
        this.#opts.logger.warn("API discovery refresh failed; keeping the previous view", {
          error,
        });
      }
      this.#countWatchRestarts();
    }
  }

  /**
   * Starts informers for newly served resources; stops one only when it is really gone
   * (presence.ts: absent on consecutive reads and a LIST answering 404). Resolves `true` when a
   * removal awaits a confirming re-read.
   */
  async #applyServed(initial: boolean): Promise<boolean> {
    const signal = this.#signal;
    if (signal === undefined || signal.aborted) return false;
    let changed = false;
    let confirm = false;
    for (const spec of OPTIONAL) {
      const { group, version, plural } = spec.descriptor;
      const state = this.#discovery.state(group, version, plural);
      const running = this.#running.get(spec.id);
      const action = this.#presence.decide(spec.id, state, running !== undefined);
      const log = this.#opts.logger;
      if (action === "start") {
        this.#start(spec, signal);
        changed = true;
        log.info(
          state === "served"
            ? "API is served; watching it"
            : "API discovery failed for this group-version; watching it (its LIST decides)",
          { resource: spec.id },
        );
      } else if (action === "confirm") {
        confirm = true;
        log.info("API discovery no longer lists this resource; confirming", { resource: spec.id });
      } else if (action === "verify" && running !== undefined) {
        const client = new ResourceClient(this.#opts.rest, spec.descriptor, spec.decode);
        if (!await listAnswersNotFound(client, signal)) {
          log.warn("API discovery does not list this resource, but it answers; keeping it", {
            resource: spec.id,
          });
          continue;
        }
        running.abort.abort(new Error(`${spec.id} is no longer served`));
        this.#running.delete(spec.id);
        this.#presence.forget(spec.id);
        changed = true;
        log.info("API is no longer served; stopped watching it", { resource: spec.id });
      }
    }
    if (changed) this.#generation++;
    if (changed && !initial) this.#opts.onChange("served");
    return confirm;
  }

  #start(spec: OptionalSpec, parent: AbortSignal): void {
    const abort = new AbortController();
    const stop = () => abort.abort(parent.reason);
    parent.addEventListener("abort", stop, { once: true });
    let settle = () => {};
    const settled = new Promise<void>((resolve) => settle = resolve);
    const client = new ResourceClient<KubeObject>(this.#opts.rest, spec.descriptor, spec.decode);
    const informer = new Informer<KubeObject>(client, {
      labelSelector: spec.labelSelector,
      transform: spec.transform,
      clock: this.#opts.clock,
      notServedRetryMs: this.#opts.crdRetryMs,
      idleTimeoutMs: this.#opts.watchIdleMs,
      onStatus: (status) => {
        if (status.state === "notServed") {
          settle();
          this.poke(); // the CRD may have been removed: re-read discovery now
        }
        this.#opts.onStatus(spec.id, status);
      },
      onError: (error) => this.#opts.onError(spec.id, error),
    });
    let view: MutationCache<KubeObject> | undefined;
    if (spec.id === "clusterspiffeids") {
      informer.cache.addIndex("owner", (o) => {
        const owner = ownerKey(o);
        return owner === undefined ? [] : [owner];
      });
      view = new MutationCache(informer, { clock: this.#opts.clock, transform: cachedManaged });
    }
    this.#opts.onInformer(spec.id, informer);
    this.#owned.push(
      informer.run(abort.signal).finally(() => parent.removeEventListener("abort", stop)),
    );
    informer.waitForSync(abort.signal).then((synced) => {
      settle();
      if (synced) this.#opts.onChange("synced");
    });
    this.#running.set(spec.id, { id: spec.id, informer, view, abort, settled, lastRestarts: 0 });
  }

  #countWatchRestarts(): void {
    for (const running of this.#running.values()) {
      const restarts = running.informer.restarts;
      if (restarts > running.lastRestarts) {
        this.#opts.metrics.watchRestarts.inc(
          { resource: running.informer.client.desc.plural },
          restarts - running.lastRestarts,
        );
        running.lastRestarts = restarts;
      }
    }
  }
}
