/**
 * The InferenceIdentityBinding controller: informers, indexes, event handlers, API discovery and
 * the work loop (SPEC 3, 7, 8). The data path runs one way:
 *
 *   watch event -> informer cache -> handler enqueues binding keys -> work loop ->
 *   resolve (resolve.ts) -> render + plan (pure core) -> apply (apply.ts / finalize.ts) -> status
 *
 * Informers (all list+watch, apis/watch.ts):
 * - bindings, all namespaces (kleym's own CRD: always);
 * - managed ClusterSPIFFEIDs, label-filtered by `kleym.sonda.red/managed-by=kleym` (drift repair,
 *   orphan removal; foreign objects are never cached);
 * - InferencePools v1 and v1alpha2, InferenceObjectives v1alpha2 and v1: each only while the API
 *   server serves it.
 *
 * Served versions come from API discovery (apis/discovery.ts), refreshed every `crdRetryMs`
 * (SPEC 7's ~30 s retry timer) and at once when an informer finds its resource gone (404).
 * A resource that becomes served gets an informer; one that stops being served loses it; either
 * way every binding is re-enqueued (CRDs come and go rarely; resolution order may change).
 * Why polling rather than a watch on CustomResourceDefinitions: it needs no RBAC beyond what
 * every authenticated user has (discovery), it never caches the cluster's CRD schemas (large),
 * and the detection delay equals the retry period SPEC 7 asks for anyway. Cost: two discovery
 * GETs per period, no writes.
 *
 * Enqueue rules (no hot loops, no cluster-wide fan-out for ordinary changes, SPEC 7):
 * - binding: add and delete; update only when generation (spec), deletionTimestamp, finalizers
 *   or uid change — never for status-only updates (kleym's own status writes);
 * - pool / objective: the bindings whose ref names it (`<ns>/<name>` indexes), on add, delete
 *   and spec change (status updates by GAIE controllers are ignored);
 * - managed ClusterSPIFFEID: its owner (from the labels), on add, delete and any change of
 *   generation, labels, annotations, deletionTimestamp or finalizers;
 * - collision peers (SPEC 5): after a binding is reconciled (or goes away), if its collision
 *   fingerprint changed, every binding of the namespace whose current fingerprint equals the old
 *   or the new one is enqueued, so former peers recover and new peers notice on their own.
 *
 * Read-your-writes: the caches lag behind kleym's own writes. A reconcile that runs before the
 * watch delivers a write would re-plan from the old object and lose a 409. So the objects the
 * API server returns for kleym's writes are kept in a small overlay, keyed like the cache, until
 * the watch delivers an event for that key whose resourceVersion is not one the write was based
 * on. Informer caches themselves are never touched.
 *
 * Reads: caches only, except (a) the finalizer's confirmation LIST (finalize.ts) and (b) a GET of
 * the desired ClusterSPIFFEID name when it is not in the managed cache (a foreign holder is not
 * labelled, so only a GET can see it); a 404 there is remembered per binding, so a binding that
 * waits (for example in a collision) does not GET on every reconcile.
 *
 * Requeues: CRD-missing reasons and ClusterSPIFFEIDNameTaken after `crdRetryMs` (nothing kleym
 * watches announces their fix); deletion waiting on foreign finalizers after 2 s; write
 * conflicts and unsynced caches with per-key backoff; any other error with per-key backoff.
 *
 * API: `Controller` (`startCaches`, `hasSynced`, `run`), `ControllerOptions`.
 */

import { keyOf } from "../apis/cache.ts";
import { type Clock, delay, realClock } from "../apis/clock.ts";
import { Discovery } from "../apis/discovery.ts";
import { ApiError } from "../apis/errors.ts";
import type { EventSink } from "../apis/events.ts";
import { type HandlerResult, WorkQueue } from "../apis/queue.ts";
import {
  type KubeObject,
  ResourceClient,
  type ResourceDescriptor,
  type RestClient,
} from "../apis/rest.ts";
import { Informer, type InformerStatus } from "../apis/watch.ts";
import * as gaieV1 from "../generated/inference.networking.k8s.io/v1.ts";
import * as gaieV1alpha2 from "../generated/inference.networking.x-k8s.io/v1alpha2.ts";
import {
  type InferenceIdentityBinding,
  inferenceIdentityBindingsClient,
} from "../generated/kleym.sonda.red/v1alpha1.ts";
import {
  type ClusterSPIFFEID,
  clusterSPIFFEIDResource,
  clusterSPIFFEIDsClient,
  decodeClusterSPIFFEID,
} from "../generated/spire.spiffe.io/v1alpha1.ts";
import type { Logger } from "../observe/log.ts";
import type { Metrics } from "../observe/metrics.ts";
import { ApplyConflictError, applyPlan, deleteClusterSPIFFEID } from "./apply.ts";
import { type CollisionCandidate, collisionCandidate } from "./collision.ts";
import { Reasons, StateError } from "./errors.ts";
import { cachedBinding, cachedInput, cachedManaged } from "./cached.ts";
import { CONFIRM_RETRY_MS, ensureFinalizer, finalizeBinding } from "./finalize.ts";
import { isRecord, jsonEqual } from "./json.ts";
import { isNoop, planReconcile } from "./plan.ts";
import { renderBinding } from "./render.ts";
import {
  CacheNotReadyError,
  OBJECTIVE_VERSIONS,
  POOL_VERSIONS,
  resolveInputs,
  type ResolveSource,
  type ResolveSources,
} from "./resolve.ts";
import {
  LABEL_BINDING_NAME,
  LABEL_BINDING_NAMESPACE,
  LABEL_MANAGED_BY,
  MANAGED_BY_VALUE,
  type ObjectiveApiVersion,
  type ObservedClusterSPIFFEID,
  type PoolApiVersion,
  type RenderConfig,
} from "./types.ts";

