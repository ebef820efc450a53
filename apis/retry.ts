/**
 * Retries for transient failures, as a transport wrapper.
 *
 * Retried: 429 (any verb: the server did not process it); 5xx except 501 for idempotent requests
 * (GET, PUT, DELETE, server-side apply PATCH) or for any request when the server sent Retry-After;
 * `ConnectionError` (no answer) for idempotent requests only. A PUT retried after a lost response
 * may then see 409 Conflict, which the caller handles like any conflict.
 *
 * Watch requests are never retried here: the Informer owns that loop. Delay: jittered exponential
 * backoff (base 200 ms, cap 10 s), or Retry-After when longer (capped at 60 s). After
 * `maxAttempts` (429: `maxThrottledAttempts`, default 10 like client-go's Retry-After loop, since
 * a throttling server processed nothing) the last response is returned (and becomes an
 * `ApiError` in `rest.ts`) or the last error rethrown. `onThrottled` hears of every 429 that is
 * about to be retried (the operator's throttling log).
 */
import { type Clock, delay, realClock } from "./clock.ts";
import { ConnectionError, parseRetryAfter } from "./errors.ts";
import type { KubeRequest, Transport } from "./transport.ts";

/** A 429 that is about to be retried. */
export interface ThrottleInfo {
  method: KubeRequest["method"];
  path: string;
  /** The wait before the next attempt. */
  retryAfterMs: number;
  /** 1 for the first retry. */
  attempt: number;
}

export interface RetryOptions {
  /** Total attempts including the first. Default 5. */
  maxAttempts?: number;
  /** Total attempts of a request the server keeps answering with 429. Default 10. */
  maxThrottledAttempts?: number;
  onThrottled?: (info: ThrottleInfo) => void;
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Upper bound on honoured Retry-After. Default 60 s. */
  maxRetryAfterMs?: number;
  clock?: Clock;
  random?: () => number;
}

export function isIdempotent(req: KubeRequest): boolean {
  if (req.method === "GET" || req.method === "PUT" || req.method === "DELETE") return true;
  const ct = Object.entries(req.headers ?? {}).find(([k]) => k.toLowerCase() === "content-type")
    ?.[1];
  return req.method === "PATCH" && ct === "application/apply-patch+yaml";
}

function isWatch(req: KubeRequest): boolean {
  const w = req.query?.watch;
  return w === true || w === "true" || w === 1 || w === "1";
}

/** Jittered exponential backoff: attempt 0 -> ~base, doubling, capped; jitter in [0.5, 1.5). */
export function backoffMs(
  attempt: number,
  baseMs: number,
  maxMs: number,
  random: () => number,
): number {
  const raw = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 30));
  return Math.min(maxMs, Math.round(raw * (0.5 + random())));
}

export function withRetry(inner: Transport, opts: RetryOptions = {}): Transport {
  const maxAttempts = Math.max(1, opts.maxAttempts ?? 5);
  const maxThrottled = Math.max(maxAttempts, opts.maxThrottledAttempts ?? 10);
  const base = opts.baseDelayMs ?? 200;
  const cap = opts.maxDelayMs ?? 10_000;
  const maxRetryAfter = opts.maxRetryAfterMs ?? 60_000;
  const clock = opts.clock ?? realClock;
  const random = opts.random ?? Math.random;

  return async (req) => {
    if (isWatch(req)) return await inner(req);
    const idempotent = isIdempotent(req);
    for (let attempt = 0;; attempt++) {
      let res: Response;
      try {
        res = await inner(req);
      } catch (err) {
        const last = attempt + 1 >= maxAttempts;
        if (last || !idempotent || !(err instanceof ConnectionError)) throw err;
        if (!await delay(clock, backoffMs(attempt, base, cap, random), req.signal)) {
          throw req.signal?.reason ?? err;
        }
        continue;
      }
      const retryAfter = parseRetryAfter(res.headers.get("Retry-After"));
      const throttled = res.status === 429;
      const retriable = throttled ||
        (res.status >= 500 && res.status !== 501 && (idempotent || retryAfter !== undefined));
      const last = attempt + 1 >= (throttled ? maxThrottled : maxAttempts);
      if (!retriable || last) return res;
      await res.body?.cancel();
      const wait = Math.max(
        backoffMs(attempt, base, cap, random),
        Math.min(maxRetryAfter, (retryAfter ?? 0) * 1000),
      );
      if (throttled) {
        try {
          opts.onThrottled?.({
            method: req.method,
            path: req.path,
            retryAfterMs: wait,
            attempt: attempt + 1,
          });
        } catch {
          // an observer must not break the request
        }
      }
      if (!await delay(clock, wait, req.signal)) req.signal?.throwIfAborted();
    }
  };
}
