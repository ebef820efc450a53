/**
 * The InferenceIdentityBinding controller: a thin wiring of its parts (docs/contract.md#inputs,
 * docs/contract.md#lifecycle, docs/contract.md#process). The data path runs one way:
 *
 *   watch event -> informer cache (+ read-your-writes view) -> watch mapping enqueues binding
 *   keys -> work queue -> one-key reconciler -> pure plan -> apply -> status
 *
 * Parts (one job each):
 * - `served.ts` — API discovery; optional informers (pools, objectives, managed
 *   ClusterSPIFFEIDs) started and stopped as their CRDs come and go;
 * - `watch_map.ts` — pure event filters and event -> binding-key mappers;
 * - `exclusivity.ts` — the exclusivity engine: indexed collision state, verdicts, and the
 *   peers a change affects (docs/contract.md#exclusivity);
 * - `reconciler.ts` — one key: live / deleting / gone;
 * - apis/mutation_cache.ts — the read-your-writes views the reconciler reads through.
 *
 * This file owns the bindings informer (always on: kleym's own CRD), the work queue and the
 * loops. Every loop is owned and joined: `run()` returns only after the queue has drained, the
 * resync timer has stopped, and every informer (and the discovery loop)
 * has settled. `run` is the controller's working life: when it returns, the caches are stopped
 * too (the operator exits after it — on shutdown or a lost Lease).
 *
 * Resync (`syncPeriodMs`, flag `--sync-period`, jittered ±10 %): each period
 * every informer lists again (a change its watch never delivered — a lost event — reaches the
 * handlers as part of the list's difference) and every binding is re-enqueued. A binding that is
 * in place makes no write (its plan is a no-op); one that is not is repaired. Cost: one LIST per
 * watched resource per period.
 *
 * API: `Controller` (`startCaches`, `hasSynced`, `run`, `idle`), `ControllerOptions`.
 */
import { type Clock, realClock } from "../apis/clock.ts";
import { OPERATOR_FLAGS } from "../flags/operator.ts";
import type { EventSink } from "../apis/events.ts";
import { MutationCache } from "../apis/mutation_cache.ts";
import { WorkQueue } from "../apis/queue.ts";
import type { KubeObject, RestClient } from "../apis/rest.ts";
import { Ticker } from "../apis/ticker.ts";
import { Informer, type InformerStatus } from "../apis/watch.ts";
import {
  type InferenceIdentityBinding,
  inferenceIdentityBindingsClient,
} from "../generated/kleym.sonda.red/v1alpha1.ts";
import { clusterSPIFFEIDsClient } from "../generated/spire.spiffe.io/v1alpha1.ts";
import type { Logger } from "../observe/log.ts";
import type { Metrics } from "../observe/metrics.ts";
import { cachedBinding } from "./cached.ts";
import { ExclusivityEngine } from "./exclusivity.ts";
import type { IdentityOverlapMode } from "./plan.ts";
import { InformerHealth } from "./informer_health.ts";
import { Reconciler } from "./reconciler.ts";
import { type OptionalId, ServedApis } from "./served.ts";
import type { RenderConfig } from "./types.ts";
import type { SvidLimits } from "./svid_limits.ts";
import {
  bindingEventKeys,
  inputEventKeys,
  managedEventKeys,
  refIndex,
  specChanged,
  type WatchEvent,
} from "./watch_map.ts";

export interface ControllerOptions {
  rest: RestClient;
  trustDomain: string;
  className?: string;
  /** The limits on `spec.svid` (svid_limits.ts); default `DEFAULT_SVID_LIMITS`. */
  svidLimits?: SvidLimits;
  logger: Logger;
  metrics: Metrics;
  /** Reconciles running at once (default: `--max-concurrent-reconciles`'s). */
  concurrency?: number;
  /** The retry timer for missing CRDs and discovery (docs/contract.md#lifecycle); default 30 s. */
  crdRetryMs?: number;
  /** Every binding is re-enqueued this often (jittered ±10 %); default: `--sync-period`'s. */
  syncPeriodMs?: number;
  /** Figures-only status writes at most once per this many ms per binding (`--spire-stats-interval`). */
  spireStatsIntervalMs?: number;
  /** `--identity-overlap` (docs/contract.md#overlap); default: the flag's. */
  identityOverlap?: IdentityOverlapMode;
  /** Reopen a watch that delivers nothing for this long (apis/idle.ts; default 150 s). */
  watchIdleMs?: number;
  /** Injectable time for timers and the views' TTL. */
  clock?: Clock;
  /** Where planned events go; `record` never blocks (apis/events.ts `EventRecorder`). */
  events: EventSink;
}

export class Controller {
  readonly #config: RenderConfig;
  readonly #logger: Logger;
  readonly #metrics: Metrics;
  readonly #concurrency: number;
  readonly #syncPeriodMs: number;
  readonly #clock: Clock;

