/**
 * A tiny Prometheus registry: counters, gauges and histograms with typed label names, rendered in
 * the text exposition format 0.0.4 (`# HELP`, `# TYPE`, one sample per line, escaped label values).
 *
 * `Metrics` holds every metric kleym exports, as typed fields, so callers cannot misspell a metric
 * or a label name:
 *
 *   metrics.bindingOutcomes.inc({ condition: "Ready", reason: "Reconciled", mode: "PoolOnly" });
 *   metrics.reconcileDuration.observe({}, 0.012);
 *   metrics.setBindingState("ns/name", { condition, reason, mode }); // keeps the gauge exact
 */

import { compareCodeUnits } from "../apis/compare.ts";
import type { DropReason, EventRecorderObserver } from "../apis/events.ts";
import { VERSION } from "../apis/version.ts";

/** The content type of the text format this module writes. */
export const EXPOSITION_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

export type Labels<L extends string> = Readonly<Record<L, string>>;

type MetricType = "counter" | "gauge" | "histogram";

interface Collectable {
  readonly name: string;
  readonly help: string;
  readonly type: MetricType;
  /** Sample lines, without HELP/TYPE. */
  samples(): string[];
}

const NAME_RE = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_RE = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Label-value escaping of the text format: backslash, double quote, newline. */
export function escapeLabelValue(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

/** HELP-text escaping of the text format: backslash and newline. */
export function escapeHelp(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

/** A sample value as the text format spells it (`+Inf`, `-Inf`, `NaN`, shortest decimal). */
export function formatValue(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return String(v);
}

function labelText(names: readonly string[], values: readonly string[]): string {
  if (names.length === 0) return "";
  const parts = names.map((n, i) => `${n}="${escapeLabelValue(values[i])}"`);
  return `{${parts.join(",")}}`;
}

/** A labelled family of values; series are kept in first-use order and rendered sorted. */
abstract class Family<L extends string, S> implements Collectable {
  abstract readonly type: MetricType;
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly L[];
  protected readonly series = new Map<string, { values: string[]; state: S }>();

  constructor(name: string, help: string, labelNames: readonly L[]) {
    if (!NAME_RE.test(name)) throw new TypeError(`invalid metric name ${JSON.stringify(name)}`);
    for (const l of labelNames) {
      if (!LABEL_RE.test(l) || l.startsWith("__")) {
        throw new TypeError(`invalid label name ${JSON.stringify(l)} on ${name}`);
      }
    }
    this.name = name;
    this.help = help;
    this.labelNames = labelNames;
  }

  protected abstract initial(): S;

  protected state(labels: Labels<L>): S {
    const values = this.labelNames.map((n) => {
      const v = labels[n];
      if (typeof v !== "string") throw new TypeError(`${this.name}: label ${n} is missing`);
      return v;
    });
    const key = JSON.stringify(values);
    let s = this.series.get(key);
    if (!s) {
      s = { values, state: this.initial() };
      this.series.set(key, s);
    }
    return s.state;
  }

  /** Creates the series at its initial value (so it is exported before the first change). */
  init(labels: Labels<L>): void {
    this.state(labels);
  }

  protected sorted(): { values: string[]; state: S }[] {
    return [...this.series.entries()].sort(([a], [b]) => compareCodeUnits(a, b)).map((
      [, s],
    ) => s);
  }

  abstract samples(): string[];
}

export class Counter<L extends string = never> extends Family<L, { v: number }> {
  readonly type = "counter" as const;

  protected initial(): { v: number } {
    return { v: 0 };
  }

  /** Adds `by` (default 1); counters only go up. */
  inc(labels: Labels<L>, by = 1): void {
    if (!(by >= 0)) throw new RangeError(`${this.name}: counters cannot decrease (got ${by})`);
    this.state(labels).v += by;
  }

  get(labels: Labels<L>): number {
    return this.state(labels).v;
  }

  samples(): string[] {
    return this.sorted().map((s) =>
      `${this.name}${labelText(this.labelNames, s.values)} ${formatValue(s.state.v)}`
    );
  }
}

export class Gauge<L extends string = never> extends Family<L, { v: number }> {
  readonly type = "gauge" as const;

  protected initial(): { v: number } {
    return { v: 0 };
  }

  set(labels: Labels<L>, v: number): void {
    this.state(labels).v = v;
  }

  inc(labels: Labels<L>, by = 1): void {
    this.state(labels).v += by;
  }

  dec(labels: Labels<L>, by = 1): void {
    this.state(labels).v -= by;
  }

  get(labels: Labels<L>): number {
    return this.state(labels).v;
  }

  samples(): string[] {
    return this.sorted().map((s) =>
      `${this.name}${labelText(this.labelNames, s.values)} ${formatValue(s.state.v)}`
    );
  }
}

interface HistogramState {
  /** Non-cumulative count per bucket (index = bucket); cumulated when rendered. */
  counts: number[];
  sum: number;
  count: number;
}

export const DEFAULT_BUCKETS: readonly number[] = [
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
];

export class Histogram<L extends string = never> extends Family<L, HistogramState> {
  readonly type = "histogram" as const;
  readonly buckets: readonly number[];

  constructor(
    name: string,
    help: string,
    labelNames: readonly L[],
    buckets: readonly number[] = DEFAULT_BUCKETS,
  ) {
    super(name, help, labelNames);
    if ((labelNames as readonly string[]).includes("le")) {
      throw new TypeError(`${name}: "le" is reserved for histogram buckets`);
    }
    for (let i = 0; i < buckets.length; i++) {
      if (!Number.isFinite(buckets[i]) || (i > 0 && buckets[i] <= buckets[i - 1])) {
        throw new TypeError(`${name}: buckets must be finite and strictly increasing`);
      }
    }
    this.buckets = buckets;
  }

  protected initial(): HistogramState {
    return { counts: this.buckets.map(() => 0), sum: 0, count: 0 };
  }

  observe(labels: Labels<L>, v: number): void {
    const s = this.state(labels);
    const i = this.buckets.findIndex((b) => v <= b);
    if (i >= 0) s.counts[i]++;
    s.sum += v;
    s.count++;
  }

  /** Starts a timer; calling the result observes the seconds elapsed since. */
  startTimer(labels: Labels<L>, now: () => number = performance.now.bind(performance)) {
    const start = now();
    return (): number => {
      const seconds = (now() - start) / 1000;
      this.observe(labels, seconds);
      return seconds;
    };
  }

  snapshot(labels: Labels<L>): { count: number; sum: number } {
    const s = this.state(labels);
    return { count: s.count, sum: s.sum };
  }

  samples(): string[] {
    const lines: string[] = [];
    const names = [...this.labelNames, "le"];
    for (const s of this.sorted()) {
      let cumulative = 0;
      this.buckets.forEach((b, i) => {
        cumulative += s.state.counts[i];
        lines.push(
          `${this.name}_bucket${labelText(names, [...s.values, formatValue(b)])} ${cumulative}`,
        );
      });
      lines.push(`${this.name}_bucket${labelText(names, [...s.values, "+Inf"])} ${s.state.count}`);
      const plain = labelText(this.labelNames, s.values);
      lines.push(`${this.name}_sum${plain} ${formatValue(s.state.sum)}`);
      lines.push(`${this.name}_count${plain} ${s.state.count}`);
    }
    return lines;
  }
}

/**
 * A single unlabelled sample whose value is read at scrape time (process metrics). A reader that
 * returns `undefined` (its source is not loaded yet) exports no sample line.
 */
export class Sampled implements Collectable {
  readonly name: string;
  readonly help: string;
  readonly type: "counter" | "gauge";
  readonly #read: () => number | undefined;

  constructor(
    name: string,
    help: string,
    type: "counter" | "gauge",
    read: () => number | undefined,
  ) {
    if (!NAME_RE.test(name)) throw new TypeError(`invalid metric name ${JSON.stringify(name)}`);
    this.name = name;
    this.help = help;
    this.type = type;
    this.#read = read;
  }

  samples(): string[] {
    const v = this.#read();
    return v === undefined ? [] : [`${this.name} ${formatValue(v)}`];
  }
}

/**
 * CPU time comes from `node:process` (Deno has no API of its own for it). Importing any `node:`
 * module sets up Deno's Node compatibility layer (+5.5 MiB RSS in a bare `deno eval`, issue 15),
 * so it is loaded on the first scrape, not at start: a process nobody scrapes never pays for it.
 */
let cpuUsage: (() => { user: number; system: number }) | undefined;
async function loadCpuUsage(): Promise<void> {
  if (cpuUsage) return;
  const process = (await import("node:process")).default;
  cpuUsage = () => process.cpuUsage();
}

export class Registry {
  readonly #metrics = new Map<string, Collectable>();

  register<M extends Collectable>(m: M): M {
    if (this.#metrics.has(m.name)) throw new TypeError(`metric ${m.name} registered twice`);
    this.#metrics.set(m.name, m);
    return m;
  }

  /** The whole registry in text format 0.0.4, metrics in registration order. */
  expose(): string {
    const out: string[] = [];
    for (const m of this.#metrics.values()) {
      out.push(`# HELP ${m.name} ${escapeHelp(m.help)}`);
      out.push(`# TYPE ${m.name} ${m.type}`);
      out.push(...m.samples());
    }
    return out.length === 0 ? "" : `${out.join("\n")}\n`;
  }
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
