import { deepEqual, equal, ok } from "node:assert/strict";
import { FakeClock } from "../../apis/clock.ts";
import { type Handler, WorkQueue } from "../../apis/queue.ts";
import { pollUntil } from "../harness/poll.ts";

/** In-process state: poll every macrotask; the deadline only bounds a failure. */
const until = (cond: () => boolean, what: string) =>
  pollUntil(what, 30_000, cond, { intervalMs: 0 });

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => resolve = r);
  return { promise, resolve };
}

/** Start `q.run(handler)`; returns the abort controller and the run promise. */
function start<K>(q: WorkQueue<K>, handler: Handler<K>, concurrency = 1) {
  const ac = new AbortController();
  const done = q.run(handler, { concurrency, signal: ac.signal });
  return { ac, done };
}

Deno.test("duplicate adds of a waiting key collapse into one run", async () => {
  const q = new WorkQueue<string>({ clock: new FakeClock() });
  for (const k of ["a", "a", "b", "a", "b"]) q.add(k);
  equal(q.depth, 2);
  equal(q.adds, 5);
  const seen: string[] = [];
  const { ac, done } = start(q, (k) => {
    seen.push(k);
    return Promise.resolve();
  }, 2);
  await until(() => seen.length === 2 && q.inFlight === 0, "both keys");
  ac.abort();
  await done;
  deepEqual(seen, ["a", "b"]);
});

Deno.test("a key re-added while processing runs again afterwards, never twice at once", async () => {
  const q = new WorkQueue<string>({ clock: new FakeClock() });
  const gate = deferred();
  let active = 0;
  let maxActive = 0;
  let runs = 0;
  const { ac, done } = start(q, async () => {
    active++;
    maxActive = Math.max(maxActive, active);
    runs++;
    if (runs === 1) await gate.promise;
    active--;
  }, 4);
  q.add("a");
  await until(() => runs === 1, "first run");
  q.add("a");
  q.add("a");
  equal(q.depth, 0, "the re-add waits for the running key instead of queueing beside it");
  gate.resolve();
  await until(() => runs === 2 && q.inFlight === 0, "second run");
  ac.abort();
  await done;
  equal(maxActive, 1);
  equal(runs, 2);
});

Deno.test("backoff doubles from 5 ms up to the cap and forget resets it", async () => {
  const clock = new FakeClock();
  const q = new WorkQueue<string>({ clock, maxDelayMs: 40 });
  const startedAt: number[] = [];
  const { ac, done } = start(q, () => {
    startedAt.push(clock.now());
    return Promise.reject(new Error("always fails"));
  });
  q.add("k");
  for (let i = 1; i <= 7; i++) {
    await until(
      () => startedAt.length === i && q.inFlight === 0 && clock.pending === 1,
      `run ${i}`,
    );
    if (i < 7) clock.advance((clock.nextTimerAt() ?? 0) - clock.now());
  }
  const gaps = startedAt.slice(1).map((t, i) => t - startedAt[i]);
  deepEqual(gaps, [5, 10, 20, 40, 40, 40]);
  equal(q.retries, 7);
  equal(q.numRequeues("k"), 7);
  q.forget("k");
  equal(q.nextBackoffMs("k"), 5);
  equal(q.numRequeues("k"), 0);
  ac.abort();
  await done;
});

Deno.test("the default backoff cap is 60 s", () => {
  const q = new WorkQueue<string>({ clock: new FakeClock() });
  for (let i = 0; i < 30; i++) q.addRateLimited("k");
  equal(q.nextBackoffMs("k"), 60_000);
});

Deno.test("a failing handler is retried after a growing delay and reported", async () => {
  const clock = new FakeClock();
  const errors: unknown[] = [];
  const q = new WorkQueue<string>({ clock, onError: (_k, e) => errors.push(e) });
  let runs = 0;
  const { ac, done } = start(q, () => {
    runs++;
    return runs <= 3 ? Promise.reject(new Error(`boom ${runs}`)) : Promise.resolve();
  });
  q.add("k");
  await until(() => runs === 1 && q.inFlight === 0, "first run");
  for (const [wait, expectRuns] of [[5, 2], [10, 3], [20, 4]] as const) {
    clock.advance(wait - 1);
    await until(() => q.inFlight === 0, "idle");
    equal(runs, expectRuns - 1, `no retry before ${wait} ms`);
    clock.advance(1);
    await until(() => runs === expectRuns && q.inFlight === 0, `retry after ${wait} ms`);
  }
  equal(errors.length, 3);
  equal(q.retries, 3);
  equal(q.numRequeues("k"), 0, "success forgets the backoff");
  ac.abort();
  await done;
});

Deno.test("addAfter delays a key and the earliest pending delay wins", async (t) => {
  const cases: { name: string; delays: number[]; dueAt: number }[] = [
    { name: "single delay", delays: [100], dueAt: 100 },
    { name: "shorter delay replaces a longer one", delays: [100, 30], dueAt: 30 },
    { name: "longer delay does not postpone a shorter one", delays: [30, 100], dueAt: 30 },
    { name: "zero delay adds at once", delays: [0], dueAt: 0 },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      const clock = new FakeClock();
      const q = new WorkQueue<string>({ clock });
      for (const d of c.delays) q.addAfter("k", d);
      if (c.dueAt > 0) {
        clock.advance(c.dueAt - 1);
        equal(q.depth, 0);
        clock.advance(1);
      }
      equal(q.depth, 1);
      clock.advance(1_000);
      equal(q.depth, 1, "no second add from a superseded timer");
      equal(clock.pending, 0);
    });
  }
});

