/**
 * What SPIRE Controller Manager reported, as the CLI shows it (cli/spire.ts): decoding
 * `status.spire`, why it is absent, the `spire-*` findings with their exact messages, the
 * masking candidates, and how inspect, status and their text carry them.
 */
import assert from "node:assert/strict";
import { exitCode } from "../../cli/exit.ts";
import { buildInspectionReport, type InspectInput } from "../../cli/inspect.ts";
import {
  identityConfig,
  renderConfig,
  renderForInspect,
  type ServedApis,
} from "../../cli/inspect_render.ts";
import { decodePod } from "../../cli/matching.ts";
import { checkReport } from "../../cli/schema.ts";
import {
  decodeSpireFigures,
  spireFindings,
  type SpireFindingsInput,
  spireTotals,
  spireView,
} from "../../cli/spire.ts";
import { buildStatusReport } from "../../cli/status.ts";
import { maskingHolders } from "../../reconcile/spire.ts";
import { inspectionText, statusText } from "../../cli/text.ts";
import type { SpireFigures } from "../../cli/report.ts";
import { INSPECT_COMMAND, SERVED_ALL } from "./cli_fixtures.ts";

const NOW = new Date("2030-01-02T03:04:05Z");
const CSID = "kleym-ns-b-0123456789";

const READY = [{
  type: "Ready",
  status: "True",
  reason: "Reconciled",
  message: "ok",
  lastTransitionTime: "2030-01-01T00:00:00Z",
  observedGeneration: 1,
}];

const FIGURES: SpireFigures = {
  clusterSPIFFEIDName: CSID,
  namespacesSelected: 1,
  namespacesIgnored: 0,
  podsSelected: 2,
  entriesToSet: 2,
  entriesMasked: 0,
  entryFailures: 0,
  podEntryRenderFailures: 0,
  lastChangeTime: "2030-01-02T03:00:00Z",
};

function binding(status: Record<string, unknown> = {}) {
  return {
    metadata: { name: "b", namespace: "ns", uid: "u-1", generation: 1 },
    spec: { poolRef: { name: "p" }, mode: "PoolOnly", serviceAccountName: "sa" },
    status: { trustDomain: "td.example", conditions: READY, ...status },
  };
}

function findings(figures: Partial<SpireFigures>, extra: Partial<SpireFindingsInput> = {}) {
  return spireFindings({
    binding: binding(),
    figures: { ...FIGURES, ...figures },
    pods: { state: "read", names: ["p-0", "p-1"] },
    maskers: () => [],
    ...extra,
  });
}

Deno.test("status.spire decodes with omitted figures as 0; without a name it is absent", () => {
  assert.deepEqual(
    decodeSpireFigures(binding({
      spire: { clusterSPIFFEIDName: CSID, podsSelected: 3, lastChangeTime: "t" },
    })),
    {
      ...FIGURES,
      namespacesSelected: 0,
      podsSelected: 3,
      entriesToSet: 0,
      lastChangeTime: "t",
    },
  );
  assert.equal(decodeSpireFigures(binding()), undefined);
  assert.equal(decodeSpireFigures(binding({ spire: { podsSelected: 1 } })), undefined);
  assert.equal(decodeSpireFigures({}), undefined);
});

