/**
 * Operator configuration from command-line flags and environment variables (SPEC section 8).
 *
 * Pure: `parseConfig(args, env, defaults)` reads nothing itself and never exits. It returns the
 * typed configuration, or asks for help/version output, or a usage error whose message is one
 * line naming the flag (or variable) and the value. The entry point prints and exits (2 for usage
 * errors).
 *
 * Syntax: `--flag=value` or `--flag value`; booleans are `--flag` or `--flag=true|false`. A flag
 * given twice is an error (merged manifests hide such mistakes). Where a flag has an environment
 * fallback, the flag wins even when it is explicitly empty.
 */
import { isLogLevel, LOG_LEVELS, type LogLevel } from "../observe/log.ts";
import { DEFAULT_SPIRE_STATS_INTERVAL_MS } from "../reconcile/spire.ts";
import { IDENTITY_OVERLAP_MODES, type IdentityOverlapMode } from "../reconcile/collision.ts";

export const PROGRAM = "kleym-operator";

export const TRUST_DOMAIN_MISSING =
  "trustDomain must be configured before Kleym can render SPIFFE IDs";

/** A `host:port` to listen on, or `undefined` when the endpoint is disabled (`0`). */
export interface BindAddress {
  /** As configured, for messages. */
  text: string;
  /** "" when the host part is empty: every interface, IPv4 and IPv6 (operator/listen.ts). */
  hostname: string;
  port: number;
}

export interface LeaderElectionConfig {
  enabled: boolean;
  namespace: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
}

export interface OperatorConfig {
  trustDomain: string;
  className?: string;
  kubeconfig?: string;
  context?: string;
  metricsAddress?: BindAddress;
  healthAddress?: BindAddress;
  leaderElection: LeaderElectionConfig;
  logLevel: LogLevel;
  /** `--max-concurrent-reconciles`. */
  concurrency: number;
  /** `--sync-period`: every binding is re-reconciled this often (ms). */
  syncPeriodMs: number;
  /** `--spire-stats-interval`: figures-only binding status writes at most once per this (ms). */
  spireStatsIntervalMs: number;
  /** `--identity-overlap`: what an overlap does (docs/contract.md#overlap). */
  identityOverlap: IdentityOverlapMode;
  /** `--kube-api-qps`: sustained requests per second; 0 means no client-side limit. */
  kubeApiQps: number;
  /** `--kube-api-burst`: requests allowed at once after idling. */
  kubeApiBurst: number;
  /** `--startup-timeout`: how long start-up waits for a usable API server before exit 1. */
  startupTimeoutMs: number;
  /** HTTPS + delegated authentication/authorization on /metrics (default true). */
  metricsSecure: boolean;
  /** Serving certificate files for /metrics; undefined: a self-signed pair made at start. */
  metricsCert?: { dir: string; certName: string; keyName: string };
}

export type ParseResult =
  | { kind: "run"; config: OperatorConfig }
  | { kind: "help"; text: string }
  | { kind: "version" }
  /** Bad flag or value: print `message` (one line) on stderr and exit 2. */
  | { kind: "usage"; message: string };

/** What the parser may not know by itself (read by the entry point). */
export interface ParseDefaults {
  /** The pod's namespace (service-account namespace file), when running in a cluster. */
  inClusterNamespace?: string;
}

export type Env = (name: string) => string | undefined;

export const DEFAULT_LEASE_NAMESPACE = "kleym-system";
export const DEFAULT_CONCURRENCY = 4;
export const MAX_CONCURRENCY = 256;
/** `--sync-period` default: 10 minutes. */
export const DEFAULT_SYNC_PERIOD_MS = 600_000;
/**
 * Client-side limit defaults (docs/operations.md, "Client limits"): high enough that a bulk
 * create of 1,000 bindings is bound by the API server, not by kleym (3 writes per new binding:
 * ~15 s of budget), low enough that a runaway loop cannot exceed 200 requests/s from one
 * replica. In steady state kleym sends no requests at all; the API server's Priority and
 * Fairness is the real protection (kleym's ServiceAccount lands in `workload-low`).
 */
export const DEFAULT_KUBE_API_QPS = 200;
export const DEFAULT_KUBE_API_BURST = 400;
export const DEFAULT_STARTUP_TIMEOUT_MS = 60_000;
/** Run from source, nothing is reachable from other machines (deploy.yaml binds `:port`). */
export const DEFAULT_METRICS_ADDRESS = "127.0.0.1:8443";
export const DEFAULT_HEALTH_ADDRESS = "127.0.0.1:8081";

type FlagKind = "string" | "bool";

