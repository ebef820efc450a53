/**
 * Human-readable output (pure). The JSON reports are the stable contract; this text is not.
 * Wording stays with what the CLI knows: what kleym renders and which pods the rendered selectors
 * select — never that an SVID was issued or a workload attested.
 */
import type {
  BindingInspectionReport,
  Finding,
  KleymStatusReport,
  SpireView,
  StatusConfigValue,
} from "./report.ts";

function findingLines(findings: readonly Finding[]): string[] {
  if (findings.length === 0) return ["  none"];
  return findings.map((f) => `  ${f.severity.toUpperCase().padEnd(7)} ${f.id}: ${f.message}`);
}

function table(rows: readonly (readonly string[])[], indent = "  "): string[] {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => widths[i] = Math.max(widths[i] ?? 0, cell.length));
  }
  return rows.map((row) =>
    indent + row.map((cell, i) => i === row.length - 1 ? cell : cell.padEnd(widths[i])).join("  ")
  );
}

function labels(record: Readonly<Record<string, string>>): string {
  const entries = Object.entries(record);
  return entries.length === 0 ? "(none)" : entries.map(([k, v]) => `${k}=${v}`).join(",");
}

/** What SPIRE Controller Manager reported, as the binding's status carries it. */
function spireLines(spire: SpireView | null): string[] {
  if (spire === null) return ["  (binding not found)"];
  const f = spire.figures;
  if (f === null) return [`  ${spire.message}`];
  return table([
    ["ClusterSPIFFEID:", f.clusterSPIFFEIDName],
    ["Pods selected:", String(f.podsSelected)],
    ["Namespaces:", `${f.namespacesSelected} selected, ${f.namespacesIgnored} ignored`],
    ["Entries to set:", String(f.entriesToSet)],
    ["Entries masked:", String(f.entriesMasked)],
    ["Entry failures:", String(f.entryFailures)],
    ["Render failures:", `${f.podEntryRenderFailures} (pod entries)`],
    ["Last change:", f.lastChangeTime ?? "(unknown)"],
  ]);
}

/** `spec.svid`: asked, rendered, the limits used and the one that refused a value. */
function svidLines(report: BindingInspectionReport): string[] {
  const svid = report.svid;
  if (svid === null) return [];
  const fields = (o: Record<string, unknown> | null, none: string) =>
    o === null || Object.keys(o).length === 0
      ? none
      : Object.entries(o).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(" ");
  const l = report.identityConfig.svidLimits;
  const list = (items: string[]) => items.length === 0 ? "none" : items.join(",");
  const rows = [
    ["Requested:", fields(svid.requested, "(none)")],
    ["Rendered:", svid.rendered === null ? "(not rendered)" : fields(svid.rendered, "(none)")],
    ["Limits:", `--max-svid-ttl=${l.maxSvidTtl.value} (${l.maxSvidTtl.source})`],
    ["", `--cluster-domain=${l.clusterDomain.value} (${l.clusterDomain.source})`],
    [
      "",
      `--allowed-dns-suffixes=${list(l.allowedDnsSuffixes.value)} ` +
      `(${l.allowedDnsSuffixes.source})`,
    ],
    [
      "",
      `--allowed-federated-trust-domains=${list(l.allowedFederatedTrustDomains.value)} ` +
      `(${l.allowedFederatedTrustDomains.source})`,
    ],
  ];
  const r = svid.refusedBy;
  if (r !== null) {
    rows.push([
      "Refused by:",
      `${r.flag === null ? "no flag (syntax or size)" : `${r.flag}=${r.limit}`}: ` +
      `${r.field} ${JSON.stringify(r.value)} (${r.reason})`,
    ]);
  }
  return table(rows);
}

