/**
 * No dead connection goes unnoticed (docs/contract.md#dead-connections), part one: every request
 * that is not a watch has a deadline, from sending it to reading the last byte of the answer.
 * A half-open connection (the peer gone without a FIN or RST) would otherwise hold a reconcile,
 * a LIST or a lease renewal forever. Watches have their own idle limit instead (apis/idle.ts,
 * used by the Informer): they are meant to stay open.
 *
 * `withTimeout(inner, {timeoutMs, server, clock})` is a transport wrapper. On the deadline the
 * request's signal aborts with a `ConnectionError` whose cause is a `TimeoutError` DOMException:
 * no answer, so retry.ts retries it for idempotent requests like any lost connection, and
 * apis/diagnose.ts words it as "did not answer in time". The timer is cleared once the body has
 * been read with `text()` or has failed (`endingWithText`). `timeoutMs <= 0` turns it off.
 */
import { type Clock, realClock } from "./clock.ts";
import { ConnectionError } from "./errors.ts";
import type { KubeRequest, Transport } from "./transport.ts";

/** Default deadline of a non-watch request. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 60_000;

export interface TimeoutOptions {
  timeoutMs?: number;
  /** For the error message. */
  server: string;
  clock?: Clock;
}

export function isWatchRequest(req: KubeRequest): boolean {
  const w = req.query?.watch;
  return w === true || w === "true" || w === 1 || w === "1";
}

export function withTimeout(inner: Transport, opts: TimeoutOptions): Transport {
  const ms = opts.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  const clock = opts.clock ?? realClock;
  if (ms <= 0) return inner;
  return async (req) => {
    if (isWatchRequest(req)) return await inner(req);
    const deadline = new AbortController();
    const timer = clock.setTimeout(() => {
      deadline.abort(
        new ConnectionError(
          opts.server,
          new DOMException(
            `no answer to ${req.method} ${req.path} within ${ms} ms`,
            "TimeoutError",
          ),
        ),
      );
    }, ms);
    const done = () => clock.clearTimeout(timer);
    const signal = req.signal === undefined
      ? deadline.signal
      : AbortSignal.any([req.signal, deadline.signal]);
    let res: Response;
    try {
      res = await inner({ ...req, signal });
    } catch (error) {
      done();
      throw error;
    }
    if (res.body === null) {
      done();
      return res;
    }
    return endingWithText(res, done);
  };
}

/**
 * `res` itself, whose `text()` calls `done` once it has read the body or failed. Not a new
 * `Response` around the body (Deno pipes a body handed to `new Response` through a JavaScript
 * stream) and not a stream in between: `fetch`'s bodies are then read natively, in one piece,
 * which keeps the 10,000-object lists' chunks out of the JavaScript heap (docs/benchmarks.md "The
 * response path"). Every body kleym reads that is not a watch is read with `text()` (rest.ts,
 * errors.ts); a body read any other way (or cancelled) keeps its deadline armed until it fires,
 * which then aborts a request that has already finished: nothing.
 */
function endingWithText(res: Response, done: () => void): Response {
  const text = res.text.bind(res);
  return Object.defineProperty(res, "text", {
    value: async (): Promise<string> => {
      try {
        return await text();
      } finally {
        done();
      }
    },
  });
}
