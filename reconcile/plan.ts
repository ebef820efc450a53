/**
 * Pure reconcile planning for one InferenceIdentityBinding (docs/contract.md#rendering to
 * docs/contract.md#lifecycle): given the binding, what the edge resolved for it, the operator
 * config and the relevant cluster state, decide the status to report, the ClusterSPIFFEID writes
 * and the events. The edge (apply.ts) carries the plan out.
 *
 * How the edge calls it (one pass: the spec is validated and rendered once per reconcile):
 *
 *   1. `renderBinding(binding, resolver, config)`, the resolver reading the caches (resolve.ts);
 *   2. when ok, look up the object currently named `identity.name` (cache, or a GET: a foreign
 *      object lacks kleym's labels, so a cache of managed objects will not hold it) and pass it
 *      as `nameHolder`;
 *   3. ask the exclusivity engine (exclusivity.ts) for the binding's verdict (its peers under
 *      docs/contract.md#exclusivity) and pass it as `exclusivity`;
 *   4. `planReconcile({...})` and apply (apply.ts): the finalizer, deletes, then create or
 *      update, then the status (only if `writeStatus`), then the events. If a create hits
 *      AlreadyExists, re-read and re-plan.
 *
 * The plan carries every decision the edge acts on: `addFinalizer` (docs/contract.md#lifecycle:
 * before any output; a plan that adds it does nothing else — the edge reconciles again once it is
 * on), the writes, the events, `retry` (from the reason table, errors.ts `RETRY_CLASS`) and
 * `nameTaken` (the desired name is held by an object this binding does not own).
 *
 * Decisions:
 * - Order of failures: spec (validate.ts), resolution, rendering (render.ts), then collisions,
 *   then the name holder. A failing binding deletes every ClusterSPIFFEID it owns
 *   (docs/contract.md#status).
 * - kleym owns the whole `spec` of its ClusterSPIFFEIDs (fields someone adds there, such as
 *   `admin` or `dnsNameTemplates`, would change the identity, so they are removed), and only its
 *   own labels and annotation in `metadata`: other labels and annotations are kept. An update is
 *   the observed object with kleym's labels/annotation overlaid and the desired spec; it carries
 *   the observed `resourceVersion`, so an update (PUT) that races another writer gets a 409 and is
 *   re-planned rather than clobbering.
 * - An owned object at the desired name stamped with another (or no) binding UID is adopted by
 *   that update; owned objects at other names are stale and deleted. Objects already being
 *   deleted are left alone (not deleted again, not updated); a watch event re-triggers the binding.
 * - The ClusterSPIFFEID API not being served (`clusterSPIFFEIDServed: false`) turns a rendering
 *   that succeeded into `RenderFailure/ClusterSPIFFEIDCRDMissing`: user errors in the binding are
 *   reported first, the missing output CRD once the binding itself is right.
 * - Refused writes (`refusals`, refusal.ts) turn a rendering that succeeded into
 *   `RenderFailure/ClusterSPIFFEIDRejected` (docs/contract.md#fail-closed).
 * - Events: only when the plan writes something. Success: Normal `Reconciled` (not for a
 *   figures-only write). Failure: Warning `<reason>` when the status changes. Leaving a
 *   conflict: Normal `<reason>Resolved`; warn-mode overlap: Warning `IdentityOverlap` once per
 *   change of its peers, not on a restart's quiet first pass (`overlapNotice`, `overlapAnnounced`). SCM's figures (`status.spire`), their
 *   coalescing (`requeueAfterMs`), events and the masked lookup (`lookupMasking`): spire.ts.
 *
 * API: `planReconcile(input: PlanInput): Plan`, `isNoop(plan)`, `writesTransition(plan)`; see
 * ownership.ts for
 * `planDeletion` (binding deletion) and the label selector to list a binding's objects.
 */

import { bindingKey } from "./bindings.ts";
import { type IdentityOverlapMode, NO_PEERS, type Verdict } from "./collision.ts";

export type { IdentityOverlapMode } from "./collision.ts";
import {
  collisionError,
  conflictResolvedEvents,
  duplicateError,
  overlapError,
  overlapMessage,
} from "./conflict_messages.ts";
import { decodeConditions } from "./conditions.ts";
import {
  type FailureCondition,
  Reasons,
  type RetryClass,
  retryClass,
  StateError,
} from "./errors.ts";
import { OPERATOR_FLAGS } from "../flags/operator.ts";
import { isRecord } from "./json.ts";
import {
  type ClusterSPIFFEIDDeletion,
  drifted,
  isOwnedBy,
  mergedUpdate,
  nameTakenError,
  ownedDeletions,
} from "./ownership.ts";
import { type Refusal, refusedDeletes, rejectedError } from "./refusal.ts";
import type { RenderedIdentity, RenderOutcome } from "./render.ts";
import { type MaskingLookup, planSpire, spireSource } from "./spire.ts";
import { failureStatus, statusEquals, successStatus, withoutSpire } from "./status.ts";
import {
  ANNOTATION_BINDING_UID,
  BINDING_MODES,
  type BindingCondition,
  type BindingInput,
  type BindingStatus,
  type ClusterSPIFFEID,
  DEFAULT_MODE,
  FINALIZER,
  type ObservedClusterSPIFFEID,
  type PlannedEvent,
  type RenderConfig,
} from "./types.ts";