  readonly #bindings: Informer<InferenceIdentityBinding>;
  readonly #bindingsView: MutationCache<InferenceIdentityBinding>;
  readonly #served: ServedApis;
  readonly #exclusivity: ExclusivityEngine;
  readonly #reconciler: Reconciler;
  readonly #queue: WorkQueue<string>;
  /** Warn-once logging of list/watch failures, `kleym_informer_synced` (informer_health.ts). */
  readonly #health: InformerHealth;

  /** Owned by the controller (linked to startCaches' signal); aborted when `run` ends. */
  readonly #caches = new AbortController();
  #cachesReady: Promise<void> | undefined;
  #bindingsDone: Promise<void> | undefined;
  #synced = false;

  constructor(opts: ControllerOptions) {
    this.#config = {
      trustDomain: opts.trustDomain,
      className: opts.className,
      svid: opts.svidLimits,
    };
    this.#logger = opts.logger;
    this.#metrics = opts.metrics;
    // Unset: the flags' defaults (flags/operator.ts), so a test's controller runs like the operator.
    this.#concurrency = Math.max(1, opts.concurrency ?? OPERATOR_FLAGS.concurrency.default);
    this.#syncPeriodMs = opts.syncPeriodMs ?? OPERATOR_FLAGS.syncPeriod.default;
    this.#clock = opts.clock ?? realClock;
    const crdRetryMs = opts.crdRetryMs ?? 30_000;
    this.#health = new InformerHealth(this.#logger, this.#metrics);

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

