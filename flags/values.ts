/**
 * Value kinds of the flag tables (flags/operator.ts, flags/cli.ts): each builds a `Flag<T>` whose
 * parse step holds the kind's rule and its one-line messages, so a rule two flags (or two
 * programs) share is written once. Pure.
 */
import { type Flag, flagError } from "./parse.ts";

/** `source="text": problem`, the usual form of a refused value. */
export function refuse(source: string, text: string, problem: string): never {
  flagError(`${source}=${JSON.stringify(text)}: ${problem}`);
}

type Common = Pick<Flag, "name" | "help" | "env" | "short" | "note">;

const UNIT_MS: Readonly<Record<string, number>> = {
  ns: 1e-6,
  us: 1e-3,
  "µs": 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/** A Go-style duration ("15s", "1m30s", "500ms") in milliseconds; undefined if malformed. */
export function parseDuration(text: string): number | undefined {
  if (!/^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/.test(text)) return undefined;
  let total = 0;
  for (const m of text.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) {
    total += Number(m[1]) * UNIT_MS[m[2]];
  }
  return total;
}

/** Milliseconds as a duration flag takes them: "10m", "1m30s", "15s", "1500ms". */
export function formatDuration(ms: number): string {
  if (ms % 1000 !== 0) return `${ms}ms`;
  const s = ms / 1000;
  const parts = [[Math.floor(s / 3600), "h"], [Math.floor(s / 60) % 60, "m"], [s % 60, "s"]]
    .filter(([n]) => n !== 0)
    .map(([n, unit]) => `${n}${unit}`);
  return parts.length === 0 ? "0s" : parts.join("");
}

/**
 * A positive duration. `seconds`: a bare number counts as seconds (the CLI's `--timeout 2.5`).
 * `check(ms, source)` adds the flag's own bounds.
 */
export function durationFlag(
  spec: Common & {
    default: number;
    seconds?: boolean;
    check?: (ms: number, source: string) => void;
  },
): Flag<number> {
  return {
    ...spec,
    type: "string",
    value: "duration",
    defaultHelp: formatDuration(spec.default),
    parse: (text, source) => {
      const ms = spec.seconds && /^\d+(\.\d+)?$/.test(text)
        ? Number(text) * 1000
        : parseDuration(text);
      if (ms === undefined) refuse(source, text, "expected a duration such as 15s, 500ms or 1m");
      if (!(ms > 0)) flagError(`${source}=${text}: must be greater than zero`);
      spec.check?.(ms, source);
      return ms;
    },
  };
}

/** A whole number from `min` to `max`. */
export function countFlag(
  spec: Common & { default: number; value: string; min: number; max?: number },
): Flag<number> {
  const range = spec.max === undefined
    ? `a whole number of at least ${spec.min}`
    : `a whole number from ${spec.min} to ${spec.max}`;
  return {
    ...spec,
    type: "string",
    defaultHelp: String(spec.default),
    parse: (text, source) => {
      const n = Number(text);
      if (!/^\d+$/.test(text) || n < spec.min || (spec.max !== undefined && n > spec.max)) {
        refuse(source, text, `expected ${range}`);
      }
      return n;
    },
  };
}

/** One of `choices`. */
export function choiceFlag<C extends string>(
  spec: Common & { choices: readonly C[]; default: C; value: string; listed: "," | "or" },
): Flag<C> {
  const list = spec.listed === "or"
    ? `${spec.choices.slice(0, -1).join(", ")} or ${spec.choices.at(-1)}`
    : spec.choices.join(", ");
  return {
    ...spec,
    type: "string",
    defaultHelp: spec.default,
    parse: (text, source) => {
      if (!(spec.choices as readonly string[]).includes(text)) {
        refuse(source, text, `expected ${spec.listed === "or" ? list : `one of ${list}`}`);
      }
      return text as C;
    },
  };
}

/** A boolean: `--flag`, `--flag=true|false` (scanFlags checks the text). */
export function boolFlag(spec: Common & { default: boolean }): Flag<boolean> {
  return {
    ...spec,
    type: "boolean",
    defaultHelp: String(spec.default),
    parse: (text) => text === "true",
  };
}

/** `--help`, `--version`: a request, not a setting (no default shown). */
export function actionFlag(spec: Pick<Flag, "name" | "short" | "help">): Flag<boolean> {
  return { ...spec, type: "boolean", default: false, parse: (text) => text === "true" };
}

/**
 * A string kept as given; `check` refuses what it must. Undefined when not given, and when given
 * empty if `emptyIsUnset` (`--kubeconfig=` in a manifest means "no kubeconfig").
 */
export function textFlag(
  spec: Common & {
    value: string;
    defaultHelp?: string;
    emptyIsUnset?: boolean;
    check?: (text: string, source: string) => void;
  },
): Flag<string | undefined> {
  return {
    ...spec,
    type: "string",
    default: undefined,
    parse: (text, source) => {
      if (text === "" && spec.emptyIsUnset) return undefined;
      spec.check?.(text, source);
      return text;
    },
  };
}

/** A `host:port` to listen on, or `undefined` when the endpoint is disabled (`0`). */
export interface BindAddress {
  /** As configured, for messages. */
  text: string;
  /** "" when the host part is empty: every interface, IPv4 and IPv6 (operator/listen.ts). */
  hostname: string;
  port: number;
}

/**
 * `[host]:port`, `host:port`, `:port` or `0` (disabled). Port 0 asks the OS for a free port (the
 * chosen address is logged).
 */
export function parseBindAddress(text: string, source: string): BindAddress | undefined {
  if (text === "0") return undefined;
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\[\]\s]*)):(\d{1,5})$/.exec(text);
  if (!m) refuse(source, text, "expected [host]:port, :port or 0 to disable");
  const port = Number(m[3]);
  if (port > 65535) refuse(source, text, `port ${port} is out of range`);
  return { text, hostname: m[1] ?? m[2], port };
}