export interface PlanInput {
  readonly binding: BindingInput;
  /** `renderBinding(binding, ..., config)`: the one rendering of this reconcile. */
  readonly rendered: RenderOutcome;
  /** Whether spire.spiffe.io/v1alpha1 ClusterSPIFFEIDs are served (default true). */
  readonly clusterSPIFFEIDServed?: boolean;
  readonly config: RenderConfig;
  /** ClusterSPIFFEIDs listed by the binding's owner labels (`ownerLabelSelector`); extra objects are filtered out. */
  readonly managed: readonly ObservedClusterSPIFFEID[];
  /** The object currently named like the desired ClusterSPIFFEID, if any (ignored on a name mismatch). */
  readonly nameHolder?: ObservedClusterSPIFFEID;
  /** The exclusivity engine's verdict for this binding (exclusivity.ts); default: no peers. */
  readonly exclusivity?: Verdict;
  /** `--identity-overlap` (docs/contract.md#overlap); default `warn`. */
  readonly identityOverlap?: IdentityOverlapMode;
  /**
   * Warn mode: the overlap peers (a plan's `overlapNotice`) this process last saw for this
   * binding, "" for none; undefined when it has not planned the binding yet (a restart, a new
   * leader).
   */
  readonly overlapAnnounced?: string;
  readonly now: Date;
  /** Figures-only status writes at most once per this many ms (spire.ts; default 10 s). */
  readonly spireStatsIntervalMs?: number;
  /** Every ClusterSPIFFEID kleym can list, when the plan asked for it (`lookupMasking`). */
  readonly masking?: MaskingLookup;
  /** Writes of this reconcile the API server refused (refusal.ts): fail closed. */
  readonly refusals?: readonly Refusal[];
}

/**
 * The terminal outcome, for the `kleym_identity_binding_*` metrics and logs
 * (docs/contract.md#metrics).
 */
export interface PlanOutcome {
  readonly condition: "Ready" | FailureCondition;
  readonly reason: string;
  /** The binding's mode, or "Unknown" when spec.mode is unsupported (bounded label values). */
  readonly mode: string;
}

export interface Plan {
  /** Add kleym's finalizer first (docs/contract.md#lifecycle: before any output is written). */
  readonly addFinalizer: boolean;
  /** The status the binding should report; write it only when `writeStatus`. */
  readonly status: BindingStatus;
  readonly writeStatus: boolean;
  /** Full object to create. */
  readonly create?: ClusterSPIFFEID;
  /** Full object to update (PUT), carrying the observed resourceVersion. */
  readonly update?: ClusterSPIFFEID;
  readonly deletes: readonly ClusterSPIFFEIDDeletion[];
  readonly events: readonly PlannedEvent[];
  readonly outcome: PlanOutcome;
  /** How to retry: `timer` requeues after the retry period; `watch` waits for a watched change. */
  readonly retry: RetryClass;
  /** The desired name, when an object this binding does not own holds it (keep looking it up). */
  readonly nameTaken?: string;
  /** The rendering the plan was made from (desired name, SPIFFE ID, selectors). */
  readonly rendered: RenderOutcome;
  /** The status write changes only `status.spire` (SCM's figures): not a state transition. */
  readonly spireOnly: boolean;
  /** A figures-only change is held (spire.ts coalescing): reconcile again after this long. */
  readonly requeueAfterMs?: number;
  /** Plan again with `masking` (one LIST of all ClusterSPIFFEIDs) before applying this. */
  readonly lookupMasking: boolean;
  /**
   * Warn mode: the overlap peers current for this binding ("" for none; undefined after a
   * failure). The edge remembers it as the next plan's `overlapAnnounced`.
   */
  readonly overlapNotice?: string;
}

/**
 * True when carrying out the plan would write nothing at all (docs/contract.md#ownership: steady
 * state).
 */
export function isNoop(plan: Plan): boolean {
  return !plan.addFinalizer && !plan.writeStatus && plan.create === undefined &&
    plan.update === undefined && plan.deletes.length === 0 && plan.events.length === 0;
}

