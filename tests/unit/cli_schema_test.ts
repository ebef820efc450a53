/** The shape checker catches what it must, and docs/cli.md documents every field it lists. */
import assert from "node:assert/strict";
import {
  checkReport,
  fieldPaths,
  INSPECTION_REPORT_SHAPE,
  STATUS_REPORT_SHAPE,
} from "../../cli/schema.ts";
import { FINDING_IDS } from "../../cli/report.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

Deno.test("docs/cli.md documents every JSON field and finding id", () => {
  const doc = Deno.readTextFileSync(`${ROOT}docs/cli.md`);
  const paths = [...fieldPaths(STATUS_REPORT_SHAPE), ...fieldPaths(INSPECTION_REPORT_SHAPE)]
    .filter((p) => !p.includes(".*"));
  assert.ok(paths.length > 100);
  const undocumented = paths.filter((p) => !doc.includes(`| \`${p}\``));
  assert.deepEqual(undocumented, []);
  assert.deepEqual(FINDING_IDS.filter((id) => !doc.includes(`| \`${id}\``)), []);
});

Deno.test("the checker rejects missing, extra and mistyped fields", () => {
  const finding = {
    id: "rbac-limited",
    severity: "warning",
    reason: "R",
    message: "m",
    affectedRefs: [],
  };
  const minimal = {
    schemaVersion: "v1alpha1",
    kind: "KleymStatusReport",
    generatedAt: "t",
    status: "OK",
    cliVersion: "0",
    components: {
      crds: [],
      operator: { state: "unknown", evidence: "none", lease: null, deployments: [] },
    },
    config: {
      trustDomain: { value: null, source: "undiscovered", mixed: false, observed: [] },
      className: { value: null, source: "undiscovered", mixed: false, observed: [] },
    },
    summary: { bindings: null, trueConditions: null, spire: null },
    findings: [finding],
  };
  assert.deepEqual(checkReport(minimal), []);
  assert.deepEqual(checkReport({ ...minimal, extra: 1 }), [
    "$.extra: not part of the documented shape",
  ]);
  const { cliVersion: _, ...missing } = minimal;
  assert.deepEqual(checkReport(missing), ["$.cliVersion: missing"]);
  assert.deepEqual(checkReport({ ...minimal, status: "FINE" }), [
    '$.status: expected one of OK|WARNING|ERROR, got "FINE"',
  ]);
  assert.deepEqual(checkReport({ ...minimal, findings: [{ ...finding, id: "nope" }] }).length, 1);
  assert.equal(checkReport({ kind: "Other" }).length, 1);
});
