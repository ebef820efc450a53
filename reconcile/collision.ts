/**
 * Identity collisions between PerObjective bindings (SPEC 5).
 *
 * Two PerObjective bindings in one namespace collide when they render the same normalised pod
 * selector and the same final workload selector set: SPIRE could not tell their workloads apart.
 *
 * Who takes part: only PerObjective bindings that render successfully (`renderBinding` returns
 * ok) and are not being deleted. A binding that fails for its own reason reports that reason and
 * does not drag its would-be peers into Conflict; it joins the collision once it renders.
 * Participation does not depend on cluster state beyond the rendering inputs (for example, a
 * foreign object holding a binding's ClusterSPIFFEID name does not take it out of a collision),
 * so every member of a group computes the same group.
 *
 * API:
 * - `collisionFingerprint(namespace, podLabels, selectors): string`
 * - `collisionCandidate(binding, outcome): CollisionCandidate | undefined`
 * - `collisionPeers(self, candidates): string[]` — sorted names of the others in self's group
 * - `groupCollisions(candidates): CollisionGroup[]` — every group of two or more
 * - `collisionMessage(peers)`, `collisionError(peers)` — the exact Conflict message / StateError
 * - `collisionResolvedEvents(previous, next)` — Normal `IdentityCollisionResolved` on leaving one
 *
 * The edge computes candidates for the PerObjective bindings of a namespace (resolve, render,
 * `collisionCandidate`) and passes them to `planReconcile`. When any binding in a namespace
 * changes or goes away, its former peers must be re-reconciled so they recover on their own.
 */

import { Reasons, StateError } from "./errors.ts";
import { bindingKey } from "./bindings.ts";
import { findCondition } from "./conditions.ts";
import { compareCodeUnits } from "../apis/compare.ts";
import type { RenderOutcome } from "./render.ts";
import type {
  BindingCondition,
  BindingInput,
  BindingStatus,
  LabelMap,
  PlannedEvent,
} from "./types.ts";

export interface CollisionCandidate {
  readonly namespace: string;
  readonly name: string;
  readonly fingerprint: string;
}

export interface CollisionGroup {
  readonly namespace: string;
  readonly fingerprint: string;
  /** Binding names, sorted. */
  readonly members: readonly string[];
}

/**
 * SPEC 5: namespace + normalised pod selector + final selector set, as one canonical string
 * (JSON of sorted entries, so equal inputs give equal strings and distinct ones cannot alias).
 */
export function collisionFingerprint(
  namespace: string,
  podLabels: LabelMap,
  selectors: readonly string[],
): string {
  const labels = Object.entries(podLabels).sort(([a], [b]) => compareCodeUnits(a, b));
  const uniqueSelectors = [...new Set(selectors)].sort(compareCodeUnits);
  return JSON.stringify([namespace, labels, uniqueSelectors]);
}

/** The binding's collision candidate, or `undefined` when it does not take part (see header). */
export function collisionCandidate(
  binding: BindingInput,
  outcome: RenderOutcome,
): CollisionCandidate | undefined {
  if (!outcome.ok || outcome.identity.mode !== "PerObjective") return undefined;
  if (binding.metadata?.deletionTimestamp) return undefined;
  const { name, namespace } = bindingKey(binding);
  const { podLabels, selectors } = outcome.identity;
  return { namespace, name, fingerprint: collisionFingerprint(namespace, podLabels, selectors) };
}

/** Names of the other bindings in `self`'s collision group, sorted; empty when none. */
export function collisionPeers(
  self: CollisionCandidate,
  candidates: readonly CollisionCandidate[],
): string[] {
  const peers = new Set<string>();
  for (const other of candidates) {
    if (
      other.namespace === self.namespace && other.name !== self.name &&
      other.fingerprint === self.fingerprint
    ) {
      peers.add(other.name);
    }
  }
  return [...peers].sort(compareCodeUnits);
}

/** Every group of two or more colliding bindings, ordered by namespace then first member. */
export function groupCollisions(candidates: readonly CollisionCandidate[]): CollisionGroup[] {
  const groups = new Map<
    string,
    { namespace: string; fingerprint: string; members: Set<string> }
  >();
  for (const candidate of candidates) {
    // The fingerprint starts with the namespace; keying on both keeps that explicit.
    const key = JSON.stringify([candidate.namespace, candidate.fingerprint]);
    const group = groups.get(key) ??
      { namespace: candidate.namespace, fingerprint: candidate.fingerprint, members: new Set() };
    group.members.add(candidate.name);
    groups.set(key, group);
  }
  return [...groups.values()]
    .filter((group) => group.members.size >= 2)
    .map((group) => ({ ...group, members: [...group.members].sort(compareCodeUnits) }))
    .sort((a, b) =>
      compareCodeUnits(a.namespace, b.namespace) || compareCodeUnits(a.members[0], b.members[0])
    );
}

/** SPEC 5: the machine-parseable Conflict message, peers sorted and joined by ", ". */
export function collisionMessage(peers: readonly string[]): string {
  return `identity collision with bindings ${
    [...peers].sort(compareCodeUnits).join(", ")
  }: PerObjective bindings must not share the same pod selector and container name`;
}

export function collisionError(peers: readonly string[]): StateError<"Conflict"> {
  return new StateError("Conflict", Reasons.IdentityCollision, collisionMessage(peers));
}

/** Normal `IdentityCollisionResolved` when the previous status collided and the next does not. */
export function collisionResolvedEvents(
  previous: readonly BindingCondition[],
  next: BindingStatus,
): PlannedEvent[] {
  const before = findCondition(previous, "Conflict");
  const after = findCondition(next.conditions, "Conflict");
  const wasColliding = before?.status === "True" && before.reason === Reasons.IdentityCollision;
  if (!wasColliding || after?.status === "True") return [];
  return [{
    type: "Normal",
    reason: "IdentityCollisionResolved",
    message: `Identity collision resolved (was: ${before.message})`,
  }];
}
