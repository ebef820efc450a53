/**
 * Command line of the `kleym` CLI. Pure: `parseArgs(args)` reads nothing and never exits; it
 * returns the command to run, a help/version request, or a one-line usage error naming the flag
 * and value (exit 4, see exit.ts).
 *
 * Syntax: `kleym [global flags] <command> [args] [flags]`; flags may come anywhere after the
 * program name, as `--flag=value`, `--flag value`, `-o json`, `-o=json` or `-ojson` (short flags
 * `-o` and `-n` only). A flag given twice is an error. `--` ends flag parsing.
 */
import { parseDuration, trustDomainProblem } from "../operator/config.ts";

export const PROGRAM = "kleym";
export const DEFAULT_NAMESPACE = "default";
export const DEFAULT_TIMEOUT_MS = 30_000;

export type OutputFormat = "text" | "json";

export interface CommonOptions {
  output: OutputFormat;
  kubeconfig?: string;
  context?: string;
  timeoutMs: number;
}

export interface StatusCommand extends CommonOptions {
  command: "status";
}

export interface InspectCommand extends CommonOptions {
  command: "inspect-binding";
  name: string;
  namespace: string;
  strict: boolean;
  trustDomain?: string;
  /** "" is an explicit "classless". */
  className?: string;
}

export type CliCommand = StatusCommand | InspectCommand;

export type ParsedArgs =
  | { kind: "run"; command: CliCommand }
  | { kind: "help"; text: string }
  | { kind: "version" }
  | { kind: "usage"; message: string };

interface FlagSpec {
  name: string;
  short?: string;
  bool?: boolean;
  value?: string;
  help: string;
  /** Only valid for `inspect binding`. */
  inspectOnly?: boolean;
}

const FLAGS: readonly FlagSpec[] = [
  { name: "output", short: "o", value: "text|json", help: "output format (default text)" },
  {
    name: "kubeconfig",
    value: "path",
    help: "kubeconfig file (default: $KUBECONFIG, in-cluster service account, ~/.kube/config)",
  },
  { name: "context", value: "name", help: "kubeconfig context to use" },
  {
    name: "timeout",
    value: "duration",
    help: "give up talking to the API server after this long, e.g. 10s (default 30s)",
  },
  {
    name: "namespace",
    short: "n",
    value: "namespace",
    help: `namespace of the binding (default ${DEFAULT_NAMESPACE})`,
    inspectOnly: true,
  },
  {
    name: "strict",
    bool: true,
    help: "exit 2 on warnings too",
    inspectOnly: true,
  },
  {
    name: "trust-domain",
    value: "name",
    help: "trust domain to render with (default: the binding's status, else kleym.sonda.red)",
    inspectOnly: true,
  },
  {
    name: "clusterspiffeid-class-name",
    value: "name",
    help: 'class name to render with, "" for none (default: the binding\'s status, else none)',
    inspectOnly: true,
  },
  { name: "help", short: "h", bool: true, help: "print this help and exit" },
  { name: "version", bool: true, help: "print the version and exit" },
];

export function helpText(): string {
  const lines = [
    `Usage:`,
    `  ${PROGRAM} status [flags]`,
    `  ${PROGRAM} inspect binding <name> [-n namespace] [flags]`,
    `  ${PROGRAM} --version`,
    "",
    "Read-only: answers what identity kleym renders for a binding, which pods it selects and",
    "what SPIRE Controller Manager reported for it. Never writes to the cluster.",
    "As a kubectl plugin (make kubectl-plugin): kubectl kleym <the same arguments>.",
    "",
    "Flags:",
  ];
  for (const f of FLAGS) {
    const names = f.short ? `-${f.short}, --${f.name}` : `    --${f.name}`;
    lines.push(`  ${names}${f.value ? ` ${f.value}` : ""}`);
    lines.push(`        ${f.help}${f.inspectOnly ? " (inspect only)" : ""}`);
  }
  lines.push(
    "",
    "Exit codes: 0 no error findings; 2 error findings (or warnings with --strict);",
    "3 binding not found; 4 usage, connection, discovery or permission failure;",
    "5 internal failure.",
  );
  return `${lines.join("\n")}\n`;
}

class UsageError extends Error {}

function usage(message: string): never {
  throw new UsageError(message);
}

const byName = new Map(FLAGS.map((f) => [f.name, f]));
const byShort = new Map(FLAGS.filter((f) => f.short).map((f) => [f.short as string, f]));

type RawFlags = Map<string, string | boolean>;

