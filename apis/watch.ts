/**
 * `Informer<T>`: the owner of one resource's list+watch loop and its `Cache<T>`.
 *
 * Loop (`run(signal)`, one per informer, ends when `signal` aborts):
 *   1. list (paginated) -> `cache.replace(items)`; handlers get the difference against what the
 *      cache held before (adds, updates, deletes), so a relist after an outage reports exactly what
 *      was missed. The cache is then `synced`.
 *   2. watch from the list's resourceVersion with `allowWatchBookmarks=true`. Each event is applied
 *      to the cache, then handlers run; the resume point (`resourceVersion`) advances with every
 *      event, bookmarks included.
 *   3. on any end of the stream (server timeout, cut connection, parse error, error status) the
 *      watch is reopened from the resume point after a jittered backoff that grows while failures
 *      repeat; `restarts` counts these. A watch that delivers nothing (no event, no bookmark) for
 *      `idleTimeoutMs` is closed and reopened at once (apis/idle.ts; `idleReopens` counts these).
 *      A `410 Gone` (HTTP status or an ERROR event with code 410)
 *      drops the resume point, so step 1 runs again.
 *
 * `relist()` (the resync safety net) closes the open watch and runs step 1 again at once, so a
 * change the watch never delivered (a lost event) reaches the handlers as part of the list's
 * difference.
 *
 * Never double-applied: an ADDED/MODIFIED whose resourceVersion equals the cached copy's is
 * ignored, and so is a DELETED for a key the cache does not hold. Never lost: the resume point
 * only moves past events that have been applied.
 *
 * Not served (404 on list or watch, e.g. the CRD is absent or was removed): the cache is emptied
 * (handlers see deletes), `hasSynced()` turns false, the status becomes `notServed`, and the list is
 * retried every `notServedRetryMs` (default 30 s) — the informer never throws for this. Other
 * failures are reported through `status()` / `onStatus` / `onError` and retried with backoff.
 *
 * Transform (`transform`, like client-go's TransformFunc): every object from a list or a watch
 * event goes through it before it is cached or handed to handlers, so the cache can hold a
 * smaller copy (apis/slim.ts). It must keep `metadata.name`, `namespace` and `resourceVersion`;
 * whoever writes an object back must not base the write on fields the transform dropped.
 *
 * Handlers (`addHandler({onAdd, onUpdate, onDelete, onProgress, onReset})`) run synchronously in
 * event order after the cache has been updated, with frozen objects. A handler registered on a
 * synced informer first gets `onAdd` for every cached object. A throwing handler is reported via
 * `onError` and does not stop the loop.
 */
import { ApiError, decodeStatus } from "./errors.ts";
import { Cache, deepFreeze, objectKey } from "./cache.ts";
import { freezeInterned } from "./intern.ts";
import { type Clock, delay, realClock } from "./clock.ts";
import { DEFAULT_WATCH_IDLE_MS, IdleTimer, WatchIdleError } from "./idle.ts";
import { backoffMs } from "./retry.ts";
import type { KubeObject, ResourceClient, WatchEvent } from "./rest.ts";
import {
  HandlerSet,
  type InformerHandlers,
  type InformerOptions,
  type InformerStatus,
} from "./informer_types.ts";

export type {
  InformerHandlers,
  InformerOptions,
  InformerState,
  InformerStatus,
} from "./informer_types.ts";

export class Informer<T extends KubeObject> {
  readonly cache = new Cache<T>();
  readonly client: ResourceClient<T>;
  readonly #opts: InformerOptions<T>;
  readonly #transform: (obj: T) => T;
  readonly #clock: Clock;
  readonly #random: () => number;
  readonly #handlers: HandlerSet<T>;
  #syncWaiters: (() => void)[] = [];
  #status: InformerStatus = { state: "starting" };
  #restarts = 0;
  #relists = 0;
  #idleReopens = 0;
  #running = false;
  /** The open watch's controller, while one is open (`relist` aborts it). */
  #attempt: AbortController | undefined;
  #relistRequested = false;
  /** Resume point; undefined means "list first". */
  #resourceVersion: string | undefined;

  constructor(client: ResourceClient<T>, opts: InformerOptions<T> = {}) {
    this.client = client;
    this.#opts = opts;
    this.#transform = opts.transform ?? ((obj) => obj);
    this.#clock = opts.clock ?? realClock;
    this.#random = opts.random ?? Math.random;
    this.#handlers = new HandlerSet<T>((err) => this.#report(err));
  }

  /** Watch reconnections so far (every reopen after the first watch, whatever the cause). */
  get restarts(): number {
    return this.#restarts;
  }

  /** Watches reopened because they delivered nothing for the idle limit (apis/idle.ts). */
  get idleReopens(): number {
    return this.#idleReopens;
  }

