/**
 * `Cache<T>`: the in-memory copy of one resource, fed only by its Informer.
 *
 * - Keyed `namespace/name` (just `name` for cluster-scoped objects); see `objectKey`.
 * - Objects are deep-frozen on the way in (`freezeInterned`: repeated strings shared;
 *   docs/benchmarks.md "Memory"): the cache takes ownership of what it is given, and readers get
 *   the frozen object itself (no copies). Clone (`structuredClone`) before changing.
 * - Secondary indexes: `addIndex(name, fn)` where `fn(obj)` returns the index values of an object
 *   (e.g. the pool names a binding refers to); `byIndex(name, value)` returns the objects with that
 *   value. Indexes are maintained on every change and may be added at any time.
 * - Writes (`upsert`, `delete`, `replace`) return the previous object so the Informer can tell
 *   handlers what changed. `synced` turns true after the first complete list.
 */
import { freezeInterned } from "./intern.ts";
import { KeySets } from "./key_sets.ts";
import type { KubeObject } from "./rest.ts";

export type IndexFunc<T> = (obj: T) => readonly string[];

/** Cache key of an object: "namespace/name", or "name" when it has no namespace. */
export function objectKey(obj: KubeObject): string {
  return keyOf(obj.metadata.namespace, obj.metadata.name ?? "");
}

export function keyOf(namespace: string | undefined, name: string): string {
  return namespace ? `${namespace}/${name}` : name;
}

/** Freeze `o` and everything reachable from it; returns `o`. */
export function deepFreeze<T>(o: T): T {
  if (typeof o === "object" && o !== null && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}

export interface ReplaceResult<T> {
  added: T[];
  updated: { old: T; obj: T }[];
  deleted: T[];
}

interface Index<T> {
  fn: IndexFunc<T>;
  /** value -> keys; most values name one object (key_sets.ts holds those without a Set). */
  byValue: KeySets;
}

export class Cache<T extends KubeObject> {
  readonly #items = new Map<string, T>();
  readonly #indexes = new Map<string, Index<T>>();
  #synced = false;

  /** True once the first full list has been stored. */
  get synced(): boolean {
    return this.#synced;
  }

  set synced(v: boolean) {
    this.#synced = v;
  }

  get size(): number {
    return this.#items.size;
  }

  get(key: string): T | undefined {
    return this.#items.get(key);
  }

  getByName(namespace: string | undefined, name: string): T | undefined {
    return this.#items.get(keyOf(namespace, name));
  }

  has(key: string): boolean {
    return this.#items.has(key);
  }

  keys(): string[] {
    return [...this.#items.keys()];
  }

  /** Every object (optionally only one namespace's). */
  list(namespace?: string): T[] {
    const all = [...this.#items.values()];
    return namespace === undefined ? all : all.filter((o) => o.metadata.namespace === namespace);
  }

  /** resourceVersion of the cached copy of `key`. */
  resourceVersionOf(key: string): string | undefined {
    return this.#items.get(key)?.metadata.resourceVersion;
  }

  /** Register an index; existing objects are indexed right away. Re-adding a name replaces it. */
  addIndex(name: string, fn: IndexFunc<T>): void {
    const idx: Index<T> = { fn, byValue: new KeySets() };
    this.#indexes.set(name, idx);
    for (const [key, obj] of this.#items) this.#indexAdd(idx, key, obj);
  }

  /** Objects whose index `name` yields `value`. Throws for an unknown index (a programming error). */
  byIndex(name: string, value: string): T[] {
    const idx = this.#indexes.get(name);
    if (!idx) throw new Error(`cache has no index named ${JSON.stringify(name)}`);
    const out: T[] = [];
    for (const k of idx.byValue.get(value)) {
      const o = this.#items.get(k);
      if (o) out.push(o);
    }
    return out;
  }

  /** The function behind index `name` (the read-your-writes view indexes its own entries). */
  indexFunc(name: string): IndexFunc<T> | undefined {
    return this.#indexes.get(name)?.fn;
  }

  /** Index values currently present for `name`. */
  indexValues(name: string): string[] {
    const idx = this.#indexes.get(name);
    if (!idx) throw new Error(`cache has no index named ${JSON.stringify(name)}`);
    return [...idx.byValue.values()];
  }

  /** Insert or replace; freezes `obj`; returns the previous object, if any. */
  upsert(obj: T): T | undefined {
    const key = objectKey(obj);
    freezeInterned(obj);
    const old = this.#items.get(key);
    if (old) { for (const idx of this.#indexes.values()) this.#indexRemove(idx, key, old); }
    this.#items.set(key, obj);
    for (const idx of this.#indexes.values()) this.#indexAdd(idx, key, obj);
    return old;
  }

  /** Remove by key; returns the removed object, if any. */
  delete(key: string): T | undefined {
    const old = this.#items.get(key);
    if (!old) return undefined;
    for (const idx of this.#indexes.values()) this.#indexRemove(idx, key, old);
    this.#items.delete(key);
    return old;
  }

  /**
   * Make the cache hold exactly `objs` (a fresh list) and return the difference: objects new to the
   * cache, objects whose resourceVersion changed, and cached objects absent from the list.
   * Unchanged objects (same resourceVersion) keep their cached copy.
   */
  replace(objs: readonly T[]): ReplaceResult<T> {
    const result: ReplaceResult<T> = { added: [], updated: [], deleted: [] };
    const seen = new Set<string>();
    for (const obj of objs) {
      const key = objectKey(obj);
      seen.add(key);
      const cur = this.#items.get(key);
      if (cur && cur.metadata.resourceVersion === obj.metadata.resourceVersion) continue;
      const old = this.upsert(obj);
      if (old) result.updated.push({ old, obj });
      else result.added.push(obj);
    }
    for (const key of [...this.#items.keys()]) {
      if (seen.has(key)) continue;
      const old = this.delete(key);
      if (old) result.deleted.push(old);
    }
    return result;
  }

  #indexAdd(idx: Index<T>, key: string, obj: T): void {
    for (const v of idx.fn(obj)) idx.byValue.add(v, key);
  }

  #indexRemove(idx: Index<T>, key: string, obj: T): void {
    for (const v of idx.fn(obj)) idx.byValue.remove(v, key);
  }
}
