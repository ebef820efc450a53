/**
 * Every flag of `kleym-operator` (docs/contract.md#flags), in help order: name, environment
 * variable, type, default, validation and help, one entry each. The operator builds its
 * configuration from it (operator/config.ts), the CLI reads the operator Deployment's args with it
 * (cli/status.ts), and the controller's own fallbacks are these defaults.
 *
 * Add a flag here (your own entry, at the end of its group), then its field in operator/config.ts.
 */
import { LOG_LEVELS } from "../observe/log.ts";
import { IDENTITY_OVERLAP_MODES } from "../reconcile/collision.ts";
import { type Flag, flagError } from "./parse.ts";
import {
  actionFlag,
  bindAddressFlag,
  boolFlag,
  checkClassName,
  checkNamespace,
  checkNotEmpty,
  checkTrustDomain,
  choiceFlag,
  connectionFlags,
  countFlag,
  durationFlag,
  formatDuration,
  refuse,
  textFlag,
} from "./values.ts";
import { SVID_LIMIT_FLAGS } from "./svid.ts";

export const OPERATOR_PROGRAM = "kleym-operator";

/** Where the leader Lease lives when neither the flag nor the pod's namespace says. */
export const DEFAULT_LEASE_NAMESPACE = "kleym-system";
/** The leader Lease's name (fixed; deploy.yaml's RBAC names it). */
export const LEASE_NAME = "kleym-operator";
export const MAX_CONCURRENCY = 256;

function wholeSeconds(why: string) {
  return (ms: number, source: string) => {
    if (ms % 1000 !== 0) {
      flagError(`${source}=${formatDuration(ms)}: must be a whole number of seconds (${why})`);
    }
  };
}

/** A metrics certificate file name: inside --metrics-cert-dir, never a path. */
function certFileFlag(name: string, what: string, dflt: string): Flag<string> {
  return {
    name,
    type: "string",
    value: "file",
    help: `${what} file name in --metrics-cert-dir`,
    default: dflt,
    defaultHelp: dflt,
    parse: (text, source) => {
      checkNotEmpty(text, source);
      if (text.includes("/")) {
        refuse(source, text, "a file name inside --metrics-cert-dir, not a path");
      }
      return text;
    },
  };
}

const KUBE_API_QPS: Flag<number> = {
  name: "kube-api-qps",
  type: "string",
  value: "qps",
  help: "client-side limit on API requests per second; 0 or -1 turns it off and relies on " +
    "the API server's Priority and Fairness; events have a separate budget of the same size",
  /**
   * Client-side limits (docs/operations.md, "Client limits"): high enough that a bulk create of
   * 1,000 bindings is bound by the API server, not by kleym (3 writes per new binding: ~15 s of
   * budget), low enough that a runaway loop cannot exceed 200 requests/s from one replica. In
   * steady state kleym sends no requests at all; the API server's Priority and Fairness is the
   * real protection (kleym's ServiceAccount lands in `workload-low`).
   */
  default: 200,
  defaultHelp: "200",
  parse: (text, source) => {
    const n = Number(text);
    if (text.trim() === "" || !Number.isFinite(n) || (n < 0 && n !== -1)) {
      refuse(
        source,
        text,
        "expected a number of requests per second, or 0 or -1 for no client-side limit",
      );
    }
    return Math.max(0, n);
  },
};

