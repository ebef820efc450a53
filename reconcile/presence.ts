/**
 * Fail static on a fault (docs/contract.md#fail-static): when may kleym believe that an optional
 * CRD is gone? Only when discovery says so on consecutive reads AND a LIST of the resource
 * answers 404. A discovery document that fails (a 503 for one group-version in the legacy walk,
 * a group-version marked Stale in aggregated discovery), a whole refresh that fails, or a LIST
 * that fails any other way says nothing about the CRD: the watch, its cache and every output
 * stay as they are. Removing too early would withdraw every identity in the cluster on one blip.
 *
 * `Presence` is the pure part: fed what each discovery refresh says of each resource (`served`,
 * `absent`, `unknown`), it answers what to do (`decide`). `listAnswersNotFound` is the LIST.
 *
 * - `served`: start watching (if not already).
 * - `unknown` (its group-version's document failed): start watching too — the informer's own
 *   LIST then tells whether it exists; resolution waits for its sync and writes nothing before
 *   (resolve.ts `CacheNotReadyError`) — and break any run of absent reads.
 * - `absent` while watched: the first read asks for a confirming re-read soon (`confirm`), the
 *   second and later ask for the LIST (`verify`); the caller stops the watch only on its 404.
 * - `absent` while not watched: nothing.
 *
 * API: `Presence`, `PresenceAction`, `CONFIRM_READS`, `listAnswersNotFound`.
 */
import { ApiError } from "../apis/errors.ts";
import type { KubeObject, ResourceClient } from "../apis/rest.ts";

export type DiscoveryState = "served" | "absent" | "unknown";

/** What the caller does about one resource after a refresh. */
export type PresenceAction = "start" | "keep" | "confirm" | "verify";

/** Consecutive discovery reads that must say "absent" before the LIST is asked. */
export const CONFIRM_READS = 2;

export class Presence<Id extends string> {
  readonly #absentReads = new Map<Id, number>();

  /** One refresh's word on `id`, and whether kleym watches it now. */
  decide(id: Id, state: DiscoveryState, watched: boolean): PresenceAction {
    if (state !== "absent") {
      this.#absentReads.delete(id);
      return watched ? "keep" : "start";
    }
    if (!watched) {
      this.#absentReads.delete(id);
      return "keep";
    }
    const reads = (this.#absentReads.get(id) ?? 0) + 1;
    this.#absentReads.set(id, reads);
    return reads < CONFIRM_READS ? "confirm" : "verify";
  }

  /** The watch stopped (the LIST confirmed the CRD gone): start counting afresh. */
  forget(id: Id): void {
    this.#absentReads.delete(id);
  }
}

/**
 * A LIST (one item) of the resource: `true` only for a 404, the one answer that means "not
 * served". Any other failure is a fault and answers `false` (keep everything as it is).
 */
export async function listAnswersNotFound(
  client: Pick<ResourceClient<KubeObject>, "list">,
  signal: AbortSignal,
): Promise<boolean> {
  try {
    await client.list({ limit: 1, signal });
    return false;
  } catch (error) {
    if (signal.aborted) throw error;
    return error instanceof ApiError && error.isNotFound();
  }
}
