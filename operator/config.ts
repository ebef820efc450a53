/**
 * Operator configuration from command-line flags and environment variables
 * (docs/contract.md#flags). The flags themselves (names, variables, defaults, validation, help)
 * are the table in flags/operator.ts; this module turns its values into `OperatorConfig` and
 * checks what involves several flags.
 *
 * Pure: `parseConfig(args, env, defaults)` reads nothing itself and never exits. It returns the
 * typed configuration, or asks for help/version output, or a usage error whose message is one
 * line naming the flag (or variable) and the value. The entry point prints and exits (2 for usage
 * errors).
 */
import type { LogLevel } from "../observe/log.ts";
import {
  DEFAULT_LEASE_NAMESPACE,
  OPERATOR_FLAG_LIST,
  OPERATOR_FLAGS as F,
  OPERATOR_PROGRAM,
} from "../flags/operator.ts";
import {
  type Env,
  FlagError,
  flagError,
  given,
  helpLines,
  type RawFlags,
  scanFlags,
  valueOf,
  wantsHelp,
} from "../flags/parse.ts";
import { type BindAddress, formatDuration } from "../flags/values.ts";
import type { SvidLimits } from "../reconcile/svid_limits.ts";
import type { IdentityOverlapMode } from "../reconcile/collision.ts";

export type { Env } from "../flags/parse.ts";
export type { BindAddress } from "../flags/values.ts";

export const PROGRAM = OPERATOR_PROGRAM;

export const TRUST_DOMAIN_MISSING =
  "trustDomain must be configured before Kleym can render SPIFFE IDs";

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
  /** `--max-svid-ttl`, `--cluster-domain`, `--allowed-*`: what `spec.svid` may ask for. */
  svidLimits: SvidLimits;
  /** `--identity-overlap`: what an overlap does (docs/contract.md#overlap). */
  identityOverlap: IdentityOverlapMode;
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

export function helpText(): string {
  const lines = [
    `Usage: ${PROGRAM} [flags]`,
    "",
    "Renders SPIRE ClusterSPIFFEIDs from kleym.sonda.red/v1alpha1 InferenceIdentityBindings.",
    "",
    "Flags (--flag=value or --flag value; booleans --flag or --flag=false):",
    ...helpLines(OPERATOR_FLAG_LIST, { shortColumn: false, indent: "      " }),
    "",
    "Exit codes: 0 clean shutdown, 1 runtime failure or lost leadership, 2 usage.",
  ];
  return `${lines.join("\n")}\n`;
}

function build(raw: RawFlags, env: Env, defaults: ParseDefaults): OperatorConfig {
  const trustDomain = valueOf(F.trustDomain, raw, env);
  if (!trustDomain) flagError(TRUST_DOMAIN_MISSING);
  const className = valueOf(F.className, raw, env);
  const metricsAddress = valueOf(F.metricsAddress, raw);
  const healthAddress = valueOf(F.healthAddress, raw);
  const logLevel = valueOf(F.logLevel, raw);
  const concurrency = valueOf(F.concurrency, raw);
  const syncPeriodMs = valueOf(F.syncPeriod, raw);
  const spireStatsIntervalMs = valueOf(F.spireStatsInterval, raw);
  const kubeApiQps = valueOf(F.kubeApiQps, raw);
  const kubeApiBurst = valueOf(F.kubeApiBurst, raw);
  const startupTimeoutMs = valueOf(F.startupTimeout, raw);
  return {
    trustDomain,
    className,
    kubeconfig: valueOf(F.kubeconfig, raw),
    context: valueOf(F.context, raw),
    metricsAddress,
    healthAddress,
    leaderElection: leaderElection(raw, defaults),
    logLevel,
    concurrency,
    syncPeriodMs,
    spireStatsIntervalMs,
    kubeApiQps,
    kubeApiBurst,
    startupTimeoutMs,
    ...metricsTls(raw),
    svidLimits: svidLimits(raw, env, trustDomain),
    identityOverlap: valueOf(F.identityOverlap, raw, env),
  };
}

