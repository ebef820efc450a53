/**
 * `EventRecorder`: events.k8s.io/v1 Events written off the critical path, with client-go's
 * recorder semantics: never awaited by a reconcile, repeats folded into the Event's series, spam
 * dropped per object (docs/contract.md#events).
 *
 * - `record(regarding, type, reason, note)` never blocks and never throws: it decides at once what
 *   the event becomes and returns; the writes happen in `run(signal)`, the recorder's own loop.
 * - Aggregation: events are "similar" when they regard the same object (uid, else kind/namespace/
 *   name) with the same type, reason and note (client-go's events/v1 key is action, reason,
 *   controller and regarding; the note is added so that a different message is never folded into
 *   an older one's text). A similar event within `seriesWindowMs` (client-go: 6 min) of the last
 *   observation is not a new object: the existing Event's `series.count` and
 *   `series.lastObservedTime` are updated (one merge patch; repeats that arrive while that patch
 *   is still waiting ride on it). An Event deleted meanwhile (TTL) is created again (404 ->
 *   create, as client-go does).
 * - Spam filter: every write for one object (create or series patch) takes a token from that
 *   object's bucket (client-go's defaults: burst 25, one token per 5 min). No token: the event is
 *   dropped and counted (`spam`).
 * - Own budget: writes are paced by the recorder's token bucket (default qps 25, burst 100),
 *   separate from the reconciler's client limit, so events never delay the writes that matter.
 * - Bounded buffer: at most `bufferSize` writes wait. A record that would need one more is
 *   dropped and counted (`buffer_full`) — the recorder never grows without bound or blocks.
 * - Failures are counted (`write_failed`) and reported through `onError`; the transport below
 *   already retried what is retriable (429 with Retry-After, 5xx).
 * - Shutdown: `flush(deadlineMs)` waits until everything buffered is written, or the deadline
 *   passes; what is left is counted (`shutdown`). After `flush` every `record` is dropped
 *   (`shutdown`). Abort `run`'s signal after `flush`.
 *
 * Memory: per similar-event key only the Event's name, count, times and note are kept, and keys
 * whose series window has passed are forgotten (at most `maxSeries` are kept; the oldest go
 * first), so a steady cluster holds nothing here.
 *
 * The writer is injected (`EventWriter`, apis/event_writer.ts): `apiEventWriter(rest)` in the
 * operator, an in-memory one in unit tests.
 */
import { type Clock, delay, realClock } from "./clock.ts";
import { ApiError } from "./errors.ts";
import { eventObject, type EventWriter, microTime, namespaceOf } from "./event_writer.ts";
import { KeyedBuckets, TokenBucket } from "./ratelimit.ts";

/** The object an event is about (the agreed interface; see docs/architecture.md). */
export interface EventRegarding {
  apiVersion: string;
  kind: string;
  name: string;
  namespace?: string;
  uid?: string;
}

/** What the reconciler hands planned events to. */
export interface EventSink {
  record(regarding: EventRegarding, type: "Normal" | "Warning", reason: string, note: string): void;
}

export type DropReason = "buffer_full" | "spam" | "write_failed" | "shutdown";

/** Counters the recorder reports (the operator feeds them into /metrics). */
export interface EventRecorderObserver {
  recorded?(type: "Normal" | "Warning"): void;
  aggregated?(): void;
  written?(op: "create" | "patch"): void;
  dropped?(reason: DropReason): void;
  buffered?(n: number): void;
}

export interface EventRecorderOptions {
  writer: EventWriter;
  /** `reportingController`, e.g. "kleym.sonda.red/kleym". */
  reportingController: string;
  /** `reportingInstance` (the operator's identity). */
  reportingInstance: string;
  /** `action` of every event. Default "Reconcile". */
  action?: string;
  clock?: Clock;
  /** The recorder's own write budget. Defaults: qps 25, burst 100. */
  qps?: number;
  burst?: number;
  /** Writes allowed to wait. Default 4096. */
  bufferSize?: number;
  /** Per-object spam filter. Defaults (client-go): burst 25, one token every 300 000 ms. */
  spamBurst?: number;
  spamRefillMs?: number;
  /** A similar event within this long of the last one joins its series. Default 6 min. */
  seriesWindowMs?: number;
  /** Similar-event keys kept at most. Default 8192. */
  maxSeries?: number;
  observer?: EventRecorderObserver;
  onError?: (error: unknown, event: { regarding: EventRegarding; reason: string }) => void;
}

export const EVENT_QPS = 25;
export const EVENT_BURST = 100;
export const EVENT_BUFFER = 4096;

/** One similar-event key's state. */
interface Series {
  readonly key: string;
  readonly regarding: EventRegarding;
  readonly type: "Normal" | "Warning";
  readonly reason: string;
  readonly note: string;
  /** Event name once created; undefined while the create waits. */
  name?: string;
  firstMs: number;
  count: number;
  lastMs: number;
  /** A write for this key is in the buffer (or being made). */
  pending: boolean;
}

