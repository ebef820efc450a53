/**
 * The one way tests, the resilience suite and the benchmarks wait: poll a condition until a
 * deadline (never a bare sleep as synchronisation, never a hand-written `Date.now()` loop;
 * docs/testing.md).
 *
 *   const b = await pollUntil("binding ready", 20_000, async () => (await get()).ready && b);
 *   await pollUntil("queue idle", 10_000, () => q.depth === 0, { intervalMs: 0, signal });
 *
 * `check` returns the awaited value once the condition holds (anything but `undefined`/`false`).
 * Errors thrown while polling are tolerated until the deadline and then reported with it. The
 * deadline is a failure bound only: it is generous and never part of what a test asserts.
 */

export interface PollOptions {
  /** Pause between checks (default 100 ms; 0 yields one macrotask, for in-process state). */
  intervalMs?: number;
  /** Aborting stops polling with the signal's reason. */
  signal?: AbortSignal;
  /** A promise that settles when the thing waited for died (e.g. a child's status): fail early. */
  exited?: Promise<unknown>;
}

export async function pollUntil<T>(
  what: string,
  deadlineMs: number,
  check: () => T | undefined | false | Promise<T | undefined | false>,
  opts: PollOptions | number = {},
): Promise<T> {
  const { intervalMs = 100, signal, exited } = typeof opts === "number"
    ? { intervalMs: opts }
    : opts;
  const end = Date.now() + deadlineMs;
  let dead = false;
  exited?.then(() => dead = true, () => dead = true);
  let last: unknown;
  for (;;) {
    signal?.throwIfAborted();
    const wasDead = dead;
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
    } catch (error) {
      last = error;
    }
    // Checked after one more look, so a condition the process met before exiting still counts.
    if (wasDead) {
      throw new Error(`${what}: the process exited first${last ? ` (last error: ${last})` : ""}`);
    }
    if (Date.now() > end) {
      throw new Error(
        `${what}: not reached within ${deadlineMs} ms${last ? ` (last error: ${last})` : ""}`,
      );
    }
    await delay(intervalMs, signal);
  }
}

/**
 * Waits `ms` on purpose: ONLY for a window that is itself the property under test ("nothing
 * happens for 10 s") or the pacing of a load generator — never to let something else finish.
 */
export function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * A load generator's clock (the resilience churn, bench): calls `op(i)` at `from + i / perSecond`
 * seconds of wall-clock time until `until`; each call is awaited, so a slow call delays the next
 * instead of piling up. Resolves with the number of calls. Not a wait for a condition.
 */
export async function paced(
  from: number,
  perSecond: number,
  until: number,
  op: (i: number) => Promise<void>,
  signal?: AbortSignal,
): Promise<number> {
  let i = 0;
  for (; !signal?.aborted; i++) {
    const wait = from + (i * 1000) / perSecond - Date.now();
    if (wait > 0) await delay(wait, signal);
    if (Date.now() >= until) break;
    await op(i);
  }
  return i;
}
