/**
 * `WorkQueue<K>`: controller-runtime work-queue semantics on the single JavaScript thread.
 *
 * - `add(key)`: duplicates collapse while the key waits. A key is never handed to two handlers at
 *   once: if it is added while being processed, it runs once more after the current run ends.
 * - `addAfter(key, ms)`: delayed add; of several pending delays for one key the earliest wins.
 * - `addRateLimited(key)`: delayed add with per-key exponential backoff (base 5 ms, doubling,
 *   capped at `maxDelayMs`, default 60 s); counts as a retry. `forget(key)` resets the backoff.
 * - `run(handler, {concurrency, signal})`: the queue's one loop. Up to `concurrency` handlers run at
 *   a time. The handler's outcome drives the key: resolves (void) -> `forget`; resolves
 *   `{requeueAfterMs}` -> `forget` + `addAfter`; resolves `{requeue: true}` or throws ->
 *   `addRateLimited` (thrown errors go to `onError`). When `signal` aborts (or `shutDown()` is
 *   called) intake stops (adds are ignored, delayed adds dropped, waiting keys abandoned) and
 *   `run` resolves once the in-flight handlers have finished (graceful drain).
 * - Metrics: `depth` (keys waiting), `inFlight` (handlers running), `adds`, `retries`, and the
 *   latency from a key's (first) add to the start of its processing, via `onLatency(ms)` and
 *   `stats()`. `onActivity({depth, inFlight})` is called synchronously whenever either changes, so
 *   gauges set from it are exact at every scrape: "depth 0 and in-flight 0" means no key is waiting
 *   and no handler is running (tests start quiet windows on it, docs/testing.md).
 *
 * Time comes from the injected `Clock` (`FakeClock` in tests).
 */
import { type Clock, realClock, type TimerId } from "./clock.ts";

/** Longest stretch the dispatcher runs before letting other macrotasks in (real time). */
const FAIR_SLICE_MS = 20;

export interface WorkQueueOptions<K> {
  clock?: Clock;
  /** First backoff delay. Default 5 ms. */
  baseDelayMs?: number;
  /** Backoff cap. Default 60 000 ms. */
  maxDelayMs?: number;
  /** Called with the add-to-start latency of every processed key. */
  onLatency?: (ms: number) => void;
  /** Called when a handler throws (the key is retried with backoff). */
  onError?: (key: K, err: unknown) => void;
  /** Called whenever `depth` or `inFlight` changes, with both new values. */
  onActivity?: (activity: QueueActivity) => void;
}

export interface QueueActivity {
  depth: number;
  inFlight: number;
}

/** What a handler may ask for; `void` means done. */
export type HandlerResult = void | { requeue?: boolean; requeueAfterMs?: number };

export type Handler<K> = (key: K) => Promise<HandlerResult>;

export interface RunOptions {
  /** Handlers running at once. Default 1. */
  concurrency?: number;
  signal?: AbortSignal;
}

export interface WorkQueueStats {
  depth: number;
  inFlight: number;
  delayed: number;
  adds: number;
  retries: number;
  latencyCount: number;
  latencySumMs: number;
  latencyMaxMs: number;
}

export class WorkQueue<K = string> {
  readonly #clock: Clock;
  readonly #base: number;
  readonly #cap: number;
  readonly #onLatency?: (ms: number) => void;
  readonly #onError?: (key: K, err: unknown) => void;
  readonly #onActivity?: (activity: QueueActivity) => void;

  /** Waiting keys in FIFO order, with the time they were first added. */
  readonly #waiting = new Map<K, number>();
  readonly #processing = new Set<K>();
  /** Keys added while processing: run again afterwards (value: add time). */
  readonly #again = new Map<K, number>();
  readonly #delayed = new Map<K, { at: number; timer: TimerId }>();
  readonly #failures = new Map<K, number>();

  #shutDown = false;
  #running = false;
  #wake: (() => void) | undefined;
  #adds = 0;
  #retries = 0;
  #latencyCount = 0;
  #latencySum = 0;
  #latencyMax = 0;
  #reported: QueueActivity = { depth: 0, inFlight: 0 };

  constructor(opts: WorkQueueOptions<K> = {}) {
    this.#clock = opts.clock ?? realClock;
    this.#base = opts.baseDelayMs ?? 5;
    this.#cap = opts.maxDelayMs ?? 60_000;
    this.#onLatency = opts.onLatency;
    this.#onError = opts.onError;
    this.#onActivity = opts.onActivity;
  }

  /** Keys waiting to be processed (not counting in-flight or delayed ones). */
  get depth(): number {
    return this.#waiting.size;
  }

  /** Handlers running now (keys taken from the queue whose handler has not settled). */
  get inFlight(): number {
    return this.#processing.size;
  }

  get adds(): number {
    return this.#adds;
  }

  get retries(): number {
    return this.#retries;
  }

  get isShutDown(): boolean {
    return this.#shutDown;
  }

  stats(): WorkQueueStats {
    return {
      depth: this.#waiting.size,
      inFlight: this.#processing.size,
      delayed: this.#delayed.size,
      adds: this.#adds,
      retries: this.#retries,
      latencyCount: this.#latencyCount,
      latencySumMs: this.#latencySum,
      latencyMaxMs: this.#latencyMax,
    };
  }

