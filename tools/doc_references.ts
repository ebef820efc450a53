/**
 * Checks that what comments and docs cite exists: file paths, Markdown anchors
 * (`docs/contract.md#overlap` from code, `contract.md#overlap` from docs/, `(#overlap)` within a
 * page) and code names written in backticks. The contract
 * (docs/contract.md) is the only contract code cites; a citation that resolves to nothing is a
 * reader sent nowhere. `tests/unit/docs_references_test.ts` runs it over the repository.
 *
 * Pure: `checkReferences(tree)` reads only the `Tree` it is given, so the test can hand it a
 * fixture with a broken path or anchor. `loadTree(root)` reads a checkout (Deno.readDir /
 * readTextFile; permission: --allow-read of the root).
 *
 * What is checked, and where:
 * - `.ts` files: comment lines only (lines starting with `//`, `/*` or `*`, and trailing `// ...`);
 *   code is the compiler's business. Markdown files: all text.
 * - A path is a token that ends in a known extension (`.ts`, `.md`, `.yaml`, `.json`, `.sh`) or
 *   starts with a top-level directory of the repository. It resolves relative to the repository
 *   root, the citing file's directory or `tests/`; a bare file name (`plan.ts`) may name any file
 *   of that name. Tokens with placeholders (`<ns>`, `*`, `$`) are not paths.
 * - An anchor resolves to an explicit `<a id="...">` or a heading's GitHub slug in its page.
 * - A code name: a backticked identifier next to a backticked `.ts` path (`` `plan.ts` `planX` ``,
 *   `` `planX` in `plan.ts` ``) must occur in that file's code; any other backticked identifier
 *   that looks like code (camelCase, PascalCase with a lower-case letter, snake_case) must occur in
 *   the code of some `.ts` file or in a manifest, unless `EXTERNAL_NAMES` lists it.
 * - Banned citations (`banned`): patterns no comment or doc may contain, such as citations of a
 *   document that is not in the repository.
 */

/** A repository as the checker sees it: relative paths (with `/`) and the text of checked files. */
export interface Tree {
  /** Every file and directory path (directories without a trailing `/`). */
  paths: Set<string>;
  /** Text of the files whose citations are checked, and of the `.ts`/manifest files names resolve in. */
  texts: Map<string, string>;
}

export interface Finding {
  file: string;
  line: number;
  kind: "path" | "anchor" | "name" | "banned";
  cited: string;
  why: string;
}

export interface CheckOptions {
  /** Patterns no comment or doc may contain, with the message to show. */
  banned?: { pattern: RegExp; why: string }[];
  /** Files (relative paths) whose text is exempt from `banned` (the changelog's history, say). */
  bannedExempt?: Set<string>;
  /** Names the contract promises that no code has yet; accepted until the code lands. */
  pendingNames?: Set<string>;
}

/**
 * Names cited in backticks that belong to someone else's API (Kubernetes, SPIRE, Deno, V8,
 * client-go, Prometheus) and so are not in kleym's code. Keep it short: a name kleym defines never
 * belongs here.
 */
export const EXTERNAL_NAMES = new Set<string>([
  "StatusReason", // Kubernetes metav1
  "JSONSchemaProps", // Kubernetes apiextensions
  "allOf", // OpenAPI keywords the generator ignores
  "oneOf",
  "DENORT_BIN", // deno compile's environment
  "sun_path", // Linux sockaddr_un
  "objectCmp", // SPIRE Controller Manager's source
  "filterByClassName", // SPIRE Controller Manager's configuration
  "parentIDTemplate",
  "reconcileClass",
  "clusterSPIFFEIDLabelSelector",
  "entryIDPrefix",
  "use_pod_uid_for_agent_id", // SPIRE Server's k8s_psat attestor
]);

/** Placeholders that stand for generated names in docs/codegen.md (`K` is the kind). */
const PLACEHOLDER_NAMES = new Set(["KSpecSelector", "kApiVersion", "kKind"]);