Deno.test("without status.spire the view says why in one line", async (t) => {
  const source = (read: "with-stats" | "without-stats" | "absent" | "unknown") => ({
    name: CSID,
    className: null,
    read,
  });
  const cases: [string, unknown, Parameters<typeof spireView>[1], string, string][] = [
    [
      "not Ready",
      binding({ conditions: [] }),
      source("with-stats"),
      "no-clusterspiffeid",
      "no SPIRE figures: the binding is not Ready, so kleym has no ClusterSPIFFEID as rendered " +
      "for SPIRE Controller Manager to report on",
    ],
    [
      "nothing rendered",
      binding(),
      null,
      "no-clusterspiffeid",
      "no SPIRE figures: the binding is not Ready, so kleym has no ClusterSPIFFEID as rendered " +
      "for SPIRE Controller Manager to report on",
    ],
    [
      "ClusterSPIFFEID absent",
      binding(),
      source("absent"),
      "no-clusterspiffeid",
      `no SPIRE figures: ClusterSPIFFEID ${CSID} does not exist, so SPIRE Controller Manager ` +
      "has nothing to report on",
    ],
    [
      "SCM reported, not copied",
      binding(),
      source("with-stats"),
      "not-copied",
      `no SPIRE figures: SPIRE Controller Manager has reported on ClusterSPIFFEID ${CSID} (its ` +
      "status.stats), but the operator has not copied the figures to the binding yet (is it " +
      "running, and a version that copies them?)",
    ],
    [
      "SCM has not reported (classless)",
      binding(),
      source("without-stats"),
      "not-reported",
      `no SPIRE figures: SPIRE Controller Manager has not reported on ClusterSPIFFEID ${CSID} ` +
      "(it has no status.stats): is SPIRE Controller Manager running, and does it handle " +
      "classless ClusterSPIFFEIDs?",
    ],
    [
      "SCM has not reported (a class)",
      binding(),
      { ...source("without-stats"), className: "c1" },
      "not-reported",
      `no SPIRE figures: SPIRE Controller Manager has not reported on ClusterSPIFFEID ${CSID} ` +
      "(it has no status.stats): is SPIRE Controller Manager running, and does it handle " +
      'className "c1"?',
    ],
    [
      "ClusterSPIFFEID not readable",
      binding(),
      source("unknown"),
      "not-reported",
      `no SPIRE figures: SPIRE Controller Manager has not reported on ClusterSPIFFEID ${CSID} ` +
      "yet, or the operator has not copied its figures (the ClusterSPIFFEID is not readable, so " +
      "which is unknown)",
    ],
  ];
  for (const [name, b, src, state, message] of cases) {
    await t.step(name, () => {
      assert.deepEqual(spireView(b, src), { state, message, figures: null });
    });
  }
  await t.step("reported: the figures, no message", () => {
    assert.deepEqual(spireView(binding({ spire: FIGURES }), source("without-stats")), {
      state: "reported",
      message: null,
      figures: FIGURES,
    });
  });
});

Deno.test("healthy figures raise no finding", () => {
  assert.deepEqual(findings({}), []);
  // SCM selects by pool labels only: more pods than the CLI matches is normal.
  assert.deepEqual(findings({ podsSelected: 5 }), []);
  assert.deepEqual(findings({ podsSelected: 0 }, { pods: { state: "read", names: [] } }), []);
  assert.deepEqual(findings({ podsSelected: 0 }, { pods: { state: "skipped" } }), []);
});

Deno.test("entry failures and pod-entry render failures are errors", () => {
  const refs = [
    {
      apiVersion: "kleym.sonda.red/v1alpha1",
      kind: "InferenceIdentityBinding",
      namespace: "ns",
      name: "b",
    },
    {
      apiVersion: "spire.spiffe.io/v1alpha1",
      kind: "ClusterSPIFFEID",
      namespace: null,
      name: CSID,
    },
  ];
  assert.deepEqual(findings({ entryFailures: 2, podEntryRenderFailures: 1 }), [
    {
      id: "spire-entry-failures",
      severity: "error",
      reason: "EntryFailures",
      message: `SPIRE Server failed to create or update 2 entries of ClusterSPIFFEID ${CSID} ` +
        "(entryFailures): the pods concerned have no registration entry; SPIRE Controller " +
        "Manager's log names each failed entry and SPIRE Server's reason",
      affectedRefs: refs,
    },
    {
      id: "spire-entry-failures",
      severity: "error",
      reason: "PodEntryRenderFailures",
      message: `SPIRE Controller Manager could not render 1 pod entry of ClusterSPIFFEID ${CSID} ` +
        "(podEntryRenderFailures): those pods get no registration entry; its log names each " +
        "pod and the template error",
      affectedRefs: refs,
    },
  ]);
  assert.match(findings({ entryFailures: 1 })[0].message, /to create or update 1 entry of/);
});