export class EventRecorder implements EventSink {
  readonly #opts: EventRecorderOptions;
  readonly #clock: Clock;
  readonly #budget: TokenBucket;
  readonly #bufferSize: number;
  readonly #windowMs: number;
  readonly #maxSeries: number;
  /** Insertion order = last-observed order (re-inserted on every observation). */
  readonly #series = new Map<string, Series>();
  /** Per-object spam filter (apis/ratelimit.ts), buckets forgotten once full again. */
  readonly #spam: KeyedBuckets;
  readonly #queue: Series[] = [];
  #inFlight = 0;
  #closed = false;
  #wake: (() => void) | undefined;
  #idleWaiters: (() => void)[] = [];
  #running = false;
  #lastForgetMs = -Infinity;

  constructor(opts: EventRecorderOptions) {
    this.#opts = opts;
    this.#clock = opts.clock ?? realClock;
    this.#budget = new TokenBucket({
      qps: opts.qps ?? EVENT_QPS,
      burst: opts.burst ?? EVENT_BURST,
      clock: this.#clock,
    });
    this.#bufferSize = Math.max(1, opts.bufferSize ?? EVENT_BUFFER);
    this.#spam = new KeyedBuckets({
      qps: 1000 / (opts.spamRefillMs ?? 300_000),
      burst: Math.max(1, opts.spamBurst ?? 25),
      clock: this.#clock,
    });
    this.#windowMs = opts.seriesWindowMs ?? 360_000;
    this.#maxSeries = Math.max(1, opts.maxSeries ?? 8192);
  }

  /** Writes waiting (not counting the one being made). */
  get buffered(): number {
    return this.#queue.length;
  }

  /** Nothing buffered and no write in flight. */
  get idle(): boolean {
    return this.#queue.length === 0 && this.#inFlight === 0;
  }

  /** Similar-event keys remembered. */
  get seriesKept(): number {
    return this.#series.size;
  }

  record(
    regarding: EventRegarding,
    type: "Normal" | "Warning",
    reason: string,
    note: string,
  ): void {
    try {
      this.#record(regarding, type, reason, note);
    } catch (error) {
      // never throw into a reconcile; a bug here must not cost the caller its writes
      this.#report(error, regarding, reason);
    }
  }

  #record(regarding: EventRegarding, type: "Normal" | "Warning", reason: string, note: string) {
    this.#notify((o) => o.recorded?.(type));
    if (this.#closed) return this.#drop("shutdown");
    const now = this.#clock.now();
    // events.k8s.io/v1 limits note to 1 kB.
    const text = note.length > 1024 ? `${note.slice(0, 1021)}...` : note;
    const object = objectId(regarding);
    const key = JSON.stringify([object, type, reason, text]);
    const existing = this.#series.get(key);
    if (existing !== undefined && now - existing.lastMs <= this.#windowMs) {
      existing.count++;
      existing.lastMs = now;
      this.#touch(existing);
      this.#notify((o) => o.aggregated?.());
      if (existing.pending) return; // the waiting write carries the new count
      if (!this.#admit(object)) return;
      existing.pending = true;
      this.#enqueue(existing);
      return;
    }
    if (!this.#admit(object)) return;
    const series: Series = {
      key,
      regarding: { ...regarding },
      type,
      reason,
      note: text,
      firstMs: now,
      count: 1,
      lastMs: now,
      pending: true,
    };
    this.#touch(series);
    this.#enqueue(series);
  }

  /** Spam filter and buffer bound for one more write; counts a refusal. */
  #admit(object: string): boolean {
    if (this.#queue.length >= this.#bufferSize) {
      this.#drop("buffer_full");
      return false;
    }
    if (!this.#spam.tryTake(object)) {
      this.#drop("spam");
      return false;
    }
    return true;
  }

  #touch(series: Series): void {
    this.#series.delete(series.key);
    this.#series.set(series.key, series);
    while (this.#series.size > this.#maxSeries) {
      const oldest = this.#series.values().next().value;
      if (oldest === undefined || oldest.pending) break;
      this.#series.delete(oldest.key);
    }
  }

  #enqueue(series: Series): void {
    this.#queue.push(series);
    this.#notify((o) => o.buffered?.(this.#queue.length));
    this.#wake?.();
  }

  /** The write loop; returns when `signal` aborts. Abort it after `flush`. */
  async run(signal: AbortSignal): Promise<void> {
    if (this.#running) throw new Error("EventRecorder.run is already running");
    this.#running = true;
    try {
      while (!signal.aborted) {
        if (this.#queue.length === 0) {
          this.#forget();
          await this.#waitForWork(signal);
          continue;
        }
        await this.#writeNext(signal);
      }
    } finally {
      this.#running = false;
    }
  }

  /**
   * Bounded flush at shutdown: resolves once nothing is buffered or in flight, or after
   * `deadlineMs`. Without a running loop it writes the buffer itself. Afterwards every record is
   * dropped; what could not be written is counted (`shutdown`).
   */
  async flush(deadlineMs: number): Promise<void> {
    const deadline = new AbortController();
    const timer = this.#clock.setTimeout(() => deadline.abort(), Math.max(0, deadlineMs));
    try {
      if (!this.#running) {
        while (this.#queue.length > 0 && !deadline.signal.aborted) {
          await this.#writeNext(deadline.signal);
        }
      } else if (this.#queue.length > 0 || this.#inFlight > 0) {
        await new Promise<void>((resolve) => {
          const done = () => {
            deadline.signal.removeEventListener("abort", done);
            this.#idleWaiters = this.#idleWaiters.filter((w) => w !== done);
            resolve();
          };
          this.#idleWaiters.push(done);
          deadline.signal.addEventListener("abort", done, { once: true });
        });
      }
    } finally {
      this.#clock.clearTimeout(timer);
      this.#closed = true;
      const left = this.#queue.splice(0);
      for (const s of left) {
        s.pending = false;
        this.#drop("shutdown");
      }
      if (left.length > 0) this.#notify((o) => o.buffered?.(0));
    }
  }

  #waitForWork(signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        signal.removeEventListener("abort", done);
        this.#wake = undefined;
        resolve();
      };
      this.#wake = done;
      signal.addEventListener("abort", done, { once: true });
    });
  }

  /** Takes a budget token, then writes the first buffered series. */
  async #writeNext(signal: AbortSignal): Promise<void> {
    const wait = this.#budget.reserve();
    if (wait > 0 && !await delay(this.#clock, wait, signal)) {
      this.#budget.release();
      return;
    }
    const series = this.#queue.shift();
    if (series === undefined) return;
    this.#notify((o) => o.buffered?.(this.#queue.length));
    this.#inFlight++;
    try {
      await this.#write(series, signal);
    } finally {
      this.#inFlight--;
      if (this.#queue.length === 0 && this.#inFlight === 0) {
        const waiters = this.#idleWaiters;
        this.#idleWaiters = [];
        for (const w of waiters) w();
      }
    }
  }

  async #write(series: Series, signal: AbortSignal): Promise<void> {
    // Clear first: a similar record arriving while this write is in flight needs a write of its
    // own (this one may already carry an older count).
    series.pending = false;
    try {
      if (series.name !== undefined) {
        try {
          await this.#opts.writer.patchSeries(
            namespaceOf(series.regarding),
            series.name,
            { count: series.count, lastObservedTime: microTime(series.lastMs) },
            signal,
          );
          this.#notify((o) => o.written?.("patch"));
          return;
        } catch (error) {
          if (!(error instanceof ApiError && error.isNotFound())) throw error;
          // The Event expired (events have a TTL): record the series as a new one.
        }
      }
      const created = await this.#opts.writer.create(eventObject(series, this.#opts), signal);
      series.name = created.metadata.name;
      this.#notify((o) => o.written?.("create"));
    } catch (error) {
      if (signal.aborted) {
        // interrupted by shutdown: flush may still write it
        if (!series.pending) {
          series.pending = true;
          this.#queue.unshift(series);
        }
        return;
      }
      if (series.name === undefined) this.#series.delete(series.key);
      this.#drop("write_failed");
      this.#report(error, series.regarding, series.reason);
    }
  }

  /** Forget series whose window has passed and spam buckets that are full again. */
  #forget(): void {
    const now = this.#clock.now();
    // a sweep is O(objects): at most one per 10 s
    if (now - this.#lastForgetMs < 10_000) return;
    this.#lastForgetMs = now;
    for (const s of this.#series.values()) {
      if (now - s.lastMs <= this.#windowMs) break; // insertion order = last-observed order
      if (!s.pending) this.#series.delete(s.key);
    }
    this.#spam.forgetFull();
  }

  #drop(reason: DropReason): void {
    this.#notify((o) => o.dropped?.(reason));
  }

  #notify(fn: (o: EventRecorderObserver) => void): void {
    const o = this.#opts.observer;
    if (o === undefined) return;
    try {
      fn(o);
    } catch {
      // observers must not break recording
    }
  }

  #report(error: unknown, regarding: EventRegarding, reason: string): void {
    try {
      this.#opts.onError?.(error, { regarding, reason });
    } catch {
      // reporting must not break the loop
    }
  }
}

function objectId(r: EventRegarding): string {
  return r.uid ? `uid:${r.uid}` : `${r.apiVersion}/${r.kind}/${r.namespace ?? ""}/${r.name}`;
}
