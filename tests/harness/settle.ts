/**
 * "The operator has finished": what a quiet-window test waits for before its window opens
 * (docs/testing.md, "Rules the tests follow"). Converged objects are not enough: the controller
 * writes a binding's event after its status, so status can look final while a write is still on its
 * way.
 *
 * Settled means, for `consecutive` reads in a row (`intervalMs` apart):
 *   - the work queue is idle: `kleym_workqueue_depth` 0 and `kleym_workqueue_in_flight` 0 (the
 *     queue reports both at every change, so a read is exact, never a stale sample);
 *   - nothing the controller started is still pending (`pending` 0: write requests in flight in
 *     its transport, for an in-process controller; anything else a caller can count, such as
 *     buffered events, may be added to it);
 *   - the write-request counter did not move between the reads.
 * Every condition is a property of the operator's own state, so no scheduling delay can make it
 * pass early; a slow machine only makes it take longer (the deadline is a failure bound).
 *
 * `activityFromMetrics` reads the same from an operator process's `/metrics` text;
 * `trackTransport` is the in-process side: it counts write requests in flight and can delay
 * chosen requests (fault injection for the steady-state test).
 */
import { describeRequest, type Verb } from "../../apis/hooks.ts";
import type { KubeRequest, Transport } from "../../apis/transport.ts";
import { requestsByVerb, sample, WRITE_VERBS, writesOf } from "./metrics.ts";
import { delay, pollUntil } from "./poll.ts";

export interface Activity {
  depth: number;
  inFlight: number;
  /** Requests started but not answered (or other work not yet sent); 0 if unknown. */
  pending?: number;
  /** Write requests so far (create/update/patch/delete/deletecollection). */
  writes: number;
}

export interface SettleOptions {
  deadlineMs?: number;
  /** Reads in a row that must all be idle with an unchanged write counter. Default 3. */
  consecutive?: number;
  /** Pause between reads. Default 200 ms. */
  intervalMs?: number;
  signal?: AbortSignal;
}

/** Resolves with the last read once the operator has settled (see the module comment). */
export async function waitSettled(
  what: string,
  read: () => Activity | Promise<Activity>,
  opts: SettleOptions = {},
): Promise<Activity> {
  const consecutive = opts.consecutive ?? 3;
  let run = 0;
  let previous: Activity | undefined;
  return await pollUntil(`${what} settled`, opts.deadlineMs ?? 60_000, async () => {
    const now = await read();
    const idle = now.depth === 0 && now.inFlight === 0 && (now.pending ?? 0) === 0;
    run = idle && previous !== undefined && previous.writes === now.writes ? run + 1 : idle ? 1 : 0;
    previous = now;
    return run >= consecutive ? now : undefined;
  }, { intervalMs: opts.intervalMs ?? 200, signal: opts.signal });
}

export function isWrite(verb: Verb): boolean {
  return WRITE_VERBS.includes(verb);
}

/** `Activity` of an operator process from its `/metrics` text. */
export function activityFromMetrics(text: string): Activity {
  // the scrape reviews of a secure endpoint are not the operator's writes (requestsByVerb)
  const writes = writesOf(requestsByVerb(text));
  return {
    depth: sample(text, "kleym_workqueue_depth") ?? NaN,
    inFlight: sample(text, "kleym_workqueue_in_flight") ?? NaN,
    // Events recorded but not yet written by the asynchronous recorder (apis/events.ts).
    pending: sample(text, "kleym_events_buffered") ?? 0,
    writes,
  };
}

export interface TrackedTransport {
  transport: Transport;
  /** Write requests started and not yet answered (including an injected delay). */
  writesInFlight(): number;
  /** Write requests started so far. */
  writesStarted(): number;
  /** Delays every request `match` accepts by `ms` before it is sent (0: none). */
  delayWhere(match: ((req: KubeRequest) => boolean) | undefined, ms: number): void;
}

/** Wraps a transport (outermost, so it sees logical requests) to count and delay writes. */
export function trackTransport(inner: Transport): TrackedTransport {
  let inFlight = 0;
  let started = 0;
  let match: ((req: KubeRequest) => boolean) | undefined;
  let delayMs = 0;
  const transport: Transport = async (req) => {
    const write = isWrite(describeRequest(req).verb);
    if (write) {
      inFlight++;
      started++;
    }
    try {
      if (delayMs > 0 && match?.(req)) await delay(delayMs, req.signal);
      return await inner(req);
    } finally {
      if (write) inFlight--;
    }
  };
  return {
    transport,
    writesInFlight: () => inFlight,
    writesStarted: () => started,
    delayWhere(m, ms) {
      match = m;
      delayMs = ms;
    },
  };
}

/** Matches event writes (events.k8s.io or core events). */
export function isEventWrite(req: KubeRequest): boolean {
  const { verb, resource } = describeRequest(req);
  return isWrite(verb) && (resource === "events.events.k8s.io" || resource === "events");
}
