/**
 * Injectable time. Everything in the access layer that waits (backoff, rate limiting, delayed
 * requeues, token-file refresh) takes a `Clock`, so tests drive time with `FakeClock.advance(ms)`
 * instead of sleeping.
 */

/** Opaque timer handle (a number for `FakeClock`, the runtime's handle for `realClock`). */
export type TimerId = number | ReturnType<typeof setTimeout>;

export interface Clock {
  /**
   * Milliseconds since the epoch. Fake clocks may start anywhere, but code that compares with wall
   * time (exec credential expiry) needs an epoch-based start. It may step (NTP, an operator fixing
   * the time): never measure a deadline with it.
   */
  now(): number;
  /**
   * Milliseconds from an arbitrary origin that never go back and never jump with the wall clock:
   * what deadlines are measured on (the lease's renew deadline, docs/contract.md#leader-election).
   */
  monotonic(): number;
  setTimeout(fn: () => void, ms: number): TimerId;
  clearTimeout(id: TimerId): void;
}

/** The real clock. */
export const realClock: Clock = {
  now: () => Date.now(),
  monotonic: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, Math.max(0, ms)),
  clearTimeout: (id) => clearTimeout(id),
};

/**
 * Wait `ms` on `clock`. Resolves `true` when the time passed, `false` as soon as `signal` aborts
 * (never rejects, so loops can simply `if (!await delay(...)) return`).
 */
export function delay(clock: Clock, ms: number, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = () => {
      clock.clearTimeout(id);
      resolve(false);
    };
    const id = clock.setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve(true);
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

interface FakeTimer {
  id: number;
  at: number;
  fn: () => void;
}

/**
 * A manual clock for tests. Timers fire only inside `advance`, in due-time order. `advance` moves
 * both the wall clock and the monotonic clock; `stepWall` moves only the wall clock (what NTP or a
 * person setting the time does), so a test can show a deadline does not follow it.
 */
export class FakeClock implements Clock {
  /** Monotonic time; timers are due on it (as real timers are). */
  #now: number;
  /** Wall clock minus monotonic clock. */
  #wallOffset = 0;
  #seq = 0;
  #timers: FakeTimer[] = [];

  constructor(start = 0) {
    this.#now = start;
  }

  now(): number {
    return this.#now + this.#wallOffset;
  }

  monotonic(): number {
    return this.#now;
  }

  /** Step the wall clock by `ms` (negative: back) without moving monotonic time or any timer. */
  stepWall(ms: number): void {
    this.#wallOffset += ms;
  }

  setTimeout(fn: () => void, ms: number): number {
    const id = ++this.#seq;
    this.#timers.push({ id, at: this.#now + Math.max(0, ms), fn });
    // stable: equal due times fire in creation order
    this.#timers.sort((a, b) => a.at - b.at || a.id - b.id);
    return id;
  }

  clearTimeout(id: TimerId): void {
    this.#timers = this.#timers.filter((t) => t.id !== id);
  }

  /** Number of timers not yet fired. */
  get pending(): number {
    return this.#timers.length;
  }

  /** Due time of the next timer (on the monotonic clock), if any. */
  nextTimerAt(): number | undefined {
    return this.#timers[0]?.at;
  }

  /**
   * Move time forward by `ms`, firing every timer that falls due on the way (including timers those
   * callbacks create, if they are due within the window), each with `now()` at its due time.
   */
  advance(ms: number): void {
    const end = this.#now + ms;
    for (;;) {
      const t = this.#timers[0];
      if (!t || t.at > end) break;
      this.#timers.shift();
      this.#now = Math.max(this.#now, t.at);
      t.fn();
    }
    this.#now = end;
  }
}
