/**
 * What SPIRE Controller Manager (SCM) reported for a binding's ClusterSPIFFEID, as the CLI shows
 * it (pure). The operator copies SCM's `status.stats` to the binding's `status.spire`
 * (docs/reconciler.md); the CLI decodes those figures, says why they are absent, and raises the
 * `spire-*` findings from them. It never recomputes them: they are SCM's account of its work.
 *
 * What the findings rely on (SCM's entry reconciler):
 * - `podsSelected` counts the pods matching the ClusterSPIFFEID's podSelector in the selected
 *   namespaces SCM does not ignore (its `ignoreNamespaces`, counted in `namespacesIgnored`); the
 *   workload selectors (service account, container) do not narrow it, so every pod the CLI
 *   matches is among them unless the figures lag.
 * - An entry (SPIFFE ID, parent ID, selectors) declared by several objects is registered once,
 *   for the oldest object (creationTimestamp); it counts as masked for the others.
 * - `podEntryRenderFailures`: pods whose entry could not be rendered from the templates;
 *   `entryFailures`: entries SPIRE Server refused to create or update.
 * - SCM writes a ClusterSPIFFEID's status only when its figures change, so a ClusterSPIFFEID
 *   in a namespace that exists has a status once SCM has handled it.
 */
import { asRecord, isRecord } from "../reconcile/json.ts";
import { maskingHolders, readSpireStatus } from "../reconcile/spire.ts";
import { bindingHealth, bindingMeta, bindingObjectRef } from "./findings.ts";
import type { Finding, ObjectRef, SpireFigures, SpireTotals, SpireView } from "./report.ts";

const CSID_API_VERSION = "spire.spiffe.io/v1alpha1";

/** The binding's `status.spire` (reconcile/spire.ts decodes it), figures SCM omitted as 0. */
export function decodeSpireFigures(binding: unknown): SpireFigures | undefined {
  const read = readSpireStatus(asRecord(binding).status);
  if (read === undefined || read.clusterSPIFFEIDName === "") return undefined;
  return {
    clusterSPIFFEIDName: read.clusterSPIFFEIDName,
    ...read.figures,
    lastChangeTime: read.lastChangeTime ?? null,
  };
}

/** Whether SCM has written the ClusterSPIFFEID's `status.stats`. */
export function hasScmStats(clusterSPIFFEID: unknown): boolean {
  return isRecord(asRecord(asRecord(clusterSPIFFEID).status).stats);
}

/** The binding's ClusterSPIFFEID as inspect read it; null when nothing was rendered. */
export interface SpireSource {
  name: string;
  className: string | null;
  read: "with-stats" | "without-stats" | "absent" | "unknown";
}

/** The figures, or one line saying why there are none. */
export function spireView(binding: unknown, csid: SpireSource | null): SpireView {
  const figures = decodeSpireFigures(binding);
  if (figures !== undefined) return { state: "reported", message: null, figures };
  const none = (state: SpireView["state"], why: string): SpireView => ({
    state,
    message: `no SPIRE figures: ${why}`,
    figures: null,
  });
  if (bindingHealth(binding) !== "ok" || csid === null) {
    return none(
      "no-clusterspiffeid",
      "the binding is not Ready, so kleym has no ClusterSPIFFEID as rendered for SPIRE " +
        "Controller Manager to report on",
    );
  }
  const name = `ClusterSPIFFEID ${csid.name}`;
  switch (csid.read) {
    case "absent":
      return none(
        "no-clusterspiffeid",
        `${name} does not exist, so SPIRE Controller Manager has nothing to report on`,
      );
    case "with-stats":
      return none(
        "not-copied",
        `SPIRE Controller Manager has reported on ${name} (its status.stats), but the operator ` +
          `has not copied the figures to the binding yet (is it running, and a version that ` +
          `copies them?)`,
      );
    case "without-stats":
      return none(
        "not-reported",
        `SPIRE Controller Manager has not reported on ${name} (it has no status.stats): is ` +
          `SPIRE Controller Manager running, and does it handle ${
            csid.className === null
              ? "classless ClusterSPIFFEIDs"
              : `className ${JSON.stringify(csid.className)}`
          }?`,
      );
    case "unknown":
      return none(
        "not-reported",
        `SPIRE Controller Manager has not reported on ${name} yet, or the operator has not ` +
          `copied its figures (the ClusterSPIFFEID is not readable, so which is unknown)`,
      );
  }
}

/** Pods the CLI matched with the rendered selectors, as far as it could read them. */
export type MatchedPodNames =
  | { state: "read"; names: readonly string[] }
  | { state: "forbidden" }
  | { state: "skipped" };

export interface SpireFindingsInput {
  binding: unknown;
  figures: SpireFigures;
  pods: MatchedPodNames;
  /**
   * Only asked when entries are masked: names of the ClusterSPIFFEIDs that mask them
   * (reconcile/spire.ts `maskingHolders`), undefined when ClusterSPIFFEIDs could not be listed.
   */
  maskers: () => string[] | undefined;
}

