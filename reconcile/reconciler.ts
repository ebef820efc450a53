/**
 * The one-key reconciler (docs/contract.md#rendering to docs/contract.md#lifecycle): what one
 * reconcile of `<ns>/<name>` does, in three cases.
 *
 * - live: render once (resolution through the caches, resolve.ts), look up the holder of the
 *   desired name, hand the rendering to the exclusivity engine for the binding's verdict
 *   (exclusivity.ts; it enqueues the peers a change affects), `planReconcile`, and
 *   apply the plan unless it is a no-op. A binding without kleym's finalizer gets only that
 *   (docs/contract.md#lifecycle) and is reconciled again at once (the plan stops there). The plan
 *   carries every decision (finalizer, writes, events, retry class, "name taken"); apply returns
 *   what it did as data, and every write's answer goes into the read-your-writes views
 *   (apis/mutation_cache.ts). A write the API server refuses for good is reported on the binding
 *   (fail_closed.ts, docs/contract.md#fail-closed) and retried with a per-key backoff.
 * - deleting (deletionTimestamp): leave the exclusivity rules at once (peers look again), then the deletion
 *   flow (finalize.ts); requeue after 2 s while objects remain.
 * - gone: forget the binding (metrics), let former peers look again, delete any managed
 *   ClusterSPIFFEID still labelled for it (an orphan) — only from synced caches, so a not-served
 *   blip (which empties a cache) can never delete everything.
 *
 * Reads: the bindings' and the ClusterSPIFFEIDs' read-your-writes views and the pool/objective
 * caches only, except (a) the finalizer's confirmation LIST, (b) a GET of the desired
 * ClusterSPIFFEID name while it is known to be held by an object kleym does not watch (a create
 * answered AlreadyExists, or the plan found a foreign holder); a 404 ends that, and (c) one LIST
 * of every ClusterSPIFFEID when the plan writes a new non-zero `entriesMasked` figure and asks
 * who masks the entries (`lookupMasking`, spire.ts); the plan is then made again with the answer.
 *
 * Result: what the work queue does with the key (`next`) and other keys to enqueue (`enqueue`:
 * the key itself after adding the finalizer; peers are enqueued by the engine's `onAffected`). Write conflicts and unsynced caches come back as `{requeue: true}` (per-key
 * backoff); other errors are thrown (the queue logs and backs off).
 *
 * Logs one `debug` line per reconcile ("reconcile": binding, outcome, writes, durationMs), no-ops
 * included; an `info` line for each reconcile that wrote. Metrics:
 * `kleym_reconcile_duration_seconds`, `kleym_identity_binding_outcomes_total` (+1 per reconcile that wrote a terminal state
 * transition), `kleym_identity_bindings` (current outcome), `kleym_workqueue_retries_total`.
 */
import type { Clock } from "../apis/clock.ts";
import { ApiError } from "../apis/errors.ts";
import type { MutationCache } from "../apis/mutation_cache.ts";
import type { HandlerResult } from "../apis/queue.ts";
import type { KubeObject, ResourceClient } from "../apis/rest.ts";
import type { Informer } from "../apis/watch.ts";
import type { InferenceIdentityBinding } from "../generated/kleym.sonda.red/v1alpha1.ts";
import type { ClusterSPIFFEID } from "../generated/spire.spiffe.io/v1alpha1.ts";
import type { Logger } from "../observe/log.ts";
import type { Metrics } from "../observe/metrics.ts";
import { type ApplyResult, deleteClusterSPIFFEID } from "./apply.ts";
import { participant } from "./collision.ts";
import { ApplyConflictError } from "./errors.ts";
import type { EventSink } from "../apis/events.ts";
import { CONFIRM_RETRY_MS, finalizeBinding, hasFinalizer } from "./finalize.ts";
import type { ExclusivityEngine } from "./exclusivity.ts";
import {
  type IdentityOverlapMode,
  isNoop,
  type PlanInput,
  planReconcile,
  writesTransition,
} from "./plan.ts";
import { renderBinding } from "./render.ts";
import type { MaskingLookup } from "./spire.ts";
import {
  applyFailClosed,
  RefusalBackoff,
  reportBindingRefused,
  reportFinalizeRefused,
} from "./fail_closed.ts";
import { CacheNotReadyError, type ResolveSources, resolveSpec } from "./resolve.ts";
import type { ObservedClusterSPIFFEID, RenderConfig } from "./types.ts";

