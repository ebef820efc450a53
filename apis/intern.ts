/**
 * `freezeInterned`: deep-freeze an object for a cache, sharing its repeated strings.
 *
 * `JSON.parse` makes a new string for every value it reads, so 10,000 cached objects hold 10,000
 * copies of their namespace, apiVersion, kind, pool name, label keys and values, service account
 * and container names. Swapping each for the first copy seen leaves one per distinct value
 * (docs/benchmarks.md "Memory": with the single-key index, 1,000 bindings cost 21 MiB over idle,
 * docs/benchmarks.md). Values that are unique by nature (uid, resourceVersion, timestamps) are not
 * worth a table entry; they are shared only within their object.
 *
 * The table is bounded: when it reaches `MAX_ENTRIES` it is emptied and starts again, so names of
 * long-deleted objects cannot pin memory; strings already shared stay shared.
 */

const MAX_ENTRIES = 1 << 16;
/** Longer strings are rare and rarely repeated (messages, annotations). */
const MAX_LENGTH = 256;
/** Keys whose values are unique per object or per write. */
const UNIQUE = new Set([
  "uid",
  "resourceVersion",
  "creationTimestamp",
  "deletionTimestamp",
  "lastTransitionTime",
  "lastChangeTime",
]);

const table = new Map<string, string>();

/** The shared copy of `s`. */
export function intern(s: string): string {
  const hit = table.get(s);
  if (hit !== undefined) return hit;
  if (table.size >= MAX_ENTRIES) table.clear();
  table.set(s, s);
  return s;
}

/** Entries in the table now (tests observe what was shared through it). */
export function internedCount(): number {
  return table.size;
}

/**
 * Freeze `o` and everything reachable from it, replacing its strings with their shared copies
 * first (objects already frozen are left alone: they were interned when frozen, or are not ours
 * to change). Returns `o`.
 *
 * Values of the per-object keys (`UNIQUE`) stay out of the table but are shared within `o`: the
 * conditions one write set carry one `lastTransitionTime`, five copies after `JSON.parse`.
 */
export function freezeInterned<T>(o: T): T {
  return freezeWith(o, new Map());
}

function freezeWith<T>(o: T, local: Map<string, string>): T {
  if (typeof o !== "object" || o === null || Object.isFrozen(o)) return o;
  const rec = o as Record<string, unknown>;
  // for-in, not Object.keys: one key array per nested object of every listed object is most of
  // what caching a list page allocates (docs/benchmarks.md "Memory").
  for (const k in rec) {
    if (!Object.hasOwn(rec, k)) continue;
    const v = rec[k];
    if (typeof v === "string") {
      if (v.length > MAX_LENGTH) continue;
      if (!UNIQUE.has(k)) rec[k] = intern(v);
      else {
        const seen = local.get(v);
        if (seen === undefined) local.set(v, v);
        else rec[k] = seen;
      }
    } else if (typeof v === "object" && v !== null) {
      freezeWith(v, local);
    }
  }
  return Object.freeze(o);
}
