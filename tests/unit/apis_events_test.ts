import { deepEqual, equal, ok } from "node:assert/strict";
import type { EventSeries } from "kubernetes-types/events/v1.d.ts";
import { FakeClock } from "../../apis/clock.ts";
import { ApiError } from "../../apis/errors.ts";
import {
  type DropReason,
  EventRecorder,
  type EventRecorderOptions,
  type EventRegarding,
} from "../../apis/events.ts";
import { type EventObject, type EventWriter, microTime } from "../../apis/event_writer.ts";

/** An in-memory events API: what was created and patched, in order. */
class MemoryWriter implements EventWriter {
  readonly stored = new Map<string, EventObject>();
  readonly calls: string[] = [];
  /** While set, every write waits for `release()`. */
  #gate: Promise<void> | undefined;
  #open: (() => void) | undefined;
  fail: Error | undefined;

  hold(): void {
    this.#gate = new Promise((resolve) => this.#open = resolve);
  }

  release(): void {
    this.#open?.();
    this.#gate = undefined;
  }

  async create(event: EventObject, _signal: AbortSignal): Promise<EventObject> {
    await this.#gate;
    if (this.fail) throw this.fail;
    const name = event.metadata.name ?? "";
    this.calls.push(`create ${event.reason} ${event.series?.count ?? 1}`);
    const stored = structuredClone(event);
    this.stored.set(name, stored);
    return stored;
  }

  async patchSeries(
    _namespace: string,
    name: string,
    series: EventSeries,
    _signal: AbortSignal,
  ): Promise<EventObject> {
    await this.#gate;
    if (this.fail) throw this.fail;
    const event = this.stored.get(name);
    if (event === undefined) throw new ApiError({ status: 404, reason: "NotFound", message: name });
    this.calls.push(`patch ${event.reason} ${series.count}`);
    event.series = { ...series };
    return event;
  }
}

const A: EventRegarding = {
  apiVersion: "kleym.sonda.red/v1alpha1",
  kind: "InferenceIdentityBinding",
  name: "a",
  namespace: "ns",
  uid: "uid-a",
};
const B: EventRegarding = { ...A, name: "b", uid: "uid-b" };

function setup(opts: Partial<EventRecorderOptions> = {}) {
  const clock = new FakeClock(Date.UTC(2026, 0, 1));
  const writer = new MemoryWriter();
  const dropped: Record<string, number> = {};
  let aggregated = 0;
  const recorder = new EventRecorder({
    writer,
    reportingController: "kleym.sonda.red/kleym",
    reportingInstance: "test",
    clock,
    observer: {
      dropped: (r: DropReason) => dropped[r] = (dropped[r] ?? 0) + 1,
      aggregated: () => aggregated++,
    },
    ...opts,
  });
  const loop = new AbortController();
  return {
    clock,
    writer,
    recorder,
    dropped,
    aggregated: () => aggregated,
    start: () => recorder.run(loop.signal),
    stop: () => loop.abort(),
  };
}

/** Lets every pending promise callback run (the in-memory writer never waits on anything else). */
function settle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

Deno.test("similar events for one object become one Event whose series counts them", async (t) => {
  const { clock, writer, recorder, aggregated, start, stop } = setup();
  const running = start();
  await t.step("the first occurrence is created as a new Event", async () => {
    recorder.record(A, "Normal", "Reconciled", "done");
    await settle();
    deepEqual(writer.calls, ["create Reconciled 1"]);
    const [event] = [...writer.stored.values()];
    equal(event.note, "done");
    equal(event.type, "Normal");
    equal(event.action, "Reconcile");
    equal(event.reportingController, "kleym.sonda.red/kleym");
    equal(event.reportingInstance, "test");
    deepEqual(event.regarding, {
      apiVersion: A.apiVersion,
      kind: A.kind,
      name: "a",
      namespace: "ns",
      uid: "uid-a",
    });
    equal(event.metadata.namespace, "ns");
    ok(event.metadata.name?.startsWith("a."), event.metadata.name);
    equal(event.series, undefined);
  });
  await t.step("repeats update series.count and lastObservedTime of that Event", async () => {
    clock.advance(1_000);
    recorder.record(A, "Normal", "Reconciled", "done");
    clock.advance(1_000);
    recorder.record(A, "Normal", "Reconciled", "done");
    await settle();
    // the second repeat rode on the first one's waiting patch: one write, count 3
    deepEqual(writer.calls, ["create Reconciled 1", "patch Reconciled 3"]);
    equal(writer.stored.size, 1);
    const [event] = [...writer.stored.values()];
    deepEqual(event.series, { count: 3, lastObservedTime: microTime(clock.now()) });
    equal(aggregated(), 2);
  });
  await t.step("a different note, reason or object is a new Event", async () => {
    recorder.record(A, "Normal", "Reconciled", "other text");
    recorder.record(A, "Warning", "Reconciled", "done");
    recorder.record(B, "Normal", "Reconciled", "done");
    await settle();
    equal(writer.stored.size, 4);
  });
  await t.step("after the series window a similar event starts a new Event", async () => {
    clock.advance(360_001);
    recorder.record(A, "Normal", "Reconciled", "done");
    await settle();
    equal(writer.stored.size, 5);
    equal(writer.calls.at(-1), "create Reconciled 1");
  });
  stop();
  await running;
});

