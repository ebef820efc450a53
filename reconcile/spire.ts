/**
 * What SPIRE Controller Manager (SCM) reported for a binding's ClusterSPIFFEID, on the binding
 * (docs/reconciler.md, "SPIRE's figures"): `status.spire` is copied from the `status.stats` SCM
 * writes on the managed object, written only when the figures change, coalesced per binding, with
 * Warning events when SCM reports failures or masked entries. Pure: no I/O, no clock (plan.ts
 * passes `now`).
 *
 * Decisions (docs/reconciler.md, "SPIRE's figures"):
 * - Not a sixth condition: the contract fixes five (docs/contract.md#status), and `Ready` keeps
 *   meaning "kleym's ClusterSPIFFEID exists as rendered". SCM's figures are status fields plus
 *   events.
 * - Source (`SpireSource`, chosen by plan.ts): the owned object at the desired name, not being
 *   deleted and as rendered. While kleym restores a drifted object (`keep`) the previous figures
 *   stay: they describe what SCM last saw, and the update's watch event brings the next reconcile.
 *   `absent` (no such object, or a failing binding) and an object without `status.stats` (no SCM
 *   has handled it yet) leave `status.spire` out.
 * - All seven figures are written as numbers, 0 included; an absent or malformed figure on the
 *   ClusterSPIFFEID counts as 0 (SCM v0.7.0 writes all seven).
 * - Coalescing: a change of `status.spire` alone (nothing else in the status changes) is written
 *   at most once per `intervalMs` per binding, measured from the previous `lastChangeTime` — state
 *   kept in the status itself, so nothing outlives a reconcile in memory and a new leader keeps
 *   the bound. A held change returns `holdMs` (the plan's requeue); the reconcile that then runs
 *   reads the newest figures, so intermediate ones are never written. A status write that changes
 *   something else too carries the newest figures at once. Figures that appear after being absent
 *   have no `lastChangeTime` to measure from and are written at once, so the bound is at most two
 *   figures-only writes per interval and binding (removal, then reappearance), one while figures
 *   stay present. `lastChangeTime` has whole seconds (like metav1.Time), so consecutive
 *   figures-only writes carry `lastChangeTime`s at least `intervalMs` apart.
 * - Events, only with the write that carries new figures (a no-op never repeats them): Warning
 *   `SPIREEntryFailures` when `entryFailures` / `podEntryRenderFailures` change to a non-zero
 *   pair; Warning `SPIREEntriesMasked` when `entriesMasked` changes to a non-zero value. The masked
 *   message names the older ClusterSPIFFEIDs with the same SPIFFE ID and workload selector
 *   templates that SCM prefers (`maskingHolders`), from one LIST of all ClusterSPIFFEIDs the
 *   reconciler makes only for such a write (`lookupMasking`, then `masking` in a second plan).
 *
 * API: `spireSource`, `reportedFigures`, `readSpireStatus`, `decodeSpireStatus`, `planSpire`, `maskingHolders`, `SpireSource`,
 * `MaskingLookup`, `SpireDecision`, `SPIRE_EVENT_REASONS`.
 */
import { formatTime } from "./conditions.ts";
import { asRecord, isRecord } from "./json.ts";
import {
  type ClusterSPIFFEID,
  type ObservedClusterSPIFFEID,
  type PlannedEvent,
  SPIRE_FIGURES,
  type SpireFigures,
  type SpireStatus,
} from "./types.ts";

export const SPIRE_EVENT_REASONS = {
  entryFailures: "SPIREEntryFailures",
  entriesMasked: "SPIREEntriesMasked",
} as const;

/** Where the figures come from this reconcile (plan.ts decides). */
export type SpireSource =
  | { readonly kind: "absent" }
  | { readonly kind: "keep" }
  | {
    readonly kind: "object";
    readonly object: ObservedClusterSPIFFEID;
    readonly desired: ClusterSPIFFEID;
  };