interface FlagSpec {
  name: string;
  kind: FlagKind;
  env?: string;
  value?: string;
  help: string;
}

/** Every flag, in help order. */
export const FLAGS: readonly FlagSpec[] = [
  {
    name: "trust-domain",
    kind: "string",
    env: "KLEYM_TRUST_DOMAIN",
    value: "name",
    help: "SPIFFE trust domain of every rendered ID (required), e.g. example.org",
  },
  {
    name: "clusterspiffeid-class-name",
    kind: "string",
    env: "KLEYM_CLUSTERSPIFFEID_CLASS_NAME",
    value: "name",
    help: "spec.className for every ClusterSPIFFEID (default: none)",
  },
  {
    name: "kubeconfig",
    kind: "string",
    value: "path",
    help: "kubeconfig file (default: $KUBECONFIG, in-cluster service account, ~/.kube/config)",
  },
  { name: "context", kind: "string", value: "name", help: "kubeconfig context to use" },
  {
    name: "metrics-bind-address",
    kind: "string",
    value: "[host]:port",
    help:
      `address of the /metrics endpoint; ":port" is every IPv4 and IPv6 interface, "0" disables it (default "${DEFAULT_METRICS_ADDRESS}")`,
  },
  {
    name: "health-probe-bind-address",
    kind: "string",
    value: "[host]:port",
    help:
      `address of /healthz and /readyz; ":port" is every interface, "0" disables them (default "${DEFAULT_HEALTH_ADDRESS}")`,
  },
  {
    name: "leader-elect",
    kind: "bool",
    help: "elect one active replica with a coordination.k8s.io/v1 Lease (default false)",
  },
  {
    name: "leader-elect-namespace",
    kind: "string",
    value: "namespace",
    help: `namespace of the Lease (default: the pod's namespace, else ${DEFAULT_LEASE_NAMESPACE})`,
  },
  {
    name: "leader-elect-lease-duration",
    kind: "string",
    value: "duration",
    help: "how long a Lease stays valid without renewal, whole seconds (default 15s)",
  },
  {
    name: "leader-elect-renew-deadline",
    kind: "string",
    value: "duration",
    help: "how long the leader keeps retrying renewal before it gives up (default 10s)",
  },
  {
    name: "leader-elect-retry-period",
    kind: "string",
    value: "duration",
    help: "interval between acquire/renew attempts (default 2s)",
  },
  {
    name: "log-level",
    kind: "string",
    value: "level",
    help: `one of ${LOG_LEVELS.join(", ")} (default info)`,
  },
  {
    name: "max-concurrent-reconciles",
    kind: "string",
    value: "n",
    help:
      `bindings reconciled at the same time, 1-${MAX_CONCURRENCY} (default ${DEFAULT_CONCURRENCY})`,
  },
  {
    name: "sync-period",
    kind: "string",
    value: "duration",
    help: "re-reconcile every binding this often, a safety net for missed events; " +
      "zero writes when all is in place (default 10m)",
  },
  {
    name: "spire-stats-interval",
    kind: "string",
    value: "duration",
    help: "write a binding's status when only SPIRE Controller Manager's figures changed at " +
      "most once per this, whole seconds; later changes wait, the newest win (default 10s)",
  },
  {
    name: "identity-overlap",
    kind: "string",
    env: "KLEYM_IDENTITY_OVERLAP",
    value: "warn|refuse",
    help: "two bindings whose selections can pick the same container under different SPIFFE " +
      "IDs: warn (both stay Ready, Warning event, gauge) or refuse (both Conflict, outputs " +
      "removed) (default warn)",
  },
  {
    name: "kube-api-qps",
    kind: "string",
    value: "qps",
    help: `client-side limit on API requests per second; 0 or -1 turns it off and relies on the ` +
      `API server's Priority and Fairness (default ${DEFAULT_KUBE_API_QPS}; events have a ` +
      `separate budget of the same size)`,
  },
  {
    name: "kube-api-burst",
    kind: "string",
    value: "n",
    help:
      `requests allowed at once above --kube-api-qps after idling (default ${DEFAULT_KUBE_API_BURST})`,
  },
  {
    name: "startup-timeout",
    kind: "string",
    value: "duration",
    help:
      "how long start-up waits for a reachable API server that accepts the credentials before it exits 1 (default 60s)",
  },
  {
    name: "metrics-secure",
    kind: "bool",
    help:
      "serve /metrics over HTTPS and allow only callers the API server authorizes for get /metrics (default true; false: plain HTTP, no checks)",
  },
  {
    name: "metrics-cert-dir",
    kind: "string",
    value: "dir",
    help:
      "directory with the metrics serving certificate and key, re-read when they change (default: a self-signed pair made at start)",
  },
  {
    name: "metrics-cert-name",
    kind: "string",
    value: "file",
    help: "certificate file name in --metrics-cert-dir (default tls.crt)",
  },
  {
    name: "metrics-key-name",
    kind: "string",
    value: "file",
    help: "private key file name in --metrics-cert-dir (default tls.key)",
  },
  { name: "help", kind: "bool", help: "print this help and exit" },
  { name: "version", kind: "bool", help: "print the version and exit" },
];

