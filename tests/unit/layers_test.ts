// The layers of docs/architecture.md, enforced: every relative import of the product code goes
// down (or sideways within a directory), never up. A new edge that breaks the picture fails here
// with the importing file and the import.
import assert from "node:assert/strict";

const ROOT = new URL("../../", import.meta.url).pathname;

/** The write paths and the controller's state: what the read-only CLI must never import. */
const RECONCILE_EDGE = new Set([
  "reconcile/apply.ts",
  "reconcile/finalize.ts",
  "reconcile/reconciler.ts",
  "reconcile/controller.ts",
  "reconcile/served.ts",
  "reconcile/exclusivity.ts",
]);

/** Which top-level directories each directory may import from (itself always). */
const MAY_IMPORT: Record<string, string[]> = {
  apis: [],
  generated: ["apis"],
  observe: ["apis"],
  reconcile: ["apis", "observe", "generated", "flags"],
  flags: ["observe", "reconcile"],
  operator: ["apis", "observe", "reconcile", "flags", "generated"],
  cli: ["apis", "observe", "reconcile", "flags", "generated"],
};

function imports(text: string): string[] {
  const found: string[] = [];
  for (const m of text.matchAll(/(?:from|import)\s*\(?\s*"(\.{1,2}\/[^"]+)"/g)) found.push(m[1]);
  return found;
}

function resolve(from: string, spec: string): string {
  const parts = from.split("/").slice(0, -1);
  for (const p of spec.split("/")) {
    if (p === "..") parts.pop();
    else if (p !== ".") parts.push(p);
  }
  return parts.join("/");
}

/** Groups of files that reach each other through imports and span more than one directory. */
function crossDirectoryCycles(graph: Map<string, string[]>): string[] {
  // Strongly connected components (Tarjan): files that reach each other through imports.
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[] = [];
  const strongConnect = (v: string) => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!index.has(w)) {
        strongConnect(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const component: string[] = [];
    for (let w = stack.pop()!;; w = stack.pop()!) {
      onStack.delete(w);
      component.push(w);
      if (w === v) break;
    }
    if (new Set(component.map((f) => f.split("/")[0])).size > 1) {
      cycles.push(component.sort().join(", "));
    }
  };
  for (const file of graph.keys()) if (!index.has(file)) strongConnect(file);
  return cycles;
}

async function productFiles(): Promise<string[]> {
  const files: string[] = [];
  for (const dir of Object.keys(MAY_IMPORT)) {
    const walk = async (d: string) => {
      for await (const e of Deno.readDir(`${ROOT}${d}`)) {
        if (e.isDirectory) await walk(`${d}/${e.name}`);
        else if (e.name.endsWith(".ts")) files.push(`${d}/${e.name}`);
      }
    };
    await walk(dir);
  }
  return files.sort();
}

Deno.test("product code imports only downwards in the layer picture", async (t) => {
  const files = await productFiles();
  await t.step("every directory imports only the layers below it", async () => {
    const wrong: string[] = [];
    for (const file of files) {
      const top = file.split("/")[0];
      for (const spec of imports(await Deno.readTextFile(`${ROOT}${file}`))) {
        const target = resolve(file, spec);
        const targetTop = target.split("/")[0];
        if (targetTop !== top && !MAY_IMPORT[top].includes(targetTop)) {
          wrong.push(`${file} imports ${target}`);
        }
      }
    }
    assert.deepEqual(wrong, []);
  });
  // Within one directory a cycle is that module's own business (there are a few, type-only or
  // harmless); across directories it means two layers lean on each other.
  await t.step("no import cycle crosses a directory", async () => {
    const graph = new Map<string, string[]>();
    for (const file of files) {
      const text = await Deno.readTextFile(`${ROOT}${file}`);
      graph.set(file, imports(text).map((spec) => resolve(file, spec)));
    }
    assert.deepEqual(crossDirectoryCycles(graph), []);
  });
  await t.step("the CLI never imports the operator's write paths or controller state", async () => {
    const wrong: string[] = [];
    for (const file of files.filter((f) => f.startsWith("cli/"))) {
      for (const spec of imports(await Deno.readTextFile(`${ROOT}${file}`))) {
        const target = resolve(file, spec);
        if (RECONCILE_EDGE.has(target)) wrong.push(`${file} imports ${target}`);
      }
    }
    assert.deepEqual(wrong, []);
  });
  await t.step("flags/ takes only pure rules from reconcile/, not its edge", async () => {
    const wrong: string[] = [];
    for (const file of files.filter((f) => f.startsWith("flags/"))) {
      for (const spec of imports(await Deno.readTextFile(`${ROOT}${file}`))) {
        const target = resolve(file, spec);
        if (RECONCILE_EDGE.has(target)) wrong.push(`${file} imports ${target}`);
      }
    }
    assert.deepEqual(wrong, []);
  });
});

Deno.test("the import reader sees static, type-only and dynamic imports", () => {
  const text = [
    'import { a } from "../apis/a.ts";',
    'import type { B } from "./b.ts";',
    'const c = await import("../observe/c.ts");',
    'export { d } from "../reconcile/d.ts";',
    'import x from "node:path";',
  ].join("\n");
  assert.deepEqual(imports(text), [
    "../apis/a.ts",
    "./b.ts",
    "../observe/c.ts",
    "../reconcile/d.ts",
  ]);
  assert.equal(resolve("cli/inspect.ts", "../reconcile/apply.ts"), "reconcile/apply.ts");
  assert.equal(resolve("apis/a.ts", "./b.ts"), "apis/b.ts");
});

Deno.test("a cycle across directories is found, one within a directory is not", () => {
  const graph = new Map([
    ["flags/a.ts", ["reconcile/b.ts"]],
    ["reconcile/b.ts", ["reconcile/c.ts"]],
    ["reconcile/c.ts", ["flags/a.ts", "reconcile/b.ts"]],
    ["apis/x.ts", ["apis/y.ts"]],
    ["apis/y.ts", ["apis/x.ts"]],
  ]);
  assert.deepEqual(crossDirectoryCycles(graph), ["flags/a.ts, reconcile/b.ts, reconcile/c.ts"]);
});