/** All ClusterSPIFFEIDs kleym could list (for the masked message), or why it could not. */
export type MaskingLookup =
  | { readonly objects: readonly ObservedClusterSPIFFEID[] }
  | { readonly error: string };

export interface SpireInput {
  /** The binding's status as read (its `spire` holds the figures last written). */
  readonly previous: unknown;
  readonly source: SpireSource;
  /** The status write changes more than `status.spire` (no coalescing then). */
  readonly othersChanged: boolean;
  readonly now: Date;
  readonly intervalMs: number;
  readonly masking?: MaskingLookup;
}

export interface SpireDecision {
  /** `status.spire` to report (undefined: absent). */
  readonly spire?: SpireStatus;
  /** A figures-only change is held this long (coalescing); the reconcile requeues after it. */
  readonly holdMs?: number;
  readonly events: readonly PlannedEvent[];
  /** The masked event needs `masking`: LIST every ClusterSPIFFEID, then plan again with it. */
  readonly lookupMasking: boolean;
}

/** SCM's figures on a ClusterSPIFFEID; undefined when it has no `status.stats`. */
export function reportedFigures(object: ObservedClusterSPIFFEID): SpireFigures | undefined {
  const status = object.status;
  if (!isRecord(status) || !isRecord(status.stats)) return undefined;
  return figuresIn(status.stats);
}

/** The seven figures in `record`, an absent or malformed one as 0. */
function figuresIn(record: Record<string, unknown>): SpireFigures {
  const figures = {} as SpireFigures;
  for (const f of SPIRE_FIGURES) figures[f] = isCount(record[f]) ? record[f] as number : 0;
  return figures;
}

/** A binding's `status.spire` as read, however it was written. */
export interface SpireRead {
  readonly clusterSPIFFEIDName: string;
  /** Absent or malformed figures count as 0. */
  readonly figures: SpireFigures;
  readonly lastChangeTime?: string;
  /** Exactly kleym's shape: every figure a count, `lastChangeTime` a string. */
  readonly exact: boolean;
}

/**
 * The one decoder of a binding's `status.spire` (the operator's coalescing and the CLI's report
 * both read it): undefined when it is absent or names no ClusterSPIFFEID.
 */
export function readSpireStatus(status: unknown): SpireRead | undefined {
  const spire = isRecord(status) ? status.spire : undefined;
  if (!isRecord(spire) || typeof spire.clusterSPIFFEIDName !== "string") return undefined;
  const lastChangeTime = typeof spire.lastChangeTime === "string"
    ? spire.lastChangeTime
    : undefined;
  return {
    clusterSPIFFEIDName: spire.clusterSPIFFEIDName,
    figures: figuresIn(spire),
    lastChangeTime,
    exact: lastChangeTime !== undefined && SPIRE_FIGURES.every((f) => isCount(spire[f])),
  };
}

/**
 * The `status.spire` a binding's status carries, when it has exactly kleym's shape (anything else
 * counts as absent, so the next write replaces it at once rather than being held behind it).
 */
export function decodeSpireStatus(status: unknown): SpireStatus | undefined {
  const read = readSpireStatus(status);
  if (!read?.exact || read.lastChangeTime === undefined) return undefined;
  return {
    clusterSPIFFEIDName: read.clusterSPIFFEIDName,
    ...read.figures,
    lastChangeTime: read.lastChangeTime,
  };
}

/**
 * Where SCM's figures come from, given the owned object at the desired name and the update the
 * plan makes of it: that object as rendered; the previous figures while it is being restored; none
 * while it is missing or being deleted.
 */
export function spireSource(
  current: ObservedClusterSPIFFEID | undefined,
  update: ClusterSPIFFEID | undefined,
  desired: ClusterSPIFFEID,
): SpireSource {
  if (current === undefined || current.metadata.deletionTimestamp) return { kind: "absent" };
  if (update !== undefined) return { kind: "keep" };
  return { kind: "object", object: current, desired };
}

