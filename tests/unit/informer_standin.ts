/**
 * An in-memory stand-in for `Informer<T>` (not a test file): a real `Cache<T>` fed in the order
 * apis/watch.ts uses — cache first, then `onProgress`, then the object handlers — so
 * `MutationCache` and the reconciler's parts can be unit-tested without a cluster.
 */
import { Cache, objectKey } from "../../apis/cache.ts";
import type { KubeObject } from "../../apis/rest.ts";
import type { InformerHandlers } from "../../apis/watch.ts";

export class InformerStandIn<T extends KubeObject> {
  readonly cache = new Cache<T>();
  readonly #handlers: InformerHandlers<T>[] = [];
  synced = true;

  addHandler(h: InformerHandlers<T>): () => void {
    this.#handlers.push(h);
    return () => {};
  }

  hasSynced(): boolean {
    return this.synced;
  }

  /** ADDED or MODIFIED as the watch delivers it. */
  upsert(object: T): void {
    const old = this.cache.upsert(object);
    this.progress(object.metadata.resourceVersion ?? "");
    for (const h of this.#handlers) old ? h.onUpdate?.(old, object) : h.onAdd?.(object);
  }

  /** DELETED at `rv` (reported as progress even for a key the cache never held). */
  delete(key: string, rv: string): void {
    const old = this.cache.delete(key);
    this.progress(rv);
    if (old) { for (const h of this.#handlers) h.onDelete?.(old); }
  }

  /** A bookmark (or any event the cache ignores). */
  progress(rv: string): void {
    for (const h of this.#handlers) h.onProgress?.(rv, false);
  }

  relist(items: T[], rv: string): void {
    this.cache.replace(items);
    for (const h of this.#handlers) h.onProgress?.(rv, true);
  }

  reset(): void {
    this.cache.replace([]);
    for (const h of this.#handlers) h.onReset?.();
  }

  key(object: T): string {
    return objectKey(object);
  }
}