/** The API calls a reconcile may make (a `ResourceClient` each; narrow so tests can stand in). */
export interface ReconcileClients {
  readonly bindings: Pick<ResourceClient<InferenceIdentityBinding>, "patch" | "updateStatus">;
  readonly clusterSPIFFEIDs: Pick<
    ResourceClient<ClusterSPIFFEID>,
    "get" | "create" | "update" | "delete" | "listAll"
  >;
}

/** The served ClusterSPIFFEID informer and its view (served.ts), or undefined when not served. */
export interface ManagedObjects {
  readonly informer: Pick<Informer<KubeObject>, "hasSynced">;
  readonly view: MutationCache<KubeObject>;
}

export interface ReconcilerOptions {
  readonly config: RenderConfig;
  readonly bindings: MutationCache<InferenceIdentityBinding>;
  /** The bindings informer has synced (only then is "gone" trustworthy). */
  readonly bindingsSynced: () => boolean;
  readonly managed: () => ManagedObjects | undefined;
  readonly sources: () => ResolveSources;
  readonly exclusivity: ExclusivityEngine;
  /** `--identity-overlap` (docs/contract.md#overlap); default warn. */
  readonly identityOverlap?: IdentityOverlapMode;
  readonly clients: ReconcileClients;
  readonly events: EventSink;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly clock: Clock;
  /** Requeue period of `timer`-class failures (the retry timer of docs/contract.md#lifecycle). */
  readonly crdRetryMs: number;
  /** Figures-only status writes at most once per this many ms per binding (spire.ts). */
  readonly spireStatsIntervalMs?: number;
}

export interface ReconcileResult {
  readonly next: HandlerResult;
  /** Other keys to enqueue (the key itself once its finalizer is on). */
  readonly enqueue: readonly string[];
}

/** What the per-reconcile debug line reports. */
interface Report {
  outcome: string;
  writes: number;
  error?: unknown;
}

export class Reconciler {
  readonly #opts: ReconcilerOptions;
  /**
   * Binding key -> a desired ClusterSPIFFEID name held by an object kleym does not watch. Only
   * these are looked up with a GET; every other name missing from the managed view is created
   * optimistically, and the API server's AlreadyExists reveals a foreign holder
   * (docs/contract.md#ownership: never overwritten — a create cannot overwrite). Saves one GET per
   * new binding.
   */
  readonly #suspect = new Map<string, string>();
  /** Per binding, the backoff while its writes are refused (fail_closed.ts). */
  readonly #refused: RefusalBackoff;

  constructor(opts: ReconcilerOptions) {
    this.#opts = opts;
    this.#refused = new RefusalBackoff(opts.crdRetryMs);
  }