export function planSpire(input: SpireInput): SpireDecision {
  const previous = decodeSpireStatus(input.previous);
  const quiet = (spire: SpireStatus | undefined): SpireDecision => ({
    spire,
    events: [],
    lookupMasking: false,
  });
  const { source } = input;
  if (source.kind === "keep") return quiet(previous);
  const figures = source.kind === "object" ? reportedFigures(source.object) : undefined;
  const name = source.kind === "object" ? source.object.metadata.name ?? "" : "";
  if (figures === undefined && previous === undefined) return quiet(undefined);
  if (
    figures !== undefined && previous !== undefined && previous.clusterSPIFFEIDName === name &&
    SPIRE_FIGURES.every((f) => previous[f] === figures[f])
  ) {
    return quiet(previous);
  }
  // The figures changed.
  if (!input.othersChanged && previous !== undefined) {
    const wait = Date.parse(previous.lastChangeTime) + input.intervalMs - input.now.getTime();
    // A lastChangeTime further ahead than one interval (another replica's clock) bounds nothing.
    if (wait > 0 && wait <= input.intervalMs) return { ...quiet(previous), holdMs: wait };
  }
  if (figures === undefined || source.kind !== "object") return quiet(undefined);
  const spire: SpireStatus = {
    clusterSPIFFEIDName: name,
    ...figures,
    lastChangeTime: formatTime(input.now),
  };
  const events: PlannedEvent[] = [];
  const failures = failureEvent(previous, spire);
  if (failures !== undefined) events.push(failures);
  let lookupMasking = false;
  if (spire.entriesMasked > 0 && spire.entriesMasked !== (previous?.entriesMasked ?? 0)) {
    if (input.masking === undefined) lookupMasking = true;
    else events.push(maskedEvent(spire, source.object, source.desired, input.masking));
  }
  return { spire, events, lookupMasking };
}

function isCount(value: unknown): boolean {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}

function failureEvent(
  previous: SpireStatus | undefined,
  next: SpireStatus,
): PlannedEvent | undefined {
  const { entryFailures, podEntryRenderFailures } = next;
  if (entryFailures + podEntryRenderFailures === 0) return undefined;
  if (
    entryFailures === (previous?.entryFailures ?? 0) &&
    podEntryRenderFailures === (previous?.podEntryRenderFailures ?? 0)
  ) {
    return undefined;
  }
  const parts: string[] = [];
  if (podEntryRenderFailures > 0) {
    parts.push(
      `${podEntryRenderFailures} selected pod(s) whose entry failed to render (usually a pod ` +
        "not yet scheduled to a node, or whose Node is gone: the entry's parent ID comes from " +
        'the pod\'s Node; SCM logs "Failed to render entry")',
    );
  }
  if (entryFailures > 0) {
    parts.push(
      `${entryFailures} entr${entryFailures === 1 ? "y" : "ies"} SPIRE Server failed to create ` +
        'or update (check SPIRE Server and SCM\'s log: "Failed to create entry", "Failed to ' +
        'update entry")',
    );
  }
  return {
    type: "Warning",
    reason: SPIRE_EVENT_REASONS.entryFailures,
    message: `SPIRE Controller Manager reports for ClusterSPIFFEID ${next.clusterSPIFFEIDName}: ` +
      `${parts.join("; ")}. Those pods get no identity until this is fixed.`,
  };
}

const NAMES_SHOWN = 5;