export function inspectionText(report: BindingInspectionReport, exitCode: number): string {
  const ref = report.bindingRef;
  const cfg = report.identityConfig;
  const out: string[] = [`Binding ${ref.namespace}/${ref.name}${ref.found ? "" : " (not found)"}`];

  out.push("", "Identity");
  const input = report.resolvedInput;
  const rows: string[][] = [
    ["Trust domain:", `${cfg.trustDomain.value} (${cfg.trustDomain.source})`],
    ["Class name:", `${cfg.className.value ?? "(none)"} (${cfg.className.source})`],
  ];
  if (input) {
    rows.push(["Mode:", input.mode ?? "(unset)"]);
    const pool = input.pool;
    rows.push([
      "Pool:",
      `${pool.name ?? "(unset)"} ${pool.found ? `(${pool.apiVersion})` : "(not found)"}`,
    ]);
    if (input.objective) {
      const o = input.objective;
      rows.push([
        "Objective:",
        `${o.name ?? "(unset)"} ${o.found ? `(${o.apiVersion})` : "(not found)"}`,
      ]);
    }
    rows.push(["Service account:", input.serviceAccountName ?? "(unset)"]);
    if (input.containerName !== null) rows.push(["Container:", input.containerName]);
  }
  const id = report.renderedIdentity;
  if (id) {
    rows.push(["SPIFFE ID:", id.spiffeID]);
    rows.push(["Pod labels:", labels(id.podLabels)]);
    id.selectors.forEach((s, i) => rows.push([i === 0 ? "Selectors:" : "", s]));
  } else if (ref.found) {
    rows.push(["SPIFFE ID:", "(not rendered: see Findings)"]);
  }
  out.push(...table(rows));

  out.push("", "ClusterSPIFFEID");
  const csid = report.renderedClusterSPIFFEID;
  if (csid) {
    const state: Record<string, string> = {
      "in-sync": "in the cluster, as rendered",
      differs: "in the cluster, but different from the rendering",
      absent: "not in the cluster",
      "not-served": "the ClusterSPIFFEID API is not served",
      unknown: "unknown (not readable)",
    };
    const spec = csid.object.spec;
    out.push(...table([
      ["Name:", csid.name],
      ["In cluster:", state[csid.clusterState]],
      ["spiffeIDTemplate:", spec.spiffeIDTemplate],
      ["podSelector:", labels(spec.podSelector.matchLabels)],
      ["namespaceSelector:", labels(spec.namespaceSelector.matchLabels)],
      ["className:", spec.className ?? "(none)"],
      ["hint:", spec.hint],
    ]));
  } else {
    out.push("  (none rendered)");
  }

  if (report.svid !== null) out.push("", "SVID options", ...svidLines(report));

  out.push("", "SPIRE");
  out.push(...spireLines(report.spire));

  out.push("", "Conditions");
  if (report.conditions.length === 0) out.push("  (none)");
  else {
    out.push(...table([
      ["TYPE", "STATUS", "REASON", "MESSAGE"],
      ...report.conditions.map((c) => [c.type, c.status, c.reason, c.message]),
    ]));
  }

  out.push("", "Matched pods");
  if (report.matchedPods === null) out.push("  (not evaluated: see Findings)");
  else if (report.matchedPods.length === 0) out.push("  (none)");
  else {
    out.push(...table([
      ["POD", "SERVICE ACCOUNT", "CONTAINER", "LABELS"],
      ...report.matchedPods.map((p) => [
        p.name,
        p.serviceAccountName ?? "(none)",
        p.containerName ?? "(any)",
        labels(p.labels),
      ]),
    ]));
  }

  out.push("", "Findings", ...findingLines(report.findings));
  out.push("", "Exit code", `  ${exitCode}`);
  return `${out.join("\n")}\n`;
}

function configText(v: StatusConfigValue, none: string): string {
  if (v.source === "undiscovered") return "(undiscovered)";
  const shown = v.observed.map((o) => o ?? none).join(", ");
  return v.mixed ? `mixed: ${shown} (from ${v.source})` : `${v.value ?? none} (from ${v.source})`;
}

export function statusText(report: KleymStatusReport): string {
  const out: string[] = ["Kleym"];
  const op = report.components.operator;
  const operatorRows: string[][] = [
    ["Status:", report.status],
    ["CLI version:", report.cliVersion],
  ];
  const judged = op.evidence === "lease"
    ? `${op.state} (leader Lease ${op.lease?.namespace}/${op.lease?.name} held by ${op.lease?.holder}, renewed ${op.lease?.ageSeconds}s ago)`
    : op.evidence === "bindings"
    ? `${op.state} (no leader Lease or Deployment; judged from binding status)`
    : op.evidence === "deployment"
    ? `${op.state} (from the Deployment; no live leader Lease)`
    : op.state === "unknown"
    ? "unknown (not readable)"
    : "not found";
  operatorRows.push(["Operator:", judged]);
  op.deployments.forEach((d, i) =>
    operatorRows.push([
      i === 0 ? "Deployment:" : "",
      `${d.namespace}/${d.name}  ${d.readyReplicas}/${d.replicas} ready  image tag ${
        d.imageTag ?? "(none)"
      }`,
    ])
  );
  operatorRows.push(["Trust domain:", configText(report.config.trustDomain, "(none)")]);
  operatorRows.push(["Class name:", configText(report.config.className, "(none)")]);
  out.push(...table(operatorRows));

  out.push("", "Bindings");
  const b = report.summary.bindings;
  if (b === null) out.push("  unknown (not readable)");
  else {
    out.push(`  ${b.total} total: ${b.ok} OK, ${b.warning} WARNING, ${b.error} ERROR`);
    const conds = Object.entries(report.summary.trueConditions ?? {});
    out.push(`  True conditions: ${conds.map(([t, n]) => `${t} ${n}`).join(", ")}`);
    const sp = report.summary.spire;
    if (sp !== null) {
      out.push(
        `  SPIRE: ${sp.reported} of ${b.total} reported; ${sp.podsSelected} pods selected, ` +
          `${sp.entryFailures} entry failures, ${sp.podEntryRenderFailures} pod-entry render ` +
          `failures, ${sp.entriesMasked} entries masked`,
      );
    }
  }

  out.push("", "Dependencies");
  out.push(...table([
    ["CRD", "COMPONENT", "SERVED VERSIONS", "SUPPORTED"],
    ...report.components.crds.map((c) => [
      c.name,
      c.component,
      c.servedVersions.length === 0 ? "(not served)" : c.servedVersions.join(","),
      c.supportedVersions.join(","),
    ]),
  ]));

  out.push("", "Findings", ...findingLines(report.findings));
  return `${out.join("\n")}\n`;
}
