/**
 * `MutationCache<T>`: the read-your-writes view over one `Informer<T>` (client-go's MutationCache
 * is the model). The reconciler reads nothing else.
 *
 * Why: an informer's cache lags behind kleym's own writes. A reconcile that runs in that gap and
 * plans from the old object loses a 409 (or an AlreadyExists) and a retry. So the objects the API
 * server returns for kleym's writes are recorded (`recordWrite`, `recordDelete`) and shown instead
 * of the cached copy — but only while they are newer than anything the watch has delivered.
 *
 * The rule, one comparison: the informer reports its progress (`onProgress`: every event it
 * delivers, deletes of keys it never held included, every bookmark, every list). A watch delivers
 * a resource's changes in resourceVersion order, so once the informer has reached resourceVersion
 * W, every write with a resourceVersion <= W has reached the cache, together with whatever came
 * after it. Hence:
 *
 * - a recorded write with resourceVersion <= W is dropped (and never recorded when it already is
 *   <= W): the cache is the truth. "ADDED rv=5, DELETED rv=6 both delivered, then the create's
 *   answer rv=5 is recorded" records nothing, so the deleted object is never resurrected;
 * - a write newer than W is shown until the watch catches up; an older event arriving meanwhile
 *   (rv=4 after a write that returned rv=5) does not drop it;
 * - a (re)list clears every entry and sets W to the list's resourceVersion;
 * - the informer finding its resource not served clears everything;
 * - every entry expires after `ttlMs` (default 30 s, on the injected `Clock`): a safety net for a
 *   watch that stalls; the cache is then the truth again and the periodic resync repairs the rest.
 *
 * resourceVersions are compared as integers: etcd revisions, which is how client-go's
 * MutationCache compares them too (and what Kubernetes' comparable-resourceVersion guarantee
 * promises). A resourceVersion that is not an integer is never trusted over the cache.
 *
 * Deletes: the API server answers a DELETE with the object at the deletion's resourceVersion. An
 * object that still has finalizers is not gone (it now carries a deletionTimestamp): record it
 * with `recordWrite`; otherwise `recordDelete(key, resourceVersion)` (see `recordDeleteAnswer`).
 *
 * API: `new MutationCache(informer, {clock, ttlMs})`, `get`, `pending`, `byIndex`,
 * `recordWrite`, `recordDelete`, `recordDeleteAnswer`, `size`.
 */
import { objectKey } from "./cache.ts";
import { type Clock, realClock } from "./clock.ts";
import type { KubeObject } from "./rest.ts";
import type { Informer } from "./watch.ts";

/** What the view needs of its informer (an `Informer<T>`; tests hand in a small stand-in). */
export type MutationSource<T extends KubeObject> = Pick<Informer<T>, "cache" | "addHandler">;

export interface MutationCacheOptions<T = KubeObject> {
  clock?: Clock;
  /** How long a recorded write may stand in for the cache at most. Default 30 000 ms. */
  ttlMs?: number;
  /** Applied to recorded objects, so they look like the cache's (the informer's transform). */
  transform?: (object: T) => T;
}

interface Entry<T> {
  readonly rv: bigint;
  /** Undefined: kleym deleted the object. */
  readonly object: T | undefined;
  readonly expiresAt: number;
}

/** An integer resourceVersion, or undefined when it is not one. */
export function parseResourceVersion(rv: string | undefined): bigint | undefined {
  return rv !== undefined && /^[0-9]{1,30}$/.test(rv) ? BigInt(rv) : undefined;
}

export class MutationCache<T extends KubeObject> {
  readonly #informer: MutationSource<T>;
  readonly #clock: Clock;
  readonly #ttlMs: number;
  readonly #transform: (object: T) => T;
  readonly #entries = new Map<string, Entry<T>>();
  /** The informer's progress; undefined until its first list (or after a reset). */
  #watermark: bigint | undefined;

