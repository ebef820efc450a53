/**
 * Exclusivity rules (docs/contract.md#exclusivity), pure: no I/O, no state. The operator's engine
 * (exclusivity.ts) finds candidates through its indexes and decides with these functions; the CLI
 * (cli/exclusivity.ts) and the tests call the same functions over plain lists.
 *
 * Who takes part: bindings that render (`renderBinding` ok) and are not being deleted. A binding
 * that fails for its own reason reports that reason and drags nobody into Conflict. Taking part
 * depends only on each binding's rendering, never on another rule's outcome, so every member of
 * a group computes the same group (no order dependence, no oscillation).
 *
 * The three rules, in precedence order (a binding reports the first that applies to it):
 * - 5.1 `collides` (docs/contract.md#same-selection): two PerObjective bindings with the same
 *   normalised pod selector and the same selector set (`collisionFingerprint`), the seed's rule.
 * - 5.2 `duplicates` (docs/contract.md#duplicate-id): the same SPIFFE ID with a different
 *   selection. "Selection" is the whole rendered ClusterSPIFFEID spec minus `spiffeIDTemplate`
 *   and `hint` (`selectionKey`): selectors, pod and namespace selectors, class name and whatever
 *   else the rendering carries (spec.svid's fields), so a new rendered field is compared without
 *   a list to keep. `hint` is left out: it names the binding, so twins would never be equal.
 * - 5.3 `overlapWitness` (docs/contract.md#overlap): different SPIFFE IDs, the same service
 *   account, pod selectors that one pod can satisfy together (no label key required with two
 *   values), containers that meet (same containerName, or either binding PoolOnly). The witness
 *   is a label set and container that match both: the union of the two label maps.
 *
 * API: `Participant`, `participant(binding, outcome)`, `participantFromSpec(...)`,
 * `collisionFingerprint`, `selectionKey`, `collides`, `duplicates`, `overlapWitness`,
 * `verdictAmong(self, others)` (brute force over a list: the CLI and the tests), `Verdict`.
 */
import { createHash } from "node:crypto";
import { compareCodeUnits } from "../apis/compare.ts";
import { intern } from "../apis/intern.ts";
import { bindingKey } from "./bindings.ts";
import { isRecord } from "./json.ts";
import type { RenderOutcome } from "./render.ts";
import type { BindingInput, BindingMode, LabelMap } from "./types.ts";

export {
  collisionError,
  collisionMessage,
  duplicateError,
  duplicateMessage,
  overlapError,
  overlapMessage,
  parseCollisionMessage,
  parseDuplicateMessage,
  parseOverlapMessage,
} from "./conflict_messages.ts";

/** `--identity-overlap` (docs/contract.md#overlap): what an overlap does; `warn` by default. */
export const IDENTITY_OVERLAP_MODES = ["warn", "refuse"] as const;
export type IdentityOverlapMode = typeof IDENTITY_OVERLAP_MODES[number];

/** What a rendering binding contributes to the exclusivity rules. */
export interface Participant {
  readonly namespace: string;
  readonly name: string;
  readonly mode: BindingMode;
  readonly spiffeID: string;
  readonly serviceAccount: string;
  /** PerObjective: the containerName; PoolOnly: undefined (every container of the pod). */
  readonly container?: string;
  /** The pod selector's labels (podSelector.matchLabels). */
  readonly podLabels: LabelMap;
  /** 5.1 key: PerObjective only. */
  readonly collisionKey?: string;
  /** 5.2 key: the rendered spec minus the SPIFFE ID and hint. */
  readonly selectionKey: string;
}

/** A peer of 5.3 and the witness: a pod with these labels, this container, matches both. */
export interface OverlapPeer {
  readonly name: string;
  readonly labels: LabelMap;
  /** undefined: any container (both bindings PoolOnly). */
  readonly container?: string;
}

/** Every rule's peers for one participant (names sorted in code-unit order). */
export interface Verdict {
  readonly collision: readonly string[];
  /** The SPIFFE ID and the peers that render it with a different selection. */
  readonly duplicate: readonly string[];
  readonly spiffeID: string;
  readonly overlap: readonly OverlapPeer[];
  /** The service account the overlaps share (every overlap is within one account). */
  readonly serviceAccount: string;
}

export const NO_PEERS: Verdict = Object.freeze({
  collision: [],
  duplicate: [],
  spiffeID: "",
  overlap: [],
  serviceAccount: "",
});

/**
 * 5.1: namespace + normalised pod selector + final selector set, as the digest of one canonical
 * string (JSON of sorted entries, so equal inputs give equal strings and distinct ones cannot
 * alias; see `digest` for why a digest).
 */
export function collisionFingerprint(
  namespace: string,
  podLabels: LabelMap,
  selectors: readonly string[],
): string {
  const labels = Object.entries(podLabels).sort(([a], [b]) => compareCodeUnits(a, b));
  const uniqueSelectors = [...new Set(selectors)].sort(compareCodeUnits);
  return digest(JSON.stringify([namespace, labels, uniqueSelectors]));
}

/**
 * 5.2: the rendered ClusterSPIFFEID spec without `spiffeIDTemplate` and `hint`, canonical, as a
 * digest.
 */
export function selectionKey(spec: Readonly<Record<string, unknown>>): string {
  const { spiffeIDTemplate: _id, hint: _hint, ...rest } = spec;
  return digest(canonicalJson(rest));
}

/**
 * SHA-256 of a canonical string. The engine keeps two keys per binding for as long as it exists;
 * a 44-character digest instead of a ~300-character spec is most of the engine's memory at 10,000
 * bindings (docs/benchmarks.md "Memory"). Equal digests mean equal strings unless SHA-256 has a
 * collision, so the rules decide as they would on the strings themselves.
 */
