/**
 * The events.k8s.io/v1 side of the event recorder (apis/events.ts): the Event object kleym
 * creates and the two writes it makes (create, series patch), behind `EventWriter` so unit tests
 * use an in-memory writer.
 */
import type { Event as KubeEvent, EventSeries } from "kubernetes-types/events/v1.d.ts";
import type { EventRegarding } from "./events.ts";
import { type KubeObject, ResourceClient, type RestClient } from "./rest.ts";

/** `events.k8s.io/v1` Event as kleym writes it. */
export type EventObject = KubeEvent & KubeObject;

export const EVENTS_RESOURCE = {
  group: "events.k8s.io",
  version: "v1",
  plural: "events",
  kind: "Event",
  namespaced: true,
} as const;

export function eventsClient(rest: RestClient): ResourceClient<EventObject> {
  return new ResourceClient<EventObject>(rest, { ...EVENTS_RESOURCE });
}

/** The two writes the recorder makes. */
export interface EventWriter {
  create(event: EventObject, signal: AbortSignal): Promise<EventObject>;
  /** Merge patch of `series`; rejects with a 404 `ApiError` when the Event is gone. */
  patchSeries(
    namespace: string,
    name: string,
    series: EventSeries,
    signal: AbortSignal,
  ): Promise<EventObject>;
}

export function apiEventWriter(rest: RestClient): EventWriter {
  const events = eventsClient(rest);
  return {
    create: (event, signal) => events.create(event, { signal }),
    patchSeries: (namespace, name, series, signal) =>
      events.patch(name, "merge", { series }, { namespace, signal }),
  };
}

/** metav1.MicroTime: RFC 3339 with microseconds. */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
}

/** What an Event is made from: the first observation and the series so far. */
export interface EventFields {
  readonly regarding: EventRegarding;
  readonly type: "Normal" | "Warning";
  readonly reason: string;
  readonly note: string;
  readonly firstMs: number;
  readonly count: number;
  readonly lastMs: number;
}

/** Who reports (the recorder's options). */
export interface EventReporter {
  readonly reportingController: string;
  readonly reportingInstance: string;
  readonly action?: string;
}

/** The Event kleym creates for `series` (client-go's naming and fields). */
export function eventObject(series: EventFields, reporter: EventReporter): EventObject {
  const r = series.regarding;
  const event: EventObject = {
    apiVersion: "events.k8s.io/v1",
    kind: "Event",
    metadata: {
      // client-go's naming: <object>.<unix nanos in hex>; trimmed so it stays a valid name.
      name: `${r.name.slice(0, 200)}.${(BigInt(series.firstMs) * 1_000_000n).toString(16)}${
        randomHex(4)
      }`,
      namespace: namespaceOf(r),
    },
    eventTime: microTime(series.firstMs),
    reportingController: reporter.reportingController,
    reportingInstance: reporter.reportingInstance,
    action: reporter.action ?? "Reconcile",
    reason: series.reason,
    note: series.note,
    type: series.type,
    regarding: {
      apiVersion: r.apiVersion,
      kind: r.kind,
      name: r.name,
      namespace: r.namespace,
      uid: r.uid,
    },
  };
  if (series.count > 1) {
    event.series = { count: series.count, lastObservedTime: microTime(series.lastMs) };
  }
  return event;
}

/** Events about cluster-scoped objects go to "default", as client-go does. */
export function namespaceOf(r: EventRegarding): string {
  return r.namespace || "default";
}

function randomHex(bytes: number): string {
  return [...crypto.getRandomValues(new Uint8Array(bytes))]
    .map((b) => b.toString(16).padStart(2, "0")).join("");
}