function maskedEvent(
  next: SpireStatus,
  object: ObservedClusterSPIFFEID,
  desired: ClusterSPIFFEID,
  masking: MaskingLookup,
): PlannedEvent {
  const head = `SPIRE Controller Manager masks ${next.entriesMasked} of the entries of ` +
    `ClusterSPIFFEID ${next.clusterSPIFFEIDName}: an older ClusterSPIFFEID produces the same ` +
    "entries (same pods, SPIFFE ID and selectors), and SPIRE Controller Manager keeps the " +
    "oldest object's. ";
  const why = "The pods keep the identity, but through the other object: deleting this " +
    "binding would not remove their entries.";
  let who: string;
  if ("error" in masking) {
    who = `kleym could not list ClusterSPIFFEIDs to name it (${masking.error}); find it with ` +
      `kubectl get clusterspiffeids and delete it or stop it from selecting these pods. `;
  } else {
    const names = maskingHolders({ ...object, spec: desired.spec }, masking.objects);
    if (names.length === 0) {
      who = "kleym found no older ClusterSPIFFEID with the same SPIFFE ID and workload " +
        "selector templates (templated ones cannot be compared); find the one with " +
        `spiffeIDTemplate ${desired.spec.spiffeIDTemplate} selecting these pods and delete it ` +
        "or stop it from selecting them. ";
    } else {
      const shown = names.slice(0, NAMES_SHOWN).join(", ") +
        (names.length > NAMES_SHOWN ? ` and ${names.length - NAMES_SHOWN} more` : "");
      who = `It is ${names.length === 1 ? "ClusterSPIFFEID" : "one of ClusterSPIFFEIDs"} ` +
        `${shown}: delete it or stop it from selecting these pods. `;
    }
  }
  return {
    type: "Warning",
    reason: SPIRE_EVENT_REASONS.entriesMasked,
    message: head + who + why,
  };
}

/**
 * The ClusterSPIFFEIDs SCM prefers over `ours` for the same entries (SCM v0.7.0 `objectCmp`):
 * others with the same `spiffeIDTemplate` and the same set of `workloadSelectorTemplates` (so they
 * render the same entry for a pod both select), handled by the same SCM class (equal class names,
 * or either classless: an SCM with `watchClassless` handles both), and kept over `ours` — older
 * by creationTimestamp (whole seconds), then not being deleted (of two being deleted, the later
 * deletion), then the lower UID. Sorted by name. Objects are read as decoded JSON (`unknown`), so
 * the operator (its LIST) and the CLI (its GETs) share this one rule. Templated objects that
 * render the same entry in another form are not recognised; callers then say "an older ...".
 */
export function maskingHolders(ours: unknown, all: readonly unknown[]): string[] {
  const name = objectName(ours);
  const shape = entryShape(ours);
  const cls = className(ours);
  return all
    .filter((o) => objectName(o) !== "" && objectName(o) !== name && entryShape(o) === shape)
    .filter((o) => className(o) === cls || className(o) === "" || cls === "")
    .filter((o) => keptOver(o, ours))
    .map(objectName)
    .sort();
}

function field(o: unknown, key: string): Record<string, unknown> {
  return asRecord(asRecord(o)[key]);
}

function objectName(o: unknown): string {
  const name = field(o, "metadata").name;
  return typeof name === "string" ? name : "";
}

/** SPIFFE ID template and workload selector templates (as a set): what the entry is made of. */
function entryShape(o: unknown): string {
  const spec = field(o, "spec");
  const templates = Array.isArray(spec.workloadSelectorTemplates)
    ? spec.workloadSelectorTemplates.filter((t): t is string => typeof t === "string").sort()
    : [];
  return JSON.stringify([spec.spiffeIDTemplate ?? null, templates]);
}

function className(o: unknown): string {
  const c = field(o, "spec").className;
  return typeof c === "string" ? c : "";
}

/** SCM's order of two objects declaring the same entry: is `a` kept over `b`? */
function keptOver(a: unknown, b: unknown): boolean {
  const am = field(a, "metadata");
  const bm = field(b, "metadata");
  const created = time(am.creationTimestamp) - time(bm.creationTimestamp);
  if (created !== 0) return created < 0;
  const ad = am.deletionTimestamp;
  const bd = bm.deletionTimestamp;
  if ((ad === undefined) !== (bd === undefined)) return ad === undefined;
  if (ad !== undefined && time(ad) !== time(bd)) return time(ad) > time(bd);
  return String(am.uid ?? "") < String(bm.uid ?? "");
}

function time(value: unknown): number {
  const ms = typeof value === "string" ? Date.parse(value) : NaN;
  return Number.isFinite(ms) ? ms : 0;
}