Deno.test("a handler result with requeueAfterMs runs the key again after that delay", async () => {
  const clock = new FakeClock();
  const q = new WorkQueue<string>({ clock });
  let runs = 0;
  const { ac, done } = start(q, () => {
    runs++;
    return Promise.resolve(runs === 1 ? { requeueAfterMs: 250 } : undefined);
  });
  q.add("k");
  await until(() => runs === 1 && q.inFlight === 0, "first run");
  clock.advance(249);
  await until(() => q.inFlight === 0, "idle");
  equal(runs, 1);
  clock.advance(1);
  await until(() => runs === 2, "requeued run");
  equal(q.retries, 0, "a requested requeue is not a failure");
  ac.abort();
  await done;
});

Deno.test("shutdown stops intake, abandons waiting keys and waits for in-flight handlers", async () => {
  const clock = new FakeClock();
  const q = new WorkQueue<string>({ clock });
  const gate = deferred();
  const started: string[] = [];
  const finished: string[] = [];
  const { ac, done } = start(q, async (k) => {
    started.push(k);
    if (k === "slow") await gate.promise;
    finished.push(k);
  });
  q.add("slow");
  q.add("waiting");
  q.addAfter("delayed", 10);
  await until(() => started.length === 1, "slow to start");
  let resolved = false;
  const watched = done.then(() => resolved = true);
  ac.abort();
  q.add("late");
  clock.advance(100);
  await until(() => q.depth === 0, "waiting keys dropped");
  // give a wrongly-resolving run every chance to do so
  for (let i = 0; i < 20; i++) await new Promise((r) => setTimeout(r, 0));
  equal(resolved, false, "run waits for the in-flight handler");
  gate.resolve();
  await watched;
  deepEqual(started, ["slow"]);
  deepEqual(finished, ["slow"]);
  equal(q.isShutDown, true);
  equal(clock.pending, 0, "delayed adds are cancelled");
});

Deno.test("bounded concurrency: never more handlers than asked for", async () => {
  const q = new WorkQueue<number>({ clock: new FakeClock() });
  const gates = new Map<number, () => void>();
  let active = 0;
  let maxActive = 0;
  let completed = 0;
  const { ac, done } = start(q, async (k) => {
    active++;
    maxActive = Math.max(maxActive, active);
    await new Promise<void>((r) => gates.set(k, r));
    active--;
    completed++;
  }, 3);
  for (let i = 0; i < 10; i++) q.add(i);
  while (completed < 10) {
    await until(() => gates.size > 0, "a running handler");
    for (const [k, release] of [...gates]) {
      gates.delete(k);
      release();
    }
    await until(() => active === 0 || gates.size > 0, "progress");
  }
  ac.abort();
  await done;
  equal(maxActive, 3);
});

Deno.test("latency is measured from the first add to the start of processing", async () => {
  const clock = new FakeClock();
  const seen: number[] = [];
  const q = new WorkQueue<string>({ clock, onLatency: (ms) => seen.push(ms) });
  q.add("a");
  clock.advance(25);
  q.add("a"); // collapses: latency still counts from the first add
  q.add("b");
  const { ac, done } = start(q, () => Promise.resolve(), 2);
  await until(() => seen.length === 2, "two starts");
  ac.abort();
  await done;
  deepEqual(seen, [25, 0]);
  const s = q.stats();
  equal(s.latencyCount, 2);
  equal(s.latencySumMs, 25);
  equal(s.latencyMaxMs, 25);
  ok(s.adds === 3);
});

Deno.test("a long run of handlers that never wait on I/O still lets timers and sockets run", async () => {
  const queue = new WorkQueue<number>();
  const keys = 100;
  let processed = 0;
  let processedWhenTimerFired: number | undefined;
  setTimeout(() => processedWhenTimerFired = processed, 0);
  const ac = new AbortController();
  // CPU-only handlers (like a no-op reconcile that reads only caches): ~2 ms of work each.
  const done = queue.run(async (_key) => {
    const until = performance.now() + 2;
    while (performance.now() < until) { /* busy: no await, no I/O */ }
    processed++;
    if (processed === keys) ac.abort();
    await Promise.resolve();
  }, { concurrency: 4, signal: ac.signal });
  for (let k = 0; k < keys; k++) queue.add(k);
  await done;
  equal(processed, keys);
  ok(
    processedWhenTimerFired !== undefined && processedWhenTimerFired < keys,
    `the timer only ran after all ${keys} handlers (at ${processedWhenTimerFired})`,
  );
});

Deno.test("onActivity reports depth and in-flight at every change, ending at 0/0 when idle", async () => {
  const seen: string[] = [];
  const q = new WorkQueue<string>({
    clock: new FakeClock(),
    onActivity: ({ depth, inFlight }) => seen.push(`${depth}/${inFlight}`),
  });
  const gate = deferred();
  q.add("a");
  q.add("b");
  q.add("a"); // collapses: no change, no report
  deepEqual(seen, ["1/0", "2/0"]);
  let runsOfA = 0;
  const { ac, done } = start(q, async (k) => {
    if (k === "a" && ++runsOfA === 1) {
      q.add("a"); // re-added while running: waits for the current run, then runs once more
      await gate.promise;
    }
  }, 1);
  await until(() => q.inFlight === 1 && q.depth === 1, "a running, b waiting");
  gate.resolve();
  await until(() => q.depth === 0 && q.inFlight === 0, "idle");
  ac.abort();
  await done;
  // Every report matches the queue's own counters at that moment, and the last one is idle.
  equal(runsOfA, 2);
  equal(seen.at(-1), "0/0");
  ok(seen.every((s, i) => i === 0 || s !== seen[i - 1]), `no duplicate reports: ${seen}`);
  ok(seen.includes("1/1"), `a running while b waits: ${seen}`);
});
