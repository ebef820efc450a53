/**
 * A tiny Prometheus registry: counters, gauges and histograms with typed label names, rendered in
 * the text exposition format 0.0.4 (`# HELP`, `# TYPE`, one sample per line, escaped label values).
 * Knows no metric of kleym's: that catalogue is observe/metrics.ts.
 */

import { compareCodeUnits } from "../apis/compare.ts";

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
