/**
 * The Conflict messages of docs/contract.md#exclusivity, each with its parser beside it (the CLI
 * parses operator-written conditions with these, never with a copy of the pattern), the
 * StateErrors, and the events of leaving a conflict. Pure.
 *
 * Names in the lists are binding names (DNS subdomains: no spaces, commas, `=` or `;`), label keys
 * and values and container names cannot hold those either, so the separators below are
 * unambiguous and `parse(format(x))` gives back `x` (tests/unit/reconcile_conflict_messages_test.ts).
 *
 * API: `collisionMessage`/`parseCollisionMessage`, `duplicateMessage`/`parseDuplicateMessage`,
 * `overlapMessage`/`parseOverlapMessage`, `parseConflictPeers` (any of the three),
 * `collisionError`, `duplicateError`, `overlapError`, `conflictResolvedEvents`.
 */
import { compareCodeUnits } from "../apis/compare.ts";
import type { OverlapPeer } from "./collision.ts";
import { findCondition } from "./conditions.ts";
import { Reasons, StateError } from "./errors.ts";
import type { BindingCondition, BindingStatus, LabelMap, PlannedEvent } from "./types.ts";

const sorted = (names: readonly string[]) => [...names].sort(compareCodeUnits);
const split = (list: string) => list.split(", ").filter((p) => p !== "");

// ---- 5.1 IdentityCollision (the seed's message, unchanged) ---------------------------------

const COLLISION_TAIL =
  "PerObjective bindings must not share the same pod selector and container name";

export function collisionMessage(peers: readonly string[]): string {
  return `identity collision with bindings ${sorted(peers).join(", ")}: ${COLLISION_TAIL}`;
}

const COLLISION = /^identity collision with bindings (.+?): /;

export function parseCollisionMessage(message: string): { peers: string[] } | undefined {
  const m = COLLISION.exec(message);
  return m ? { peers: split(m[1]) } : undefined;
}

export function collisionError(peers: readonly string[]): StateError<"Conflict"> {
  return new StateError("Conflict", Reasons.IdentityCollision, collisionMessage(peers));
}

// ---- 5.2 DuplicateSPIFFEID (docs/contract.md#duplicate-id) ---------------------------------

const DUPLICATE_TAIL = "with different selectors: one SPIFFE ID must select one set of workloads";

export function duplicateMessage(spiffeID: string, peers: readonly string[]): string {
  return `SPIFFE ID ${spiffeID} is also rendered by bindings ${
    sorted(peers).join(", ")
  } ${DUPLICATE_TAIL}`;
}

const DUPLICATE = /^SPIFFE ID (\S+) is also rendered by bindings (.+?) with different selectors: /;

export function parseDuplicateMessage(
  message: string,
): { spiffeID: string; peers: string[] } | undefined {
  const m = DUPLICATE.exec(message);
  return m ? { spiffeID: m[1], peers: split(m[2]) } : undefined;
}

export function duplicateError(
  spiffeID: string,
  peers: readonly string[],
): StateError<"Conflict"> {
  return new StateError("Conflict", Reasons.DuplicateSPIFFEID, duplicateMessage(spiffeID, peers));
}

// ---- 5.3 IdentityOverlap (docs/contract.md#overlap) -----------------------------------------

function formatLabels(labels: LabelMap): string {
  const keys = Object.keys(labels).sort(compareCodeUnits);
  return keys.length === 0 ? "any labels" : keys.map((k) => `${k}=${labels[k]}`).join(",");
}

function parseLabels(text: string): LabelMap {
  if (text === "any labels") return {};
  return Object.fromEntries(
    text.split(",").map((kv) => {
      const at = kv.indexOf("=");
      return [kv.slice(0, at), kv.slice(at + 1)];
    }),
  );
}

/** At most this many peers are named (with a witness each) in an overlap message. */
export const OVERLAP_LISTED = 20;

