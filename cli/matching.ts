/**
 * Which pods a rendered identity selects (pure). The rendered workload selectors are evaluated
 * against pod objects the way SPIRE's k8s workload attestor would describe those pods:
 *
 * - `k8s:ns:<ns>`: the pod's namespace;
 * - `k8s:sa:<sa>`: `spec.serviceAccountName` (else the deprecated `spec.serviceAccount`);
 * - `k8s:pod-label:<key>:<value>`: a pod label (label keys cannot contain ":", so the first ":"
 *   after the prefix separates key and value);
 * - `k8s:container-name:<c>`: a container of that name in `spec.containers` or
 *   `spec.initContainers`; the pod matches through that container.
 *
 * Any other selector cannot be evaluated from a pod object: it is skipped and reported back
 * (`unsupported-selector`). This only tells which pods *would be* selected; whether a workload
 * attests or an SVID is issued is SPIRE's business and is never claimed.
 */
import { compareCodeUnits } from "../apis/compare.ts";
import { asRecord, isRecord } from "../reconcile/json.ts";
import type { MatchedPod } from "./report.ts";

export interface PodView {
  namespace: string;
  name: string;
  serviceAccountName: string | null;
  labels: Record<string, string>;
  containers: string[];
}

export function decodePod(u: unknown): PodView {
  const o = asRecord(u);
  const meta = asRecord(o.metadata);
  const spec = asRecord(o.spec);
  const labels: Record<string, string> = {};
  if (isRecord(meta.labels)) {
    for (const [k, v] of Object.entries(meta.labels)) if (typeof v === "string") labels[k] = v;
  }
  const names = (list: unknown): string[] =>
    Array.isArray(list)
      ? list.flatMap((c) => isRecord(c) && typeof c.name === "string" ? [c.name] : [])
      : [];
  const sa = typeof spec.serviceAccountName === "string" && spec.serviceAccountName !== ""
    ? spec.serviceAccountName
    : typeof spec.serviceAccount === "string" && spec.serviceAccount !== ""
    ? spec.serviceAccount
    : null;
  return {
    namespace: typeof meta.namespace === "string" ? meta.namespace : "",
    name: typeof meta.name === "string" ? meta.name : "",
    serviceAccountName: sa,
    labels,
    containers: [...names(spec.containers), ...names(spec.initContainers)],
  };
}

type Parsed =
  | { kind: "ns" | "sa" | "container"; value: string }
  | { kind: "label"; key: string; value: string }
  | { kind: "unsupported"; selector: string };

export function parseSelector(selector: string): Parsed {
  const take = (prefix: string) =>
    selector.startsWith(prefix) ? selector.slice(prefix.length) : undefined;
  const ns = take("k8s:ns:");
  if (ns !== undefined) return { kind: "ns", value: ns };
  const sa = take("k8s:sa:");
  if (sa !== undefined) return { kind: "sa", value: sa };
  const container = take("k8s:container-name:");
  if (container !== undefined) return { kind: "container", value: container };
  const label = take("k8s:pod-label:");
  if (label !== undefined && label.includes(":")) {
    const i = label.indexOf(":");
    return { kind: "label", key: label.slice(0, i), value: label.slice(i + 1) };
  }
  return { kind: "unsupported", selector };
}

export interface MatchResult {
  matched: MatchedPod[];
  /** Selectors that could not be evaluated (skipped). */
  unsupported: string[];
  /** Pods in the namespace carrying every pod-label selector (what the pool selects). */
  withPoolLabels: number;
  /** Of those, how many run under another service account. */
  otherServiceAccount: number;
  /** Of those with the right account, how many lack the container. */
  missingContainer: number;
}

export function matchPods(selectors: readonly string[], pods: readonly PodView[]): MatchResult {
  const parsed = selectors.map(parseSelector);
  const unsupported = parsed.flatMap((p) => p.kind === "unsupported" ? [p.selector] : []);
  const namespaces = parsed.flatMap((p) => p.kind === "ns" ? [p.value] : []);
  const accounts = parsed.flatMap((p) => p.kind === "sa" ? [p.value] : []);
  const containers = parsed.flatMap((p) => p.kind === "container" ? [p.value] : []);
  const labels = parsed.flatMap((p) => p.kind === "label" ? [p] : []);

  const result: MatchResult = {
    matched: [],
    unsupported,
    withPoolLabels: 0,
    otherServiceAccount: 0,
    missingContainer: 0,
  };
  for (const pod of [...pods].sort(byRef)) {
    if (!namespaces.every((ns) => pod.namespace === ns)) continue;
    if (!labels.every((l) => pod.labels[l.key] === l.value)) continue;
    result.withPoolLabels++;
    if (!accounts.every((sa) => pod.serviceAccountName === sa)) {
      result.otherServiceAccount++;
      continue;
    }
    if (!containers.every((c) => pod.containers.includes(c))) {
      result.missingContainer++;
      continue;
    }
    result.matched.push({
      namespace: pod.namespace,
      name: pod.name,
      serviceAccountName: pod.serviceAccountName,
      labels: sortedRecord(pod.labels),
      containerName: containers.length > 0 ? containers[0] : null,
    });
  }
  return result;
}

function byRef(a: PodView, b: PodView): number {
  const x = `${a.namespace}/${a.name}`;
  const y = `${b.namespace}/${b.name}`;
  return compareCodeUnits(x, y);
}

function sortedRecord(r: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(Object.entries(r).sort(([a], [b]) => compareCodeUnits(a, b)));
}