  async reconcile(key: string, signal: AbortSignal): Promise<ReconcileResult> {
    const started = performance.now();
    const stopTimer = this.#opts.metrics.reconcileDuration.startTimer({});
    const report: Report = { outcome: "Error", writes: 0 };
    try {
      return await this.#reconcile(key, signal, report);
    } catch (error) {
      if (error instanceof CacheNotReadyError || error instanceof ApplyConflictError) {
        report.outcome = "Retry";
        report.error = error;
        this.#opts.metrics.workqueueRetries.inc({});
        return { next: { requeue: true }, enqueue: [] };
      }
      report.error = error;
      throw error;
    } finally {
      stopTimer();
      this.#opts.logger.debug("reconcile", {
        binding: key,
        outcome: report.outcome,
        writes: report.writes,
        durationMs: Math.round((performance.now() - started) * 10) / 10,
        ...(report.error === undefined ? {} : { error: report.error }),
      });
    }
  }

  #reconcile(key: string, signal: AbortSignal, report: Report): Promise<ReconcileResult> {
    const binding = this.#opts.bindings.get(key);
    if (binding === undefined) return this.#gone(key, signal, report);
    if (binding.metadata.deletionTimestamp) return this.#deleting(key, binding, signal, report);
    return this.#live(key, binding, signal, report);
  }

  async #live(
    key: string,
    binding: InferenceIdentityBinding,
    signal: AbortSignal,
    report: Report,
  ): Promise<ReconcileResult> {
    const { config, metrics } = this.#opts;
    const namespace = binding.metadata.namespace ?? "";
    const managed = this.#opts.managed();
    if (managed !== undefined && !managed.informer.hasSynced()) {
      throw new CacheNotReadyError("spire.spiffe.io/v1alpha1", "ClusterSPIFFEID");
    }
    const sources = this.#opts.sources();
    const rendered = renderBinding(
      binding,
      (spec) => resolveSpec(spec, namespace, sources),
      config,
    );
    // Before any await: the verdict is made from the same caches as the rendering.
    const exclusivity = this.#opts.exclusivity.observe(key, participant(binding, rendered));
    const nameHolder = rendered.ok && managed !== undefined
      ? await this.#nameHolder(key, rendered.identity.name, managed.view, signal)
      : undefined;
    const input: PlanInput = {
      binding,
      rendered,
      clusterSPIFFEIDServed: managed !== undefined,
      config,
      managed: managed === undefined ? [] : managed.view.byIndex("owner", key),
      nameHolder,
      exclusivity,
      identityOverlap: this.#opts.identityOverlap,
      overlapAnnounced: this.#opts.exclusivity.announced(key),
      now: new Date(this.#opts.clock.now()),
      spireStatsIntervalMs: this.#opts.spireStatsIntervalMs,
    };
    let plan = planReconcile(input);
    if (plan.lookupMasking) {
      plan = planReconcile({ ...input, masking: await this.#listForMasking(signal) });
    }
    report.outcome = `${plan.outcome.condition}/${plan.outcome.reason}`;

    if (!isNoop(plan)) {
      const log = this.#opts.logger.child({ binding: key });
      const ctx = { ...this.#opts.clients, events: this.#opts.events, logger: log, signal };
      const done = await applyFailClosed(plan, binding, ctx, {
        replan: (current, refusals) =>
          planReconcile({
            ...input,
            binding: current,
            managed: managed === undefined ? [] : managed.view.byIndex("owner", key),
            refusals,
          }),
        record: (before, result) => this.#recordWrites(before, result, managed?.view),
      });
      const result = done.result;
      plan = done.plan;
      report.writes = done.writes;
      report.outcome = `${plan.outcome.condition}/${plan.outcome.reason}`;
      if (result.nameTaken !== undefined) this.#suspect.set(key, result.nameTaken);
      if (result.refused !== undefined) {
        reportBindingRefused(result.binding, result.refused, this.#opts.events, log);
        metrics.workqueueRetries.inc({});
        return { next: { requeueAfterMs: this.#refused.next(key) }, enqueue: [] };
      }
      if (result.failure !== undefined) throw result.failure;
      if (writesTransition(plan)) {
        metrics.bindingOutcomes.inc(plan.outcome);
        log.info("reconciled", { ...plan.outcome, writes: done.writes });
      }
    }
    if (plan.addFinalizer) {
      // The finalizer is on (docs/contract.md#lifecycle); the rest is planned by the next
      // reconcile, right away.
      report.outcome = "Finalizer";
      return { next: undefined, enqueue: [key] };
    }
    if (plan.nameTaken !== undefined) this.#suspect.set(key, plan.nameTaken);
    metrics.setBindingState(key, plan.outcome);
    this.#opts.exclusivity.announce(key, plan.overlapNotice);
    const next = plan.retry === "timer"
      ? { requeueAfterMs: this.#opts.crdRetryMs }
      : plan.retry === "backoff"
      ? { requeueAfterMs: this.#refused.next(key) }
      : plan.requeueAfterMs !== undefined
      ? { requeueAfterMs: plan.requeueAfterMs }
      : undefined;
    if (plan.retry !== "backoff") this.#refused.clear(key);
    return { next, enqueue: [] };
  }

  /**
   * The binding has a deletionTimestamp: remove its output, then the finalizer
   * (docs/contract.md#lifecycle).
   */
  async #deleting(
    key: string,
    binding: InferenceIdentityBinding,
    signal: AbortSignal,
    report: Report,
  ): Promise<ReconcileResult> {
    // A binding being deleted no longer takes part in the rules: its peers look again now.
    this.#opts.exclusivity.observe(key, undefined);
    const enqueue: string[] = [];
    const result = await finalizeBinding(binding, {
      ...this.#opts.clients,
      logger: this.#opts.logger,
      signal,
    });
    report.writes = result.deleted;
    if (!result.done && result.refused !== undefined) {
      report.outcome = "Deleting/Refused";
      reportFinalizeRefused(binding, result.refused, this.#opts.events, this.#opts.logger);
      return { next: { requeueAfterMs: this.#refused.next(key) }, enqueue };
    }
    if (!result.done) {
      report.outcome = "Deleting/Waiting";
      this.#opts.logger.info(
        "waiting for managed ClusterSPIFFEIDs to go before removing the finalizer",
        { binding: key, remaining: result.remaining },
      );
      return { next: { requeueAfterMs: CONFIRM_RETRY_MS }, enqueue };
    }
    this.#refused.clear(key);
    report.outcome = "Deleting/Finalized";
    if (hasFinalizer(binding)) report.writes++; // the finalizer's removal
    this.#opts.logger.info("binding finalized", { binding: key, deleted: result.deleted });
    this.#opts.metrics.setBindingState(key, undefined);
    return { next: undefined, enqueue };
  }

  /** The binding is gone: forget it, let former peers recover, delete orphaned output. */
  async #gone(key: string, signal: AbortSignal, report: Report): Promise<ReconcileResult> {
    report.outcome = "Gone";
    this.#opts.metrics.setBindingState(key, undefined);
    this.#suspect.delete(key);
    this.#refused.clear(key);
    this.#opts.exclusivity.observe(key, undefined);
    const enqueue: string[] = [];
    const managed = this.#opts.managed();
    if (!this.#opts.bindingsSynced() || !managed?.informer.hasSynced()) {
      return { next: undefined, enqueue };
    }
    const ctx = { ...this.#opts.clients, logger: this.#opts.logger, signal };
    for (const orphan of managed.view.byIndex("owner", key)) {
      const name = orphan.metadata.name;
      if (orphan.metadata.deletionTimestamp || !name) continue;
      try {
        const outcome = await deleteClusterSPIFFEID({ name, uid: orphan.metadata.uid }, ctx);
        if (!outcome.deleted) continue;
        report.writes++;
        managed.view.recordDeleteAnswer(name, outcome.answer);
        this.#opts.logger.info("deleted orphaned ClusterSPIFFEID (its binding is gone)", {
          binding: key,
          clusterSPIFFEID: name,
        });
      } catch (error) {
        if (!(error instanceof ApplyConflictError)) throw error;
      }
    }
    return { next: undefined, enqueue };
  }

  /** The object holding `name`: the managed view, else a GET while the name is known held. */
  async #nameHolder(
    key: string,
    name: string,
    view: MutationCache<KubeObject>,
    signal: AbortSignal,
  ): Promise<ObservedClusterSPIFFEID | undefined> {
    const seen = view.get(name);
    if (seen !== undefined || view.pending(name)) return seen;
    if (this.#suspect.get(key) !== name) return undefined;
    try {
      return await this.#opts.clients.clusterSPIFFEIDs.get(name, { signal });
    } catch (error) {
      if (error instanceof ApiError && error.isNotFound()) {
        this.#suspect.delete(key);
        return undefined;
      }
      throw error;
    }
  }

  /**
   * Every ClusterSPIFFEID, for the masked-entries event (spire.ts `maskingHolders`): uncached —
   * the informer holds only kleym's objects — and made only when a new masked figure is written.
   * A failure only makes the event less specific.
   */
  async #listForMasking(signal: AbortSignal): Promise<MaskingLookup> {
    try {
      const list = await this.#opts.clients.clusterSPIFFEIDs.listAll({ signal });
      return { objects: list.items };
    } catch (error) {
      if (signal.aborted) throw error;
      return { error: error instanceof Error ? error.message : String(error) };
    }
  }

  /** Every write's answer goes into the views, so the next reconcile plans from it. */
  #recordWrites(
    before: InferenceIdentityBinding,
    result: ApplyResult,
    view: MutationCache<KubeObject> | undefined,
  ): void {
    if (result.binding !== before) this.#opts.bindings.recordWrite(result.binding);
    if (view === undefined) return;
    for (const deletion of result.deleted) view.recordDeleteAnswer(deletion.name, deletion.answer);
    if (result.written !== undefined) view.recordWrite(result.written);
  }
}