const byName = new Map(FLAGS.map((f) => [f.name, f]));

export function helpText(): string {
  const lines = [
    `Usage: ${PROGRAM} [flags]`,
    "",
    "Renders SPIRE ClusterSPIFFEIDs from kleym.sonda.red/v1alpha1 InferenceIdentityBindings.",
    "",
    "Flags (--flag=value or --flag value; booleans --flag or --flag=false):",
  ];
  for (const f of FLAGS) {
    const head = f.value ? `--${f.name} ${f.value}` : `--${f.name}`;
    lines.push(`  ${head}`);
    lines.push(`      ${f.help}${f.env ? ` [env ${f.env}]` : ""}`);
  }
  lines.push("", "Exit codes: 0 clean shutdown, 1 runtime failure or lost leadership, 2 usage.");
  return `${lines.join("\n")}\n`;
}

class UsageError extends Error {}

function usage(message: string): never {
  throw new UsageError(message);
}

/** Raw flag values as given: string for string flags, boolean for booleans. */
type RawFlags = Map<string, string | boolean>;

function scan(args: readonly string[]): RawFlags | "help" {
  const raw: RawFlags = new Map();
  if (args.some((a) => a === "--help" || a === "-h" || a === "--help=true")) return "help";
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (!arg.startsWith("--") || arg === "--") {
      if (arg.startsWith("-") && arg.length > 1) {
        usage(`unknown flag ${JSON.stringify(arg)}: flags start with "--" (see --help)`);
      }
      usage(`unexpected argument ${JSON.stringify(arg)}: ${PROGRAM} takes only flags`);
    }
    const eq = arg.indexOf("=");
    const name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
    const spec = byName.get(name);
    if (!spec) usage(`unknown flag --${name} (see --help)`);
    if (raw.has(name)) usage(`--${name} is given more than once`);
    if (spec.kind === "bool") {
      if (eq < 0) raw.set(name, true);
      else {
        const v = arg.slice(eq + 1);
        if (v === "true" || v === "1") raw.set(name, true);
        else if (v === "false" || v === "0") raw.set(name, false);
        else usage(`--${name}=${v}: expected true or false`);
      }
      continue;
    }
    if (eq >= 0) {
      raw.set(name, arg.slice(eq + 1));
      continue;
    }
    const next = args[i + 1];
    if (next === undefined || next.startsWith("--")) {
      usage(`--${name} needs a value (--${name}=${spec.value ?? "value"})`);
    }
    raw.set(name, next);
    i++;
  }
  return raw;
}

/** A string flag's value with its environment fallback; `source` names where it came from. */
function lookup(
  raw: RawFlags,
  env: Env,
  name: string,
): { value: string; source: string } | undefined {
  const v = raw.get(name);
  if (typeof v === "string") return { value: v, source: `--${name}` };
  const spec = byName.get(name);
  if (spec?.env) {
    const e = env(spec.env);
    if (e !== undefined) return { value: e, source: spec.env };
  }
  return undefined;
}

const TRUST_DOMAIN_RE = /^[a-z0-9._-]+$/;

/** Checks a trust domain; returns the problem in words, or undefined when it is valid. */
export function trustDomainProblem(td: string): string | undefined {
  if (td.trim() !== td) return "must not have leading or trailing whitespace";
  if (/^spiffe:\/\//i.test(td)) return 'must be the bare name, without "spiffe://"';
  if (td.includes("/")) return 'must not contain "/"';
  const bad = [...td].find((c) => !TRUST_DOMAIN_RE.test(c));
  if (bad !== undefined) {
    return `may contain only lowercase letters, digits, ".", "-" and "_" (found ${
      JSON.stringify(bad)
    })`;
  }
  if (td.length > 255) return "must be at most 255 characters";
  return undefined;
}

/**
 * `[host]:port`, `host:port`, `:port` or `0` (disabled). Port 0 asks the OS for a free port (the
 * chosen address is logged).
 */
export function parseBindAddress(text: string, flag: string): BindAddress | undefined {
  if (text === "0") return undefined;
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\[\]\s]*)):(\d{1,5})$/.exec(text);
  if (!m) usage(`${flag}=${JSON.stringify(text)}: expected [host]:port, :port or 0 to disable`);
  const port = Number(m[3]);
  if (port > 65535) usage(`${flag}=${JSON.stringify(text)}: port ${port} is out of range`);
  const host = m[1] ?? m[2];
  return { text, hostname: host, port };
}

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

