/**
 * Collision peers (SPEC 5): the collision candidates of a namespace's PerObjective bindings, and
 * the fan-out that lets former peers recover and new peers notice on their own.
 *
 * - `candidates(namespace, selfKey)`: every other binding's candidate, memoised. SPEC 5 needs the
 *   whole namespace's candidates on every reconcile; recomputing them made start-up quadratic per
 *   namespace (90 s of CPU at 1,000 bindings per namespace). The memo is keyed by the cached
 *   binding object itself (frozen: a new version is a new object) and is valid while its
 *   namespace's input generation (`inputChanged`: a pool or objective there changed) and the
 *   served-API generation are unchanged. Keying by object, not by a `namespace/name` string with
 *   a resourceVersion stamp, keeps the scan of a 1,000-binding namespace free of allocations
 *   (issue 15: a 10,000-binding restart's first pass).
 * - `fingerprintChanged(key, namespace, fingerprint, candidates)`: after a reconcile (or when a
 *   binding goes away or is being deleted), compares its fingerprint with the one from its
 *   previous reconcile; when it changed, returns the bindings whose current fingerprint equals the
 *   old or the new one — the caller enqueues them. No namespace-wide fan-out for other changes.
 *
 * Reads only the bindings' read-your-writes view and the resolution sources; in memory, no I/O.
 */
import { keyOf } from "../apis/cache.ts";
import type { MutationCache } from "../apis/mutation_cache.ts";
import type { InferenceIdentityBinding } from "../generated/kleym.sonda.red/v1alpha1.ts";
import { type CollisionCandidate, collisionCandidate } from "./collision.ts";
import { renderBinding } from "./render.ts";
import { CacheNotReadyError, type ResolveSources, resolveSpec } from "./resolve.ts";
import type { RenderConfig } from "./types.ts";
import { mayBePerObjective } from "./watch_map.ts";

export interface CollisionPeersOptions {
  /** The bindings' view; needs a `namespace` index. */
  bindings: Pick<MutationCache<InferenceIdentityBinding>, "byIndex">;
  sources: () => ResolveSources;
  /** Changes whenever the set of served optional APIs changes. */
  servedGeneration: () => number;
  config: RenderConfig;
}

export class CollisionPeers {
  readonly #opts: CollisionPeersOptions;
  readonly #memo = new WeakMap<
    InferenceIdentityBinding,
    { generation: string; candidate?: CollisionCandidate }
  >();
  /** Namespace -> bumped on every pool/objective change there (inputs of resolution). */
  readonly #inputGeneration = new Map<string, number>();
  /** Binding key -> its collision fingerprint at its last reconcile. */
  readonly #fingerprints = new Map<string, string>();

  constructor(opts: CollisionPeersOptions) {
    this.#opts = opts;
  }

  /** A pool or objective in `namespace` changed: its bindings' candidates may have too. */
  inputChanged(namespace: string): void {
    this.#inputGeneration.set(namespace, (this.#inputGeneration.get(namespace) ?? 0) + 1);
  }

  /** Collision candidates of the other PerObjective bindings in the namespace (SPEC 5). */
  candidates(namespace: string, selfKey: string): CollisionCandidate[] {
    const sources = this.#opts.sources();
    const generation = `${
      this.#inputGeneration.get(namespace) ?? 0
    }|${this.#opts.servedGeneration()}`;
    const selfName = selfKey.slice(selfKey.indexOf("/") + 1);
    const out: CollisionCandidate[] = [];
    for (const binding of this.#opts.bindings.byIndex("namespace", namespace)) {
      if (binding.metadata.name === selfName) continue;
      const memo = this.#memo.get(binding);
      if (memo?.generation === generation) {
        if (memo.candidate !== undefined) out.push(memo.candidate);
        continue;
      }
      if (!mayBePerObjective(binding) || binding.metadata.deletionTimestamp) {
        this.#memo.set(binding, { generation });
        continue;
      }
      let candidate: CollisionCandidate | undefined;
      try {
        const rendered = renderBinding(
          binding,
          (spec) => resolveSpec(spec, namespace, sources),
          this.#opts.config,
        );
        candidate = collisionCandidate(binding, rendered);
      } catch (error) {
        if (error instanceof CacheNotReadyError) continue; // it will be retried itself
        throw error;
      }
      this.#memo.set(binding, { generation, candidate });
      if (candidate !== undefined) out.push(candidate);
    }
    return out;
  }

  /** SPEC 5 recovery: the keys to enqueue when `key`'s fingerprint changed (else none). */
  fingerprintChanged(
    key: string,
    namespace: string,
    fingerprint: string | undefined,
    candidates: readonly CollisionCandidate[],
  ): string[] {
    const previous = this.#fingerprints.get(key);
    if (previous === fingerprint) return [];
    if (fingerprint === undefined) this.#fingerprints.delete(key);
    else this.#fingerprints.set(key, fingerprint);
    return candidates
      .filter((c) => c.fingerprint === previous || c.fingerprint === fingerprint)
      .map((c) => keyOf(namespace, c.name));
  }
}