  add(key: K): void {
    if (this.#shutDown) return;
    this.#adds++;
    if (this.#waiting.has(key)) return;
    if (this.#processing.has(key)) {
      if (!this.#again.has(key)) this.#again.set(key, this.#clock.now());
      return;
    }
    this.#waiting.set(key, this.#clock.now());
    this.#activity();
    this.#wake?.();
  }

  addAfter(key: K, ms: number): void {
    if (this.#shutDown) return;
    if (ms <= 0) {
      this.add(key);
      return;
    }
    const at = this.#clock.now() + ms;
    const cur = this.#delayed.get(key);
    if (cur) {
      if (cur.at <= at) return;
      this.#clock.clearTimeout(cur.timer);
    }
    const timer = this.#clock.setTimeout(() => {
      this.#delayed.delete(key);
      this.add(key);
    }, ms);
    this.#delayed.set(key, { at, timer });
  }

  /** Backoff delay the next `addRateLimited(key)` would use. */
  nextBackoffMs(key: K): number {
    const n = this.#failures.get(key) ?? 0;
    return Math.min(this.#cap, this.#base * 2 ** Math.min(n, 40));
  }

  addRateLimited(key: K): void {
    if (this.#shutDown) return;
    const ms = this.nextBackoffMs(key);
    this.#failures.set(key, (this.#failures.get(key) ?? 0) + 1);
    this.#retries++;
    this.addAfter(key, ms);
  }

  /** Reset the backoff of `key`. */
  forget(key: K): void {
    this.#failures.delete(key);
  }

  /** Failures recorded for `key` since the last `forget`. */
  numRequeues(key: K): number {
    return this.#failures.get(key) ?? 0;
  }

  /** Stop intake; a running `run` drains and resolves. */
  shutDown(): void {
    if (this.#shutDown) return;
    this.#shutDown = true;
    for (const d of this.#delayed.values()) this.#clock.clearTimeout(d.timer);
    this.#delayed.clear();
    this.#waiting.clear();
    this.#again.clear();
    this.#activity();
    this.#wake?.();
  }

  /** Process keys until shut down (via `signal` or `shutDown()`), then drain in-flight handlers. */
  async run(handler: Handler<K>, opts: RunOptions = {}): Promise<void> {
    if (this.#running) throw new Error("WorkQueue.run is already running");
    this.#running = true;
    const concurrency = Math.max(1, opts.concurrency ?? 1);
    const onAbort = () => this.shutDown();
    if (opts.signal?.aborted) this.shutDown();
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    const inFlight = new Set<Promise<void>>();
    try {
      let slice = performance.now();
      while (!this.#shutDown) {
        while (!this.#shutDown && this.#processing.size < concurrency && this.#waiting.size > 0) {
          // Handlers that never wait on I/O (a no-op reconcile reads only caches) chain microtasks
          // only; without a macrotask break now and then, timers, watch streams and the health
          // endpoint would starve while a long queue drains (e.g. the start-up pass).
          if (performance.now() - slice > FAIR_SLICE_MS) {
            await new Promise<void>((resolve) => setTimeout(resolve, 0));
            slice = performance.now();
            continue;
          }
          const [key, addedAt] = this.#waiting.entries().next().value as [K, number];
          this.#waiting.delete(key);
          this.#processing.add(key);
          this.#activity();
          const latency = this.#clock.now() - addedAt;
          this.#latencyCount++;
          this.#latencySum += latency;
          this.#latencyMax = Math.max(this.#latencyMax, latency);
          this.#safely(() => this.#onLatency?.(latency));
          const p = this.#process(handler, key).finally(() => {
            inFlight.delete(p);
            this.#wake?.();
          });
          inFlight.add(p);
        }
        if (this.#shutDown) break;
        await new Promise<void>((resolve) => this.#wake = resolve);
        this.#wake = undefined;
      }
      await Promise.all(inFlight);
    } finally {
      opts.signal?.removeEventListener("abort", onAbort);
      this.#wake = undefined;
      this.#running = false;
    }
  }

  async #process(handler: Handler<K>, key: K): Promise<void> {
    let after = 0;
    let retry = false;
    try {
      const result = await handler(key);
      if (result?.requeueAfterMs !== undefined && result.requeueAfterMs > 0) {
        after = result.requeueAfterMs;
      } else if (result?.requeue) retry = true;
    } catch (err) {
      retry = true;
      this.#safely(() => this.#onError?.(key, err));
    }
    this.#processing.delete(key);
    if (retry) this.addRateLimited(key);
    else {
      this.forget(key);
      if (after > 0) this.addAfter(key, after);
    }
    const again = this.#again.get(key);
    if (again !== undefined) {
      this.#again.delete(key);
      if (!this.#shutDown && !this.#waiting.has(key)) this.#waiting.set(key, again);
    }
    this.#activity();
  }

  /** Reports depth/in-flight to `onActivity` when either changed since the last report. */
  #activity(): void {
    const now = { depth: this.#waiting.size, inFlight: this.#processing.size };
    if (now.depth === this.#reported.depth && now.inFlight === this.#reported.inFlight) return;
    this.#reported = now;
    this.#safely(() => this.#onActivity?.({ ...now }));
  }

  #safely(fn: () => void): void {
    try {
      fn();
    } catch {
      // observers must not break the loop
    }
  }
}
