/**
 * Every metric kleym exports (docs/contract.md#metrics), on the registry of observe/prometheus.ts.
 * `Metrics` holds them as typed fields, so callers cannot misspell a metric or a label name:
 *
 *   metrics.bindingOutcomes.inc({ condition: "Ready", reason: "Reconciled", mode: "PoolOnly" });
 *   metrics.reconcileDuration.observe({}, 0.012);
 *   metrics.setBindingState("ns/name", { condition, reason, mode }); // keeps the gauge exact
 */

import type { DropReason, EventRecorderObserver } from "../apis/events.ts";
import { VERSION } from "../apis/version.ts";
import { Counter, Gauge, Histogram, type Labels, Registry, Sampled } from "./prometheus.ts";

/**
 * CPU time comes from `node:process` (Deno has no API of its own for it). Importing any `node:`
 * module sets up Deno's Node compatibility layer (+5.5 MiB RSS in a bare `deno eval`;
 * docs/benchmarks.md "Memory"), so it is loaded on the first scrape, not at start: a process nobody
 * scrapes never pays for it.
 */
let cpuUsage: (() => { user: number; system: number }) | undefined;
async function loadCpuUsage(): Promise<void> {
  if (cpuUsage) return;
  const process = (await import("node:process")).default;
  cpuUsage = () => process.cpuUsage();
}

/** The labels of both binding metrics: which condition decided the outcome, why, in which mode. */
export type BindingLabel = "condition" | "reason" | "mode";
export type BindingOutcome = Labels<BindingLabel>;

/** Every metric kleym exports. */
export class Metrics {
  readonly registry = new Registry();

  readonly bindingOutcomes: Counter<BindingLabel> = this.registry.register(
    new Counter(
      "kleym_identity_binding_outcomes_total",
      "Terminal reconcile outcomes of InferenceIdentityBindings, by deciding condition, reason and mode.",
      ["condition", "reason", "mode"],
    ),
  );
  readonly bindings: Gauge<BindingLabel> = this.registry.register(
    new Gauge(
      "kleym_identity_bindings",
      "Current InferenceIdentityBindings by the condition, reason and mode of their last outcome.",
      ["condition", "reason", "mode"],
    ),
  );
  readonly identityOverlaps: Gauge = this.registry.register(
    new Gauge(
      "kleym_identity_overlaps",
      "InferenceIdentityBindings whose selection overlaps another binding's with a different SPIFFE ID (docs/contract.md#overlap).",
      [],
    ),
  );
  readonly reconcileDuration: Histogram = this.registry.register(
    new Histogram(
      "kleym_reconcile_duration_seconds",
      "Duration of one reconcile of an InferenceIdentityBinding, in seconds.",
      [],
    ),
  );
  readonly workqueueDepth: Gauge = this.registry.register(
    new Gauge("kleym_workqueue_depth", "Keys waiting in the work queue.", []),
  );
  readonly workqueueInFlight: Gauge = this.registry.register(
    new Gauge(
      "kleym_workqueue_in_flight",
      "Reconciles running now (keys taken from the work queue whose handler has not finished).",
      [],
    ),
  );
  readonly workqueueRetries: Counter = this.registry.register(
    new Counter("kleym_workqueue_retries_total", "Keys requeued with backoff after a failure.", []),
  );
  readonly apiRequests: Counter<"verb" | "resource" | "code"> = this.registry.register(
    new Counter(
      "kleym_api_requests_total",
      'Requests to the Kubernetes API server by verb, resource and HTTP status code ("error" when there was no answer).',
      ["verb", "resource", "code"],
    ),
  );
  readonly metricsAuth: Counter<"result"> = this.registry.register(
    new Counter(
      "kleym_metrics_auth_total",
      'Decisions on secure /metrics requests: "allowed", "unauthenticated", "forbidden", "throttled" (429, too many reviews at once), "unavailable" (the review failed).',
      ["result"],
    ),
  );
  readonly informerSynced: Gauge<"resource"> = this.registry.register(
    new Gauge(
      "kleym_informer_synced",
      "1 while the resource's informer cache is synced, else 0 (reconcile/informer_health.ts).",
      ["resource"],
    ),
  );
  readonly watchRestarts: Counter<"resource"> = this.registry.register(
    new Counter(
      "kleym_watch_restarts_total",
      "Watch streams re-opened after they ended or failed, by resource.",
      ["resource"],
    ),
  );
  readonly leader: Gauge = this.registry.register(
    new Gauge(
      "kleym_leader",
      "1 while this replica holds the leader lease (or runs without leader election), else 0.",
      [],
    ),
  );
  // ---- event recorder (apis/events.ts) ----
  readonly eventsRecorded: Counter<"type"> = this.registry.register(
    new Counter("kleym_events_recorded_total", "Events handed to the event recorder, by type.", [
      "type",
    ]),
  );
  readonly eventsAggregated: Counter = this.registry.register(
    new Counter(
      "kleym_events_aggregated_total",
      "Recorded events folded into an existing Event's series instead of a new Event.",
      [],
    ),
  );
  readonly eventsWritten: Counter<"op"> = this.registry.register(
    new Counter(
      "kleym_events_written_total",
      'Event writes that succeeded: "create" (a new Event) or "patch" (a series update).',
      ["op"],
    ),
  );
  readonly eventsDropped: Counter<"reason"> = this.registry.register(
    new Counter(
      "kleym_events_dropped_total",
      "Events not written: buffer_full, spam (per-object filter), write_failed, shutdown.",
      ["reason"],
    ),
  );
  readonly eventsBuffered: Gauge = this.registry.register(
    new Gauge("kleym_events_buffered", "Event writes waiting in the recorder's buffer.", []),
  );
  // ---- process (read at scrape time) ----
  readonly buildInfo: Gauge<"version"> = this.registry.register(
    new Gauge("kleym_build_info", "Always 1; the version label is kleym's release.", ["version"]),
  );
  readonly processRss: Sampled = this.registry.register(
    new Sampled(
      "process_resident_memory_bytes",
      "Resident memory size in bytes.",
      "gauge",
      () => Deno.memoryUsage().rss,
    ),
  );
  readonly processCpu: Sampled = this.registry.register(
    new Sampled(
      "process_cpu_seconds_total",
      "Total user and system CPU time spent in seconds.",
      "counter",
      () => {
        const u = cpuUsage?.();
        return u && (u.user + u.system) / 1e6;
      },
    ),
  );
  readonly processStart: Sampled = this.registry.register(
    new Sampled(
      "process_start_time_seconds",
      "Start time of the process since the Unix epoch in seconds.",
      "gauge",
      () => Math.floor(performance.timeOrigin) / 1000,
    ),
  );
  readonly heapUsed: Sampled = this.registry.register(
    new Sampled(
      "deno_heap_used_bytes",
      "V8 heap in use (live objects and garbage not yet collected), in bytes.",
      "gauge",
      () => Deno.memoryUsage().heapUsed,
    ),
  );
  readonly heapTotal: Sampled = this.registry.register(
    new Sampled(
      "deno_heap_total_bytes",
      "V8 heap reserved, in bytes.",
      "gauge",
      () => Deno.memoryUsage().heapTotal,
    ),
  );

