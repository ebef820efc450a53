/**
 * `KeySets`: an index from a value to the keys filed under it, for indexes where most values name
 * one key (a binding's own pool, its ClusterSPIFFEID, its SPIFFE ID, its pool's label value). A
 * single key is held as the string itself and becomes a Set only at the second key: a Set costs
 * ~100 bytes of heap, a reference 4, and 10,000 bindings fill several such indexes
 * (docs/benchmarks.md "Memory"). The informer cache's indexes (cache.ts) and the exclusivity
 * engine's (reconcile/exclusivity.ts, reconcile/overlap_index.ts) all use this one.
 */

const NONE: readonly string[] = Object.freeze([]);

export class KeySets {
  readonly #byValue = new Map<string, string | Set<string>>();

  /** File `key` under `value` (idempotent). */
  add(value: string, key: string): void {
    const keys = this.#byValue.get(value);
    if (keys === undefined) this.#byValue.set(value, key);
    else if (typeof keys !== "string") keys.add(key);
    else if (keys !== key) this.#byValue.set(value, new Set([keys, key]));
  }

  /** Take `key` out of `value`'s keys; a value left with none is forgotten. */
  remove(value: string, key: string): void {
    const keys = this.#byValue.get(value);
    if (keys === key) this.#byValue.delete(value);
    if (typeof keys !== "object") return;
    keys.delete(key);
    if (keys.size === 1) this.#byValue.set(value, keys.values().next().value as string);
  }

  /** The keys filed under `value` (none: empty). A live view: copy it before changing this index. */
  get(value: string): Iterable<string> {
    const keys = this.#byValue.get(value);
    if (keys === undefined) return NONE;
    return typeof keys === "string" ? [keys] : keys;
  }

  /** How many keys are filed under `value`. */
  count(value: string): number {
    const keys = this.#byValue.get(value);
    return keys === undefined ? 0 : typeof keys === "string" ? 1 : keys.size;
  }

  has(value: string, key: string): boolean {
    const keys = this.#byValue.get(value);
    return keys === key || (typeof keys === "object" && keys.has(key));
  }

  /** Every value with at least one key. */
  values(): IterableIterator<string> {
    return this.#byValue.keys();
  }

  /** The number of values with at least one key. */
  get size(): number {
    return this.#byValue.size;
  }
}
