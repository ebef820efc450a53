/**
 * The one argument scanner of both programs (docs/contract.md#flags): `node:util` `parseArgs`
 * tokenises, this module holds every flag to its table entry. Pure: no I/O, never exits.
 *
 * Strict: an unknown flag, a flag given twice (merged manifests hide such mistakes), a string
 * flag without a value and a boolean with a value other than true/false (or 1/0) are each refused
 * with one line that names the flag. parseArgs' own strict mode is not used because its errors
 * span several lines, name neither the fix nor `--help`, and refuse `--flag=false`.
 *
 * Forms: `--flag=value`, `--flag value`, short `-o value`, `-ovalue`, `-o=value`; booleans
 * `--flag` or `--flag=true|false`. A value that starts with "-" must be attached (`--x=-1`), so a
 * forgotten value never swallows the next flag. `--` ends the flags.
 *
 * A table entry is a `Flag<T>`: name, environment fallback, type, default, parse/validation and
 * help text in one place; `valueOf` applies them in that order (flag, then variable, then
 * default) and `helpLines` renders the help from them.
 */
import { parseArgs } from "node:util";

/** An environment lookup (injected, so parsing stays pure). */
export type Env = (name: string) => string | undefined;

/** A usage problem: one line naming the flag (or variable) and the value; exit 2 / exit 4. */
export class FlagError extends Error {
  override readonly name = "FlagError";
}

export function flagError(message: string): never {
  throw new FlagError(message);
}

export interface Flag<T = unknown> {
  /** Long name without the dashes. */
  readonly name: string;
  /** One letter (`-o`). */
  readonly short?: string;
  readonly type: "string" | "boolean";
  /** The variable read when the flag is not given; the flag wins even when explicitly empty. */
  readonly env?: string;
  /** Placeholder in help and in "needs a value" (`--timeout duration`). */
  readonly value?: string;
  /** What the help says the flag does, without its default. */
  readonly help: string;
  /** The value when neither the flag nor its variable is given. */
  readonly default: T;
  /** How the help states the default; undefined: no default is shown. */
  readonly defaultHelp?: string;
  /**
   * The given text as a value (booleans: "true" or "false"); throws `FlagError` naming `source`
   * (`--name` or the variable) and the text.
   */
  readonly parse: (text: string, source: string) => T;
  /** Help suffix, e.g. " (inspect only)". */
  readonly note?: string;
}

/** Raw values as given: string for string flags, boolean for booleans; absent when not given. */
export type RawFlags = ReadonlyMap<string, string | boolean>;

export interface Scanned {
  readonly flags: RawFlags;
  readonly positionals: readonly string[];
  /** What followed `--` (also in `positionals`); undefined when there was no `--`. */
  readonly afterTerminator?: readonly string[];
}

type AnyFlag = Flag<unknown>;

function tokens(table: readonly AnyFlag[], args: readonly string[]) {
  const options: Record<string, { type: "string" | "boolean"; short?: string }> = {};
  for (const f of table) {
    options[f.name] = f.short ? { type: f.type, short: f.short } : { type: f.type };
  }
  return parseArgs({
    args: [...args],
    options,
    strict: false,
    allowPositionals: true,
    tokens: true,
  }).tokens;
}

function booleanText(text: string, shown: string): boolean {
  if (text === "true" || text === "1") return true;
  if (text === "false" || text === "0") return false;
  flagError(`${shown}=${text}: expected true or false`);
}

/** How a program words its refusals (the operator takes no positionals; of short flags, -h). */
export interface ScanWords {
  /** A flag not in the table: `arg` as given, `name` as parsed. */
  unknown?: (arg: string, name: string) => string;
  /** Set: positionals (and `--`) are refused with this line. */
  positional?: (arg: string) => string;
  /** How "needs a value" shows the fix: `--x=value` (default) or `--x value`. */
  joiner?: "=" | " ";
}