/** The `spec.svid` limits; the operator's own trust domain is never a federation peer. */
function svidLimits(raw: RawFlags, env: Env, trustDomain: string): SvidLimits {
  const federated = valueOf(F.allowedFederatedTrustDomains, raw, env);
  if (federated.includes(trustDomain)) {
    flagError(
      `--${F.allowedFederatedTrustDomains.name} lists ${JSON.stringify(trustDomain)}, the ` +
        `operator's own --trust-domain: SPIRE does not federate a trust domain with itself`,
    );
  }
  return {
    maxTtlSeconds: valueOf(F.maxSvidTtl, raw, env) / 1000,
    clusterDomain: valueOf(F.clusterDomain, raw, env),
    allowedDnsSuffixes: valueOf(F.allowedDnsSuffixes, raw, env),
    allowedFederatedTrustDomains: federated,
  };
}

/** The Lease timings must nest: retry < renew deadline < lease duration. */
function leaderElection(raw: RawFlags, defaults: ParseDefaults): LeaderElectionConfig {
  const leaseDurationMs = valueOf(F.leaseDuration, raw);
  const renewDeadlineMs = valueOf(F.renewDeadline, raw);
  const retryPeriodMs = valueOf(F.retryPeriod, raw);
  const shorter = (a: string, ams: number, b: string, bms: number) => {
    if (ams >= bms) {
      flagError(
        `--${a} (${formatDuration(ams)}) must be shorter than --${b} (${formatDuration(bms)})`,
      );
    }
  };
  shorter(F.renewDeadline.name, renewDeadlineMs, F.leaseDuration.name, leaseDurationMs);
  shorter(F.retryPeriod.name, retryPeriodMs, F.renewDeadline.name, renewDeadlineMs);
  return {
    enabled: valueOf(F.leaderElect, raw),
    namespace: valueOf(F.leaseNamespace, raw) ??
      (defaults.inClusterNamespace?.trim() || DEFAULT_LEASE_NAMESPACE),
    leaseDurationMs,
    renewDeadlineMs,
    retryPeriodMs,
  };
}

/** `--metrics-secure` and the certificate flags, checked together. */
function metricsTls(raw: RawFlags): Pick<OperatorConfig, "metricsSecure" | "metricsCert"> {
  const secure = valueOf(F.metricsSecure, raw);
  const dir = valueOf(F.metricsCertDir, raw);
  const certName = valueOf(F.metricsCertName, raw);
  const keyName = valueOf(F.metricsKeyName, raw);
  for (const flag of [F.metricsCertName, F.metricsKeyName]) {
    if (given(flag, raw) && dir === undefined) {
      flagError(`--${flag.name} needs --${F.metricsCertDir.name}`);
    }
  }
  if (dir !== undefined && !secure) {
    flagError("--metrics-cert-dir has no effect with --metrics-secure=false: drop one of them");
  }
  return {
    metricsSecure: secure,
    metricsCert: dir === undefined ? undefined : { dir, certName, keyName },
  };
}

export function parseConfig(
  args: readonly string[],
  env: Env,
  defaults: ParseDefaults = {},
): ParseResult {
  if (wantsHelp(OPERATOR_FLAG_LIST, args)) return { kind: "help", text: helpText() };
  try {
    const { flags } = scanFlags(OPERATOR_FLAG_LIST, args, {
      unknown: (arg, name) =>
        arg.startsWith("--")
          ? `unknown flag --${name} (see --help)`
          : `unknown flag ${JSON.stringify(arg)}: flags start with "--" (see --help)`,
      positional: (arg) =>
        `unexpected argument ${JSON.stringify(arg)}: ${PROGRAM} takes only flags`,
    });
    if (flags.get(F.version.name) === true) return { kind: "version" };
    return { kind: "run", config: build(flags, env, defaults) };
  } catch (err) {
    if (err instanceof FlagError) return { kind: "usage", message: err.message };
    throw err;
  }
}
