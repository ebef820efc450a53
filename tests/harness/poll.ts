/**
 * Polling with a deadline: the only way tests wait (never a bare sleep as synchronisation).
 * `check` returns the awaited value once the condition holds (anything but `undefined`/`false`);
 * errors thrown while polling are tolerated until the deadline and then reported with it.
 */
export async function pollUntil<T>(
  what: string,
  deadlineMs: number,
  check: () => T | undefined | false | Promise<T | undefined | false>,
  intervalMs = 100,
): Promise<T> {
  const end = Date.now() + deadlineMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
    } catch (error) {
      last = error;
    }
    if (Date.now() > end) {
      throw new Error(
        `${what}: not reached within ${deadlineMs} ms${last ? ` (last error: ${last})` : ""}`,
      );
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