Deno.test("a series whose Event expired is created again, carrying its count", async () => {
  const { writer, recorder, start, stop } = setup();
  const running = start();
  recorder.record(A, "Warning", "TargetPoolNotFound", "no pool");
  await settle();
  writer.stored.clear(); // the API server's event TTL
  recorder.record(A, "Warning", "TargetPoolNotFound", "no pool");
  await settle();
  deepEqual(writer.calls, ["create TargetPoolNotFound 1", "create TargetPoolNotFound 2"]);
  stop();
  await running;
});

Deno.test("the spam filter limits writes per object with a token bucket", async (t) => {
  const { clock, writer, recorder, dropped, start, stop } = setup({
    spamBurst: 3,
    spamRefillMs: 10_000,
  });
  const running = start();
  await t.step("a burst per object, then drops that are counted", async () => {
    for (let i = 0; i < 5; i++) recorder.record(A, "Warning", "Failed", `attempt ${i}`);
    await settle();
    equal(writer.stored.size, 3);
    equal(dropped.spam, 2);
  });
  await t.step("another object has its own bucket", async () => {
    recorder.record(B, "Warning", "Failed", "b");
    await settle();
    equal(writer.stored.size, 4);
    equal(dropped.spam, 2);
  });
  await t.step("series updates take tokens too", async () => {
    recorder.record(A, "Warning", "Failed", "attempt 0");
    await settle();
    equal(dropped.spam, 3);
  });
  await t.step("the bucket refills over time", async () => {
    clock.advance(10_000);
    recorder.record(A, "Warning", "Failed", "attempt 9");
    recorder.record(A, "Warning", "Failed", "attempt 10");
    await settle();
    equal(writer.stored.size, 5);
    equal(dropped.spam, 4);
  });
  stop();
  await running;
});

Deno.test("a full buffer drops and counts instead of blocking the caller", async () => {
  const { writer, recorder, dropped, start, stop } = setup({ bufferSize: 2 });
  writer.hold(); // the API server does not answer
  const running = start();
  recorder.record(A, "Normal", "R", "0"); // taken by the loop, in flight
  await settle();
  for (let i = 1; i <= 5; i++) recorder.record(A, "Normal", "R", String(i));
  equal(recorder.buffered, 2);
  equal(dropped.buffer_full, 3);
  writer.release();
  await settle();
  equal(writer.stored.size, 3);
  equal(recorder.buffered, 0);
  stop();
  await running;
});

Deno.test("the recorder's own budget paces its writes", async () => {
  const { clock, writer, recorder, start, stop } = setup({ qps: 10, burst: 2 });
  const running = start();
  for (let i = 0; i < 4; i++) recorder.record(A, "Normal", "R", String(i));
  await settle();
  equal(writer.stored.size, 2);
  clock.advance(100);
  await settle();
  equal(writer.stored.size, 3);
  clock.advance(100);
  await settle();
  equal(writer.stored.size, 4);
  stop();
  await running;
});

Deno.test("flush at shutdown writes what it can before the deadline and counts the rest", async (t) => {
  await t.step("with the loop running", async () => {
    const { clock, writer, recorder, dropped, start, stop } = setup({ qps: 1, burst: 1 });
    const running = start();
    for (let i = 0; i < 3; i++) recorder.record(A, "Normal", "R", String(i));
    await settle();
    equal(writer.stored.size, 1);
    const flushed = recorder.flush(1_500);
    clock.advance(1_000);
    await settle();
    equal(writer.stored.size, 2);
    clock.advance(500);
    await flushed;
    equal(writer.stored.size, 2);
    equal(dropped.shutdown, 1);
    recorder.record(A, "Normal", "R", "late");
    equal(dropped.shutdown, 2, "records after the flush are dropped");
    stop();
    await running;
  });
  await t.step("without a loop, flush writes the buffer itself", async () => {
    const { writer, recorder, dropped } = setup();
    for (let i = 0; i < 3; i++) recorder.record(B, "Warning", "W", String(i));
    equal(writer.stored.size, 0);
    await recorder.flush(1_000);
    equal(writer.stored.size, 3);
    equal(dropped.shutdown, undefined);
  });
  await t.step("an idle recorder flushes at once", async () => {
    const { recorder, start, stop } = setup();
    const running = start();
    await recorder.flush(60_000); // no timer needs to fire
    stop();
    await running;
  });
});

Deno.test("record never throws: failed writes are counted and reported", async () => {
  const errors: unknown[] = [];
  const { writer, recorder, dropped, start, stop } = setup({
    onError: (error) => errors.push(error),
    observer: {
      recorded: () => {
        throw new Error("observer bug");
      },
      dropped: (r) => dropped[r] = (dropped[r] ?? 0) + 1,
    },
  });
  const running = start();
  writer.fail = new ApiError({ status: 403, reason: "Forbidden", message: "no" });
  recorder.record(A, "Normal", "R", "x");
  await settle();
  equal(dropped.write_failed, 1);
  equal(errors.length, 1);
  writer.fail = undefined;
  recorder.record(A, "Normal", "R", "x"); // the failed create left no series behind
  await settle();
  deepEqual(writer.calls, ["create R 1"]);
  stop();
  await running;
});

Deno.test("series state is forgotten after its window", async () => {
  const { clock, recorder, start, stop } = setup();
  const running = start();
  for (let i = 0; i < 10; i++) recorder.record(A, "Normal", "R", String(i));
  await settle();
  equal(recorder.seriesKept, 10);
  clock.advance(400_000);
  recorder.record(B, "Normal", "R", "wake the loop");
  await settle();
  equal(recorder.seriesKept, 1);
  stop();
  await running;
});
