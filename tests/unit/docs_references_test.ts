// Every file path, Markdown anchor and code name that a comment or a doc cites exists
// (docs/contract.md is the contract the code cites; tools/doc_references.ts is the checker).
import assert from "node:assert/strict";
import {
  anchorsOf,
  checkReferences,
  citableLines,
  type Finding,
  loadTree,
  looksLikeCodeName,
  type Tree,
} from "../../tools/doc_references.ts";

const ROOT = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");

/** The anchors every helper was told to cite (docs/contract.md); none may ever disappear. */
const CONTRACT_ANCHORS = [
  "runtime",
  "api",
  "inputs",
  "discovery",
  "rendering",
  "naming",
  "ownership",
  "exclusivity",
  "same-selection",
  "duplicate-id",
  "overlap",
  "exclusivity-cost",
  "status",
  "reasons",
  "lifecycle",
  "events",
  "fail-closed",
  "fail-static",
  "process",
  "flags",
  "connection",
  "dead-connections",
  "metrics-auth",
  "watches",
  "work-loop",
  "leader-election",
  "metrics",
  "logs",
  "deployment",
  "codegen",
  "cli",
  "testing",
];

/**
 * Citation forms nobody may use again: the contract the code cites is docs/contract.md (by anchor),
 * and what an issue explained lives in a doc section or CHANGELOG.md, which the tracker's numbers
 * do not lead to.
 */
const BANNED = [
  { pattern: /\bSPEC\b/, why: "cite docs/contract.md#<anchor>, not the old spec" },
  {
    pattern: /\b[Ii]ssues?\s+#?\d+|\bissue-\d+/,
    why: "cite the doc section or CHANGELOG.md entry that explains it, not an issue number",
  },
];

function show(findings: Finding[]): string {
  return findings.map((f) => `${f.file}:${f.line} ${f.kind} ${f.cited}: ${f.why}`).join("\n");
}

/** A small repository: a contract page, a module that cites it, a page that cites both. */
function fixture(files: Record<string, string>): Tree {
  const tree: Tree = { paths: new Set(), texts: new Map() };
  for (const [path, text] of Object.entries(files)) {
    tree.texts.set(path, text);
    const parts = path.split("/");
    for (let i = 1; i <= parts.length; i++) tree.paths.add(parts.slice(0, i).join("/"));
  }
  return tree;
}

const GOOD = {
  "docs/contract.md": '# Contract\n\n<a id="overlap"></a>\n\n## Overlapping selections\n',
  "reconcile/overlap.ts": [
    "/**",
    " * Overlaps (docs/contract.md#overlap); `findOverlaps` is tested in tests/unit/o_test.ts.",
    " */",
    "export function findOverlaps(): string[] {",
    "  return [];",
    "}",
  ].join("\n"),
  "tests/unit/o_test.ts": "// `reconcile/overlap.ts` `findOverlaps`\n",
  "docs/reconciler.md": "See [the rule](contract.md#overlap) and " +
    "[the heading](contract.md#overlapping-selections); code: `reconcile/overlap.ts`.\n",
};

Deno.test("the repository cites no path, anchor or name that does not exist", async () => {
  const findings = checkReferences(await loadTree(ROOT), { banned: BANNED });
  assert.deepEqual(findings, [], `\n${show(findings)}`);
});

Deno.test("docs/contract.md has every anchor the project cites", async () => {
  const anchors = anchorsOf(await Deno.readTextFile(`${ROOT}/docs/contract.md`));
  const missing = CONTRACT_ANCHORS.filter((a) => !anchors.has(a));
  assert.deepEqual(missing, []);
});

Deno.test("the checker", async (t) => {
  await t.step("passes a fixture whose citations all resolve", () => {
    assert.deepEqual(checkReferences(fixture(GOOD)), []);
  });

  await t.step("fails on a broken path", () => {
    const findings = checkReferences(fixture({
      ...GOOD,
      "reconcile/overlap.ts": GOOD["reconcile/overlap.ts"].replace(
        "tests/unit/o_test.ts",
        "tests/unit/overlap_test.ts",
      ),
    }));
    assert.deepEqual(
      findings.map((f) => [f.file, f.line, f.kind, f.cited]),
      [["reconcile/overlap.ts", 2, "path", "tests/unit/overlap_test.ts"]],
    );
  });

  await t.step("fails on a broken anchor, from code and from a doc", () => {
    const findings = checkReferences(fixture({
      ...GOOD,
      "reconcile/overlap.ts": GOOD["reconcile/overlap.ts"].replace("#overlap", "#overlaps"),
      "docs/reconciler.md": GOOD["docs/reconciler.md"].replace("#overlapping-", "#overlapped-"),
    }));
    assert.deepEqual(findings.map((f) => [f.file, f.kind, f.cited]).sort(), [
      ["docs/reconciler.md", "anchor", "contract.md#overlapped-selections"],
      ["reconcile/overlap.ts", "anchor", "docs/contract.md#overlaps"],
    ]);
  });

  await t.step("fails on a page that does not exist", () => {
    const findings = checkReferences(fixture({
      ...GOOD,
      "docs/reconciler.md": "[gone](contracts.md#overlap)\n",
    }));
    assert.deepEqual(findings.map((f) => [f.kind, f.cited]), [["anchor", "contracts.md#overlap"]]);
  });

  await t.step("fails on a name its file does not define, and on one no code has", () => {
    const findings = checkReferences(fixture({
      ...GOOD,
      "tests/unit/o_test.ts": "// `reconcile/overlap.ts` `findOverlap`; `runOverlapCheck` too\n",
    }));
    assert.deepEqual(findings.map((f) => [f.kind, f.cited]), [
      ["name", "reconcile/overlap.ts findOverlap"],
      ["name", "runOverlapCheck"],
    ]);
  });

  await t.step("fails on a banned citation form, also when wrapped across two lines", () => {
    const findings = checkReferences(
      fixture({
        ...GOOD,
        "docs/reconciler.md": "As SPEC 5.3 says.\n",
        "reconcile/a.ts": "/**\n * Faster (issue\n * 15), see SPEC\n * 4.\n */\n",
      }),
      { banned: [{ pattern: /\bSPEC\s+\d|\bissue\s+\d+/, why: "cite docs/contract.md" }] },
    );
    assert.deepEqual(findings.map((f) => [f.file, f.line, f.cited]), [
      ["docs/reconciler.md", 1, "SPEC 5"],
      ["reconcile/a.ts", 2, "issue 15"],
      ["reconcile/a.ts", 3, "SPEC 4"],
    ]);
  });

  await t.step("reads only the comments of a .ts file", () => {
    const text = 'const a = "x/y.ts"; // see `main.ts`\n/**\n * deno.json\n */\nlet d = 1;\n';
    assert.deepEqual(citableLines("m.ts", text).map((l) => l.line), [1, 2, 3, 4]);
    assert.equal(citableLines("m.ts", text)[0].text, "see `main.ts`");
  });

  await t.step("tells code names from words", () => {
    for (const name of ["planReconcile", "LeaderElector.run", "kleym_leader", "RETRY_CLASS"]) {
      assert.ok(looksLikeCodeName(name), name);
    }
    for (const word of ["Ready", "warn", "spec", "plan.ts", "PoolOnly-x", "a b"]) {
      assert.ok(!looksLikeCodeName(word), word);
    }
  });
});
