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
 * `maxAttempts` the last response is returned (and becomes an `ApiError` in `rest.ts`) or the last
 * error rethrown.
 */
import { type Clock, delay, realClock } from "./clock.ts";
import { ConnectionError, parseRetryAfter } from "./errors.ts";
import type { KubeRequest, Transport } from "./transport.ts";

export interface RetryOptions {
  /** Total attempts including the first. Default 5. */
  maxAttempts?: number;
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
  const base = opts.baseDelayMs ?? 200;
  const cap = opts.maxDelayMs ?? 10_000;
  const maxRetryAfter = opts.maxRetryAfterMs ?? 60_000;
  const clock = opts.clock ?? realClock;
  const random = opts.random ?? Math.random;

  return async (req) => {
    if (isWatch(req)) return await inner(req);
    const idempotent = isIdempotent(req);
    for (let attempt = 0;; attempt++) {
      const last = attempt + 1 >= maxAttempts;
      let res: Response;
      try {
        res = await inner(req);
      } catch (err) {
        if (last || !idempotent || !(err instanceof ConnectionError)) throw err;
        if (!await delay(clock, backoffMs(attempt, base, cap, random), req.signal)) {
          throw req.signal?.reason ?? err;
        }
        continue;
      }
      const retryAfter = parseRetryAfter(res.headers.get("Retry-After"));
      const retriable = res.status === 429 ||
        (res.status >= 500 && res.status !== 501 && (idempotent || retryAfter !== undefined));
      if (!retriable || last) return res;
      await res.body?.cancel();
      const wait = Math.max(
        backoffMs(attempt, base, cap, random),
        Math.min(maxRetryAfter, (retryAfter ?? 0) * 1000),
      );
      if (!await delay(clock, wait, req.signal)) req.signal?.throwIfAborted();
    }
  };
}
