/**
 * The two guards that keep `/metrics` callers from pulling on the API server through kleym
 * (docs/contract.md#metrics-auth, "strangers have no lever"):
 *
 * - `ReviewSlots`: at most `max` reviews in flight at once. A caller that finds no free slot is
 *   refused at once (the endpoint answers 429), never queued: a queue would let a flood hold
 *   memory and make every honest scraper wait behind it.
 * - `SharedReview`: one review shared by every caller that asks about the same token at the same
 *   time, cancelled (its AbortSignal aborts) once every caller waiting for it has hung up, so a
 *   caller that goes away stops costing API requests.
 *
 * The reviews' API requests also have a token bucket of their own (`REVIEW_BUDGET`, through
 * `Connection.budgeted` in operator/run.ts), so even the admitted reviews never spend the
 * reconciler's or the Lease's budget.
 */

/** Reviews in flight at once; more callers than this get 429 until one finishes. */
export const MAX_CONCURRENT_REVIEWS = 8;

/**
 * The metrics reviews' own client budget (TokenReview + SubjectAccessReview requests): 5 per
 * second, 10 at once after a quiet spell. An honest scraper costs two requests per cache interval
 * (operator/metricsauth.ts, 10 s), so this serves a dozen scrapers that change tokens every
 * interval and still caps what a flood can make kleym send.
 */
export const REVIEW_BUDGET = { qps: 5, burst: 10 } as const;

export class ReviewSlots {
  readonly max: number;
  #inFlight = 0;

  constructor(max = MAX_CONCURRENT_REVIEWS) {
    this.max = Math.max(1, max);
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  /** A slot's release function, or undefined when all `max` slots are taken. */
  tryAcquire(): (() => void) | undefined {
    if (this.#inFlight >= this.max) return undefined;
    this.#inFlight++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#inFlight--;
    };
  }
}

/**
 * A task several callers wait for. `run` gets a signal that aborts when every caller that joined
 * with a signal has aborted (a caller joining without one stays until the task ends).
 */
export class SharedReview<T> {
  readonly #ctl = new AbortController();
  readonly result: Promise<T>;
  #waiting = 0;
  #settled = false;

  constructor(run: (signal: AbortSignal) => Promise<T>) {
    this.result = run(this.#ctl.signal);
    const settle = () => {
      this.#settled = true;
    };
    this.result.then(settle, settle);
  }

  /** Whether the task was cancelled because everyone waiting for it went away. */
  get cancelled(): boolean {
    return this.#ctl.signal.aborted;
  }

  /** Wait for the result; rejects with `signal`'s reason if this caller gives up first. */
  join(signal?: AbortSignal): Promise<T> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (!signal || this.#settled) {
      if (!this.#settled) this.#waiting++;
      return this.result;
    }
    this.#waiting++;
    return new Promise<T>((resolve, reject) => {
      const leave = () => {
        reject(signal.reason);
        if (--this.#waiting === 0 && !this.#settled) this.#ctl.abort(signal.reason);
      };
      signal.addEventListener("abort", leave, { once: true });
      this.result.then(
        (v) => {
          signal.removeEventListener("abort", leave);
          resolve(v);
        },
        (e) => {
          signal.removeEventListener("abort", leave);
          reject(e);
        },
      );
    });
  }
}