function digest(canonical: string): string {
  return createHash("sha256").update(canonical).digest("base64");
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (isRecord(value)) {
    const keys = Object.keys(value).filter((k) => value[k] !== undefined).sort(compareCodeUnits);
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k])}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

/** The binding's participant, or undefined when it does not take part (see the header). */
export function participant(
  binding: BindingInput,
  outcome: RenderOutcome,
): Participant | undefined {
  if (!outcome.ok || binding.metadata?.deletionTimestamp) return undefined;
  const { name, namespace } = bindingKey(binding);
  const { identity } = outcome;
  return participantFromSpec(
    namespace,
    name,
    identity.mode,
    identity.clusterSPIFFEID.spec as unknown as Record<string, unknown>,
  );
}

/**
 * A participant from a rendered ClusterSPIFFEID spec (what the operator renders, or what the CLI
 * reads back): SPIFFE ID, pod labels and the `k8s:sa:` / `k8s:container-name:` selectors.
 */
export function participantFromSpec(
  namespace: string,
  name: string,
  mode: BindingMode,
  spec: Readonly<Record<string, unknown>>,
): Participant {
  const selectors = Array.isArray(spec.workloadSelectorTemplates)
    ? spec.workloadSelectorTemplates.filter((s): s is string => typeof s === "string")
    : [];
  const podSelector = isRecord(spec.podSelector) ? spec.podSelector : {};
  const podLabels: Record<string, string> = {};
  if (isRecord(podSelector.matchLabels)) {
    for (const [k, v] of Object.entries(podSelector.matchLabels)) {
      if (typeof v === "string") podLabels[k] = v;
    }
  }
  const valueOf = (prefix: string) =>
    selectors.find((s) => s.startsWith(prefix))?.slice(prefix.length);
  const container = mode === "PerObjective" ? valueOf("k8s:container-name:") : undefined;
  return {
    namespace,
    name,
    mode,
    spiffeID: typeof spec.spiffeIDTemplate === "string" ? spec.spiffeIDTemplate : "",
    // Shared copies: every binding of an account holds the same name (apis/intern.ts).
    serviceAccount: intern(valueOf("k8s:sa:") ?? ""),
    container: container === undefined ? undefined : intern(container),
    podLabels,
    collisionKey: mode === "PerObjective"
      ? collisionFingerprint(namespace, podLabels, selectors)
      : undefined,
    selectionKey: selectionKey(spec),
  };
}

function distinct(a: Participant, b: Participant): boolean {
  return a.namespace === b.namespace && a.name !== b.name;
}

/** 5.1: both PerObjective with the same pod selector and selector set. */
export function collides(a: Participant, b: Participant): boolean {
  return distinct(a, b) && a.collisionKey !== undefined && a.collisionKey === b.collisionKey;
}

/** 5.2: the same SPIFFE ID, a different selection. */
export function duplicates(a: Participant, b: Participant): boolean {
  return distinct(a, b) && a.spiffeID === b.spiffeID && a.selectionKey !== b.selectionKey;
}

/** Can one pod satisfy both label maps (no key required with two different values)? */
export function labelsCompatible(a: LabelMap, b: LabelMap): boolean {
  for (const [key, value] of Object.entries(a)) {
    if (Object.hasOwn(b, key) && b[key] !== value) return false;
  }
  return true;
}

/**
 * 5.3: undefined when `a` and `b` do not overlap; else the labels and container of a pod
 * container both select (labels: the union of both maps, sorted by key).
 */
export function overlapWitness(
  a: Participant,
  b: Participant,
): { labels: LabelMap; container?: string } | undefined {
  if (!distinct(a, b) || a.spiffeID === b.spiffeID) return undefined;
  if (a.serviceAccount !== b.serviceAccount) return undefined;
  if (a.container !== undefined && b.container !== undefined && a.container !== b.container) {
    return undefined;
  }
  if (!labelsCompatible(a.podLabels, b.podLabels)) return undefined;
  const merged = { ...a.podLabels, ...b.podLabels };
  const labels = Object.fromEntries(
    Object.keys(merged).sort(compareCodeUnits).map((k) => [k, merged[k]]),
  );
  const container = a.container ?? b.container;
  return container === undefined ? { labels } : { labels, container };
}

/** Every rule's peers of `self` among `others` (self may be among them), by brute force. */
export function verdictAmong(self: Participant, others: Iterable<Participant>): Verdict {
  const collision = new Set<string>();
  const duplicate = new Set<string>();
  const overlap = new Map<string, OverlapPeer>();
  for (const other of others) {
    if (collides(self, other)) collision.add(other.name);
    if (duplicates(self, other)) duplicate.add(other.name);
    const witness = overlapWitness(self, other);
    if (witness !== undefined) overlap.set(other.name, { name: other.name, ...witness });
  }
  return verdictOf(self, collision, duplicate, overlap.values());
}

/** Assembles a Verdict with every list sorted (shared with the engine). */
export function verdictOf(
  self: Participant,
  collision: Iterable<string>,
  duplicate: Iterable<string>,
  overlap: Iterable<OverlapPeer>,
): Verdict {
  return {
    collision: [...collision].sort(compareCodeUnits),
    duplicate: [...duplicate].sort(compareCodeUnits),
    spiffeID: self.spiffeID,
    overlap: [...overlap].sort((x, y) => compareCodeUnits(x.name, y.name)),
    serviceAccount: self.serviceAccount,
  };
}