  /** Lists after the first one (410 Gone, or recovery from not-served). */
  get relists(): number {
    return this.#relists;
  }

  /** The resourceVersion the next watch resumes from. */
  get resourceVersion(): string | undefined {
    return this.#resourceVersion;
  }

  status(): InformerStatus {
    return this.#status;
  }

  hasSynced(): boolean {
    return this.cache.synced;
  }

  /** Resolves `true` once synced, `false` if `signal` aborts first. */
  waitForSync(signal?: AbortSignal): Promise<boolean> {
    if (this.cache.synced) return Promise.resolve(true);
    if (signal?.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const onAbort = () => {
        this.#syncWaiters = this.#syncWaiters.filter((w) => w !== done);
        resolve(false);
      };
      const done = () => {
        signal?.removeEventListener("abort", onAbort);
        resolve(true);
      };
      this.#syncWaiters.push(done);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  /** Register handlers; returns a function that unregisters them. */
  addHandler(h: InformerHandlers<T>): () => void {
    return this.#handlers.add(h, this.cache.synced ? this.cache.list() : []);
  }

  /** Run the list/watch loop until `signal` aborts. Never rejects for API failures. */
  async run(signal: AbortSignal): Promise<void> {
    if (this.#running) throw new Error("Informer.run is already running");
    this.#running = true;
    let failures = 0;
    let listed = false;
    try {
      while (!signal.aborted) {
        let waitMs = 0;
        try {
          if (this.#resourceVersion === undefined) {
            if (listed) this.#relists++;
            listed = true;
            await this.#list(signal);
            failures = 0;
          }
          const progressed = await this.#watch(signal);
          if (signal.aborted) break;
          if (this.#takeRelist()) continue;
          this.#restarts++;
          if (progressed) failures = 0;
          waitMs = backoffMs(failures++, this.#base, this.#cap, this.#random);
        } catch (err) {
          if (signal.aborted) break;
          if (this.#takeRelist()) continue;
          if (err instanceof ApiError && err.isGone() && this.#resourceVersion !== undefined) {
            // too old: relist right away (the relist reports what we missed)
            this.#resourceVersion = undefined;
            this.#restarts++;
            this.#setStatus({ state: "listing", lastError: err });
            continue;
          }
          this.#report(err);
          if (err instanceof ApiError && err.isNotFound()) {
            this.#notServed(err);
            waitMs = this.#opts.notServedRetryMs ?? 30_000;
            failures = 0;
          } else {
            if (this.#resourceVersion !== undefined) this.#restarts++;
            waitMs = backoffMs(failures++, this.#base, this.#cap, this.#random);
            this.#setStatus({ state: "backoff", lastError: err });
          }
        }
        if (waitMs > 0 && !await delay(this.#clock, waitMs, signal)) break;
      }
    } finally {
      this.#running = false;
      this.#setStatus({ ...this.#status, state: "stopped" });
    }
  }

  /**
   * Replace the cache from a fresh LIST soon (the resync safety net): the open watch is closed,
   * the list's difference goes to the handlers (a delete the watch never delivered included), and
   * the watch resumes from the list. No-op while a list is due anyway; counts as a relist.
   */
  relist(): void {
    if (!this.#running || this.#resourceVersion === undefined) return;
    if (this.#attempt === undefined) {
      this.#resourceVersion = undefined; // in backoff: the next round lists
      return;
    }
    this.#relistRequested = true;
    this.#attempt.abort(new Error("relist requested"));
  }

  #takeRelist(): boolean {
    if (!this.#relistRequested) return false;
    this.#relistRequested = false;
    this.#resourceVersion = undefined;
    return true;
  }

  get #base(): number {
    return this.#opts.backoffBaseMs ?? 200;
  }

  get #cap(): number {
    return this.#opts.backoffMaxMs ?? 30_000;
  }

  async #list(signal: AbortSignal): Promise<void> {
    this.#setStatus({ state: "listing", lastError: this.#status.lastError });
    const list = await this.client.listAll({
      namespace: this.#opts.namespace,
      labelSelector: this.#opts.labelSelector,
      fieldSelector: this.#opts.fieldSelector,
      limit: this.#opts.pageSize ?? 500,
      signal,
    }, (obj) => freezeInterned(this.#transform(obj))); // frozen page by page, in the pipeline
    const diff = this.cache.replace(list.items);
    this.#resourceVersion = list.metadata.resourceVersion ?? "";
    this.#progress(this.#resourceVersion, true);
    for (const o of diff.deleted) this.#emit((h) => h.onDelete?.(o));
    for (const u of diff.updated) this.#emit((h) => h.onUpdate?.(u.old, u.obj));
    for (const o of diff.added) this.#emit((h) => h.onAdd?.(o));
    if (!this.cache.synced) {
      this.cache.synced = true;
      const waiters = this.#syncWaiters;
      this.#syncWaiters = [];
      for (const w of waiters) w();
    }
    this.#setStatus({ state: "watching" });
  }

  /** One watch connection; resolves when it ends cleanly, `true` if it delivered anything. */
  async #watch(signal: AbortSignal): Promise<boolean> {
    const attempt = new AbortController();
    this.#attempt = attempt;
    const stop = () => attempt.abort(signal.reason);
    signal.addEventListener("abort", stop, { once: true });
    let progressed = false;
    // docs/contract.md#dead-connections: a watch quiet for longer than the limit is reopened.
    const idleMs = this.#opts.idleTimeoutMs ?? DEFAULT_WATCH_IDLE_MS;
    const idle = new IdleTimer(
      this.#clock,
      idleMs,
      () => attempt.abort(new WatchIdleError(idleMs)),
    );
    try {
      const timeout = this.#opts.watchTimeoutSeconds?.() ?? Math.floor(300 + this.#random() * 300);
      const stream = await this.client.watch({
        namespace: this.#opts.namespace,
        labelSelector: this.#opts.labelSelector,
        fieldSelector: this.#opts.fieldSelector,
        resourceVersion: this.#resourceVersion,
        allowWatchBookmarks: true,
        timeoutSeconds: timeout,
        signal: attempt.signal,
      });
      this.#setStatus({ state: "watching" });
      for await (const ev of stream) {
        idle.touch();
        try {
          this.#apply(ev);
        } catch (err) {
          // tear the pipe down first, so leaving the loop never waits on the network
          attempt.abort(err);
          throw err;
        }
        progressed = true;
      }
      return progressed;
    } catch (err) {
      const reason = attempt.signal.reason;
      if (!(reason instanceof WatchIdleError) || signal.aborted) throw err;
      this.#idleReopens++;
      this.#report(reason);
      return true; // not a failure: reopen at once, from the resume point
    } finally {
      idle.stop();
      signal.removeEventListener("abort", stop);
      this.#attempt = undefined;
      attempt.abort();
    }
  }

  #apply(ev: WatchEvent<T>): void {
    switch (ev.type) {
      case "BOOKMARK":
        this.#resourceVersion = ev.object.metadata.resourceVersion;
        this.#progress(this.#resourceVersion, false);
        return;
      case "ERROR": {
        const st = decodeStatus(ev.object) ?? ev.object;
        throw ApiError.fromStatus(st);
      }
      case "ADDED":
      case "MODIFIED": {
        const obj = this.#transform(ev.object);
        const key = objectKey(obj);
        const rv = obj.metadata.resourceVersion;
        if (rv !== undefined && this.cache.resourceVersionOf(key) === rv) {
          this.#resourceVersion = rv;
          this.#progress(rv, false);
          return;
        }
        const old = this.cache.upsert(obj);
        if (rv !== undefined) this.#resourceVersion = rv;
        this.#progress(rv, false);
        if (this.#status.lastError !== undefined) this.#setStatus({ state: "watching" });
        if (old) this.#emit((h) => h.onUpdate?.(old, obj));
        else this.#emit((h) => h.onAdd?.(obj));
        return;
      }
      case "DELETED": {
        const obj = this.#transform(ev.object);
        const rv = obj.metadata.resourceVersion;
        const old = this.cache.delete(objectKey(obj));
        if (rv !== undefined) this.#resourceVersion = rv;
        this.#progress(rv, false);
        if (!old) return;
        deepFreeze(obj);
        this.#emit((h) => h.onDelete?.(obj));
        return;
      }
    }
  }

  #notServed(err: unknown): void {
    this.#resourceVersion = undefined;
    const gone = this.cache.replace([]);
    this.cache.synced = false;
    this.#emit((h) => h.onReset?.());
    for (const o of gone.deleted) this.#emit((h) => h.onDelete?.(o));
    this.#setStatus({ state: "notServed", lastError: err });
  }

  #progress(rv: string | undefined, listed: boolean): void {
    if (rv !== undefined) this.#emit((h) => h.onProgress?.(rv, listed));
  }

  #emit(fn: (h: InformerHandlers<T>) => void): void {
    this.#handlers.emit(fn);
  }

  #report(err: unknown): void {
    try {
      this.#opts.onError?.(err);
    } catch {
      // reporting must not break the loop
    }
  }

  #setStatus(s: InformerStatus): void {
    const changed = s.state !== this.#status.state || s.lastError !== this.#status.lastError;
    this.#status = s;
    if (!changed) return;
    try {
      this.#opts.onStatus?.(s);
    } catch {
      // observers must not break the loop
    }
  }
}