/** The table. Keys name the configuration a flag feeds; order is help order. */
export const OPERATOR_FLAGS = {
  trustDomain: textFlag({
    name: "trust-domain",
    env: "KLEYM_TRUST_DOMAIN",
    value: "name",
    help: "SPIFFE trust domain of every rendered ID (required), e.g. example.org",
    check: (text, source) => {
      if (text !== "") checkTrustDomain(text, source);
    },
  }),
  className: textFlag({
    name: "clusterspiffeid-class-name",
    env: "KLEYM_CLUSTERSPIFFEID_CLASS_NAME",
    value: "name",
    help: "spec.className for every ClusterSPIFFEID",
    defaultHelp: "none",
    emptyIsUnset: true,
    check: checkClassName,
  }),
  ...connectionFlags("unset"),
  // Run from source, nothing is reachable from other machines (deploy.yaml binds `:port`).
  metricsAddress: bindAddressFlag({
    name: "metrics-bind-address",
    help: 'address of the /metrics endpoint; ":port" is every IPv4 and IPv6 interface, ' +
      '"0" disables it',
    default: "127.0.0.1:8443",
  }),
  healthAddress: bindAddressFlag({
    name: "health-probe-bind-address",
    help: 'address of /healthz and /readyz; ":port" is every interface, "0" disables them',
    default: "127.0.0.1:8081",
  }),
  leaderElect: boolFlag({
    name: "leader-elect",
    help: "elect one active replica with a coordination.k8s.io/v1 Lease",
    default: false,
  }),
  leaseNamespace: textFlag({
    name: "leader-elect-namespace",
    value: "namespace",
    help: "namespace of the Lease",
    defaultHelp: `the pod's namespace, else ${DEFAULT_LEASE_NAMESPACE}`,
    check: checkNamespace,
  }),
  leaseDuration: durationFlag({
    name: "leader-elect-lease-duration",
    help: "how long a Lease stays valid without renewal, whole seconds",
    default: 15_000,
    check: wholeSeconds("Lease spec.leaseDurationSeconds"),
  }),
  renewDeadline: durationFlag({
    name: "leader-elect-renew-deadline",
    help: "how long the leader keeps retrying renewal before it gives up",
    default: 10_000,
  }),
  retryPeriod: durationFlag({
    name: "leader-elect-retry-period",
    help: "interval between acquire/renew attempts",
    default: 2_000,
  }),
  logLevel: choiceFlag({
    name: "log-level",
    value: "level",
    help: `one of ${LOG_LEVELS.join(", ")}`,
    choices: LOG_LEVELS,
    default: "info",
    listed: ",",
  }),
  concurrency: countFlag({
    name: "max-concurrent-reconciles",
    value: "n",
    help: `bindings reconciled at the same time, 1-${MAX_CONCURRENCY}`,
    default: 4,
    min: 1,
    max: MAX_CONCURRENCY,
  }),
  syncPeriod: durationFlag({
    name: "sync-period",
    help: "re-reconcile every binding this often, a safety net for missed events; " +
      "zero writes when all is in place",
    default: 600_000,
    check: (ms, source) => {
      if (ms < 1000) flagError(`${source}=${formatDuration(ms)}: must be at least 1s`);
    },
  }),
  spireStatsInterval: durationFlag({
    name: "spire-stats-interval",
    help: "write a binding's status when only SPIRE Controller Manager's figures changed at " +
      "most once per this, whole seconds; later changes wait, the newest win",
    default: 10_000,
    check: wholeSeconds("status.spire.lastChangeTime has whole seconds"),
  }),
  kubeApiQps: KUBE_API_QPS,
  kubeApiBurst: countFlag({
    name: "kube-api-burst",
    value: "n",
    help: "requests allowed at once above --kube-api-qps after idling",
    default: 400,
    min: 1,
  }),
  startupTimeout: durationFlag({
    name: "startup-timeout",
    help: "how long start-up waits for a reachable API server that accepts the credentials " +
      "before it exits 1",
    default: 60_000,
  }),
  identityOverlap: choiceFlag({
    name: "identity-overlap",
    env: "KLEYM_IDENTITY_OVERLAP",
    value: "mode",
    help: "two bindings whose selections can pick one container under different SPIFFE IDs " +
      "(docs/contract.md#overlap): warn (both stay Ready, a Warning event, the " +
      "kleym_identity_overlaps gauge) or refuse (Conflict, their ClusterSPIFFEIDs removed)",
    choices: IDENTITY_OVERLAP_MODES,
    default: "warn",
    listed: ",",
  }),
  ...SVID_LIMIT_FLAGS,
  metricsSecure: boolFlag({
    name: "metrics-secure",
    help: "serve /metrics over HTTPS and allow only callers the API server authorizes for " +
      "get /metrics; false: plain HTTP, no checks",
    default: true,
  }),
  metricsCertDir: textFlag({
    name: "metrics-cert-dir",
    value: "dir",
    help: "directory with the metrics serving certificate and key, re-read when they change",
    defaultHelp: "a self-signed pair made at start",
    check: checkNotEmpty,
  }),
  metricsCertName: certFileFlag("metrics-cert-name", "certificate", "tls.crt"),
  metricsKeyName: certFileFlag("metrics-key-name", "private key", "tls.key"),
  help: actionFlag({ name: "help", short: "h", help: "print this help and exit" }),
  version: actionFlag({ name: "version", help: "print the version and exit" }),
} as const;

/** The entries in help order. */
export const OPERATOR_FLAG_LIST: readonly Flag[] = Object.values(OPERATOR_FLAGS);