function durationFlag(raw: RawFlags, env: Env, name: string, dflt: number): number {
  const v = lookup(raw, env, name);
  if (!v) return dflt;
  const ms = parseDuration(v.value);
  if (ms === undefined) {
    usage(`--${name}=${JSON.stringify(v.value)}: expected a duration such as 15s, 500ms or 1m`);
  }
  if (ms <= 0) usage(`--${name}=${v.value}: must be greater than zero`);
  return ms;
}

function formatMs(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

function build(raw: RawFlags, env: Env, defaults: ParseDefaults): OperatorConfig {
  const td = lookup(raw, env, "trust-domain");
  if (!td || td.value === "") usage(TRUST_DOMAIN_MISSING);
  const tdProblem = trustDomainProblem(td.value);
  if (tdProblem) usage(`${td.source}=${JSON.stringify(td.value)}: trust domain ${tdProblem}`);

  const cls = lookup(raw, env, "clusterspiffeid-class-name");
  let className: string | undefined;
  if (cls && cls.value !== "") {
    const control = [...cls.value].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f);
    if (cls.value.trim() !== cls.value || control) {
      usage(
        `${cls.source}=${
          JSON.stringify(cls.value)
        }: class name must not have surrounding whitespace or control characters`,
      );
    }
    className = cls.value;
  }

  const optional = (name: string): string | undefined => {
    const v = raw.get(name);
    return typeof v === "string" && v !== "" ? v : undefined;
  };

  const address = (name: string, dflt: string): BindAddress | undefined =>
    parseBindAddress(optional(name) ?? dflt, `--${name}`);

  let logLevel: LogLevel = "info";
  const lvl = raw.get("log-level");
  if (typeof lvl === "string") {
    if (!isLogLevel(lvl)) {
      usage(`--log-level=${JSON.stringify(lvl)}: expected one of ${LOG_LEVELS.join(", ")}`);
    }
    logLevel = lvl;
  }

  let identityOverlap: IdentityOverlapMode = "warn";
  const overlap = lookup(raw, env, "identity-overlap");
  if (overlap && overlap.value !== "") {
    if (!(IDENTITY_OVERLAP_MODES as readonly string[]).includes(overlap.value)) {
      usage(
        `${overlap.source}=${JSON.stringify(overlap.value)}: expected one of ${
          IDENTITY_OVERLAP_MODES.join(", ")
        }`,
      );
    }
    identityOverlap = overlap.value as IdentityOverlapMode;
  }

  let concurrency = DEFAULT_CONCURRENCY;
  const conc = raw.get("max-concurrent-reconciles");
  if (typeof conc === "string") {
    if (!/^\d+$/.test(conc) || Number(conc) < 1 || Number(conc) > MAX_CONCURRENCY) {
      usage(
        `--max-concurrent-reconciles=${
          JSON.stringify(conc)
        }: expected a whole number from 1 to ${MAX_CONCURRENCY}`,
      );
    }
    concurrency = Number(conc);
  }

  const syncPeriodMs = durationFlag(raw, env, "sync-period", DEFAULT_SYNC_PERIOD_MS);
  if (syncPeriodMs < 1000) {
    usage(`--sync-period=${formatMs(syncPeriodMs)}: must be at least 1s`);
  }

  const spireStatsIntervalMs = durationFlag(
    raw,
    env,
    "spire-stats-interval",
    DEFAULT_SPIRE_STATS_INTERVAL_MS,
  );
  if (spireStatsIntervalMs % 1000 !== 0) {
    usage(
      `--spire-stats-interval=${
        formatMs(spireStatsIntervalMs)
      }: must be a whole number of seconds (status.spire.lastChangeTime has whole seconds)`,
    );
  }

  let kubeApiQps = DEFAULT_KUBE_API_QPS;
  const qps = raw.get("kube-api-qps");
  if (typeof qps === "string") {
    const n = Number(qps);
    if (qps.trim() === "" || !Number.isFinite(n) || (n < 0 && n !== -1)) {
      usage(
        `--kube-api-qps=${
          JSON.stringify(qps)
        }: expected a number of requests per second, or 0 or -1 for no client-side limit`,
      );
    }
    kubeApiQps = Math.max(0, n);
  }
  let kubeApiBurst = DEFAULT_KUBE_API_BURST;
  const burst = raw.get("kube-api-burst");
  if (typeof burst === "string") {
    if (!/^\d+$/.test(burst) || Number(burst) < 1) {
      usage(`--kube-api-burst=${JSON.stringify(burst)}: expected a whole number of at least 1`);
    }
    kubeApiBurst = Number(burst);
  }

  const startupTimeoutMs = durationFlag(raw, env, "startup-timeout", DEFAULT_STARTUP_TIMEOUT_MS);
  const leaseDurationMs = durationFlag(raw, env, "leader-elect-lease-duration", 15_000);
  const renewDeadlineMs = durationFlag(raw, env, "leader-elect-renew-deadline", 10_000);
  const retryPeriodMs = durationFlag(raw, env, "leader-elect-retry-period", 2_000);
  if (leaseDurationMs % 1000 !== 0) {
    usage(
      `--leader-elect-lease-duration=${
        formatMs(leaseDurationMs)
      }: must be a whole number of seconds (Lease spec.leaseDurationSeconds)`,
    );
  }
  if (renewDeadlineMs >= leaseDurationMs) {
    usage(
      `--leader-elect-renew-deadline (${formatMs(renewDeadlineMs)}) must be shorter than ` +
        `--leader-elect-lease-duration (${formatMs(leaseDurationMs)})`,
    );
  }
  if (retryPeriodMs >= renewDeadlineMs) {
    usage(
      `--leader-elect-retry-period (${formatMs(retryPeriodMs)}) must be shorter than ` +
        `--leader-elect-renew-deadline (${formatMs(renewDeadlineMs)})`,
    );
  }
  const leNamespace = raw.get("leader-elect-namespace");
  if (leNamespace === "") usage("--leader-elect-namespace must not be empty");
  if (
    typeof leNamespace === "string" && !/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(leNamespace)
  ) {
    usage(
      `--leader-elect-namespace=${JSON.stringify(leNamespace)}: not a valid namespace name`,
    );
  }

  return {
    trustDomain: td.value,
    className,
    kubeconfig: optional("kubeconfig"),
    context: optional("context"),
    metricsAddress: address("metrics-bind-address", DEFAULT_METRICS_ADDRESS),
    healthAddress: address("health-probe-bind-address", DEFAULT_HEALTH_ADDRESS),
    leaderElection: {
      enabled: raw.get("leader-elect") === true,
      namespace: typeof leNamespace === "string"
        ? leNamespace
        : defaults.inClusterNamespace?.trim() || DEFAULT_LEASE_NAMESPACE,
      leaseDurationMs,
      renewDeadlineMs,
      retryPeriodMs,
    },
    logLevel,
    identityOverlap,
    concurrency,
    syncPeriodMs,
    spireStatsIntervalMs,
    kubeApiQps,
    kubeApiBurst,
    startupTimeoutMs,
    ...metricsTls(raw),
  };
}

