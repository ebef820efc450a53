/**
 * The background event writer (reconcile/event_sink.ts): `record` never blocks or throws, events
 * are written one at a time in order by the owned loop, `flush` writes what is left at shutdown,
 * and a full queue drops the oldest. The events client is a recording stand-in.
 */
import { deepEqual, equal } from "node:assert/strict";
import { FakeClock } from "../../apis/clock.ts";
import type { ResourceClient } from "../../apis/rest.ts";
import { Logger } from "../../observe/log.ts";
import { type EventObject, EventQueue } from "../../reconcile/event_sink.ts";

const regarding = {
  apiVersion: "kleym.sonda.red/v1alpha1",
  kind: "InferenceIdentityBinding",
  name: "b",
  namespace: "ns",
  uid: "u",
};

function setup(capacity?: number) {
  const written: EventObject[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  let release: (() => void) | undefined;
  let hold = false;
  const events = {
    create: async (event: EventObject) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      if (hold) await new Promise<void>((resolve) => release = resolve);
      written.push(event);
      inFlight--;
      return event;
    },
  } as unknown as ResourceClient<EventObject>;
  const warnings: string[] = [];
  const queue = new EventQueue({
    events,
    instance: "pod-1",
    logger: new Logger({ level: "warn", sink: (line) => warnings.push(JSON.parse(line).msg) }),
    clock: new FakeClock(Date.parse("2026-01-01T00:00:00Z")),
    capacity,
  });
  return {
    queue,
    written,
    warnings,
    maxInFlight: () => maxInFlight,
    hold: (on: boolean) => hold = on,
    release: () => release?.(),
  };
}

Deno.test("the event queue writes in the background, in order, one at a time", async (t) => {
  await t.step("record returns at once; run writes each event with kleym's fields", async () => {
    const s = setup();
    const stop = new AbortController();
    s.hold(true);
    const loop = s.queue.run(stop.signal);
    s.queue.record(regarding, "Normal", "Reconciled", "one");
    s.queue.record(regarding, "Warning", "TargetPoolNotFound", "two");
    equal(s.written.length, 0, "record did not wait for the write");
    s.hold(false);
    s.release();
    while (s.written.length < 2) await new Promise((r) => setTimeout(r, 0));
    stop.abort();
    await loop;
    deepEqual(s.written.map((e) => [e.type, e.reason, e.note]), [
      ["Normal", "Reconciled", "one"],
      ["Warning", "TargetPoolNotFound", "two"],
    ]);
    equal(s.maxInFlight(), 1);
    const first = s.written[0];
    deepEqual(first.regarding, regarding);
    equal(first.reportingController, "kleym.sonda.red/kleym");
    equal(first.reportingInstance, "pod-1");
    equal(first.action, "Reconcile");
    equal(first.eventTime, "2026-01-01T00:00:00.000000Z");
    equal(first.metadata.namespace, "ns");
  });

  await t.step("flush writes what is still queued after the loop ended", async () => {
    const s = setup();
    s.queue.record(regarding, "Normal", "Reconciled", "late");
    await s.queue.flush(1_000);
    deepEqual(s.written.map((e) => e.note), ["late"]);
    equal(s.queue.pending, 0);
  });

  await t.step("a full queue drops the oldest and warns once", async () => {
    const s = setup(2);
    for (const note of ["1", "2", "3", "4"]) s.queue.record(regarding, "Normal", "R", note);
    await s.queue.flush(1_000);
    deepEqual(s.written.map((e) => e.note), ["3", "4"]);
    deepEqual(s.warnings, ["event queue full; dropping the oldest events"]);
  });

  await t.step("a note over 1 kB is cut", async () => {
    const s = setup();
    s.queue.record(regarding, "Warning", "R", "x".repeat(2_000));
    await s.queue.flush(1_000);
    equal(s.written[0].note?.length, 1024);
  });
});