/**
 * The peers, then per peer a pod that both select: "pods labelled app=m,role=d, container c" or
 * "..., any container" (both PoolOnly). Service account: the one both select. A PoolOnly binding
 * can overlap hundreds of PerObjective ones; only the first `OVERLAP_LISTED` (sorted) are named,
 * then "and N more", so the message stays far below a condition message's 32 KiB limit (the 5.1
 * and 5.2 messages have the contract's fixed shape).
 */
export function overlapMessage(serviceAccount: string, peers: readonly OverlapPeer[]): string {
  const all = [...peers].sort((a, b) => compareCodeUnits(a.name, b.name));
  const list = all.slice(0, OVERLAP_LISTED);
  const more = all.length - list.length;
  const witnesses = list.map((p) =>
    `with ${p.name}: pods labelled ${formatLabels(p.labels)}, ${
      p.container === undefined ? "any container" : `container ${p.container}`
    }`
  );
  return `identity overlap with bindings ${list.map((p) => p.name).join(", ")}${
    more > 0 ? ` and ${more} more` : ""
  }: a container would be selected by this binding and another and receive several SVIDs ` +
    `(service account ${serviceAccount}; ${witnesses.join("; ")})`;
}

const OVERLAP =
  /^identity overlap with bindings (.+?)(?: and (\d+) more)?: a container would be selected by this binding and another and receive several SVIDs \(service account (\S+); (.*)\)$/;
const WITNESS = /^with (\S+): pods labelled (\S+(?: labels)?), (?:container (\S+)|any container)$/;

/** The named peers with their witnesses, and how many more the message did not name. */
export function parseOverlapMessage(
  message: string,
): { serviceAccount: string; peers: OverlapPeer[]; more: number } | undefined {
  const m = OVERLAP.exec(message);
  if (!m) return undefined;
  const peers: OverlapPeer[] = [];
  for (const part of m[4].split("; ")) {
    const w = WITNESS.exec(part);
    if (!w) return undefined;
    const labels = parseLabels(w[2]);
    peers.push(
      w[3] === undefined ? { name: w[1], labels } : { name: w[1], labels, container: w[3] },
    );
  }
  return { serviceAccount: m[3], peers, more: m[2] === undefined ? 0 : Number(m[2]) };
}

export function overlapError(
  serviceAccount: string,
  peers: readonly OverlapPeer[],
): StateError<"Conflict"> {
  return new StateError("Conflict", Reasons.IdentityOverlap, overlapMessage(serviceAccount, peers));
}

/** The peers named by any of the three Conflict messages; [] for anything else. */
export function parseConflictPeers(message: string): string[] {
  return parseCollisionMessage(message)?.peers ?? parseDuplicateMessage(message)?.peers ??
    parseOverlapMessage(message)?.peers.map((p) => p.name) ?? [];
}

// ---- leaving a conflict -----------------------------------------------------------------------

const RESOLVED: Readonly<Record<string, string>> = {
  [Reasons.IdentityCollision]: "IdentityCollisionResolved",
  [Reasons.DuplicateSPIFFEID]: "DuplicateSPIFFEIDResolved",
  [Reasons.IdentityOverlap]: "IdentityOverlapResolved",
};

/**
 * Normal `<reason>Resolved` when the previous status was in one of the three conflicts and the
 * next is in none (docs/contract.md#events). A move from one conflict to another is reported by
 * the Warning of the new reason instead.
 */
export function conflictResolvedEvents(
  previous: readonly BindingCondition[],
  next: BindingStatus,
): PlannedEvent[] {
  const before = findCondition(previous, "Conflict");
  const after = findCondition(next.conditions, "Conflict");
  const resolved = before?.status === "True" ? RESOLVED[before.reason] : undefined;
  if (resolved === undefined || after?.status === "True") return [];
  const what = before?.reason === Reasons.IdentityCollision
    ? "Identity collision"
    : before?.reason === Reasons.DuplicateSPIFFEID
    ? "Duplicate SPIFFE ID"
    : "Identity overlap";
  return [{
    type: "Normal",
    reason: resolved,
    message: `${what} resolved (was: ${before?.message})`,
  }];
}
