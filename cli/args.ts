/**
 * Command line of the `kleym` CLI. Pure: `parseArgs(args)` reads nothing and never exits; it
 * returns the command to run, a help/version request, or a one-line usage error naming the flag
 * and value (exit 4, see exit.ts).
 *
 * Syntax: `kleym [global flags] <command> [args] [flags]`; flags may come anywhere after the
 * program name (flags/parse.ts has the forms; short flags `-o` and `-n` only). The flags
 * themselves are the table in flags/cli.ts.
 */
import { CLI_FLAG_LIST, CLI_FLAGS as F, CLI_PROGRAM, INSPECT_ONLY_FLAGS } from "../flags/cli.ts";
import type { SvidLimits } from "../reconcile/svid_limits.ts";
import {
  FlagError,
  flagError as usage,
  given,
  helpLines,
  type RawFlags,
  scanFlags,
  valueOf,
} from "../flags/parse.ts";

export const PROGRAM = CLI_PROGRAM;

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
  /** `--max-svid-ttl` & co. as given; absent ones are the operator's defaults. */
  svidLimits?: Partial<SvidLimits>;
}

export type CliCommand = StatusCommand | InspectCommand;

export type ParsedArgs =
  | { kind: "run"; command: CliCommand }
  | { kind: "help"; text: string }
  | { kind: "version" }
  | { kind: "usage"; message: string };

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
  lines.push(...helpLines(CLI_FLAG_LIST, { shortColumn: true, indent: "        " }));
  lines.push(
    "",
    "Exit codes: 0 no error findings; 2 error findings (or warnings with --strict);",
    "3 binding not found; 4 usage, connection, discovery or permission failure;",
    "5 internal failure.",
  );
  return `${lines.join("\n")}\n`;
}

function common(flags: RawFlags): CommonOptions {
  return {
    output: valueOf(F.output, flags),
    kubeconfig: valueOf(F.kubeconfig, flags),
    context: valueOf(F.context, flags),
    timeoutMs: valueOf(F.timeout, flags),
  };
}

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

function build(flags: RawFlags, positional: readonly string[]): CliCommand {
  const [command, ...rest] = positional;
  if (command === undefined) {
    usage(
      `no command given: use "${PROGRAM} status" or "${PROGRAM} inspect binding <name>" (see --help)`,
    );
  }
  if (command === "status") {
    if (rest.length > 0) usage(`unexpected argument ${JSON.stringify(rest[0])} after "status"`);
    const inspectOnly = INSPECT_ONLY_FLAGS.find((f) => flags.has(f.name));
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
  return {
    command: "inspect-binding",
    ...common(flags),
    name,
    namespace: valueOf(F.namespace, flags),
    strict: valueOf(F.strict, flags),
    trustDomain: valueOf(F.trustDomain, flags),
    className: valueOf(F.className, flags),
    svidLimits: svidLimitFlags(flags),
  };
}

/** The `spec.svid` limits given on the command line (the others: the operator's defaults). */
function svidLimitFlags(flags: RawFlags): Partial<SvidLimits> {
  const out: { -readonly [K in keyof SvidLimits]?: SvidLimits[K] } = {};
  if (given(F.maxSvidTtl, flags)) out.maxTtlSeconds = valueOf(F.maxSvidTtl, flags) / 1000;
  if (given(F.clusterDomain, flags)) out.clusterDomain = valueOf(F.clusterDomain, flags);
  if (given(F.allowedDnsSuffixes, flags)) {
    out.allowedDnsSuffixes = valueOf(F.allowedDnsSuffixes, flags);
  }
  if (given(F.allowedFederatedTrustDomains, flags)) {
    out.allowedFederatedTrustDomains = valueOf(F.allowedFederatedTrustDomains, flags);
  }
  return out;
}

export function parseArgs(args: readonly string[]): ParsedArgs {
  try {
    const { flags, positionals } = scanFlags(CLI_FLAG_LIST, args, { joiner: " " });
    if (valueOf(F.help, flags)) return { kind: "help", text: helpText() };
    if (valueOf(F.version, flags)) return { kind: "version" };
    return { kind: "run", command: build(flags, positionals) };
  } catch (err) {
    if (err instanceof FlagError) return { kind: "usage", message: err.message };
    throw err;
  }
}