export function planReconcile(input: PlanInput): Plan {
  const plan = planFull(input);
  if (!plan.addFinalizer) return plan;
  // docs/contract.md#lifecycle: the finalizer goes on before any output, in a step of its own: the
  // edge adds it and reconciles again, planning the rest from what it then sees (peers created in
  // the same breath included, so a new binding does not flip Ready -> Conflict). The outcome is the
  // one the rest of the plan leads to.
  return {
    ...plan,
    writeStatus: false,
    create: undefined,
    update: undefined,
    deletes: [],
    events: [],
    spireOnly: false,
    requeueAfterMs: undefined,
    lookupMasking: false,
  };
}

/** Does the plan change the binding's outcome or output (not just its finalizer)? */
export function writesTransition(plan: Plan): boolean {
  return (plan.writeStatus && !plan.spireOnly) || plan.create !== undefined ||
    plan.update !== undefined || plan.deletes.length > 0;
}

function planFull(input: PlanInput): Plan {
  const { binding, config, now, rendered } = input;
  const { name, namespace, uid } = bindingKey(binding);
  const previous = decodeConditions(binding.status);
  const generation = binding.metadata?.generation;
  const owned = ownedObjects(input, namespace, name);
  if (!rendered.ok) return planFailure(input, rendered.error, owned, previous);
  if (input.clusterSPIFFEIDServed === false) {
    return planFailure(input, outputCrdMissing(), owned, previous);
  }
  const { identity } = rendered;
  const failure = failureOf(identity, input, owned);
  if (failure !== undefined) return planFailure(input, failure, owned, previous);
  if (input.refusals !== undefined && input.refusals.length > 0) {
    // docs/contract.md#fail-closed: report it, and remove what no longer matches the intent
    // (except what the server would not let go of: the message says so).
    const stuck = refusedDeletes(input.refusals);
    const removable = owned.filter((object) => !stuck.has(object.metadata.name ?? ""));
    return planFailure(input, rejectedError(input.refusals), removable, previous);
  }

  const base = successStatus(identity, config, previous, now, generation);
  const othersChanged = !statusEquals(withoutSpire(binding.status), base);
  const current = owned.find((object) => object.metadata.name === identity.name);
  const stale = owned.filter((object) => object.metadata.name !== identity.name);
  const deletes = ownedDeletions(stale, namespace, name);

  let create: ClusterSPIFFEID | undefined;
  let update: ClusterSPIFFEID | undefined;
  let action: string | undefined;
  if (current === undefined) {
    create = identity.clusterSPIFFEID;
    action = `created ClusterSPIFFEID ${identity.name}`;
  } else if (!current.metadata.deletionTimestamp && drifted(current, identity.clusterSPIFFEID)) {
    update = mergedUpdate(current, identity.clusterSPIFFEID);
    const stamped = current.metadata.annotations?.[ANNOTATION_BINDING_UID];
    action = stamped === uid
      ? `restored ClusterSPIFFEID ${identity.name}`
      : `adopted ClusterSPIFFEID ${identity.name} left by an earlier binding of the same name`;
  }

  const spire = planSpire({
    previous: binding.status,
    source: spireSource(current, update, identity.clusterSPIFFEID),
    othersChanged,
    now,
    intervalMs: input.spireStatsIntervalMs ?? OPERATOR_FLAGS.spireStatsInterval.default,
    masking: input.masking,
  });
  const status = spire.spire === undefined ? base : { ...base, spire: spire.spire };
  const writeStatus = !statusEquals(binding.status, status);
  const events = conflictResolvedEvents(previous, status);
  const overlap = overlapWarning(input);
  const overlapNotice = overlap?.peers ?? "";
  // docs/contract.md#overlap: one warning per change of the peer set (a pool's labels changing
  // the witness is not a new overlap). A binding seen for the first time by this process with
  // nothing to write (a restart over converged bindings) is not a change either: the gauge and
  // `kleym status` show its overlap, and a restart stays without writes.
  const firstSightQuiet = input.overlapAnnounced === undefined && !writeStatus &&
    create === undefined && update === undefined && deletes.length === 0;
  if (overlap !== undefined && overlapNotice !== input.overlapAnnounced && !firstSightQuiet) {
    events.push({ type: "Warning", reason: "IdentityOverlap", message: overlap.message });
  }
  // A figures-only write is not "output changed" (docs/contract.md#events): no Reconciled event for
  // pod churn.
  if (othersChanged || create || update || deletes.length > 0) {
    const changes = [
      ...(action === undefined ? [] : [action]),
      ...(deletes.length === 0
        ? []
        : [`deleted stale ClusterSPIFFEID ${deletes.map((d) => d.name).join(", ")}`]),
    ];
    events.push({
      type: "Normal",
      reason: "Reconciled",
      message: `Binding reconciled to ${identity.spiffeID} (ClusterSPIFFEID ${identity.name})` +
        (changes.length === 0 ? "" : `: ${changes.join("; ")}`),
    });
  }
  if (writeStatus) events.push(...spire.events);
  return {
    addFinalizer: needsFinalizer(binding),
    status,
    writeStatus,
    create,
    update,
    deletes,
    events,
    outcome: { condition: "Ready", reason: "Reconciled", mode: identity.mode },
    retry: "watch",
    rendered,
    spireOnly: writeStatus && !othersChanged,
    requeueAfterMs: spire.holdMs,
    lookupMasking: writeStatus && spire.lookupMasking,
    overlapNotice,
  };
}