/** Every flag checked against `table`, in order; the first problem is the one reported. */
export function scanFlags(
  table: readonly AnyFlag[],
  args: readonly string[],
  words: ScanWords = {},
): Scanned {
  const unknown = words.unknown ??
    ((arg: string, name: string) =>
      `unknown flag ${arg.startsWith("--") ? `--${name}` : JSON.stringify(arg)} (see --help)`);
  const byName = new Map(table.map((f) => [f.name, f]));
  const flags = new Map<string, string | boolean>();
  const positionals: string[] = [];
  let terminatedAt: number | undefined;
  for (const token of tokens(table, args)) {
    if (token.kind !== "option") {
      const arg = args[token.index];
      if (words.positional) flagError(words.positional(arg));
      if (token.kind === "positional") positionals.push(token.value);
      else terminatedAt = positionals.length;
      continue;
    }
    const spec = byName.get(token.name);
    const short = !token.rawName.startsWith("--");
    if (spec === undefined || (short && spec.short !== token.rawName.slice(1))) {
      flagError(unknown(args[token.index], token.name));
    }
    const shown = token.rawName;
    if (flags.has(spec.name)) flagError(`${shown} is given more than once`);
    // `-o=json` is `-o json` (parseArgs keeps the "=").
    const text = short && token.value?.startsWith("=") ? token.value.slice(1) : token.value;
    if (spec.type === "boolean") {
      flags.set(spec.name, text === undefined ? true : booleanText(text, shown));
      continue;
    }
    if (
      text === undefined ||
      (!token.inlineValue && text.startsWith("-") && text !== "-")
    ) {
      const joiner = short ? " " : words.joiner ?? "=";
      flagError(`${shown} needs a value (${shown}${joiner}${spec.value ?? "value"})`);
    }
    flags.set(spec.name, text);
  }
  const afterTerminator = terminatedAt === undefined ? undefined : positionals.slice(terminatedAt);
  return { flags, positionals, afterTerminator };
}

/**
 * The values of `table`'s flags in someone else's command line (the operator's Deployment, read
 * by the CLI): unknown flags and positionals are skipped, the first of repeated flags counts,
 * nothing is refused.
 */
export function readFlags(table: readonly AnyFlag[], args: readonly string[]): RawFlags {
  const byName = new Map(table.map((f) => [f.name, f]));
  const flags = new Map<string, string | boolean>();
  for (const token of tokens(table, args)) {
    if (token.kind !== "option" || !token.rawName.startsWith("--")) continue;
    const spec = byName.get(token.name);
    if (spec === undefined || flags.has(spec.name)) continue;
    if (spec.type === "boolean") {
      flags.set(spec.name, token.value === undefined || token.value === "true");
    } else if (token.value !== undefined) {
      flags.set(spec.name, token.value);
    }
  }
  return flags;
}

/** Whether `args` ask for help anywhere (`--help`, `-h` when the table has it): help wins. */
export function wantsHelp(table: readonly AnyFlag[], args: readonly string[]): boolean {
  return tokens(table, args).some((t) =>
    t.kind === "option" && t.name === "help" && (t.value === undefined || t.value === "true")
  );
}

/** The flag's text as given, else its variable's; `source` names which (for messages). */
export function given(
  flag: AnyFlag,
  raw: RawFlags,
  env: Env = () => undefined,
): { text: string; source: string } | undefined {
  const v = raw.get(flag.name);
  if (typeof v === "string") return { text: v, source: `--${flag.name}` };
  if (typeof v === "boolean") return { text: String(v), source: `--${flag.name}` };
  if (flag.env !== undefined) {
    const e = env(flag.env);
    if (e !== undefined) return { text: e, source: flag.env };
  }
  return undefined;
}

/** The flag's value: given (flag, then variable) and parsed, else its default. */
export function valueOf<T>(flag: Flag<T>, raw: RawFlags, env?: Env): T {
  const g = given(flag as AnyFlag, raw, env);
  return g === undefined ? flag.default : flag.parse(g.text, g.source);
}

/** Help lines: a head `  --name value` (`-s, ` first with `shortColumn`), then the text. */
export function helpLines(
  table: readonly AnyFlag[],
  style: { shortColumn: boolean; indent: string },
): string[] {
  const lines: string[] = [];
  for (const f of table) {
    const names = !style.shortColumn
      ? `--${f.name}`
      : f.short
      ? `-${f.short}, --${f.name}`
      : `    --${f.name}`;
    lines.push(`  ${names}${f.value ? ` ${f.value}` : ""}`);
    // A value reads "(default 10m)", a description "(default: the pod's namespace, else ...)".
    const d = f.defaultHelp;
    const dflt = d === undefined ? "" : /[ ,]/.test(d) ? ` (default: ${d})` : ` (default ${d})`;
    lines.push(`${style.indent}${f.help}${dflt}${f.note ?? ""}${f.env ? ` [env ${f.env}]` : ""}`);
  }
  return lines;
}