function plural(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

function csidRef(name: string): ObjectRef {
  return { apiVersion: CSID_API_VERSION, kind: "ClusterSPIFFEID", namespace: null, name };
}

/**
 * `spire-entry-failures` (error) for entries SPIRE Server refused or pod entries SCM could not
 * render: pods that should have an entry have none. `spire-entries-masked` (warning): another
 * object registers the binding's pods, so the binding does not control their entries.
 * `spire-zero-pods`: SCM selected no pod while the CLI matches some (warning), or SCM selected
 * none and the CLI may not read pods to tell whether it should have (info).
 */
export function spireFindings(input: SpireFindingsInput): Finding[] {
  const { figures: f } = input;
  const { namespace, name } = bindingMeta(input.binding);
  const binding = bindingObjectRef(namespace, name);
  const csid = `ClusterSPIFFEID ${f.clusterSPIFFEIDName}`;
  const refs = [binding, csidRef(f.clusterSPIFFEIDName)];
  const out: Finding[] = [];
  if (f.entryFailures > 0) {
    out.push({
      id: "spire-entry-failures",
      severity: "error",
      reason: "EntryFailures",
      message:
        `SPIRE Server failed to create or update ${
          plural(f.entryFailures, "entry", "entries")
        } of ${csid} (entryFailures): the pods concerned have no registration entry; SPIRE ` +
        `Controller Manager's log names each failed entry and SPIRE Server's reason`,
      affectedRefs: refs,
    });
  }
  if (f.podEntryRenderFailures > 0) {
    out.push({
      id: "spire-entry-failures",
      severity: "error",
      reason: "PodEntryRenderFailures",
      message:
        `SPIRE Controller Manager could not render ${
          plural(f.podEntryRenderFailures, "pod entry", "pod entries")
        } of ${csid} (podEntryRenderFailures): those pods get no registration entry; its log ` +
        `names each pod and the template error`,
      affectedRefs: refs,
    });
  }
  if (f.entriesMasked > 0) {
    const maskers = input.maskers();
    const who = maskers === undefined
      ? "an older ClusterSPIFFEID or ClusterStaticEntry (ClusterSPIFFEIDs cannot be listed to name it)"
      : maskers.length === 0
      ? "an older ClusterSPIFFEID or ClusterStaticEntry"
      : maskers.length === 1
      ? `ClusterSPIFFEID ${maskers[0]}`
      : `ClusterSPIFFEIDs ${maskers.join(", ")}`;
    out.push({
      id: "spire-entries-masked",
      severity: "warning",
      reason: "EntriesMasked",
      message:
        `${plural(f.entriesMasked, "entry", "entries")} of ${csid} ${
          f.entriesMasked === 1 ? "is" : "are"
        } masked by ${who}, declaring the same SPIFFE ID and selectors for the same pods: SPIRE ` +
        `Controller Manager registers each entry once, for the oldest object, so the binding ` +
        `does not control those entries; delete the other object or narrow its podSelector`,
      affectedRefs: [...refs, ...(maskers ?? []).map(csidRef)],
    });
  }
  if (f.podsSelected === 0 && input.pods.state === "read" && input.pods.names.length > 0) {
    const n = input.pods.names.length;
    const them = n === 1 ? "it" : "them";
    const hint = f.namespacesIgnored > 0
      ? `it ignores the namespace (namespacesIgnored ${f.namespacesIgnored}): remove ` +
        `${namespace} from SPIRE Controller Manager's ignoreNamespaces to register ${them}`
      : `no entry is registered for ${them}; if this persists, check that SPIRE Controller ` +
        `Manager is running, and its log (figures last changed ${
          f.lastChangeTime ?? "at an unknown time"
        })`;
    out.push({
      id: "spire-zero-pods",
      severity: "warning",
      reason: "NoPodsSelected",
      message: `SPIRE Controller Manager selected 0 pods for ${csid}, but ${
        plural(n, "pod", "pods")
      } in namespace ${namespace} ${n === 1 ? "matches" : "match"} the rendered selectors (${
        input.pods.names.join(", ")
      }): ${hint}`,
      affectedRefs: refs,
    });
  }
  if (f.podsSelected === 0 && input.pods.state === "forbidden") {
    out.push({
      id: "spire-zero-pods",
      severity: "info",
      reason: "PodsUnreadable",
      message: `SPIRE Controller Manager selected 0 pods for ${csid}; pods in namespace ` +
        `${namespace} cannot be listed, so whether any should be selected is unknown`,
      affectedRefs: refs,
    });
  }
  return out;
}

/**
 * The masking candidates of the ClusterSPIFFEID named `name` among `list` (every
 * ClusterSPIFFEID); undefined when they could not be listed, [] when `name` is not among them.
 */
export function maskersIn(
  list: readonly unknown[] | undefined,
  name: string,
): string[] | undefined {
  if (list === undefined) return undefined;
  const ours = list.find((o) => asRecord(asRecord(o).metadata).name === name);
  return ours === undefined ? [] : maskingHolders(ours, list);
}

/** Totals over the bindings that carry SPIRE's figures. */
export function spireTotals(bindings: readonly unknown[]): SpireTotals {
  const totals: SpireTotals = {
    reported: 0,
    podsSelected: 0,
    entryFailures: 0,
    podEntryRenderFailures: 0,
    entriesMasked: 0,
  };
  for (const b of bindings) {
    const f = decodeSpireFigures(b);
    if (f === undefined) continue;
    totals.reported++;
    totals.podsSelected += f.podsSelected;
    totals.entryFailures += f.entryFailures;
    totals.podEntryRenderFailures += f.podEntryRenderFailures;
    totals.entriesMasked += f.entriesMasked;
  }
  return totals;
}