Deno.test("masked entries: a warning naming the masking ClusterSPIFFEID when known", async (t) => {
  const tail = ", declaring the same SPIFFE ID and selectors for the same pods: SPIRE " +
    "Controller Manager registers each entry once, for the oldest object, so the binding does " +
    "not control those entries; delete the other object or narrow its podSelector";
  const cases: [string, string[] | undefined, number, string][] = [
    [
      "one named",
      ["foreign"],
      1,
      `1 entry of ClusterSPIFFEID ${CSID} is masked by ClusterSPIFFEID foreign`,
    ],
    [
      "two named",
      ["a", "b"],
      2,
      `2 entries of ClusterSPIFFEID ${CSID} are masked by ClusterSPIFFEIDs a, b`,
    ],
    [
      "none recognised",
      [],
      2,
      `2 entries of ClusterSPIFFEID ${CSID} are masked by an older ClusterSPIFFEID or ClusterStaticEntry`,
    ],
    [
      "not listable",
      undefined,
      2,
      `2 entries of ClusterSPIFFEID ${CSID} are masked by an older ClusterSPIFFEID or ` +
      "ClusterStaticEntry (ClusterSPIFFEIDs cannot be listed to name it)",
    ],
  ];
  for (const [name, maskers, n, head] of cases) {
    await t.step(name, () => {
      const [f, ...rest] = findings({ entriesMasked: n, entriesToSet: 2 - n }, {
        maskers: () => maskers,
      });
      assert.deepEqual(rest, []);
      assert.equal(f.id, "spire-entries-masked");
      assert.equal(f.severity, "warning");
      assert.equal(f.reason, "EntriesMasked");
      assert.equal(f.message, head + tail);
      assert.deepEqual(f.affectedRefs.slice(2).map((r) => r.name), maskers ?? []);
    });
  }
  await t.step("the CSID list is only consulted when entries are masked", () => {
    assert.deepEqual(findings({}, { maskers: () => assert.fail("asked") }), []);
  });
});

Deno.test("zero pods selected while pods match: warning; pods unreadable: info", () => {
  const [f] = findings({ podsSelected: 0, entriesToSet: 0 });
  assert.deepEqual([f.id, f.severity, f.reason], ["spire-zero-pods", "warning", "NoPodsSelected"]);
  assert.equal(
    f.message,
    `SPIRE Controller Manager selected 0 pods for ClusterSPIFFEID ${CSID}, but 2 pods in ` +
      "namespace ns match the rendered selectors (p-0, p-1): no entry is registered for them; " +
      "if this persists, check that SPIRE Controller Manager is running, and its log (figures " +
      "last changed 2030-01-02T03:00:00Z)",
  );
  const [ignored] = findings({ podsSelected: 0, namespacesIgnored: 1 }, {
    pods: { state: "read", names: ["p-0"] },
  });
  assert.equal(
    ignored.message,
    `SPIRE Controller Manager selected 0 pods for ClusterSPIFFEID ${CSID}, but 1 pod in ` +
      "namespace ns matches the rendered selectors (p-0): it ignores the namespace " +
      "(namespacesIgnored 1): remove ns from SPIRE Controller Manager's ignoreNamespaces to " +
      "register it",
  );
  assert.deepEqual(findings({ podsSelected: 0 }, { pods: { state: "forbidden" } }), [{
    id: "spire-zero-pods",
    severity: "info",
    reason: "PodsUnreadable",
    message: `SPIRE Controller Manager selected 0 pods for ClusterSPIFFEID ${CSID}; pods in ` +
      "namespace ns cannot be listed, so whether any should be selected is unknown",
    affectedRefs: findings({ entryFailures: 1 })[0].affectedRefs,
  }]);
});