const PATH_EXTENSIONS = /\.(ts|md|yaml|yml|json|sh)$/;
const PATH_TOKEN = /(?<![\w./:@~*-])(?:\.\.?\/)?[\w-][\w.-]*(?:\/[\w.-]+)*\/?/g;
const ANCHOR_TOKEN = /(?<![\w/.-])((?:[\w.-]+\/)*[\w.-]+\.md)?#([a-z0-9][\w-]*)/g;
const BACKTICKS = /`([^`\n]+)`/g;
const CODE_NAME = /^[A-Za-z_$][\w$]*(?:\.[A-Za-z_$#][\w$]*)*(?:\(\))?$/;

/** True when `token` looks like a name from code rather than a word or a value. */
export function looksLikeCodeName(token: string): boolean {
  if (!CODE_NAME.test(token) || PATH_EXTENSIONS.test(token)) return false;
  const bare = token.replace(/\(\)$/, "");
  return bare.split(".").some((part) =>
    /[a-z][A-Z]/.test(part) || /^[a-z0-9]+(_[a-z0-9]+)+$/.test(part) ||
    /^[A-Z][A-Z0-9]*(_[A-Z0-9]+)+$/.test(part)
  );
}

/** The lines of `text` that are comments (for `.ts`) or all of them (anything else). */
export function citableLines(file: string, text: string): { line: number; text: string }[] {
  const lines = text.split("\n");
  if (!file.endsWith(".ts")) return lines.map((t, i) => ({ line: i + 1, text: t }));
  const out: { line: number; text: string }[] = [];
  let inBlock = false;
  lines.forEach((raw, i) => {
    const t = raw.trim();
    if (inBlock) {
      out.push({ line: i + 1, text: raw });
      if (t.includes("*/")) inBlock = false;
      return;
    }
    if (t.startsWith("/*")) {
      out.push({ line: i + 1, text: raw });
      inBlock = !t.includes("*/");
      return;
    }
    if (t.startsWith("//") || t.startsWith("*")) {
      out.push({ line: i + 1, text: raw });
      return;
    }
    const trailing = raw.match(/\s\/\/ (.*)$/);
    if (trailing) out.push({ line: i + 1, text: trailing[1] });
  });
  return out;
}

/** The code lines of a `.ts` file (everything `citableLines` does not return). */
function codeText(text: string): string {
  const comments = new Set(citableLines("x.ts", text).map((l) => l.line));
  return text.split("\n").filter((_, i) => !comments.has(i + 1)).join("\n");
}

/** GitHub's heading slug: lower case, punctuation dropped, spaces to `-`. */
export function slug(heading: string): string {
  return heading.trim().toLowerCase()
    .replace(/<[^>]*>/g, "")
    .replace(/[^\p{L}\p{N}\s_-]/gu, "")
    .replace(/\s/g, "-");
}

/** Every anchor a Markdown page offers: explicit ids and heading slugs (with GitHub's `-n`). */
export function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  for (const m of markdown.matchAll(/<a\s+(?:id|name)="([^"]+)"/g)) anchors.add(m[1]);
  const seen = new Map<string, number>();
  let fenced = false;
  for (const line of markdown.split("\n")) {
    if (line.startsWith("```")) fenced = !fenced;
    const h = !fenced && line.match(/^#{1,6}\s+(.*)$/);
    if (!h) continue;
    const base = slug(h[1]);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    anchors.add(n === 0 ? base : `${base}-${n}`);
  }
  return anchors;
}

function dirname(path: string): string {
  const i = path.lastIndexOf("/");
  return i < 0 ? "" : path.slice(0, i);
}

/** `a/b/../c` -> `a/c`; `./x` -> `x`. */
export function normalize(path: string): string {
  const out: string[] = [];
  for (const part of path.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") out.pop();
    else out.push(part);
  }
  return out.join("/");
}

function join(dir: string, rel: string): string {
  return normalize(dir === "" ? rel : `${dir}/${rel}`);
}

/** Where a cited path may live, in the order tried. */
function candidates(from: string, cited: string): string[] {
  const clean = cited.replace(/\/$/, "");
  return [join("", clean), join(dirname(from), clean), join("tests", clean)];
}

class Resolver {
  readonly #tree: Tree;
  /** File name -> every path that has it. */
  readonly #basenames = new Map<string, string[]>();
  readonly #topLevel = new Set<string>();
  readonly #anchors = new Map<string, Set<string>>();
  readonly #code = new Map<string, string>();
  #allWords?: Set<string>;