  readonly #bindingStates = new Map<string, BindingOutcome>();

  constructor() {
    // Unlabelled series exist from the start: a scrape before the first change sees 0, not nothing.
    for (
      const m of [
        this.reconcileDuration,
        this.workqueueDepth,
        this.workqueueInFlight,
        this.workqueueRetries,
        this.leader,
        this.eventsAggregated,
        this.eventsBuffered,
      ]
    ) {
      m.init({});
    }
    this.buildInfo.set({ version: VERSION }, 1);
  }

  /** The event recorder's counters, fed into the metrics above. */
  eventObserver(): EventRecorderObserver {
    return {
      recorded: (type) => this.eventsRecorded.inc({ type }),
      aggregated: () => this.eventsAggregated.inc({}),
      written: (op) => this.eventsWritten.inc({ op }),
      dropped: (reason: DropReason) => this.eventsDropped.inc({ reason }),
      buffered: (n) => this.eventsBuffered.set({}, n),
    };
  }

  /**
   * Records the current outcome of binding `key` (`namespace/name`) in the `kleym_identity_bindings`
   * gauge, moving it out of its previous series; `undefined` removes it (binding deleted). Calling
   * it again with the same outcome changes nothing.
   */
  setBindingState(key: string, outcome: BindingOutcome | undefined): void {
    const prev = this.#bindingStates.get(key);
    if (prev && outcome && sameOutcome(prev, outcome)) return;
    if (prev) this.bindings.dec(prev);
    if (outcome) {
      const copy = { condition: outcome.condition, reason: outcome.reason, mode: outcome.mode };
      this.bindings.inc(copy);
      this.#bindingStates.set(key, copy);
    } else {
      this.#bindingStates.delete(key);
    }
  }

  /** Every metric but `process_cpu_seconds_total` until the first `scrape()` loads its source. */
  expose(): string {
    return this.registry.expose();
  }

  /** Every metric, for `/metrics`. */
  async scrape(): Promise<string> {
    await loadCpuUsage();
    return this.registry.expose();
  }
}

function sameOutcome(a: BindingOutcome, b: BindingOutcome): boolean {
  return a.condition === b.condition && a.reason === b.reason && a.mode === b.mode;
}