export interface ControllerOptions {
  rest: RestClient;
  trustDomain: string;
  className?: string;
  logger: Logger;
  metrics: Metrics;
  /** Reconciles running at once (default 4). */
  concurrency?: number;
  /** SPEC 7's retry timer for missing CRDs / discovery refresh; default 30 000 ms. */
  crdRetryMs?: number;
  /** Injectable time for the discovery timer. */
  clock?: Clock;
  /** Where planned events go; `record` never blocks (apis/events.ts `EventRecorder`). */
  events: EventSink;
}

/** The resources that exist only while some CRD is installed. */
type OptionalId =
  | "pools.v1"
  | "pools.v1alpha2"
  | "objectives.v1alpha2"
  | "objectives.v1"
  | "clusterspiffeids";

interface OptionalSpec {
  readonly id: OptionalId;
  readonly descriptor: ResourceDescriptor;
  readonly decode: (u: unknown) => KubeObject;
  readonly labelSelector?: string;
  /** The binding index a change of this resource enqueues through. */
  readonly index?: "pool" | "objective";
  /** What the cache keeps of each object (cached.ts). */
  readonly transform: (o: KubeObject) => KubeObject;
}

const MANAGED_SELECTOR = `${LABEL_MANAGED_BY}=${MANAGED_BY_VALUE}`;

