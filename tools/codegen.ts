/**
 * `deno task codegen`: typed API modules in `generated/` from CRD schemas
 * (docs/contract.md#codegen).
 *
 * Inputs (`codegen/sources.ts`): kleym's CRD `config/crd/bases/kleym.sonda.red_inferenceidentitybindings.yaml` and the pinned upstream CRDs from
 * `hack/upstream.ts` (InferencePool v1 and v1alpha2, InferenceObjective v1alpha2 and its v1
 * stand-in, ClusterSPIFFEID), read from the Go module cache (`go mod download` fills it on a fresh
 * machine).
 *
 * Output, one module per served group/version (`<out>/<group>/<version>.ts`), each kind with its
 * types, `ResourceDescriptor`, apiVersion/kind constants, shallow decoder and client factory
 * (`codegen/emit.ts`, `codegen/typescript.ts`), plus `<out>/decode.ts` (the decoders' shared
 * helper). Everything is formatted with the project's `deno fmt` settings and depends only on the
 * input CRDs, so re-running on the same inputs reproduces the committed files byte for byte
 * (`tests/unit/codegen_test.ts` checks exactly that).
 *
 * Usage: `deno task codegen [--out <dir>]` (default `generated/` in the repository). Files are
 * rewritten only when their content changes; `.ts` files under the output directory that carry
 * this generator's header but are no longer produced are removed. Nothing else there is touched.
 *
 * See docs/codegen.md.
 */
import { type ServedKind, servedKinds } from "./codegen/crd.ts";
import {
  DECODE_MODULE,
  isGenerated,
  modulePath,
  renderDecodeModule,
  renderGroupVersion,
} from "./codegen/emit.ts";
import { formatTypeScript } from "./codegen/format.ts";
import { crdInputs } from "./codegen/sources.ts";
import { scanFlags, valueOf } from "../flags/parse.ts";
import { textFlag } from "../flags/values.ts";

const ROOT = new URL("../", import.meta.url);

export interface CodegenOptions {
  /** Output directory (absolute or relative to the working directory). */
  out: string;
}

const OUT = textFlag({ name: "out", value: "dir", help: "output directory" });

export function parseArgs(args: readonly string[]): CodegenOptions {
  const usage = "(usage: codegen [--out <dir>])";
  const { flags } = scanFlags([OUT], args, {
    unknown: (arg) => `unknown argument ${JSON.stringify(arg)} ${usage}`,
    positional: (arg) => `unknown argument ${JSON.stringify(arg)} ${usage}`,
  });
  const out = valueOf(OUT, flags) ?? new URL("generated", ROOT).pathname;
  if (out === "") throw new Error("--out needs a directory");
  return { out };
}

/** Every served kind, grouped by `group/version` (sorted), each group's kinds in input order. */
async function loadKinds(root: URL): Promise<Map<string, ServedKind[]>> {
  const inputs = crdInputs(root);
  const loaded = await Promise.all(
    inputs.map(async (input) => servedKinds(await input.load(), input.label)),
  );
  const byGroupVersion = new Map<string, ServedKind[]>();
  for (const kind of loaded.flat()) {
    const key = `${kind.group}/${kind.version}`;
    const kinds = byGroupVersion.get(key) ?? [];
    const twin = kinds.find((k) => k.kind === kind.kind);
    if (twin) {
      throw new Error(`${key} ${kind.kind} comes from both ${twin.source} and ${kind.source}`);
    }
    kinds.push(kind);
    byGroupVersion.set(key, kinds);
  }
  return new Map([...byGroupVersion].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** The fresh output: path relative to the output directory -> formatted content. */
export async function generate(root: URL = ROOT): Promise<Map<string, string>> {
  const runtime = await Deno.readTextFile(new URL("tools/codegen/decode_runtime.ts", root));
  const unformatted = new Map<string, string>([[DECODE_MODULE, renderDecodeModule(runtime)]]);
  for (const kinds of (await loadKinds(root)).values()) {
    const { group, version } = kinds[0];
    unformatted.set(modulePath(group, version), renderGroupVersion(kinds));
  }
  const config = new URL("deno.json", root).pathname;
  const formatted = await Promise.all(
    [...unformatted].map(async ([path, text]) => [path, await formatTypeScript(text, config)]),
  );
  return new Map(formatted.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)) as [string, string][]);
}

async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
}

/** Every `.ts` file under `dir`, as paths relative to it (none when `dir` does not exist). */
export async function listTsFiles(dir: string, prefix = ""): Promise<string[]> {
  const found: string[] = [];
  try {
    for await (const entry of Deno.readDir(`${dir}/${prefix}`)) {
      const rel = `${prefix}${entry.name}`;
      if (entry.isDirectory) found.push(...await listTsFiles(dir, `${rel}/`));
      else if (entry.isFile && entry.name.endsWith(".ts")) found.push(rel);
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return found.sort();
}

export interface WriteReport {
  written: string[];
  unchanged: string[];
  removed: string[];
}

/** Write `files` under `out`; remove generated files there that are no longer produced. */
export async function writeOutput(out: string, files: Map<string, string>): Promise<WriteReport> {
  const report: WriteReport = { written: [], unchanged: [], removed: [] };
  for (const [rel, text] of files) {
    const path = `${out}/${rel}`;
    if (await readIfExists(path) === text) {
      report.unchanged.push(rel);
      continue;
    }
    await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
    await Deno.writeTextFile(path, text);
    report.written.push(rel);
  }
  for (const rel of await listTsFiles(out)) {
    if (files.has(rel)) continue;
    const path = `${out}/${rel}`;
    if (isGenerated(await Deno.readTextFile(path))) {
      await Deno.remove(path);
      report.removed.push(rel);
    }
  }
  return report;
}

export async function main(args: readonly string[]): Promise<WriteReport> {
  const { out } = parseArgs(args);
  const report = await writeOutput(out, await generate());
  for (const rel of report.written) console.log(`codegen: wrote ${out}/${rel}`);
  for (const rel of report.removed) console.log(`codegen: removed ${out}/${rel}`);
  console.log(
    `codegen: ${report.written.length} written, ${report.unchanged.length} unchanged, ` +
      `${report.removed.length} removed`,
  );
  return report;
}

if (import.meta.main) {
  try {
    await main(Deno.args);
  } catch (e) {
    console.error(`codegen: ${e instanceof Error ? e.message : String(e)}`);
    Deno.exit(1);
  }
}