Deno.test("masking candidates: same templates, same SCM, kept over ours by SCM's order", () => {
  const csid = (
    name: string,
    created: string,
    spec: Record<string, unknown> = {},
    meta: Record<string, unknown> = {},
  ) => ({
    metadata: { name, creationTimestamp: created, uid: `uid-${name}`, ...meta },
    spec: {
      spiffeIDTemplate: "spiffe://td/ns/ns/pool/p",
      workloadSelectorTemplates: ["k8s:ns:ns", "k8s:sa:sa"],
      className: "a",
      ...spec,
    },
  });
  const t0 = "2030-01-01T00:00:10Z";
  const ours = csid("m", t0);
  const all = [
    ours,
    csid("older", "2030-01-01T00:00:05Z", {
      workloadSelectorTemplates: ["k8s:sa:sa", "k8s:ns:ns"],
    }),
    csid("newer", "2030-01-01T00:00:11Z"),
    // Same second: SCM keeps the lower UID ("uid-a..." < "uid-m", "uid-z..." > "uid-m").
    csid("a-same-second", t0),
    csid("z-same-second", t0),
    csid("other-id", "2030-01-01T00:00:01Z", { spiffeIDTemplate: "spiffe://td/x" }),
    csid("other-selectors", "2030-01-01T00:00:01Z", { workloadSelectorTemplates: ["k8s:ns:ns"] }),
    csid("other-class", "2030-01-01T00:00:01Z", { className: "b" }),
    csid("classless", "2030-01-01T00:00:01Z", { className: undefined }),
  ];
  assert.deepEqual(maskingHolders(ours, all), ["a-same-second", "classless", "older"]);
  const deleting = csid("m", t0, {}, { deletionTimestamp: "2030-01-01T00:01:00Z" });
  assert.deepEqual(maskingHolders(deleting, [deleting, csid("z-same-second", t0)]), [
    "z-same-second",
  ]);
  // A classless ClusterSPIFFEID of ours is masked by classed ones too (one SCM handles both).
  const classless = csid("m", t0, { className: undefined });
  assert.deepEqual(maskingHolders(classless, all), [
    "a-same-second",
    "classless",
    "older",
    "other-class",
  ]);
});

const command = INSPECT_COMMAND;
const served: ServedApis = { ...SERVED_ALL, objectives: [] };
const pool = {
  metadata: { name: "p", namespace: "ns" },
  spec: { selector: { matchLabels: { app: "m" } } },
};
const pod = (name: string) =>
  decodePod({
    metadata: { name, namespace: "ns", labels: { app: "m" } },
    spec: { serviceAccountName: "sa", containers: [{ name: "main" }] },
  });

function inspect(b: unknown, extra: Partial<InspectInput> = {}) {
  const fetched = { pools: { "inference.networking.k8s.io/v1": pool }, objectives: {} };
  const outcome = renderForInspect(
    b as Parameters<typeof renderForInspect>[0],
    served,
    fetched,
    renderConfig(identityConfig(command, b)),
  );
  assert.ok(outcome.ok);
  const report = buildInspectionReport({
    now: NOW,
    command,
    served,
    binding: b,
    fetched,
    outcome,
    pods: { state: "read", items: [pod("p-0"), pod("p-1")] },
    // The object as rendered, so no stale-ready: only SPIRE's findings are under test.
    cluster: { state: "found", object: outcome.identity.clusterSPIFFEID },
    ...extra,
  });
  assert.deepEqual(checkReport(JSON.parse(JSON.stringify(report))), []);
  return report;
}

Deno.test("inspect carries the figures and their findings; text shows them", () => {
  const ok = inspect(binding({ spire: FIGURES }));
  assert.deepEqual(ok.spire, { state: "reported", message: null, figures: FIGURES });
  assert.deepEqual(ok.findings, []);
  const text = inspectionText(ok, 0);
  assert.match(
    text,
    /^SPIRE\n {2}ClusterSPIFFEID: {2}kleym-ns-b-0123456789\n {2}Pods selected: {4}2\n/m,
  );
  assert.match(text, /^ {2}Render failures: {2}0 \(pod entries\)$/m);
  assert.match(text, /^ {2}Last change: {6}2030-01-02T03:00:00Z$/m);
  assert.ok(text.indexOf("\nSPIRE\n") > text.indexOf("\nClusterSPIFFEID\n"));
  assert.ok(text.indexOf("\nSPIRE\n") < text.indexOf("\nConditions\n"));

  const failing = inspect(binding({ spire: { ...FIGURES, podsSelected: 0, entryFailures: 1 } }));
  assert.deepEqual(failing.findings.map((f) => [f.id, f.severity]), [
    ["spire-entry-failures", "error"],
    ["spire-zero-pods", "warning"],
  ]);
  assert.equal(exitCode({ kind: "report", findings: failing.findings, strict: false }), 2);
  assert.match(inspectionText(failing, 2), /ERROR {3}spire-entry-failures: SPIRE Server failed/);
});

