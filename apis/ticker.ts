/**
 * `Ticker`: the one periodic timer of the operator's loops (API discovery refresh, binding
 * resync). `wait(signal)` resolves `true` after one period — jittered by up to `jitter` (a
 * fraction, e.g. 0.1 for ±10 %) so replicas and restarts do not fire in lock step — or at once
 * after `poke()`; it resolves `false` as soon as `signal` aborts (never rejects), so a loop is
 * simply `while (await ticker.wait(signal)) { ... }` and ends, owned and joinable, with its signal.
 * A poke while nobody waits is kept for the next wait. Time comes from the injected `Clock`.
 */
import type { Clock } from "./clock.ts";

export interface TickerOptions {
  /** Fraction of the period added or removed at random on each wait; default 0. */
  jitter?: number;
  random?: () => number;
}

export class Ticker {
  readonly #clock: Clock;
  readonly #periodMs: number;
  readonly #jitter: number;
  readonly #random: () => number;
  #poked = false;
  #wake: (() => void) | undefined;

  constructor(clock: Clock, periodMs: number, opts: TickerOptions = {}) {
    this.#clock = clock;
    this.#periodMs = periodMs;
    this.#jitter = Math.min(Math.max(opts.jitter ?? 0, 0), 1);
    this.#random = opts.random ?? Math.random;
  }

  /** The delay of the next wait (jittered). */
  nextDelayMs(): number {
    const spread = this.#periodMs * this.#jitter;
    return Math.max(0, Math.round(this.#periodMs - spread + 2 * spread * this.#random()));
  }

  /** End the current wait now (or the next one, when nobody waits). */
  poke(): void {
    this.#poked = true;
    this.#wake?.();
  }

  wait(signal: AbortSignal): Promise<boolean> {
    if (signal.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const finish = (ticked: boolean) => {
        this.#clock.clearTimeout(timer);
        signal.removeEventListener("abort", onAbort);
        this.#wake = undefined;
        this.#poked = false;
        resolve(ticked);
      };
      const onAbort = () => finish(false);
      const timer = this.#clock.setTimeout(() => finish(true), this.nextDelayMs());
      signal.addEventListener("abort", onAbort, { once: true });
      this.#wake = () => finish(true);
      if (this.#poked) finish(true);
    });
  }
}