    const bindingsClient = inferenceIdentityBindingsClient(opts.rest);
    this.#bindings = new Informer(bindingsClient, {
      transform: cachedBinding,
      clock: this.#clock,
      notServedRetryMs: crdRetryMs,
      idleTimeoutMs: opts.watchIdleMs,
      onStatus: (status) => this.#status("inferenceidentitybindings", status),
      onError: (error) => this.#informerError("inferenceidentitybindings", error),
    });
    const cache = this.#bindings.cache;
    cache.addIndex("pool", (b) => refIndex(b, "poolRef"));
    cache.addIndex("objective", (b) => refIndex(b, "objectiveRef"));
    cache.addIndex("namespace", (b) => [b.metadata.namespace ?? ""]);
    // Recorded writes are kept like the cache keeps objects (cached.ts).
    this.#bindingsView = new MutationCache(this.#bindings, {
      clock: this.#clock,
      transform: cachedBinding,
    });
    this.#bindings.addHandler(handlers((event) => {
      const keys = bindingEventKeys(event);
      this.#exclusivity.changed(keys);
      this.#enqueue(keys);
    }));

    this.#served = new ServedApis({
      rest: opts.rest,
      clock: this.#clock,
      crdRetryMs,
      watchIdleMs: opts.watchIdleMs,
      logger: this.#logger,
      metrics: this.#metrics,
      onInformer: (id, informer) => this.#watchOptional(id, informer),
      onChange: (why) => {
        // A new informer's first sync during start-up is covered by the start-up pass.
        if (why === "served" || this.#synced) this.#enqueueAll();
      },
      onStatus: (resource, status) => this.#status(resource, status),
      onError: (resource, error) => this.#informerError(resource, error),
    });
    this.#exclusivity = new ExclusivityEngine({
      bindings: this.#bindingsView,
      keys: () => this.#bindings.cache.keys(),
      sources: () => this.#served.sources(),
      servedGeneration: () => this.#served.generation,
      config: this.#config,
      onAffected: (keys) => this.#enqueue(keys),
      onOverlapping: (count) => this.#metrics.identityOverlaps.set({}, count),
    });
    this.#reconciler = new Reconciler({
      config: this.#config,
      bindings: this.#bindingsView,
      bindingsSynced: () => this.#bindings.hasSynced(),
      managed: () => this.#served.clusterSPIFFEIDs(),
      sources: () => this.#served.sources(),
      exclusivity: this.#exclusivity,
      identityOverlap: opts.identityOverlap,
      clients: {
        bindings: bindingsClient,
        clusterSPIFFEIDs: clusterSPIFFEIDsClient(opts.rest),
      },
      events: opts.events,
      logger: this.#logger,
      metrics: this.#metrics,
      clock: this.#clock,
      crdRetryMs,
      spireStatsIntervalMs: opts.spireStatsIntervalMs,
    });
  }

  /** Starts discovery and the informers; resolves once every started cache has synced. */
  startCaches(signal: AbortSignal): Promise<void> {
    if (this.#cachesReady !== undefined) return this.#cachesReady;
    const stop = () => this.#caches.abort(signal.reason);
    if (signal.aborted) stop();
    else signal.addEventListener("abort", stop, { once: true });
    this.#cachesReady = this.#startCaches(this.#caches.signal);
    return this.#cachesReady;
  }

  hasSynced(): boolean {
    return this.#synced;
  }

  /**
   * No reconcile is running or waiting (checked in-process, exact for that instant). Events are
   * written by the process's EventRecorder: a test that measures "no writes in steady state"
   * waits for this and for the recorder's `idle` before its window starts.
   */
  idle(): boolean {
    return this.#queue.depth === 0 && this.#queue.inFlight === 0;
  }

  /**
   * The work loop until `signal` aborts; then intake stops, in-flight reconciles finish, and the
   * caches stop. Returns when all of that has settled. (Events: the EventRecorder's owner.)
   */
  async run(signal: AbortSignal): Promise<void> {
    if (this.#cachesReady === undefined) {
      throw new Error("Controller.run: call startCaches first");
    }
    const helpers = new AbortController();
    const loops: Promise<void>[] = [];
    try {
      await this.#cachesReady;
      if (signal.aborted || this.#caches.signal.aborted) return;
      this.#logger.info("controller started", {
        concurrency: this.#concurrency,
        trustDomain: this.#config.trustDomain,
        syncPeriodMs: this.#syncPeriodMs,
      });
      loops.push(this.#resync(helpers.signal));
      await this.#queue.run((key) => this.#handle(key, signal), {
        concurrency: this.#concurrency,
        signal,
      });
    } finally {
      helpers.abort();
      await Promise.all(loops);
      this.#caches.abort(new Error("controller stopped"));
      await this.#cachesReady.catch(() => {});
      await Promise.all([this.#bindingsDone, this.#served.join()]);
      this.#logger.info("controller stopped");
    }
  }

  async #startCaches(signal: AbortSignal): Promise<void> {
    await this.#served.start(signal);
    if (signal.aborted) return;
    this.#bindingsDone = this.#bindings.run(signal).catch((error) =>
      this.#informerError("inferenceidentitybindings", error)
    );
    await Promise.all([this.#bindings.waitForSync(signal), this.#served.settled()]);
    if (signal.aborted) return;
    this.#synced = true;
    this.#logger.info("caches synced", {
      bindings: this.#bindings.cache.size,
      served: this.#served.ids(),
    });
  }

  /**
   * Resync, each sync period (owned by `run`, ends with `signal`): every informer lists again —
   * its difference reaches the handlers, so an event the watch never delivered still enqueues its
   * binding — and every binding is enqueued.
   */
  async #resync(signal: AbortSignal): Promise<void> {
    const ticker = new Ticker(this.#clock, this.#syncPeriodMs, { jitter: 0.1 });
    while (await ticker.wait(signal)) {
      this.#logger.debug("resync: relisting and enqueueing every binding", {
        bindings: this.#bindings.cache.size,
      });
      this.#bindings.relist();
      this.#served.relist();
      this.#enqueueAll();
    }
  }

  async #handle(key: string, signal: AbortSignal) {
    this.#metrics.workqueueDepth.set({}, this.#queue.depth);
    let result;
    try {
      result = await this.#reconciler.reconcile(key, signal);
    } catch (error) {
      // Shutdown cut the reconcile short: nothing failed, and the next leader looks again
      // (a warning here would make every clean stop look like a fault).
      if (!signal.aborted) throw error;
      this.#logger.debug("reconcile interrupted by shutdown", { binding: key });
      return undefined;
    }
    this.#enqueue(result.enqueue);
    return result.next;
  }

  /** Handlers of an optional informer: pools/objectives enqueue referrers, managed its owner. */
  #watchOptional(id: OptionalId, informer: Informer<KubeObject>): void {
    if (id === "clusterspiffeids") {
      informer.addHandler(handlers((event) => this.#enqueue(managedEventKeys(event))));
      return;
    }
    const index = id.startsWith("pools.") ? "pool" : "objective";
    informer.addHandler(handlers((event) => {
      if (event.type === "update" && !specChanged(event.old, event.object)) return;
      const keys = inputEventKeys(event, (value) => this.#bindings.cache.byIndex(index, value));
      this.#exclusivity.inputsChanged(keys);
      this.#enqueue(keys);
    }));
  }

  #enqueue(keys: readonly string[]): void {
    for (const key of keys) this.#queue.add(key);
    if (keys.length > 0) this.#metrics.workqueueDepth.set({}, this.#queue.depth);
  }

  #enqueueAll(): void {
    this.#enqueue(this.#bindings.cache.keys());
  }

  #status(resource: string, status: InformerStatus): void {
    const synced = resource === "inferenceidentitybindings"
      ? this.#bindings.hasSynced()
      : this.#served?.running(resource as OptionalId)?.informer.hasSynced() ?? false;
    this.#health.status(resource, status, synced);
    if (status.state === "notServed" && resource === "inferenceidentitybindings") {
      this.#logger.error(
        "the InferenceIdentityBinding API is not served: install kleym's CRD (deploy.yaml)",
        { error: status.lastError },
      );
    }
  }

  #informerError(resource: string, error: unknown): void {
    if (this.#caches.signal.aborted) return;
    this.#health.failed(resource, error);
  }
}

/** Informer handlers that hand every add/update/delete to one function as a `WatchEvent`. */
function handlers<T>(on: (event: WatchEvent<T>) => void) {
  return {
    onAdd: (object: T) => on({ type: "add", object }),
    onUpdate: (old: T, object: T) => on({ type: "update", old, object }),
    onDelete: (object: T) => on({ type: "delete", object }),
  };
}
