/**
 * Client-side request rate limit: a token bucket (`qps` tokens per second, at most `burst` banked).
 * Waiting requests reserve tokens in arrival order (the bucket may go negative; each request waits
 * until its own token exists), so the limiter is fair and needs no polling. An aborted wait returns
 * its token. `DEFAULT_QPS` / `DEFAULT_BURST` (50 / 100) apply only to a caller that passes no
 * limits, such as the read-only CLI; the operator always passes its own (`--kube-api-qps` /
 * `--kube-api-burst`, 200 / 400 unless set: flags/operator.ts).
 */
import { type Clock, delay, realClock } from "./clock.ts";
import type { Transport } from "./transport.ts";

export interface RateLimitOptions {
  /** Sustained requests per second; `Infinity` or <= 0 disables limiting. `DEFAULT_QPS` when absent. */
  qps?: number;
  /** Requests allowed at once after idling. `DEFAULT_BURST` when absent. */
  burst?: number;
  clock?: Clock;
}

export const DEFAULT_QPS = 50;
export const DEFAULT_BURST = 100;

export class TokenBucket {
  readonly qps: number;
  readonly burst: number;
  readonly #clock: Clock;
  #tokens: number;
  #last: number;

  constructor(opts: RateLimitOptions = {}) {
    this.qps = opts.qps ?? DEFAULT_QPS;
    this.burst = Math.max(1, opts.burst ?? DEFAULT_BURST);
    this.#clock = opts.clock ?? realClock;
    this.#tokens = this.burst;
    this.#last = this.#clock.monotonic();
  }

  get unlimited(): boolean {
    return !(this.qps > 0) || this.qps === Infinity;
  }

  /**
   * Reserve one token; milliseconds the caller must wait before using it (0 = now).
   * Never throws; use `take` for the waiting.
   */
  reserve(): number {
    if (this.unlimited) return 0;
    this.#refill();
    this.#tokens -= 1;
    return this.#tokens >= 0 ? 0 : Math.ceil((-this.#tokens / this.qps) * 1000);
  }

  /** Take a token if one is there now; never waits and never goes into debt (a filter). */
  tryTake(): boolean {
    if (this.unlimited) return true;
    this.#refill();
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }

  /** Refilled to `burst`: a keyed set of buckets may forget this one (a new one is the same). */
  get full(): boolean {
    if (this.unlimited) return true;
    this.#refill();
    return this.#tokens >= this.burst;
  }

  #refill(): void {
    // Monotonic: a wall-clock step back must not drain the bucket for the length of the step.
    const now = this.#clock.monotonic();
    this.#tokens = Math.min(this.burst, this.#tokens + ((now - this.#last) / 1000) * this.qps);
    this.#last = now;
  }

  /** Give back a reserved token (its request was abandoned). */
  release(): void {
    if (!this.unlimited) this.#tokens = Math.min(this.burst, this.#tokens + 1);
  }

  /** Wait for a token; rejects with the signal's reason if aborted first. */
  async take(signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    const wait = this.reserve();
    if (wait === 0) return;
    if (!await delay(this.#clock, wait, signal)) {
      this.release();
      signal?.throwIfAborted();
    }
  }
}

/** Limit `inner` with a token bucket (shared by every request through the returned transport). */
export function withRateLimit(inner: Transport, opts: RateLimitOptions = {}): Transport {
  const bucket = new TokenBucket(opts);
  if (bucket.unlimited) return inner;
  return async (req) => {
    await bucket.take(req.signal);
    return await inner(req);
  };
}

/**
 * One token bucket per key, as a filter (`tryTake`): client-go's per-object event spam filter.
 * Buckets that have refilled are forgotten by `forgetFull`, so a quiet key costs nothing.
 */
export class KeyedBuckets {
  readonly #opts: RateLimitOptions;
  readonly #buckets = new Map<string, TokenBucket>();

  constructor(opts: RateLimitOptions) {
    this.#opts = opts;
  }

  /** Take a token from `key`'s bucket if it has one. */
  tryTake(key: string): boolean {
    let bucket = this.#buckets.get(key);
    if (bucket === undefined) {
      bucket = new TokenBucket(this.#opts);
      this.#buckets.set(key, bucket);
    }
    return bucket.tryTake();
  }

  /** Forget every bucket that is full again (O(keys)). */
  forgetFull(): void {
    for (const [key, bucket] of this.#buckets) if (bucket.full) this.#buckets.delete(key);
  }

  get size(): number {
    return this.#buckets.size;
  }
}