/** A listen address; given empty it is the default. */
export function bindAddressFlag(spec: Common & { default: string }): Flag<BindAddress | undefined> {
  return {
    ...spec,
    type: "string",
    value: "[host]:port",
    default: parseBindAddress(spec.default, `--${spec.name}`),
    defaultHelp: JSON.stringify(spec.default),
    parse: (text, source) => parseBindAddress(text === "" ? spec.default : text, source),
  };
}

const TRUST_DOMAIN_CHAR = /^[a-z0-9._-]+$/;

/** Checks a trust domain; returns the problem in words, or undefined when it is valid. */
export function trustDomainProblem(td: string): string | undefined {
  if (td.trim() !== td) return "must not have leading or trailing whitespace";
  if (/^spiffe:\/\//i.test(td)) return 'must be the bare name, without "spiffe://"';
  if (td.includes("/")) return 'must not contain "/"';
  const bad = [...td].find((c) => !TRUST_DOMAIN_CHAR.test(c));
  if (bad !== undefined) {
    return `may contain only lowercase letters, digits, ".", "-" and "_" (found ${
      JSON.stringify(bad)
    })`;
  }
  if (td.length > 255) return "must be at most 255 characters";
  return undefined;
}

/** Refuses a trust domain that is not one (empty is the caller's to decide). */
export function checkTrustDomain(text: string, source: string): void {
  const problem = trustDomainProblem(text);
  if (problem) refuse(source, text, `trust domain ${problem}`);
}

/** A ClusterSPIFFEID class name: any text but surrounding whitespace or control characters. */
export function checkClassName(text: string, source: string): void {
  const control = [...text].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f);
  if (text.trim() !== text || control) {
    refuse(source, text, "class name must not have surrounding whitespace or control characters");
  }
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** A namespace name (RFC 1123 label). */
export function checkNamespace(text: string, source: string): void {
  if (text === "") flagError(`${source} must not be empty`);
  if (!DNS_LABEL.test(text)) refuse(source, text, "not a valid namespace name");
}

/** Refuses "" (`--flag=` is a mistake where no value means nothing). */
export function checkNotEmpty(text: string, source: string): void {
  if (text === "") flagError(`${source} must not be empty`);
}

/**
 * `--kubeconfig` and `--context`, worded alike in both programs. `empty`: what `--flag=` means
 * (the operator: not set, as manifests template it; the CLI: a typing mistake).
 */
export function connectionFlags(empty: "unset" | "refuse") {
  const how = empty === "unset" ? { emptyIsUnset: true } : { check: checkNotEmpty };
  return {
    kubeconfig: textFlag({
      name: "kubeconfig",
      value: "path",
      help: "kubeconfig file",
      defaultHelp: "$KUBECONFIG, in-cluster service account, ~/.kube/config",
      ...how,
    }),
    context: textFlag({
      name: "context",
      value: "name",
      help: "kubeconfig context to use",
      ...how,
    }),
  };
}
