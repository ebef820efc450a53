/**
 * What an `Informer` (apis/watch.ts) promises its users: options, status, and the handlers it
 * calls, kept in a `HandlerSet` that runs them in registration order and reports (never throws)
 * a handler's failure.
 */
import type { Clock } from "./clock.ts";
import type { KubeObject } from "./rest.ts";

export interface InformerHandlers<T> {
  onAdd?(obj: T): void;
  onUpdate?(old: T, obj: T): void;
  onDelete?(obj: T): void;
  /**
   * The cache now reflects every change up to `resourceVersion`: called for every event the
   * watch delivers (including ones the cache ignores, such as the delete of a key it never held),
   * every bookmark, and every list (`listed`: the cache was replaced from a fresh LIST). Called
   * before the event's onAdd/onUpdate/onDelete. The read-your-writes view (mutation_cache.ts)
   * uses it as its watermark.
   */
  onProgress?(resourceVersion: string, listed: boolean): void;
  /** The cache was emptied because the resource is not served. */
  onReset?(): void;
}

export type InformerState =
  | "starting"
  | "listing"
  | "watching"
  | "backoff"
  | "notServed"
  | "stopped";

export interface InformerStatus {
  state: InformerState;
  /** Last failure, cleared by the next successful list or watch event. */
  lastError?: unknown;
}

export interface InformerOptions<T = KubeObject> {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  /**
   * List page size. Default 500: with pages fetched one ahead of the transform (`listAll`),
   * a 10,000-binding restart reaches /readyz in 4.5-4.9 s instead of 6.0-6.2 s at 100, for
   * ~10 MiB more peak (docs/benchmarks.md "Restart at 10,000").
   */
  pageSize?: number;
  clock?: Clock;
  random?: () => number;
  /** Reconnect backoff: first delay (default 200 ms) and cap (default 30 s). */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** Retry interval while the resource is not served. Default 30 s. */
  notServedRetryMs?: number;
  /** Reopen a watch that delivers nothing for this long (apis/idle.ts; default 150 s; 0: off). */
  idleTimeoutMs?: number;
  /** Server-side watch timeout; default random in [300, 600) s, like client-go. */
  watchTimeoutSeconds?: () => number;
  onStatus?: (status: InformerStatus) => void;
  onError?: (err: unknown) => void;
  /** Applied to every listed or watched object before the cache and handlers see it. */
  transform?: (obj: T) => T;
}

/** Registered handlers; `emit` calls each, a throwing one is reported and the rest still run. */
export class HandlerSet<T> {
  readonly #handlers = new Set<InformerHandlers<T>>();
  readonly #report: (err: unknown) => void;

  constructor(report: (err: unknown) => void) {
    this.#report = report;
  }

  /** Adds `h`, first replaying `cached` as adds; returns the removal. */
  add(h: InformerHandlers<T>, cached: readonly T[]): () => void {
    this.#handlers.add(h);
    for (const obj of cached) this.#call(() => h.onAdd?.(obj));
    return () => {
      this.#handlers.delete(h);
    };
  }

  emit(fn: (h: InformerHandlers<T>) => void): void {
    for (const h of [...this.#handlers]) this.#call(() => fn(h));
  }

  #call(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.#report(err);
    }
  }
}
