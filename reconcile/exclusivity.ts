/**
 * The exclusivity engine (docs/contract.md#exclusivity, #exclusivity-cost): the one component
 * that holds collision state. It keeps every taking-part binding's `Participant` (collision.ts)
 * in three indexes — by 5.1 fingerprint, by SPIFFE ID (5.2), by namespace + service account and
 * pod labels (5.3, overlap_index.ts) — so a reconcile looks only at the bindings it can conflict
 * with, and it reports, for every change of a participant, exactly the bindings whose outcome can
 * change: the peers under the old record and under the new one (`onAffected`).
 *
 * Freshness: binding events (`changed`) and pool/objective events (`inputsChanged`, the bindings
 * that reference the object) mark keys dirty; a change of the served APIs marks every key dirty.
 * Dirty keys are rendered again (from the bindings' read-your-writes view and the resolution
 * sources, as the reconciler renders) before any verdict is given, so a verdict always reflects
 * every binding the caches hold — at start-up too: the first reconcile renders the whole cache
 * once, and no binding is judged against a half-built index (which could let a conflicting
 * binding go Ready for a moment). A binding whose inputs' cache is not synced yet stays dirty
 * and is retried at the next look (it is retried itself too).
 *
 * The reconcile of a key hands its own fresh rendering in (`observe`): the record is the one its
 * plan is made from. `announce`/`announced` remember the overlap peers last planned per binding
 * (warn mode: one warning per change of peers); the memory is the process's, and a new leader's
 * quiet first pass does not warn again (plan.ts).
 *
 * API: `ExclusivityEngine` (`changed`, `inputsChanged`, `observe`, `verdict`, `overlapping`,
 * `announced`, `announce`), `ExclusivityOptions`.
 */
import { keyOf } from "../apis/cache.ts";
import { KeySets } from "../apis/key_sets.ts";
import type { InferenceIdentityBinding } from "../generated/kleym.sonda.red/v1alpha1.ts";
import {
  collides,
  duplicates,
  NO_PEERS,
  type OverlapPeer,
  overlapWitness,
  type Participant,
  participant,
  type Verdict,
  verdictOf,
} from "./collision.ts";
import { OverlapIndex } from "./overlap_index.ts";
import { renderBinding } from "./render.ts";
import { CacheNotReadyError, type ResolveSources, resolveSpec } from "./resolve.ts";
import type { RenderConfig } from "./types.ts";

export interface ExclusivityOptions {
  /** The bindings' read-your-writes view (what the reconciler reads). */
  readonly bindings: { get(key: string): InferenceIdentityBinding | undefined };
  /** Every binding key the cache holds (for a change of the served APIs). */
  readonly keys: () => Iterable<string>;
  readonly sources: () => ResolveSources;
  /** Changes whenever the set of served optional APIs changes. */
  readonly servedGeneration: () => number;
  readonly config: RenderConfig;
  /** Bindings whose outcome may have changed (never the key being observed); enqueue them. */
  readonly onAffected: (keys: readonly string[]) => void;
  /** The number of bindings with at least one overlap peer changed (the gauge). */
  readonly onOverlapping?: (count: number) => void;
}

export class ExclusivityEngine {
  readonly #opts: ExclusivityOptions;
  readonly #records = new Map<string, Participant>();
  readonly #byCollision = new KeySets();
  readonly #byID = new KeySets();
  readonly #overlaps = new OverlapIndex();
  /** Key -> its number of overlap peers (only non-zero entries). */
  readonly #overlapCount = new Map<string, number>();
  readonly #dirty = new Set<string>();
  readonly #announced = new Map<string, string>();
  #generation: number | undefined;

  constructor(opts: ExclusivityOptions) {
    this.#opts = opts;
  }

  /** Bindings changed (an informer event): render them again before the next verdict. */
  changed(keys: Iterable<string>): void {
    for (const key of keys) this.#dirty.add(key);
  }

  /** A pool or objective changed: the bindings referencing it render differently, maybe. */
  inputsChanged(keys: Iterable<string>): void {
    this.changed(keys);
  }

  /**
   * The reconcile of `key` rendered it: `self` is its participant (undefined: it does not take
   * part — failing, being deleted, gone). Records it, brings every dirty key up to date, tells
   * `onAffected` whose outcome may have changed, and returns `key`'s verdict.
   */
  observe(key: string, self: Participant | undefined): Verdict {
    this.#dirty.delete(key);
    const affected = new Set<string>();
    this.#refresh(affected);
    this.#replace(key, self, affected);
    this.#report(affected, key);
    return this.#verdictOf(key);
  }

  /** `key`'s verdict against every binding the caches hold now. */
  verdict(key: string): Verdict {
    const affected = new Set<string>();
    this.#refresh(affected);
    this.#report(affected, undefined);
    return this.#verdictOf(key);
  }

  /** Bindings with at least one overlap peer (the `kleym_identity_overlaps` gauge). */
  get overlapping(): number {
    return this.#overlapCount.size;
  }

  /**
   * The overlap peers last planned for `key` in warn mode ("" for none); undefined when this
   * process has not planned it since it last failed (or ever).
   */
  announced(key: string): string | undefined {
    return this.#announced.get(key);
  }

  announce(key: string, peers: string | undefined): void {
    if (peers === undefined) this.#announced.delete(key);
    else this.#announced.set(key, peers);
  }