const OPTIONAL: readonly OptionalSpec[] = [
  {
    id: "pools.v1",
    descriptor: gaieV1.inferencePoolResource,
    decode: gaieV1.decodeInferencePool,
    index: "pool",
    transform: cachedInput,
  },
  {
    id: "pools.v1alpha2",
    descriptor: gaieV1alpha2.inferencePoolResource,
    decode: gaieV1alpha2.decodeInferencePool,
    index: "pool",
    transform: cachedInput,
  },
  {
    id: "objectives.v1alpha2",
    descriptor: gaieV1alpha2.inferenceObjectiveResource,
    decode: gaieV1alpha2.decodeInferenceObjective,
    index: "objective",
    transform: cachedInput,
  },
  {
    id: "objectives.v1",
    descriptor: gaieV1.inferenceObjectiveResource,
    decode: gaieV1.decodeInferenceObjective,
    index: "objective",
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

const POOL_IDS: Readonly<Record<PoolApiVersion, OptionalId>> = {
  "inference.networking.k8s.io/v1": "pools.v1",
  "inference.networking.x-k8s.io/v1alpha2": "pools.v1alpha2",
};
const OBJECTIVE_IDS: Readonly<Record<ObjectiveApiVersion, OptionalId>> = {
  "inference.networking.x-k8s.io/v1alpha2": "objectives.v1alpha2",
  "inference.networking.k8s.io/v1": "objectives.v1",
};

/** Reasons whose fix no watched object announces: retry on the timer (SPEC 7). */
const TIMER_REASONS: ReadonlySet<string> = new Set([
  Reasons.InferencePoolCRDMissing,
  Reasons.InferenceObjectiveCRDMissing,
  Reasons.ClusterSPIFFEIDCRDMissing,
  Reasons.ClusterSPIFFEIDNameTaken,
]);

interface RunningInformer {
  readonly spec: OptionalSpec;
  readonly informer: Informer<KubeObject>;
  readonly abort: AbortController;
  readonly done: Promise<void>;
  /** Synced once, or found not served: startCaches need not wait for it. */
  readonly settled: Promise<void>;
  lastRestarts: number;
}

/**
 * Objects returned by kleym's own writes, shown instead of the cached copy until the watch
 * catches up (see the module header). `basedOn`: resourceVersions the write superseded
 * (undefined stands for "absent", i.e. a create).
 */
class WriteOverlay<T extends KubeObject> {
  readonly #entries = new Map<string, { basedOn: Set<string | undefined>; object?: T }>();

  /** Record a write; skipped when the cache has already moved past `basedOn`. */
  wrote(key: string, cachedRv: string | undefined, basedOn: string | undefined, object?: T): void {
    const previous = this.#entries.get(key);
    const chain = new Set(previous?.basedOn ?? []);
    chain.add(basedOn);
    if (!chain.has(cachedRv)) return; // the watch already delivered this write (or a later one)
    chain.add(object?.metadata.resourceVersion);
    if (object === undefined) chain.delete(undefined);
    this.#entries.set(key, { basedOn: chain, object });
  }

  /** A watch event for `key` carrying `rv`: drop the overlay unless the event is older. */
  observed(key: string, rv: string | undefined, deleted: boolean): void {
    const entry = this.#entries.get(key);
    if (entry === undefined) return;
    if (!deleted && entry.basedOn.has(rv) && rv !== entry.object?.metadata.resourceVersion) return;
    this.#entries.delete(key);
  }

  has(key: string): boolean {
    return this.#entries.has(key);
  }

  view(key: string, cached: T | undefined): T | undefined {
    const entry = this.#entries.get(key);
    return entry === undefined ? cached : entry.object;
  }

  keys(): string[] {
    return [...this.#entries.keys()];
  }

  clear(): void {
    this.#entries.clear();
  }
}

export class Controller {
  readonly #rest: RestClient;
  readonly #config: RenderConfig;
  readonly #logger: Logger;
  readonly #metrics: Metrics;
  readonly #concurrency: number;
  readonly #crdRetryMs: number;
  readonly #clock: Clock;

  readonly #bindingsClient: ResourceClient<InferenceIdentityBinding>;
  readonly #csidClient: ResourceClient<ClusterSPIFFEID>;
  readonly #events: EventSink;
  readonly #bindings: Informer<InferenceIdentityBinding>;
  readonly #discovery: Discovery;
  readonly #queue: WorkQueue<string>;

  readonly #optional = new Map<OptionalId, RunningInformer>();
  readonly #bindingOverlay = new WriteOverlay<InferenceIdentityBinding>();
  readonly #csidOverlay = new WriteOverlay<KubeObject>();
  /**
   * Binding key -> a desired ClusterSPIFFEID name that is held by an object kleym does not watch
   * (a create answered AlreadyExists, or a GET found a foreign holder). Only these are looked up
   * with a GET; every other name missing from the managed cache is created optimistically, and
   * the API server's AlreadyExists is what reveals a foreign holder (SPEC 4: never overwritten —
   * a create cannot overwrite). Saves one GET per new binding.
   */
  readonly #suspect = new Map<string, string>();
  /**
   * Collision candidates of other bindings, memoised (SPEC 5 needs the whole namespace's
   * candidates on every reconcile; recomputing them made start-up quadratic per namespace — 90 s
   * of CPU at 1,000 bindings per namespace). A memo is valid while the binding's resourceVersion,
   * its namespace's pool/objective generation and the served-API generation are unchanged.
   */
  readonly #candidateMemo = new Map<string, { stamp: string; candidate?: CollisionCandidate }>();
  /** Namespace -> bumped on every pool/objective change there (inputs of resolution). */
  readonly #inputGeneration = new Map<string, number>();
  /** Relists seen per resource (see #afterRelist). */
  readonly #relistsSeen = new Map<string, number>();
  /** Bumped whenever the set of served optional APIs changes. */
  #servedGeneration = 0;
  /** Binding key -> its collision fingerprint at its last reconcile. */
  readonly #fingerprints = new Map<string, string>();

  #cachesSignal: AbortSignal | undefined;
  #cachesReady: Promise<void> | undefined;
  #synced = false;
  #pokeDiscovery: (() => void) | undefined;
  #discoveryPoked = false;

  constructor(opts: ControllerOptions) {
    this.#rest = opts.rest;
    this.#config = { trustDomain: opts.trustDomain, className: opts.className };
    this.#logger = opts.logger;
    this.#metrics = opts.metrics;
    this.#concurrency = Math.max(1, opts.concurrency ?? 4);
    this.#crdRetryMs = opts.crdRetryMs ?? 30_000;
    this.#clock = opts.clock ?? realClock;

    this.#bindingsClient = inferenceIdentityBindingsClient(opts.rest);
    this.#csidClient = clusterSPIFFEIDsClient(opts.rest);
    this.#events = opts.events;
    this.#discovery = new Discovery(opts.rest);
    this.#queue = new WorkQueue<string>({
      clock: this.#clock,
      onError: (key, error) => {
        this.#metrics.workqueueRetries.inc({});
        this.#logger.warn("reconcile failed; retrying with backoff", { binding: key, error });
      },
      // Exact gauges at every scrape: tests start quiet windows on depth 0 + in-flight 0.
      onActivity: ({ depth, inFlight }) => {
        this.#metrics.workqueueDepth.set({}, depth);
        this.#metrics.workqueueInFlight.set({}, inFlight);
      },
    });

    this.#bindings = new Informer(this.#bindingsClient, {
      transform: cachedBinding,
      clock: this.#clock,
      notServedRetryMs: this.#crdRetryMs,
      onStatus: (status) => this.#informerStatus("inferenceidentitybindings", status),
      onError: (error) => this.#informerError("inferenceidentitybindings", error),
    });
    const cache = this.#bindings.cache;
    cache.addIndex("pool", (b) => refIndex(b, "poolRef"));
    cache.addIndex("objective", (b) => refIndex(b, "objectiveRef"));
    cache.addIndex("namespace", (b) => [b.metadata.namespace ?? ""]);
    this.#bindings.addHandler({
      onAdd: (b) => this.#bindingEvent(b, false, true),
      onUpdate: (old, b) => this.#bindingEvent(b, false, bindingChanged(old, b)),
      onDelete: (b) => this.#bindingEvent(b, true, true),
    });
  }

  /** Starts discovery and the informers; resolves once every started cache has synced. */
  startCaches(signal: AbortSignal): Promise<void> {
    if (this.#cachesReady !== undefined) return this.#cachesReady;
    this.#cachesSignal = signal;
    this.#cachesReady = this.#startCaches(signal);
    return this.#cachesReady;
  }

  hasSynced(): boolean {
    return this.#synced;
  }

  /** The work loop: runs until `signal` aborts, then stops intake and finishes in-flight work. */
  async run(signal: AbortSignal): Promise<void> {
    if (this.#cachesReady === undefined) {
      throw new Error("Controller.run: call startCaches first");
    }
    await this.#cachesReady;
    if (signal.aborted) return;
    this.#logger.info("controller started", {
      concurrency: this.#concurrency,
      trustDomain: this.#config.trustDomain,
    });
    await this.#queue.run((key) => this.#handle(key, signal), {
      concurrency: this.#concurrency,
      signal,
    });
    this.#logger.info("controller stopped");
  }

  // ---- caches and discovery ------------------------------------------------------------------

  async #startCaches(signal: AbortSignal): Promise<void> {
    await this.#refreshDiscoveryUntilDone(signal);
    if (signal.aborted) return;
    this.#bindings.run(signal).catch((error) => this.#informerError("bindings", error));
    this.#applyServed(false);
    this.#discoveryLoop(signal).catch((error) =>
      this.#logger.error("discovery loop ended", { error })
    );
    const bindingsSynced = this.#bindings.waitForSync(signal);
    await Promise.all([bindingsSynced, ...[...this.#optional.values()].map((r) => r.settled)]);
    if (signal.aborted) return;
    this.#synced = true;
    this.#logger.info("caches synced", {
      bindings: this.#bindings.cache.size,
      served: [...this.#optional.keys()],
    });
  }

  async #refreshDiscoveryUntilDone(signal: AbortSignal): Promise<void> {
    for (let attempt = 0; !signal.aborted; attempt++) {
      try {
        await this.#discovery.refresh(signal);
        return;
      } catch (error) {
        if (signal.aborted) return;
        const wait = Math.min(this.#crdRetryMs, 200 * 2 ** Math.min(attempt, 10));
        this.#logger.warn("API discovery failed; retrying", { error, retryInMs: wait });
        if (!await delay(this.#clock, wait, signal)) return;
      }
    }
  }

  /** Re-reads discovery every crdRetryMs, or sooner when poked (an informer saw a 404). */
  async #discoveryLoop(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      await new Promise<void>((resolve) => {
        const timer = this.#clock.setTimeout(done, this.#crdRetryMs);
        const onAbort = () => done();
        signal.addEventListener("abort", onAbort, { once: true });
        function done() {
          signal.removeEventListener("abort", onAbort);
          resolve();
        }
        this.#pokeDiscovery = () => {
          this.#clock.clearTimeout(timer);
          done();
        };
        if (this.#discoveryPoked) this.#pokeDiscovery();
      });
      this.#pokeDiscovery = undefined;
      this.#discoveryPoked = false;
      if (signal.aborted) return;
      try {
        await this.#discovery.refresh(signal);
        this.#applyServed(true);
      } catch (error) {
        if (signal.aborted) return;
        this.#logger.warn("API discovery refresh failed; keeping the previous view", { error });
      }
      this.#countWatchRestarts();
    }
  }

  #poke(): void {
    this.#discoveryPoked = true;
    this.#pokeDiscovery?.();
  }

  /** Starts informers for newly served resources and stops those no longer served. */
  #applyServed(reenqueue: boolean): void {
    const signal = this.#cachesSignal;
    if (signal === undefined || signal.aborted) return;
    let changed = false;
    for (const spec of OPTIONAL) {
      const { group, version, plural } = spec.descriptor;
      const served = this.#discovery.serves(group, version, plural);
      const running = this.#optional.get(spec.id);
      if (served && running === undefined) {
        this.#startOptional(spec, signal);
        changed = true;
        this.#logger.info("API is served; watching it", { resource: spec.id });
      } else if (!served && running !== undefined) {
        running.abort.abort(new Error(`${spec.id} is no longer served`));
        this.#optional.delete(spec.id);
        if (spec.id === "clusterspiffeids") this.#csidOverlay.clear();
        changed = true;
        this.#logger.info("API is no longer served; stopped watching it", { resource: spec.id });
      }
    }
    if (changed) this.#servedGeneration++;
    if (changed && reenqueue) this.#enqueueAll();
  }

  #startOptional(spec: OptionalSpec, parent: AbortSignal): void {
    this.#relistsSeen.delete(spec.id); // a new informer counts its relists from zero
    const abort = new AbortController();
    const stop = () => abort.abort(parent.reason);
    parent.addEventListener("abort", stop, { once: true });
    let settle = () => {};
    const settled = new Promise<void>((resolve) => settle = resolve);
    const client = new ResourceClient<KubeObject>(this.#rest, spec.descriptor, spec.decode);
    const informer = new Informer<KubeObject>(client, {
      labelSelector: spec.labelSelector,
      transform: spec.transform,
      clock: this.#clock,
      notServedRetryMs: this.#crdRetryMs,
      onStatus: (status) => {
        if (status.state === "notServed") settle();
        this.#informerStatus(spec.id, status);
      },
      onError: (error) => this.#informerError(spec.id, error),
    });
    if (spec.index !== undefined) this.#indexHandlers(informer, spec.index);
    if (spec.id === "clusterspiffeids") {
      informer.cache.addIndex("owner", (o) => {
        const owner = ownerKey(o);
        return owner === undefined ? [] : [owner];
      });
      this.#managedHandlers(informer);
    }
    const done = informer.run(abort.signal).finally(() => {
      parent.removeEventListener("abort", stop);
    });
    informer.waitForSync(abort.signal).then((synced) => {
      settle();
      // Bindings that waited for this cache (CacheNotReadyError, CRD missing) look again now.
      if (synced && this.#synced) this.#enqueueAll();
    });
    this.#optional.set(spec.id, { spec, informer, abort, done, settled, lastRestarts: 0 });
  }

  #informerStatus(resource: string, status: InformerStatus): void {
    if (status.state === "watching") this.#afterRelist(resource);
    if (status.state === "notServed") {
      if (resource === "inferenceidentitybindings") {
        this.#logger.error(
          "the InferenceIdentityBinding API is not served: install kleym's CRD (deploy.yaml)",
          { error: status.lastError },
        );
      } else {
        this.#poke(); // the CRD may have been removed: re-read discovery now
      }
    }
  }

  /**
   * A relist (after 410 Gone) rebuilt a cache from a fresh LIST, which holds every write that
   * finished before it. Our read-your-writes overlay may still describe objects the cache never saw
   * and that are gone by now — a relist reports no delete for an object the cache never held — so
   * such an entry would hide a deleted ClusterSPIFFEID forever. Drop the overlay and look again.
   */
  #afterRelist(resource: string): void {
    const informer = resource === "inferenceidentitybindings"
      ? this.#bindings
      : this.#optional.get(resource as OptionalId)?.informer;
    const relists = informer?.relists ?? 0;
    if (relists <= (this.#relistsSeen.get(resource) ?? 0)) return;
    this.#relistsSeen.set(resource, relists);
    if (resource === "inferenceidentitybindings") this.#bindingOverlay.clear();
    else if (resource === "clusterspiffeids") this.#csidOverlay.clear();
    else return;
    this.#enqueueAll();
  }

  #informerError(resource: string, error: unknown): void {
    if (this.#cachesSignal?.aborted) return;
    this.#logger.debug("watch interrupted; reconnecting", { resource, error });
  }

  #countWatchRestarts(): void {
    for (const running of this.#optional.values()) {
      const restarts = running.informer.restarts;
      if (restarts > running.lastRestarts) {
        this.#metrics.watchRestarts.inc(
          { resource: running.spec.descriptor.plural },
          restarts - running.lastRestarts,
        );
        running.lastRestarts = restarts;
      }
    }
  }

  // ---- event handlers ------------------------------------------------------------------------

  #bindingEvent(binding: InferenceIdentityBinding, deleted: boolean, relevant: boolean): void {
    const key = bindingKeyOf(binding);
    this.#bindingOverlay.observed(key, binding.metadata.resourceVersion, deleted);
    if (relevant) this.#enqueue(key);
  }

  #indexHandlers(informer: Informer<KubeObject>, index: "pool" | "objective"): void {
    const enqueueReferrers = (object: KubeObject) => {
      const namespace = object.metadata.namespace ?? "";
      this.#inputGeneration.set(namespace, (this.#inputGeneration.get(namespace) ?? 0) + 1);
      const key = keyOf(object.metadata.namespace, object.metadata.name ?? "");
      for (const binding of this.#bindings.cache.byIndex(index, key)) {
        this.#enqueue(bindingKeyOf(binding));
      }
    };
    informer.addHandler({
      onAdd: enqueueReferrers,
      onUpdate: (old, object) => {
        if (specChanged(old, object)) enqueueReferrers(object);
      },
      onDelete: enqueueReferrers,
    });
  }

  #managedHandlers(informer: Informer<KubeObject>): void {
    const enqueueOwner = (object: KubeObject) => {
      const owner = ownerKey(object);
      if (owner !== undefined) this.#enqueue(owner);
    };
    informer.addHandler({
      onAdd: (object) => {
        this.#csidOverlay.observed(
          object.metadata.name ?? "",
          object.metadata.resourceVersion,
          false,
        );
        enqueueOwner(object);
      },
      onUpdate: (old, object) => {
        this.#csidOverlay.observed(
          object.metadata.name ?? "",
          object.metadata.resourceVersion,
          false,
        );
        if (managedChanged(old, object)) {
          enqueueOwner(old);
          enqueueOwner(object);
        }
      },
      onDelete: (object) => {
        this.#csidOverlay.observed(
          object.metadata.name ?? "",
          object.metadata.resourceVersion,
          true,
        );
        enqueueOwner(object);
      },
    });
  }

  #enqueue(key: string): void {
    this.#queue.add(key);
    this.#metrics.workqueueDepth.set({}, this.#queue.depth);
  }

  #enqueueAll(): void {
    for (const key of this.#bindings.cache.keys()) this.#enqueue(key);
  }

  // ---- the work loop -------------------------------------------------------------------------

  async #handle(key: string, signal: AbortSignal): Promise<HandlerResult> {
    this.#metrics.workqueueDepth.set({}, this.#queue.depth);
    const stopTimer = this.#metrics.reconcileDuration.startTimer({});
    try {
      return await this.#reconcile(key, signal);
    } catch (error) {
      if (error instanceof CacheNotReadyError || error instanceof ApplyConflictError) {
        this.#logger.debug("reconcile will be retried", { binding: key, error });
        this.#metrics.workqueueRetries.inc({});
        return { requeue: true };
      }
      throw error;
    } finally {
      stopTimer();
    }
  }

  async #reconcile(key: string, signal: AbortSignal): Promise<HandlerResult> {
    const cached = this.#bindings.cache.get(key);
    const binding = this.#bindingOverlay.view(key, cached);
    if (binding === undefined) return await this.#reconcileGone(key, signal);
    if (binding.metadata.deletionTimestamp) return await this.#reconcileDeleting(binding, signal);

    const log = this.#logger.child({ binding: key });
    const ctx = this.#ctx(signal);

    // SPEC 7: the finalizer goes on before any output is written.
    const current = await ensureFinalizer(binding, ctx);
    if (current !== binding) this.#wroteBinding(key, binding, current);

    const resolved = resolveInputs(current, this.#sources());
    const rendered = renderBinding(current, resolved, this.#config);
    const csids = this.#optional.get("clusterspiffeids");
    if (csids !== undefined && !csids.informer.hasSynced()) {
      throw new CacheNotReadyError("spire.spiffe.io/v1alpha1", "ClusterSPIFFEID");
    }
    const planResolved = rendered.ok && csids === undefined
      ? new StateError(
        "RenderFailure",
        Reasons.ClusterSPIFFEIDCRDMissing,
        "the ClusterSPIFFEID API (spire.spiffe.io/v1alpha1) is not served by this cluster: " +
          "install the SPIRE Controller Manager CRDs",
      )
      : resolved;

    const namespace = current.metadata.namespace ?? "";
    const managed = csids === undefined ? [] : this.#managedOf(key);
    const nameHolder = rendered.ok && csids !== undefined
      ? await this.#nameHolder(key, rendered.identity.name, signal)
      : undefined;
    const self = collisionCandidate(current, rendered);
    const peers = this.#candidates(namespace, key);
    const plan = planReconcile({
      binding: current,
      resolved: planResolved,
      config: this.#config,
      managed,
      nameHolder,
      collisionCandidates: self === undefined ? peers : [...peers, self],
      now: new Date(this.#clock.now()),
    });

    if (!isNoop(plan)) {
      const result = await applyPlan(plan, current, {
        ...ctx,
        events: this.#events,
        onNameTaken: (name) => this.#suspect.set(key, name),
      });
      if (result.binding !== current) this.#wroteBinding(key, current, result.binding);
      this.#wroteManaged(plan, managed, result.written);
      this.#metrics.bindingOutcomes.inc(plan.outcome);
      log.info("reconciled", {
        condition: plan.outcome.condition,
        reason: plan.outcome.reason,
        mode: plan.outcome.mode,
        writes: result.writes,
      });
    }
    this.#metrics.setBindingState(key, plan.outcome);
    this.#fingerprintChanged(key, namespace, self?.fingerprint, peers);

    if (plan.outcome.condition !== "Ready" && TIMER_REASONS.has(plan.outcome.reason)) {
      return { requeueAfterMs: this.#crdRetryMs };
    }
    return undefined;
  }

  /** The binding has a deletionTimestamp: remove its output, then the finalizer (SPEC 7). */
  async #reconcileDeleting(
    binding: InferenceIdentityBinding,
    signal: AbortSignal,
  ): Promise<HandlerResult> {
    const key = bindingKeyOf(binding);
    const namespace = binding.metadata.namespace ?? "";
    // A binding being deleted no longer takes part in collisions: its peers look again now.
    this.#fingerprintChanged(key, namespace, undefined, this.#candidates(namespace, key));
    const result = await finalizeBinding(binding, this.#ctx(signal));
    if (!result.done) {
      this.#logger.info(
        "waiting for managed ClusterSPIFFEIDs to go before removing the finalizer",
        {
          binding: key,
          remaining: result.remaining,
        },
      );
      return { requeueAfterMs: CONFIRM_RETRY_MS };
    }
    this.#logger.info("binding finalized", { binding: key, deleted: result.deleted });
    this.#metrics.setBindingState(key, undefined);
    return undefined;
  }

  /** The binding is gone: forget it, delete orphaned output, let former peers recover. */
  async #reconcileGone(key: string, signal: AbortSignal): Promise<HandlerResult> {
    this.#metrics.setBindingState(key, undefined);
    this.#suspect.delete(key);
    this.#candidateMemo.delete(key);
    const namespace = key.slice(0, key.indexOf("/"));
    this.#fingerprintChanged(key, namespace, undefined, this.#candidates(namespace, key));
    // Only trust "gone" from a synced bindings cache (a not-served blip empties the cache).
    if (
      !this.#bindings.hasSynced() || !this.#optional.get("clusterspiffeids")?.informer.hasSynced()
    ) {
      return undefined;
    }
    const ctx = this.#ctx(signal);
    for (const orphan of this.#managedOf(key)) {
      if (orphan.metadata.deletionTimestamp || !orphan.metadata.name) continue;
      try {
        await deleteClusterSPIFFEID({ name: orphan.metadata.name, uid: orphan.metadata.uid }, ctx);
        this.#wroteManagedObject(orphan.metadata.name, orphan, undefined);
        this.#logger.info("deleted orphaned ClusterSPIFFEID (its binding is gone)", {
          binding: key,
          clusterSPIFFEID: orphan.metadata.name,
        });
      } catch (error) {
        if (!(error instanceof ApplyConflictError)) throw error;
      }
    }
    return undefined;
  }

  #ctx(signal: AbortSignal) {
    return {
      bindings: this.#bindingsClient,
      clusterSPIFFEIDs: this.#csidClient,
      logger: this.#logger,
      signal,
    };
  }

  // ---- reading through caches and overlays ---------------------------------------------------

  #sources(): ResolveSources {
    const source = <V extends PoolApiVersion | ObjectiveApiVersion>(
      apiVersion: V,
      id: OptionalId,
    ): ResolveSource<V> => {
      const running = this.#optional.get(id);
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

  #csidCache() {
    return this.#optional.get("clusterspiffeids")?.informer.cache;
  }

  #csidView(name: string): ObservedClusterSPIFFEID | undefined {
    return this.#csidOverlay.view(name, this.#csidCache()?.get(name));
  }

  /** Managed objects labelled for the binding, as kleym last wrote or saw them. */
  #managedOf(key: string): ObservedClusterSPIFFEID[] {
    const names = new Set<string>();
    for (const object of this.#csidCache()?.byIndex("owner", key) ?? []) {
      names.add(object.metadata.name ?? "");
    }
    for (const name of this.#csidOverlay.keys()) names.add(name);
    const out: ObservedClusterSPIFFEID[] = [];
    for (const name of names) {
      const object = this.#csidView(name);
      if (object !== undefined && ownerKey(object) === key) out.push(object);
    }
    return out;
  }

  /** The object holding `name`: managed cache first, then a GET (a foreign holder is unlabelled). */
  async #nameHolder(
    key: string,
    name: string,
    signal: AbortSignal,
  ): Promise<ObservedClusterSPIFFEID | undefined> {
    const cached = this.#csidView(name);
    if (cached !== undefined || this.#csidOverlay.has(name)) return cached;
    if (this.#suspect.get(key) !== name) return undefined;
    try {
      return await this.#csidClient.get(name, { signal });
    } catch (error) {
      if (error instanceof ApiError && error.isNotFound()) {
        this.#suspect.delete(key);
        return undefined;
      }
      throw error;
    }
  }

  /** Collision candidates of the other PerObjective bindings in the namespace (SPEC 5). */
  #candidates(namespace: string, selfKey: string): CollisionCandidate[] {
    const sources = this.#sources();
    const out: CollisionCandidate[] = [];
    for (const cached of this.#bindings.cache.byIndex("namespace", namespace)) {
      const key = bindingKeyOf(cached);
      if (key === selfKey || !mayBePerObjective(cached)) continue;
      const binding = this.#bindingOverlay.view(key, cached) ?? cached;
      if (binding.metadata.deletionTimestamp) continue;
      const stamp = `${binding.metadata.resourceVersion}|${
        this.#inputGeneration.get(namespace) ?? 0
      }|${this.#servedGeneration}`;
      const memo = this.#candidateMemo.get(key);
      if (memo?.stamp === stamp) {
        if (memo.candidate !== undefined) out.push(memo.candidate);
        continue;
      }
      let resolved;
      try {
        resolved = resolveInputs(binding, sources);
      } catch (error) {
        if (error instanceof CacheNotReadyError) continue; // it will be retried itself
        throw error;
      }
      const candidate = collisionCandidate(binding, renderBinding(binding, resolved, this.#config));
      this.#candidateMemo.set(key, { stamp, candidate });
      if (candidate !== undefined) out.push(candidate);
    }
    return out;
  }

  /** SPEC 5 recovery: when a binding's fingerprint changes, its old and new peers look again. */
  #fingerprintChanged(
    key: string,
    namespace: string,
    fingerprint: string | undefined,
    candidates: readonly CollisionCandidate[],
  ): void {
    const previous = this.#fingerprints.get(key);
    if (previous === fingerprint) return;
    if (fingerprint === undefined) this.#fingerprints.delete(key);
    else this.#fingerprints.set(key, fingerprint);
    for (const candidate of candidates) {
      if (candidate.fingerprint === previous || candidate.fingerprint === fingerprint) {
        this.#enqueue(keyOf(namespace, candidate.name));
      }
    }
  }

  #wroteBinding(
    key: string,
    before: InferenceIdentityBinding,
    after: InferenceIdentityBinding,
  ): void {
    this.#bindingOverlay.wrote(
      key,
      this.#bindings.cache.get(key)?.metadata.resourceVersion,
      before.metadata.resourceVersion,
      cachedBinding(after), // kept like the cache keeps it (cached.ts)
    );
  }

  /** Remember kleym's ClusterSPIFFEID writes until the managed watch delivers them. */
  #wroteManaged(
    plan: ReturnType<typeof planReconcile>,
    managed: readonly ObservedClusterSPIFFEID[],
    written: ClusterSPIFFEID | undefined,
  ): void {
    for (const deletion of plan.deletes) {
      const before = managed.find((m) => m.metadata.name === deletion.name);
      this.#wroteManagedObject(deletion.name, before, undefined);
    }
    const name = written?.metadata.name;
    if (written !== undefined && name !== undefined) {
      this.#wroteManagedObject(name, plan.update, written);
    }
  }

  #wroteManagedObject(
    name: string,
    before: ObservedClusterSPIFFEID | undefined,
    after: KubeObject | undefined,
  ): void {
    this.#csidOverlay.wrote(
      name,
      this.#csidCache()?.get(name)?.metadata.resourceVersion,
      before?.metadata.resourceVersion,
      after === undefined ? undefined : cachedManaged(after),
    );
  }
}