  constructor(tree: Tree) {
    this.#tree = tree;
    for (const p of tree.paths) {
      const base = p.slice(p.lastIndexOf("/") + 1);
      this.#basenames.set(base, [...this.#basenames.get(base) ?? [], p]);
      if (!p.includes("/")) this.#topLevel.add(p);
    }
  }

  isPathToken(token: string): boolean {
    if (/[<>*$]|\.\.\./.test(token)) return false;
    const clean = token.replace(/\/$/, "");
    if (PATH_EXTENSIONS.test(clean)) return true;
    const first = clean.replace(/^\.\//, "").split("/")[0];
    return clean.includes("/") && this.#topLevel.has(first);
  }

  resolvePath(from: string, cited: string): string | undefined {
    return this.resolveAll(from, cited)[0];
  }

  /** Every file `cited` may mean: the first candidate that exists, else every file of that name. */
  resolveAll(from: string, cited: string): string[] {
    const found = candidates(from, cited).find((p) => this.#tree.paths.has(p));
    if (found) return [found];
    return cited.includes("/") ? [] : this.#basenames.get(cited) ?? [];
  }

  anchors(path: string): Set<string> | undefined {
    const text = this.#tree.texts.get(path);
    if (text === undefined) return undefined;
    let a = this.#anchors.get(path);
    if (!a) this.#anchors.set(path, a = anchorsOf(text));
    return a;
  }

  code(path: string): string | undefined {
    let c = this.#code.get(path);
    if (c === undefined) {
      const text = this.#tree.texts.get(path);
      if (text === undefined) return undefined;
      this.#code.set(path, c = path.endsWith(".ts") ? codeText(text) : text);
    }
    return c;
  }

  /** Every word of every `.ts` file's code and of every manifest. */
  words(): Set<string> {
    if (this.#allWords) return this.#allWords;
    const words = new Set<string>();
    for (const path of this.#tree.texts.keys()) {
      if (!/\.(ts|yaml|yml|json)$/.test(path)) continue;
      for (const w of (this.code(path) ?? "").matchAll(/[A-Za-z_$][\w$]*/g)) words.add(w[0]);
    }
    return this.#allWords = words;
  }
}

function occursIn(code: string, name: string): boolean {
  return new RegExp(`(?<![\\w$])${name.replace(/\$/g, "\\$")}(?![\\w$])`).test(code);
}

/** Every citation in `tree.texts` that resolves to nothing. */
export function checkReferences(tree: Tree, options: CheckOptions = {}): Finding[] {
  const r = new Resolver(tree);
  const findings: Finding[] = [];
  for (const [file, text] of tree.texts) {
    if (!file.endsWith(".ts") && !file.endsWith(".md")) continue;
    if (file.startsWith("generated/")) continue;
    const lines = citableLines(file, text);
    lines.forEach(({ line, text: t }, i) => {
      const add = (kind: Finding["kind"], cited: string, why: string) =>
        findings.push({ file, line, kind, cited, why });
      if (!options.bannedExempt?.has(file)) {
        // With the next line joined on, so a citation wrapped across two lines is seen (once).
        const next = (lines[i + 1]?.text ?? "").replace(/^\s*(?:\*|\/\/)?\s*/, "");
        const joined = `${t} ${next}`;
        for (const { pattern, why } of options.banned ?? []) {
          for (const m of joined.matchAll(new RegExp(pattern.source, "g"))) {
            if (m.index < t.length) add("banned", m[0], why);
          }
        }
      }
      checkPaths(r, file, t, add);
      checkAnchors(r, file, t, add);
      checkNames(r, file, t, add, options.pendingNames ?? new Set());
    });
  }
  return findings;
}

type Add = (kind: Finding["kind"], cited: string, why: string) => void;

function checkPaths(r: Resolver, file: string, t: string, add: Add): void {
  // URLs are not file paths; a page with an anchor is checkAnchors' business.
  const text = t.replace(/\b[a-z]+:\/\/\S+/g, " ");
  for (const m of text.matchAll(PATH_TOKEN)) {
    const token = m[0].replace(/[.]+$/, "");
    const next = text[m.index + m[0].length];
    if (next === "<" || next === "*" || next === "$" || next === "{" || next === "#") continue;
    if (!r.isPathToken(token)) continue;
    if (r.resolvePath(file, token) === undefined) add("path", token, "no such file or directory");
  }
}

function checkAnchors(r: Resolver, file: string, t: string, add: Add): void {
  if (!file.endsWith(".md") && !t.includes(".md#")) return;
  const text = t.replace(/\b[a-z]+:\/\/\S+/g, " ");
  for (const m of text.matchAll(ANCHOR_TOKEN)) {
    const [, page, anchor] = m;
    if (page === undefined) {
      // `#x` alone is a same-page link only inside a Markdown link target.
      if (!file.endsWith(".md") || text[m.index - 1] !== "(") continue;
    }
    const target = page === undefined ? file : r.resolvePath(file, page);
    if (target === undefined) {
      add("anchor", m[0], "no such page");
      continue;
    }
    const anchors = r.anchors(target);
    if (anchors === undefined) add("anchor", m[0], "page not readable");
    else if (!anchors.has(anchor)) add("anchor", m[0], `no anchor "${anchor}" in ${target}`);
  }
}

function checkNames(
  r: Resolver,
  file: string,
  t: string,
  add: Add,
  pending: Set<string>,
): void {
  const ticks = [...t.matchAll(BACKTICKS)].map((m) => ({
    value: m[1],
    start: m.index,
    end: m.index + m[0].length,
  }));
  const qualified = new Set<number>();
  ticks.forEach((tick, i) => {
    if (!tick.value.endsWith(".ts") || !r.isPathToken(tick.value)) return;
    const paths = r.resolveAll(file, tick.value);
    const codes = paths.map((p) => r.code(p) ?? "");
    const neighbours: number[] = [];
    const next = ticks[i + 1];
    if (next && /^(?:'s)?\s*$/.test(t.slice(tick.end, next.start))) neighbours.push(i + 1);
    const prev = ticks[i - 1];
    if (prev && /^\s+(?:in|from|of)\s+$/.test(t.slice(prev.end, tick.start))) {
      neighbours.push(i - 1);
    }
    for (const n of neighbours) {
      const name = ticks[n].value.replace(/\(\)$/, "");
      if (!CODE_NAME.test(name) || !/^[A-Za-z_$]/.test(name)) continue;
      qualified.add(n);
      if (paths.length === 0) continue; // the path itself is reported by checkPaths
      for (const part of name.split(".")) {
        if (!codes.some((code) => occursIn(code, part.replace(/^#/, "")))) {
          add("name", `${tick.value} ${name}`, `no "${part}" in ${paths.join(" or ")}`);
        }
      }
    }
  });
  ticks.forEach((tick, i) => {
    if (qualified.has(i) || !looksLikeCodeName(tick.value)) return;
    // `a` -> `b` shows what a function makes of a value: examples, not citations.
    if (/^\s*->/.test(t.slice(tick.end)) || /->\s*$/.test(t.slice(0, tick.start))) return;
    const name = tick.value.replace(/\(\)$/, "");
    if (EXTERNAL_NAMES.has(name) || PLACEHOLDER_NAMES.has(name)) return;
    for (const part of name.split(".")) {
      const bare = part.replace(/^#/, "");
      if (!r.words().has(bare) && !EXTERNAL_NAMES.has(bare) && !pending.has(bare)) {
        add("name", tick.value, `"${bare}" occurs in no code`);
      }
    }
  });
}

/** Directories never read: dependencies, caches, build output, git. */
const SKIP = new Set(["node_modules", ".cache", ".git", "dist"]);

/** The repository at `root` as a `Tree`: every path, and the text of `.ts`, `.md` and manifests. */
export async function loadTree(root: string): Promise<Tree> {
  const tree: Tree = { paths: new Set(), texts: new Map() };
  async function walk(dir: string): Promise<void> {
    for await (const entry of Deno.readDir(`${root}/${dir}`)) {
      if (SKIP.has(entry.name)) continue;
      const rel = dir === "" ? entry.name : `${dir}/${entry.name}`;
      tree.paths.add(rel);
      if (entry.isDirectory) await walk(rel);
      else if (/\.(ts|md|yaml|yml|json)$/.test(entry.name) && !rel.startsWith("bench/results/")) {
        tree.texts.set(rel, await Deno.readTextFile(`${root}/${rel}`));
      }
    }
  }
  await walk("");
  return tree;
}
