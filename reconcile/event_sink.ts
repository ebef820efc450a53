/**
 * Events as a fire-and-forget sink (SPEC 7: events are wanted, but best effort). The reconciler's
 * apply step hands each planned event to an `EventSink` and never awaits it: an event write must
 * not hold a reconcile, and a failed one must not re-run a reconcile whose writes succeeded.
 *
 * `EventSink.record(regarding, type, reason, note)` is the shape agreed for the shared
 * `EventRecorder` (apis/events.ts, issue 15). Until that lands, `EventQueue` implements it over
 * the plain `events.k8s.io/v1` create: an owned, bounded, serialised background queue.
 * - `record` never blocks and never throws; the event's time is taken when it is recorded;
 * - `run(signal)` is the queue's one loop (writes one event at a time); it ends when `signal`
 *   aborts; `flush(deadlineMs)` then writes what is still queued, giving up at the deadline;
 * - at most `capacity` (default 1000) events wait; beyond that the oldest are dropped (counted,
 *   logged once per burst) — a flood of events must not grow memory without bound.
 *
 * Event shape: `reportingController: kleym.sonda.red/kleym`, `action: Reconcile`, name
 * `<object>.<unix nanos in hex><random>` (client-go's naming), note cut to 1 kB.
 */
import type { Event as KubeEvent } from "kubernetes-types/events/v1.d.ts";
import { type Clock, realClock } from "../apis/clock.ts";
import { type KubeObject, ResourceClient, type RestClient } from "../apis/rest.ts";
import type { Logger } from "../observe/log.ts";

/** What an event is about (the agreed shared shape). */
export interface EventRegarding {
  apiVersion: string;
  kind: string;
  name: string;
  namespace?: string;
  uid?: string;
}

export type EventType = "Normal" | "Warning";

/** Never blocks, never throws. */
export interface EventSink {
  record(regarding: EventRegarding, type: EventType, reason: string, note: string): void;
}

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

/** `reportingController` of every event kleym records. */
export const EVENT_REPORTER = "kleym.sonda.red/kleym";

export interface EventQueueOptions {
  events: ResourceClient<EventObject>;
  /** `reportingInstance` (the operator's identity). */
  instance: string;
  logger: Logger;
  clock?: Clock;
  capacity?: number;
}

export class EventQueue implements EventSink {
  readonly #opts: EventQueueOptions;
  readonly #clock: Clock;
  readonly #capacity: number;
  #queue: EventObject[] = [];
  #dropped = 0;
  #wake: (() => void) | undefined;

  constructor(opts: EventQueueOptions) {
    this.#opts = opts;
    this.#clock = opts.clock ?? realClock;
    this.#capacity = Math.max(1, opts.capacity ?? 1000);
  }

  /** Events waiting to be written. */
  get pending(): number {
    return this.#queue.length;
  }

  record(regarding: EventRegarding, type: EventType, reason: string, note: string): void {
    try {
      this.#queue.push(this.#event(regarding, type, reason, note));
      if (this.#queue.length > this.#capacity) {
        this.#queue.shift();
        if (this.#dropped++ === 0) {
          this.#opts.logger.warn("event queue full; dropping the oldest events", {
            capacity: this.#capacity,
          });
        }
      }
      this.#wake?.();
    } catch {
      // never throws (a logger or clock failure must not break a reconcile)
    }
  }

  /** The queue's loop: writes events one at a time until `signal` aborts. */
  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      if (this.#queue.length === 0) {
        await new Promise<void>((resolve) => {
          const done = () => {
            signal.removeEventListener("abort", done);
            this.#wake = undefined;
            resolve();
          };
          this.#wake = done;
          signal.addEventListener("abort", done, { once: true });
        });
        continue;
      }
      this.#dropped = 0;
      await this.#write(this.#queue.shift()!, signal);
    }
  }

  /** Writes what is still queued (call after `run` ended), giving up after `deadlineMs`. */
  async flush(deadlineMs: number): Promise<void> {
    const signal = AbortSignal.timeout(deadlineMs);
    while (this.#queue.length > 0 && !signal.aborted) {
      await this.#write(this.#queue.shift()!, signal);
    }
    if (this.#queue.length > 0) {
      this.#opts.logger.warn("events not written before shutdown", { count: this.#queue.length });
      this.#queue = [];
    }
  }

  async #write(event: EventObject, signal: AbortSignal): Promise<void> {
    try {
      await this.#opts.events.create(event, { signal });
    } catch (error) {
      if (signal.aborted) return;
      this.#opts.logger.warn("could not record event", {
        binding: `${event.regarding?.namespace}/${event.regarding?.name}`,
        reason: event.reason,
        error,
      });
    }
  }

  #event(regarding: EventRegarding, type: EventType, reason: string, note: string): EventObject {
    const now = new Date(this.#clock.now());
    return {
      apiVersion: "events.k8s.io/v1",
      kind: "Event",
      metadata: {
        // client-go's naming: <object>.<unix nanos in hex>; trimmed so it stays a valid name.
        name: `${regarding.name.slice(0, 200)}.${
          (BigInt(now.getTime()) * 1_000_000n).toString(16)
        }${randomHex(4)}`,
        namespace: regarding.namespace,
      },
      eventTime: microTime(now),
      reportingController: EVENT_REPORTER,
      reportingInstance: this.#opts.instance,
      action: "Reconcile",
      reason,
      // events.k8s.io/v1 limits note to 1 kB.
      note: note.length > 1024 ? `${note.slice(0, 1021)}...` : note,
      type,
      regarding: { ...regarding },
    };
  }
}

/** metav1.MicroTime: RFC 3339 with microseconds. */
function microTime(date: Date): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
}

function randomHex(bytes: number): string {
  return [...crypto.getRandomValues(new Uint8Array(bytes))]
    .map((b) => b.toString(16).padStart(2, "0")).join("");
}
