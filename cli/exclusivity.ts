/**
 * Duplicate SPIFFE IDs and overlaps as the cluster holds them (docs/contract.md#duplicate-id,
 * #overlap; docs/cli.md), pure. The operator refuses a duplicate and, in refuse mode, an overlap
 * (their True Conflict is reported as `kleym-collision`, findings.ts); what this module finds is
 * what is *registered*: bindings whose status says Ready=True with a computed SPIFFE ID and
 * rendered selectors. That covers bindings an older operator wrote, which knew neither rule, and
 * overlaps a warn-mode operator keeps Ready.
 *
 * The decisions are the operator's own pure rules (reconcile/collision.ts) over a participant
 * rebuilt from the status: the SPIFFE ID, the selectors (which carry the service account, the
 * container and the pod labels) and the class name. Fields the status does not carry (spec.svid
 * options) are not compared here.
 *
 * - `duplicate-spiffe-id` (error): one SPIFFE ID registered by bindings with different selectors;
 *   one finding per ID, naming every binding that registers it.
 * - `identity-overlap` (warning): two bindings' selections can pick one container under different
 *   SPIFFE IDs; one finding per pair, with a pod both select.
 *
 * API: `statusParticipant(binding)`, `exclusivityFindings(bindings, focus?)`.
 */
import { compareCodeUnits } from "../apis/compare.ts";
import { overlapWitness, type Participant, participantFromSpec } from "../reconcile/collision.ts";
import { decodeConditions, findCondition } from "../reconcile/conditions.ts";
import { isRecord } from "../reconcile/json.ts";
import { OverlapIndex } from "../reconcile/overlap_index.ts";
import { BINDING_MODES, type BindingMode, NAMESPACE_NAME_LABEL } from "../reconcile/types.ts";
import { bindingMeta, bindingObjectRef } from "./findings.ts";
import type { Finding } from "./report.ts";

const POD_LABEL = "k8s:pod-label:";

/** The participant a Ready binding's status describes; undefined when it registers nothing. */
export function statusParticipant(binding: unknown): Participant | undefined {
  const status = isRecord(binding) && isRecord(binding.status) ? binding.status : undefined;
  if (findCondition(decodeConditions(status), "Ready")?.status !== "True") return undefined;
  const computed = Array.isArray(status?.computedSpiffeIDs)
    ? status.computedSpiffeIDs[0]
    : undefined;
  const rendered = Array.isArray(status?.renderedSelectors)
    ? status.renderedSelectors[0]
    : undefined;
  if (!isRecord(computed) || !isRecord(rendered)) return undefined;
  const { spiffeID, mode } = computed;
  const selectors = Array.isArray(rendered.selectors)
    ? rendered.selectors.filter((s): s is string => typeof s === "string")
    : [];
  if (typeof spiffeID !== "string" || !(BINDING_MODES as readonly unknown[]).includes(mode)) {
    return undefined;
  }
  const { namespace, name } = bindingMeta(binding);
  const matchLabels: Record<string, string> = {};
  for (const s of selectors) {
    if (!s.startsWith(POD_LABEL)) continue;
    const rest = s.slice(POD_LABEL.length);
    const at = rest.indexOf(":");
    if (at > 0) matchLabels[rest.slice(0, at)] = rest.slice(at + 1);
  }
  const className = status?.clusterSPIFFEIDClassName;
  // The spec the operator renders (docs/contract.md#rendering), minus what the status lacks.
  return participantFromSpec(namespace, name, mode as BindingMode, {
    spiffeIDTemplate: spiffeID,
    podSelector: { matchLabels },
    namespaceSelector: { matchLabels: { [NAMESPACE_NAME_LABEL]: namespace } },
    workloadSelectorTemplates: [...selectors].sort(compareCodeUnits),
    fallback: false,
    ...(typeof className === "string" && className !== "" ? { className } : {}),
  });
}

const labelsText = (labels: Readonly<Record<string, string>>) => {
  const keys = Object.keys(labels).sort(compareCodeUnits);
  return keys.length === 0 ? "any labels" : keys.map((k) => `${k}=${labels[k]}`).join(",");
};

/**
 * Both findings over `bindings` (any namespaces). With `focus`, only those naming that binding
 * (`kleym inspect binding`).
 */
export function exclusivityFindings(
  bindings: readonly unknown[],
  focus?: { namespace: string; name: string },
): Finding[] {
  const participants = bindings.map(statusParticipant).filter((p): p is Participant =>
    p !== undefined
  );
  const key = (p: Participant) => `${p.namespace}/${p.name}`;
  const findings: Finding[] = [];

  const byID = new Map<string, Participant[]>();
  for (const p of participants) byID.set(p.spiffeID, [...(byID.get(p.spiffeID) ?? []), p]);
  for (const [id, group] of byID) {
    if (new Set(group.map((p) => p.selectionKey)).size < 2) continue;
    const members = group.sort((a, b) => compareCodeUnits(key(a), key(b)));
    findings.push({
      id: "duplicate-spiffe-id",
      severity: "error",
      reason: "DuplicateSPIFFEID",
      message:
        `SPIFFE ID ${id} is registered by bindings ${
          members.map(key).join(", ")
        } with different selectors: one SPIFFE ID must select one set of workloads (written by an ` +
        `operator that predates this rule, or not reconciled since)`,
      affectedRefs: members.map((p) => bindingObjectRef(p.namespace, p.name)),
    });
  }

  const index = new OverlapIndex();
  const byKey = new Map(participants.map((p) => [key(p), p]));
  for (const [k, p] of byKey) index.add(k, p);
  for (const [k, p] of byKey) {
    for (const other of index.candidates(p)) {
      if (compareCodeUnits(other, k) <= 0) continue; // each pair once
      const q = byKey.get(other);
      const witness = q && overlapWitness(p, q);
      if (!q || !witness) continue;
      findings.push({
        id: "identity-overlap",
        severity: "warning",
        reason: "IdentityOverlap",
        message: `bindings ${k} and ${other} overlap: a pod of service account ` +
          `${p.serviceAccount} labelled ${labelsText(witness.labels)}, ${
            witness.container === undefined ? "any container" : `container ${witness.container}`
          }, is selected by both and would receive both SVIDs (${p.spiffeID} and ${q.spiffeID})`,
        affectedRefs: [
          bindingObjectRef(p.namespace, p.name),
          bindingObjectRef(q.namespace, q.name),
        ],
      });
    }
  }
  if (focus === undefined) return findings;
  return findings.filter((f) =>
    f.affectedRefs.some((r) => r.namespace === focus.namespace && r.name === focus.name)
  );
}