  constructor(informer: MutationSource<T>, opts: MutationCacheOptions<T> = {}) {
    this.#informer = informer;
    this.#clock = opts.clock ?? realClock;
    this.#ttlMs = opts.ttlMs ?? 30_000;
    this.#transform = opts.transform ?? ((object) => object);
    informer.addHandler({
      onProgress: (rv, listed) => this.#progress(rv, listed),
      onReset: () => {
        this.#entries.clear();
        this.#watermark = undefined;
      },
    });
  }

  /** Recorded writes still standing in for the cache (after dropping expired ones). */
  get size(): number {
    this.#prune();
    return this.#entries.size;
  }

  /** The object as kleym last wrote or the watch last delivered it; undefined when absent. */
  get(key: string): T | undefined {
    const entry = this.#live(key);
    return entry === undefined ? this.#informer.cache.get(key) : entry.object;
  }

  /** True while a write of `key` (object or deletion) is newer than what the cache holds. */
  pending(key: string): boolean {
    return this.#live(key) !== undefined;
  }

  /** `cache.byIndex(name, value)` with recorded writes applied. */
  byIndex(name: string, value: string): T[] {
    this.#prune();
    // Nothing recorded (steady state, a restart's first pass): the cache's answer as it is, with
    // no per-object key lookups (docs/benchmarks.md "Restart at 10,000": the namespace scans for
    // collision candidates, docs/contract.md#same-selection).
    if (this.#entries.size === 0) return this.#informer.cache.byIndex(name, value);
    const out: T[] = [];
    for (const object of this.#informer.cache.byIndex(name, value)) {
      if (!this.#entries.has(objectKey(object))) out.push(object);
    }
    const fn = this.#informer.cache.indexFunc(name);
    for (const entry of this.#entries.values()) {
      if (entry.object !== undefined && fn?.(entry.object).includes(value)) out.push(entry.object);
    }
    return out;
  }

  /** Record the object the API server returned for a create, update or patch. */
  recordWrite(object: T): void {
    this.#record(objectKey(object), object.metadata.resourceVersion, this.#transform(object));
  }

  /** Record that a DELETE removed `key` at `resourceVersion` (from the DELETE's answer). */
  recordDelete(key: string, resourceVersion: string | undefined): void {
    this.#record(key, resourceVersion, undefined);
  }

  /**
   * Record a DELETE's answer: an object that keeps finalizers still exists (being deleted); one
   * without is gone. No answer (a bare Status) records nothing: the watch will tell.
   */
  recordDeleteAnswer(key: string, answer: T | undefined): void {
    if (answer === undefined) return;
    if ((answer.metadata.finalizers ?? []).length > 0) this.recordWrite(answer);
    else this.recordDelete(key, answer.metadata.resourceVersion);
  }

  #record(key: string, resourceVersion: string | undefined, object: T | undefined): void {
    const rv = parseResourceVersion(resourceVersion);
    if (rv === undefined) return;
    if (this.#watermark !== undefined && rv <= this.#watermark) return; // the cache has it
    const current = this.#entries.get(key);
    if (current !== undefined && current.rv > rv) return; // a later write is recorded already
    const expiresAt = this.#clock.now() + this.#ttlMs;
    this.#entries.set(key, { rv, object, expiresAt });
  }

  #progress(resourceVersion: string, listed: boolean): void {
    const rv = parseResourceVersion(resourceVersion);
    if (listed) {
      this.#entries.clear();
      this.#watermark = rv;
      return;
    }
    if (rv === undefined) return;
    if (this.#watermark === undefined || rv > this.#watermark) this.#watermark = rv;
    for (const [key, entry] of this.#entries) {
      if (entry.rv <= this.#watermark) this.#entries.delete(key);
    }
  }

  #live(key: string): Entry<T> | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    if (this.#clock.now() >= entry.expiresAt) {
      this.#entries.delete(key);
      return undefined;
    }
    return entry;
  }

  #prune(): void {
    const now = this.#clock.now();
    for (const [key, entry] of this.#entries) {
      if (now >= entry.expiresAt) this.#entries.delete(key);
    }
  }
}