/** `--metrics-secure` and the certificate flags, checked together. */
function metricsTls(raw: RawFlags): Pick<OperatorConfig, "metricsSecure" | "metricsCert"> {
  const secure = raw.get("metrics-secure") !== false;
  const str = (name: string): string | undefined => {
    const v = raw.get(name);
    if (v === "") usage(`--${name} must not be empty`);
    return typeof v === "string" ? v : undefined;
  };
  const dir = str("metrics-cert-dir");
  const certName = str("metrics-cert-name");
  const keyName = str("metrics-key-name");
  for (const [flag, v] of [["metrics-cert-name", certName], ["metrics-key-name", keyName]]) {
    if (v !== undefined && v.includes("/")) {
      usage(`--${flag}=${JSON.stringify(v)}: a file name inside --metrics-cert-dir, not a path`);
    }
    if (v !== undefined && dir === undefined) usage(`--${flag} needs --metrics-cert-dir`);
  }
  if (dir !== undefined && !secure) {
    usage("--metrics-cert-dir has no effect with --metrics-secure=false: drop one of them");
  }
  return {
    metricsSecure: secure,
    metricsCert: dir === undefined
      ? undefined
      : { dir, certName: certName ?? "tls.crt", keyName: keyName ?? "tls.key" },
  };
}

export function parseConfig(
  args: readonly string[],
  env: Env,
  defaults: ParseDefaults = {},
): ParseResult {
  try {
    const raw = scan(args);
    if (raw === "help") return { kind: "help", text: helpText() };
    if (raw.get("version") === true) return { kind: "version" };
    return { kind: "run", config: build(raw, env, defaults) };
  } catch (err) {
    if (err instanceof UsageError) return { kind: "usage", message: err.message };
    throw err;
  }
}
