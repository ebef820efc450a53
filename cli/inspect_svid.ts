/**
 * `kleym inspect binding`'s view of `spec.svid` (docs/contract.md#svid), pure: what the binding
 * asked for, what kleym renders from it (the same code as the operator, reconcile/svid.ts), the
 * limits that rendering used, and — when one refused a value — which limit, with its flag.
 *
 * The CLI cannot see the operator's flags. It renders with `--max-svid-ttl` & co. when given on
 * its command line, else with the operator's defaults; `identityConfig.svidLimits` says which.
 * When those defaults refuse what the operator accepted (the binding is Ready), the operator runs
 * with wider limits: that is a warning naming the flags to pass, not an error.
 */
import { type RenderOutcome } from "../reconcile/render.ts";
import { requestedSvid, SvidRefusal } from "../reconcile/svid.ts";
import {
  DEFAULT_SVID_LIMITS,
  formatSvidDuration,
  LIMIT_FLAGS,
  parseSvidDuration,
  type SvidLimits,
} from "../reconcile/svid_limits.ts";
import { asRecord } from "../reconcile/json.ts";
import type { InspectCommand } from "./args.ts";
import { bindingHealth } from "./findings.ts";
import type { Finding, ObjectRef, SvidLimitsConfig, SvidView } from "./report.ts";

/** The limits `inspect` renders with, each with where it came from. */
export function svidLimitsConfig(command: Pick<InspectCommand, "svidLimits">): SvidLimitsConfig {
  const given = command.svidLimits ?? {};
  const pick = <K extends keyof SvidLimits>(key: K) =>
    given[key] !== undefined
      ? { value: given[key] as SvidLimits[K], source: "flag" as const }
      : { value: DEFAULT_SVID_LIMITS[key], source: "default" as const };
  const ttl = pick("maxTtlSeconds");
  const suffixes = pick("allowedDnsSuffixes");
  const domains = pick("allowedFederatedTrustDomains");
  return {
    maxSvidTtl: { value: formatSvidDuration(ttl.value), source: ttl.source },
    clusterDomain: pick("clusterDomain"),
    allowedDnsSuffixes: { value: [...suffixes.value], source: suffixes.source },
    allowedFederatedTrustDomains: { value: [...domains.value], source: domains.source },
  };
}

/** `SvidLimitsConfig` back to what the rendering takes. */
export function svidLimits(config: SvidLimitsConfig): SvidLimits {
  return {
    maxTtlSeconds: parseSvidDuration(config.maxSvidTtl.value) ??
      DEFAULT_SVID_LIMITS.maxTtlSeconds,
    clusterDomain: config.clusterDomain.value,
    allowedDnsSuffixes: config.allowedDnsSuffixes.value,
    allowedFederatedTrustDomains: config.allowedFederatedTrustDomains.value,
  };
}

/** The current value of the limit behind `flag`, as its flag would take it. */
function limitText(flag: string | null, config: SvidLimitsConfig): string | null {
  const list = (items: string[]) => items.length === 0 ? "none" : items.join(",");
  switch (flag) {
    case LIMIT_FLAGS.ttl:
      return config.maxSvidTtl.value;
    case LIMIT_FLAGS.dnsSuffixes:
      return list(config.allowedDnsSuffixes.value);
    case LIMIT_FLAGS.federation:
      return list(config.allowedFederatedTrustDomains.value);
  }
  return null;
}

const SVID_FIELDS = ["ttl", "jwtTtl", "dnsNameTemplates", "autoPopulateDNSNames", "federatesWith"];

export function svidView(
  binding: unknown,
  outcome: RenderOutcome,
  config: SvidLimitsConfig,
): SvidView {
  const requested = requestedSvid(asRecord(binding).spec);
  let rendered: SvidView["rendered"] = null;
  if (outcome.ok) {
    const spec: Record<string, unknown> = { ...outcome.identity.clusterSPIFFEID.spec };
    const fields = Object.fromEntries(
      SVID_FIELDS.filter((k) => spec[k] !== undefined).map((k) => [k, structuredClone(spec[k])]),
    );
    rendered = fields;
  }
  const error = outcome.ok ? undefined : outcome.error;
  const refusedBy = error instanceof SvidRefusal
    ? {
      reason: error.reason,
      field: error.field,
      value: typeof error.value === "string" ? error.value : JSON.stringify(error.value),
      flag: error.flag,
      limit: limitText(error.flag, config),
      message: error.message,
    }
    : null;
  return { requested, rendered, refusedBy };
}

/**
 * A Ready binding whose `spec.svid` the CLI's default limits refuse: the operator accepted it, so
 * it runs with wider limits. That replaces the render-failure error with this warning.
 */
export function svidLimitsFinding(
  binding: unknown,
  view: SvidView,
  config: SvidLimitsConfig,
  ref: ObjectRef,
): Finding | undefined {
  const refused = view.refusedBy;
  if (refused === null || refused.flag === null || bindingHealth(binding) !== "ok") {
    return undefined;
  }
  const fromFlags = Object.values(config).some((limit) => limit.source === "flag");
  if (fromFlags) return undefined;
  return {
    id: "identity-config-undiscovered",
    severity: "warning",
    reason: "SVIDLimitsUnknown",
    message: `the operator accepted ${refused.field} ${JSON.stringify(refused.value)} (the ` +
      `binding is Ready), which the default ${refused.flag}=${refused.limit} refuses: the ` +
      `operator runs with wider limits; pass its ${refused.flag} (and the other limit flags) ` +
      `to render as it does`,
    affectedRefs: [ref],
  };
}
