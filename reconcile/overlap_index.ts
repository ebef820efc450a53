/**
 * The 5.3 candidate index (docs/contract.md#overlap, #exclusivity-cost): which participants of
 * one namespace and service account have pod selectors a single pod could satisfy together with
 * a given one. In memory, no I/O.
 *
 * Layout: namespace + service account -> label-key set (a "group": every selector with exactly
 * these keys) -> per key, value -> members. For a query selector Q and a group with keys K, the
 * members compatible with Q are those agreeing with Q on every key of K ∩ keys(Q): the
 * intersection of the per-key member sets for those keys (walked from the smallest), or the whole
 * group when K and Q share no key. The cost is the smallest such set per group, not the size of
 * the namespace: 10,000 pools with `{app: <own name>}` cost one lookup each. Namespaces use few
 * distinct key sets in practice (one or two per pool family); a namespace where every selector has
 * its own key set degrades to one step per group.
 *
 * Candidates still go through `overlapWitness` (collision.ts): the index only narrows.
 */
import { KeySets } from "../apis/key_sets.ts";
import type { LabelMap } from "./types.ts";

interface Group {
  readonly keys: readonly string[];
  readonly members: Set<string>;
  /** Label key -> its value -> members (most values are one pool's own: key_sets.ts). */
  readonly byKeyValue: Map<string, KeySets>;
}

export interface OverlapEntry {
  readonly namespace: string;
  readonly serviceAccount: string;
  readonly podLabels: LabelMap;
}

const bucketOf = (e: OverlapEntry) => `${e.namespace}\u0000${e.serviceAccount}`;
const keysOf = (labels: LabelMap) => Object.keys(labels).sort();

export class OverlapIndex {
  readonly #buckets = new Map<string, Map<string, Group>>();

  add(key: string, entry: OverlapEntry): void {
    const bucketKey = bucketOf(entry);
    let bucket = this.#buckets.get(bucketKey);
    if (bucket === undefined) this.#buckets.set(bucketKey, bucket = new Map());
    const keys = keysOf(entry.podLabels);
    const signature = JSON.stringify(keys);
    let group = bucket.get(signature);
    if (group === undefined) {
      bucket.set(signature, group = { keys, members: new Set(), byKeyValue: new Map() });
    }
    group.members.add(key);
    for (const k of keys) {
      let values = group.byKeyValue.get(k);
      if (values === undefined) group.byKeyValue.set(k, values = new KeySets());
      values.add(entry.podLabels[k], key);
    }
  }

  remove(key: string, entry: OverlapEntry): void {
    const bucketKey = bucketOf(entry);
    const bucket = this.#buckets.get(bucketKey);
    const signature = JSON.stringify(keysOf(entry.podLabels));
    const group = bucket?.get(signature);
    if (bucket === undefined || group === undefined) return;
    group.members.delete(key);
    for (const k of group.keys) group.byKeyValue.get(k)?.remove(entry.podLabels[k], key);
    if (group.members.size === 0) bucket.delete(signature);
    if (bucket.size === 0) this.#buckets.delete(bucketKey);
  }

  /** Keys whose selector is compatible with `entry`'s (same namespace and account); may hold self. */
  *candidates(entry: OverlapEntry): Generator<string> {
    const bucket = this.#buckets.get(bucketOf(entry));
    if (bucket === undefined) return;
    const labels = entry.podLabels;
    for (const group of bucket.values()) {
      // One lookup per shared key: that key's value index and Q's value for it.
      const lookups: { index: KeySets; value: string; count: number }[] = [];
      let none = false;
      for (const k of group.keys) {
        if (!Object.hasOwn(labels, k)) continue;
        const index = group.byKeyValue.get(k);
        const count = index?.count(labels[k]) ?? 0;
        if (index === undefined || count === 0) {
          none = true;
          break;
        }
        lookups.push({ index, value: labels[k], count });
      }
      if (none) continue;
      if (lookups.length === 0) {
        yield* group.members;
        continue;
      }
      lookups.sort((a, b) => a.count - b.count);
      const [smallest, ...rest] = lookups;
      for (const key of smallest.index.get(smallest.value)) {
        if (rest.every((l) => l.index.has(l.value, key))) yield key;
      }
    }
  }
}