function scan(args: readonly string[]): { flags: RawFlags; positional: string[] } {
  const flags: RawFlags = new Map();
  const positional: string[] = [];
  const set = (spec: FlagSpec, value: string | boolean, shown: string) => {
    if (flags.has(spec.name)) usage(`${shown} is given more than once`);
    flags.set(spec.name, value);
  };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--") {
      positional.push(...args.slice(i + 1));
      break;
    }
    if (!arg.startsWith("-") || arg === "-") {
      positional.push(arg);
      continue;
    }
    let spec: FlagSpec | undefined;
    let inline: string | undefined;
    let shown: string;
    if (arg.startsWith("--")) {
      const eq = arg.indexOf("=");
      const name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
      inline = eq < 0 ? undefined : arg.slice(eq + 1);
      spec = byName.get(name);
      shown = `--${name}`;
      if (!spec) usage(`unknown flag ${shown} (see --help)`);
    } else {
      const letter = arg.slice(1, 2);
      spec = byShort.get(letter);
      shown = `-${letter}`;
      if (!spec) usage(`unknown flag ${JSON.stringify(arg)} (see --help)`);
      const rest = arg.slice(2);
      if (rest !== "") inline = rest.startsWith("=") ? rest.slice(1) : rest;
    }
    if (spec.bool) {
      if (inline === undefined || inline === "true") set(spec, true, shown);
      else if (inline === "false") set(spec, false, shown);
      else usage(`${shown}=${inline}: expected true or false`);
      continue;
    }
    if (inline !== undefined) {
      set(spec, inline, shown);
      continue;
    }
    const next = args[i + 1];
    if (next === undefined || (next.startsWith("-") && next !== "-" && next.length > 1)) {
      usage(`${shown} needs a value (${shown} ${spec.value ?? "value"})`);
    }
    set(spec, next, shown);
    i++;
  }
  return { flags, positional };
}

function str(flags: RawFlags, name: string): string | undefined {
  const v = flags.get(name);
  return typeof v === "string" ? v : undefined;
}

function common(flags: RawFlags): CommonOptions {
  const output = str(flags, "output") ?? "text";
  if (output !== "text" && output !== "json") {
    usage(`--output=${JSON.stringify(output)}: expected text or json`);
  }
  let timeoutMs = DEFAULT_TIMEOUT_MS;
  const timeout = str(flags, "timeout");
  if (timeout !== undefined) {
    const ms = /^\d+(\.\d+)?$/.test(timeout) ? Number(timeout) * 1000 : parseDuration(timeout);
    if (ms === undefined) {
      usage(`--timeout=${JSON.stringify(timeout)}: expected a duration such as 10s, 500ms or 1m`);
    }
    if (!(ms > 0)) usage(`--timeout=${timeout}: must be greater than zero`);
    timeoutMs = ms;
  }
  const kubeconfig = str(flags, "kubeconfig");
  if (kubeconfig === "") usage("--kubeconfig must not be empty");
  const context = str(flags, "context");
  if (context === "") usage("--context must not be empty");
  return { output, kubeconfig, context, timeoutMs };
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

function build(flags: RawFlags, positional: string[]): CliCommand {
  const [command, ...rest] = positional;
  if (command === undefined) {
    usage(
      `no command given: use "${PROGRAM} status" or "${PROGRAM} inspect binding <name>" (see --help)`,
    );
  }
  if (command === "status") {
    if (rest.length > 0) usage(`unexpected argument ${JSON.stringify(rest[0])} after "status"`);
    const inspectOnly = FLAGS.find((f) => f.inspectOnly && flags.has(f.name));
    if (inspectOnly) usage(`--${inspectOnly.name} applies to "inspect binding" only`);
    return { command: "status", ...common(flags) };
  }
  if (command !== "inspect") {
    usage(`unknown command ${JSON.stringify(command)}: expected status or inspect (see --help)`);
  }
  const [what, name, ...extra] = rest;
  if (what !== "binding") {
    usage(
      what === undefined
        ? `"inspect" needs a kind: ${PROGRAM} inspect binding <name>`
        : `cannot inspect ${JSON.stringify(what)}: only "binding" is supported`,
    );
  }
  if (name === undefined) usage(`"inspect binding" needs the binding's name`);
  if (extra.length > 0) usage(`unexpected argument ${JSON.stringify(extra[0])}`);
  if (!DNS_SUBDOMAIN.test(name)) {
    usage(`binding name ${JSON.stringify(name)} is not a valid Kubernetes object name`);
  }
  const namespace = str(flags, "namespace") ?? DEFAULT_NAMESPACE;
  if (!DNS_LABEL.test(namespace)) {
    usage(`--namespace=${JSON.stringify(namespace)}: not a valid namespace name`);
  }
  const trustDomain = str(flags, "trust-domain");
  if (trustDomain !== undefined) {
    if (trustDomain === "") usage("--trust-domain must not be empty");
    const problem = trustDomainProblem(trustDomain);
    if (problem) usage(`--trust-domain=${JSON.stringify(trustDomain)}: trust domain ${problem}`);
  }
  const className = str(flags, "clusterspiffeid-class-name");
  if (
    className !== undefined &&
    (className.trim() !== className ||
      [...className].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f))
  ) {
    usage(
      `--clusterspiffeid-class-name=${
        JSON.stringify(className)
      }: class name must not have surrounding whitespace or control characters`,
    );
  }
  return {
    command: "inspect-binding",
    ...common(flags),
    name,
    namespace,
    strict: flags.get("strict") === true,
    trustDomain,
    className,
  };
}

export function parseArgs(args: readonly string[]): ParsedArgs {
  try {
    const { flags, positional } = scan(args);
    if (flags.get("help") === true) return { kind: "help", text: helpText() };
    if (flags.get("version") === true) return { kind: "version" };
    return { kind: "run", command: build(flags, positional) };
  } catch (err) {
    if (err instanceof UsageError) return { kind: "usage", message: err.message };
    throw err;
  }
}