Deno.test("inspect names the masking ClusterSPIFFEID from the list it read", () => {
  const b = binding({ spire: { ...FIGURES, entriesMasked: 2, entriesToSet: 0 } });
  const first = inspect(b);
  const ours = first.renderedClusterSPIFFEID?.object;
  assert.ok(ours);
  const foreign = {
    ...structuredClone(ours),
    metadata: { name: "foreign", creationTimestamp: "2030-01-01T00:00:00Z" },
  };
  const listed = {
    ...ours,
    metadata: { ...ours.metadata, name: CSID, creationTimestamp: "2030-01-01T00:00:01Z" },
  };
  const named = inspect(b, { clusterSPIFFEIDs: { state: "listed", items: [listed, foreign] } });
  const masked = named.findings.find((f) => f.id === "spire-entries-masked");
  assert.match(masked?.message ?? "", /masked by ClusterSPIFFEID foreign, declaring/);
  const unlisted = inspect(b, { clusterSPIFFEIDs: { state: "forbidden" } });
  assert.match(
    unlisted.findings.find((f) => f.id === "spire-entries-masked")?.message ?? "",
    /\(ClusterSPIFFEIDs cannot be listed to name it\)/,
  );
});

Deno.test("inspect without figures: state and one line in JSON and text; none when not found", () => {
  const r = inspect(binding());
  assert.equal(r.spire?.state, "not-reported");
  assert.match(
    inspectionText(r, 0),
    /^SPIRE\n {2}no SPIRE figures: SPIRE Controller Manager has not reported on ClusterSPIFFEID \S+ \(it has no status.stats\)/m,
  );
  const gone = buildInspectionReport({
    now: NOW,
    command,
    served,
    binding: undefined,
    fetched: { pools: {}, objectives: {} },
    outcome: null,
    pods: { state: "skipped" },
    cluster: { state: "skipped" },
  });
  assert.equal(gone.spire, null);
  assert.match(inspectionText(gone, 3), /^SPIRE\n {2}\(binding not found\)$/m);
});

Deno.test("status totals the figures and raises failures and masking per binding", () => {
  const named = (name: string, spire?: Partial<SpireFigures>) => ({
    ...binding(
      spire === undefined ? {} : { spire: { ...FIGURES, clusterSPIFFEIDName: name, ...spire } },
    ),
    metadata: { name, namespace: "ns", generation: 1 },
  });
  const bindings = [
    named("a", {}),
    named("b", { podsSelected: 3, entryFailures: 1 }),
    named("c", { podsSelected: 0, entriesMasked: 2 }),
    named("d"),
  ];
  assert.deepEqual(spireTotals(bindings), {
    reported: 3,
    podsSelected: 5,
    entryFailures: 1,
    podEntryRenderFailures: 0,
    entriesMasked: 2,
  });
  const r = buildStatusReport({
    now: NOW,
    served: new Map([
      ["inferenceidentitybindings.kleym.sonda.red", ["v1alpha1"]],
      ["clusterspiffeids.spire.spiffe.io", ["v1alpha1"]],
      ["inferencepools.inference.networking.k8s.io", ["v1"]],
      ["inferenceobjectives.inference.networking.x-k8s.io", ["v1alpha2"]],
    ]),
    bindings: { state: "listed", items: bindings },
    deployments: { state: "listed", items: [] },
  });
  assert.deepEqual(checkReport(JSON.parse(JSON.stringify(r))), []);
  assert.deepEqual(r.summary.spire, spireTotals(bindings));
  const spire = r.findings.filter((f) => f.id.startsWith("spire-"));
  // No pods are read by status: podsSelected 0 raises nothing there.
  assert.deepEqual(spire.map((f) => [f.id, f.affectedRefs[0].name]), [
    ["spire-entry-failures", "b"],
    ["spire-entries-masked", "c"],
  ]);
  assert.match(spire[1].message, /\(ClusterSPIFFEIDs cannot be listed to name it\)/);
  assert.equal(r.status, "ERROR");
  assert.match(
    statusText(r),
    /^ {2}SPIRE: 3 of 4 reported; 5 pods selected, 1 entry failures, 0 pod-entry render failures, 2 entries masked$/m,
  );
});
