/**
 * No dead connection goes unnoticed (docs/contract.md#dead-connections), part two: a watch that
 * delivers nothing — no event, no bookmark — for longer than the idle limit is treated as dead
 * and reopened by the Informer (apis/watch.ts) from its resume point. The API server sends a
 * bookmark to every watch that asks for them about once a minute (kube-apiserver's watch cache),
 * so a live watch is never quiet that long; a half-open connection or a stalled proxy is.
 *
 * `IdleTimer(clock, ms, onIdle)`: `touch()` on every delivery restarts the count; `stop()` ends
 * it. `onIdle` fires at most once. `ms <= 0` turns it off.
 *
 * Default limit: `DEFAULT_WATCH_IDLE_MS` (docs/operations.md "Dead connections").
 */
import type { Clock, TimerId } from "./clock.ts";

/** Two missed bookmarks (the API server sends one about every 60 s), plus a margin. */
export const DEFAULT_WATCH_IDLE_MS = 150_000;

/** Why a watch was closed by its idle limit (the informer reopens it). */
export class WatchIdleError extends Error {
  override readonly name = "WatchIdleError";
  constructor(readonly idleMs: number) {
    super(`the watch delivered nothing (no event, no bookmark) for ${idleMs} ms; reopening it`);
  }
}

export class IdleTimer {
  readonly #clock: Clock;
  readonly #ms: number;
  readonly #onIdle: () => void;
  #timer: TimerId | undefined;
  #last: number;

  constructor(clock: Clock, ms: number, onIdle: () => void) {
    this.#clock = clock;
    this.#ms = ms;
    this.#onIdle = onIdle;
    this.#last = clock.now();
    if (ms > 0) this.#arm(ms);
  }

  /** Something arrived. O(1): the one timer re-arms itself for what is left when it fires. */
  touch(): void {
    this.#last = this.#clock.now();
  }

  stop(): void {
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #arm(ms: number): void {
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      const quiet = this.#clock.now() - this.#last;
      if (quiet >= this.#ms) this.#onIdle();
      else this.#arm(this.#ms - quiet);
    }, ms);
  }
}
