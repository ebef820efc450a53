import { deepEqual, equal, rejects } from "node:assert/strict";
import { FakeClock } from "../../apis/clock.ts";
import { KeyedBuckets, TokenBucket } from "../../apis/ratelimit.ts";

Deno.test("the token bucket allows a burst, then paces at qps", () => {
  const clock = new FakeClock();
  const bucket = new TokenBucket({ qps: 10, burst: 3, clock });
  deepEqual([bucket.reserve(), bucket.reserve(), bucket.reserve()], [0, 0, 0]);
  // the next ones wait 100 ms apart, in arrival order
  deepEqual([bucket.reserve(), bucket.reserve()], [100, 200]);
  clock.advance(1_000);
  // 10 tokens refilled but capped at burst 3 (minus the 2 borrowed)
  deepEqual([bucket.reserve(), bucket.reserve(), bucket.reserve(), bucket.reserve()], [
    0,
    0,
    0,
    100,
  ]);
});

Deno.test("take waits on the clock and an aborted wait returns its token", async () => {
  const clock = new FakeClock();
  const bucket = new TokenBucket({ qps: 1, burst: 1, clock });
  await bucket.take();
  let done = false;
  const waiting = bucket.take().then(() => done = true);
  clock.advance(999);
  await Promise.resolve();
  equal(done, false);
  clock.advance(1);
  await waiting;
  equal(done, true);
  const ac = new AbortController();
  const aborted = bucket.take(ac.signal);
  ac.abort(new Error("stop"));
  await rejects(aborted, /stop/);
  clock.advance(1_000);
  equal(bucket.reserve(), 0, "the abandoned reservation was given back");
});

Deno.test("qps Infinity or 0 disables limiting", () => {
  for (const qps of [Infinity, 0]) {
    const bucket = new TokenBucket({ qps, burst: 1, clock: new FakeClock() });
    for (let i = 0; i < 100; i++) equal(bucket.reserve(), 0);
  }
});

Deno.test("a wall-clock step back does not drain the token bucket", () => {
  const clock = new FakeClock(Date.UTC(2026, 0, 1));
  const bucket = new TokenBucket({ qps: 1, burst: 1, clock });
  equal(bucket.reserve(), 0);
  clock.stepWall(-3_600_000);
  clock.advance(1_000);
  equal(bucket.reserve(), 0, "one second refills one token, whatever the wall clock did");
});

Deno.test("as a filter (the event spam filter) the bucket never goes into debt", () => {
  const clock = new FakeClock();
  // one token per 10 s, burst 2
  const bucket = new TokenBucket({ qps: 0.1, burst: 2, clock });
  equal(bucket.full, true);
  deepEqual([bucket.tryTake(), bucket.tryTake(), bucket.tryTake()], [true, true, false]);
  equal(bucket.full, false);
  clock.advance(10_000);
  deepEqual([bucket.tryTake(), bucket.tryTake()], [true, false], "one token back, not two");
  clock.stepWall(3_600_000);
  equal(bucket.tryTake(), false, "a wall-clock step forward refills nothing");
  clock.advance(20_000);
  equal(bucket.full, true, "refilled to burst: a keyed set may forget it");
});

Deno.test("keyed buckets filter per key and forget keys that have refilled", () => {
  const clock = new FakeClock();
  const buckets = new KeyedBuckets({ qps: 0.1, burst: 1, clock });
  deepEqual([buckets.tryTake("a"), buckets.tryTake("a"), buckets.tryTake("b")], [
    true,
    false,
    true,
  ]);
  buckets.forgetFull();
  equal(buckets.size, 2, "both still owe a token");
  clock.advance(10_000);
  buckets.forgetFull();
  equal(buckets.size, 0);
});