/**
 * docs/contract.md#overlap, warn mode: the Warning that names the peers and, per peer, a pod
 * both select. The binding stays Ready.
 */
/** Warn mode's overlap warning and its peers' names (sorted, comma-joined), if any. */
function overlapWarning(input: PlanInput): { peers: string; message: string } | undefined {
  const verdict = input.exclusivity ?? NO_PEERS;
  if (
    (input.identityOverlap ?? OPERATOR_FLAGS.identityOverlap.default) !== "warn" ||
    verdict.overlap.length === 0
  ) {
    return undefined;
  }
  return {
    peers: verdict.overlap.map((p) => p.name).join(","),
    message: `${overlapMessage(verdict.serviceAccount, verdict.overlap)}; ` +
      "this binding stays Ready (--identity-overlap=warn)",
  };
}

function planFailure(
  input: PlanInput,
  failure: StateError,
  owned: readonly ObservedClusterSPIFFEID[],
  previous: readonly BindingCondition[],
): Plan {
  const { binding, config, now, rendered } = input;
  const { name, namespace } = bindingKey(binding);
  const status = failureStatus(failure, config, previous, now, binding.metadata?.generation);
  const writeStatus = !statusEquals(binding.status, status);
  const events = conflictResolvedEvents(previous, status);
  if (writeStatus) {
    events.push({ type: "Warning", reason: failure.reason, message: failure.message });
  }
  const nameTaken = failure.reason === Reasons.ClusterSPIFFEIDNameTaken && rendered.ok
    ? rendered.identity.name
    : undefined;
  return {
    addFinalizer: needsFinalizer(binding),
    status,
    writeStatus,
    deletes: ownedDeletions(owned, namespace, name),
    events,
    outcome: { condition: failure.condition, reason: failure.reason, mode: modeLabel(binding) },
    retry: retryClass(failure.reason),
    nameTaken,
    rendered,
    spireOnly: false,
    lookupMasking: false,
  };
}

function needsFinalizer(binding: BindingInput): boolean {
  return !(binding.metadata?.finalizers ?? []).includes(FINALIZER);
}

function outputCrdMissing(): StateError {
  return new StateError(
    "RenderFailure",
    Reasons.ClusterSPIFFEIDCRDMissing,
    "the ClusterSPIFFEID API (spire.spiffe.io/v1alpha1) is not served by this cluster: " +
      "install the SPIRE Controller Manager CRDs",
  );
}

/** Objects this binding owns: the labelled list plus the name holder when it is ours too. */
function ownedObjects(
  input: PlanInput,
  namespace: string,
  name: string,
): ObservedClusterSPIFFEID[] {
  const byName = new Map<string, ObservedClusterSPIFFEID>();
  for (const object of [...input.managed, ...(input.nameHolder ? [input.nameHolder] : [])]) {
    const objectName = object.metadata.name;
    if (objectName && !byName.has(objectName) && isOwnedBy(object, namespace, name)) {
      byName.set(objectName, object);
    }
  }
  return [...byName.values()];
}

/** Failures that need more than the binding's own inputs: exclusivity, then the name holder. */
function failureOf(
  identity: RenderedIdentity,
  input: PlanInput,
  owned: readonly ObservedClusterSPIFFEID[],
): StateError | undefined {
  // docs/contract.md#exclusivity: 5.1, then 5.2, then 5.3 (refuse mode only).
  const verdict = input.exclusivity ?? NO_PEERS;
  if (verdict.collision.length > 0) return collisionError(verdict.collision);
  if (verdict.duplicate.length > 0) return duplicateError(identity.spiffeID, verdict.duplicate);
  if (input.identityOverlap === "refuse" && verdict.overlap.length > 0) {
    return overlapError(verdict.serviceAccount, verdict.overlap);
  }
  const holder = input.nameHolder;
  if (
    holder !== undefined && holder.metadata.name === identity.name &&
    !owned.some((object) => object.metadata.name === identity.name)
  ) {
    return nameTakenError(identity.name, holder);
  }
  return undefined;
}

function modeLabel(binding: BindingInput): string {
  const mode = isRecord(binding.spec) ? binding.spec.mode : undefined;
  if (mode === undefined || mode === null || mode === "") return DEFAULT_MODE;
  return typeof mode === "string" && (BINDING_MODES as readonly string[]).includes(mode)
    ? mode
    : "Unknown";
}