// ---- helpers -------------------------------------------------------------------------------

function bindingKeyOf(binding: KubeObject): string {
  return keyOf(binding.metadata.namespace, binding.metadata.name ?? "");
}

function refIndex(binding: InferenceIdentityBinding, field: "poolRef" | "objectiveRef"): string[] {
  const spec: unknown = binding.spec;
  const ref = isRecord(spec) ? spec[field] : undefined;
  const name = isRecord(ref) ? ref.name : undefined;
  return typeof name === "string" && name !== "" ? [keyOf(binding.metadata.namespace, name)] : [];
}

/** SPEC 7: spec (generation), deletion, finalizers — never status-only updates. */
function bindingChanged(old: InferenceIdentityBinding, next: InferenceIdentityBinding): boolean {
  return old.metadata.generation !== next.metadata.generation ||
    old.metadata.uid !== next.metadata.uid ||
    old.metadata.deletionTimestamp !== next.metadata.deletionTimestamp ||
    !jsonEqual(old.metadata.finalizers ?? [], next.metadata.finalizers ?? []);
}

function specChanged(old: KubeObject, next: KubeObject): boolean {
  if (old.metadata.generation !== undefined && next.metadata.generation !== undefined) {
    return old.metadata.generation !== next.metadata.generation;
  }
  return !jsonEqual((old as { spec?: unknown }).spec, (next as { spec?: unknown }).spec);
}