  #refresh(affected: Set<string>): void {
    const generation = this.#opts.servedGeneration();
    if (generation !== this.#generation) {
      this.#generation = generation;
      for (const key of this.#opts.keys()) this.#dirty.add(key);
      for (const key of this.#records.keys()) this.#dirty.add(key);
    }
    if (this.#dirty.size === 0) return;
    const sources = this.#opts.sources();
    for (const key of [...this.#dirty]) {
      let next: Participant | undefined;
      const binding = this.#opts.bindings.get(key);
      if (binding !== undefined) {
        const namespace = binding.metadata.namespace ?? "";
        try {
          next = participant(
            binding,
            renderBinding(
              binding,
              (spec) => resolveSpec(spec, namespace, sources),
              this.#opts.config,
            ),
          );
        } catch (error) {
          if (error instanceof CacheNotReadyError) continue; // stays dirty; retried next time
          throw error;
        }
      }
      this.#dirty.delete(key);
      this.#replace(key, next, affected);
    }
  }

  #replace(key: string, next: Participant | undefined, affected: Set<string>): void {
    const previous = this.#records.get(key);
    if (sameRecord(previous, next)) {
      if (next !== undefined) this.#records.set(key, next);
      return;
    }
    if (previous !== undefined) {
      for (const peer of this.#peerKeys(key, previous)) affected.add(peer);
      for (const peer of this.#overlapKeys(key, previous)) this.#adjust(peer, -1);
      this.#unindex(key, previous);
    }
    this.#overlapCount.delete(key);
    if (next === undefined) {
      this.#records.delete(key);
      this.#announced.delete(key);
      return;
    }
    this.#records.set(key, next);
    this.#index(key, next);
    let count = 0;
    for (const peer of this.#overlapKeys(key, next)) {
      this.#adjust(peer, +1);
      count++;
    }
    if (count > 0) this.#overlapCount.set(key, count);
    for (const peer of this.#peerKeys(key, next)) affected.add(peer);
  }

  #report(affected: Set<string>, observed: string | undefined): void {
    if (observed !== undefined) affected.delete(observed);
    if (affected.size > 0) this.#opts.onAffected([...affected]);
    this.#opts.onOverlapping?.(this.#overlapCount.size);
  }

  #adjust(key: string, delta: number): void {
    const count = (this.#overlapCount.get(key) ?? 0) + delta;
    if (count > 0) this.#overlapCount.set(key, count);
    else this.#overlapCount.delete(key);
  }

  #index(key: string, p: Participant): void {
    if (p.collisionKey !== undefined) this.#byCollision.add(p.collisionKey, key);
    this.#byID.add(p.spiffeID, key);
    this.#overlaps.add(key, p);
  }

  #unindex(key: string, p: Participant): void {
    if (p.collisionKey !== undefined) this.#byCollision.remove(p.collisionKey, key);
    this.#byID.remove(p.spiffeID, key);
    this.#overlaps.remove(key, p);
  }

  /** Keys of every binding any of the three rules pairs with `p` (p recorded under `key`). */
  *#peerKeys(key: string, p: Participant): Generator<string> {
    for (const [peer] of this.#collisionPeers(key, p)) yield peer;
    for (const [peer] of this.#duplicatePeers(key, p)) yield peer;
    yield* this.#overlapKeys(key, p);
  }

  *#collisionPeers(key: string, p: Participant): Generator<[string, Participant]> {
    if (p.collisionKey === undefined) return;
    for (const peer of this.#byCollision.get(p.collisionKey)) {
      const other = this.#records.get(peer);
      if (peer !== key && other !== undefined && collides(p, other)) yield [peer, other];
    }
  }

  *#duplicatePeers(key: string, p: Participant): Generator<[string, Participant]> {
    for (const peer of this.#byID.get(p.spiffeID)) {
      const other = this.#records.get(peer);
      if (peer !== key && other !== undefined && duplicates(p, other)) yield [peer, other];
    }
  }

  *#overlapKeys(key: string, p: Participant): Generator<string> {
    for (const [peer] of this.#overlapPeers(key, p)) yield peer;
  }

  *#overlapPeers(key: string, p: Participant): Generator<[string, OverlapPeer]> {
    for (const peer of this.#overlaps.candidates(p)) {
      const other = this.#records.get(peer);
      if (peer === key || other === undefined) continue;
      const witness = overlapWitness(p, other);
      if (witness !== undefined) yield [peer, { name: other.name, ...witness }];
    }
  }

  #verdictOf(key: string): Verdict {
    const p = this.#records.get(key);
    if (p === undefined) return NO_PEERS;
    return verdictOf(
      p,
      [...this.#collisionPeers(key, p)].map(([, other]) => other.name),
      [...this.#duplicatePeers(key, p)].map(([, other]) => other.name),
      [...this.#overlapPeers(key, p)].map(([, peer]) => peer),
    );
  }
}

/** Equal records give equal verdicts to everyone: same ID, same selection, same mode. */
function sameRecord(a: Participant | undefined, b: Participant | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.spiffeID === b.spiffeID && a.selectionKey === b.selectionKey && a.mode === b.mode &&
    keyOf(a.namespace, a.name) === keyOf(b.namespace, b.name);
}
