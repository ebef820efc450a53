/** `Ticker` (apis/ticker.ts): periods, jitter bounds, pokes and abort, on a `FakeClock`. */
import { equal } from "node:assert/strict";
import { FakeClock } from "../../apis/clock.ts";
import { Ticker } from "../../apis/ticker.ts";

/** Settles pending promise callbacks (no timers involved). */
const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

Deno.test("Ticker waits one period, ends early on poke, and stops on abort", async (t) => {
  await t.step("a wait resolves true after exactly one period", async () => {
    const clock = new FakeClock();
    const ticker = new Ticker(clock, 1_000);
    let ticked: boolean | undefined;
    ticker.wait(new AbortController().signal).then((v) => ticked = v);
    clock.advance(999);
    await settle();
    equal(ticked, undefined);
    clock.advance(1);
    await settle();
    equal(ticked, true);
    equal(clock.pending, 0);
  });

  await t.step("jitter stays within ±jitter of the period", () => {
    const low = new Ticker(new FakeClock(), 1_000, { jitter: 0.1, random: () => 0 });
    const high = new Ticker(new FakeClock(), 1_000, { jitter: 0.1, random: () => 0.999999 });
    equal(low.nextDelayMs(), 900);
    equal(high.nextDelayMs(), 1_100);
  });

  await t.step(
    "a poke ends the current wait; a poke with no waiter ends the next one",
    async () => {
      const clock = new FakeClock();
      const ticker = new Ticker(clock, 60_000);
      const signal = new AbortController().signal;
      const first = ticker.wait(signal);
      ticker.poke();
      equal(await first, true);
      equal(clock.pending, 0, "the timer is cleared");
      ticker.poke();
      equal(await ticker.wait(signal), true);
    },
  );

  await t.step("abort resolves false and clears the timer", async () => {
    const clock = new FakeClock();
    const ticker = new Ticker(clock, 1_000);
    const ac = new AbortController();
    const waiting = ticker.wait(ac.signal);
    ac.abort();
    equal(await waiting, false);
    equal(clock.pending, 0);
    equal(await ticker.wait(ac.signal), false);
  });
});