function managedChanged(old: KubeObject, next: KubeObject): boolean {
  return old.metadata.generation !== next.metadata.generation ||
    old.metadata.deletionTimestamp !== next.metadata.deletionTimestamp ||
    !jsonEqual(old.metadata.labels ?? {}, next.metadata.labels ?? {}) ||
    !jsonEqual(old.metadata.annotations ?? {}, next.metadata.annotations ?? {}) ||
    !jsonEqual(old.metadata.finalizers ?? [], next.metadata.finalizers ?? []);
}

/** `<namespace>/<name>` of the binding a managed object is labelled for. */
function ownerKey(object: KubeObject): string | undefined {
  const labels = object.metadata.labels ?? {};
  if (labels[LABEL_MANAGED_BY] !== MANAGED_BY_VALUE) return undefined;
  const namespace = labels[LABEL_BINDING_NAMESPACE];
  const name = labels[LABEL_BINDING_NAME];
  return namespace && name ? keyOf(namespace, name) : undefined;
}

/** Cheap pre-filter: only PerObjective (or unset/odd mode) bindings can collide. */
function mayBePerObjective(binding: InferenceIdentityBinding): boolean {
  const spec: unknown = binding.spec;
  return !(isRecord(spec) && spec.mode === "PoolOnly");
}
