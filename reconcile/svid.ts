/**
 * `spec.svid` (docs/contract.md#svid): what a binding asks for beyond the SPIFFE ID — SVID
 * lifetimes, DNS names, federation — checked against the operator's limits (svid_limits.ts) and
 * turned into the ClusterSPIFFEID fields that carry it (docs/contract.md#rendering). Pure.
 *
 * API: `renderSvid(svid, namespace, limits): SvidFields` — throws `SvidRefusal`, a `StateError`
 * (RenderFailure: `SVIDTTLOutOfRange`, `DNSNameNotAllowed`, `FederationNotAllowed`) whose message
 * names the field, the value and the flag that would allow it, and which carries the three as
 * data for `kleym inspect`. `requestedSvid(spec)` reads what a binding
 * asked for without judging it (for `kleym inspect`).
 *
 * Rendering decisions:
 * - Only what changes something is rendered: a TTL, `autoPopulateDNSNames: true`, non-empty
 *   lists. `svid: {}`, `autoPopulateDNSNames: false` and `[]` render nothing, so they render
 *   exactly like a binding without `svid` (no upgrade write, no false duplicate-id conflict).
 * - TTLs are rendered in one canonical text per length (`60m` -> `1h`), lists de-duplicated and
 *   sorted by code units, so equal requests render equal specs.
 * - The CRD checks syntax and sizes at admission; every rule is checked again here (objects can
 *   predate the CRD's rules), and the limits only here (they are the operator's flags). Syntax
 *   problems use the field's reason too; their message says no flag allows them.
 * - Never `admin` or `downstream`: no field of `spec.svid` maps to them.
 */

import { compareCodeUnits } from "../apis/compare.ts";
import { Reasons, StateError } from "./errors.ts";
import { isRecord, show } from "./json.ts";
import {
  dnsNameProblem,
  formatSvidDuration,
  LIMIT_FLAGS,
  parseSvidDuration,
  type SvidLimits,
  trustDomainNameProblem,
  underSuffix,
} from "./svid_limits.ts";

type SvidReason = "SVIDTTLOutOfRange" | "DNSNameNotAllowed" | "FederationNotAllowed";

/** A refused `spec.svid` value: which field, the value, and the flag that would allow it. */
export class SvidRefusal extends StateError<"RenderFailure"> {
  readonly field: string;
  readonly value: unknown;
  /** `--max-svid-ttl`, ...; null when no flag can allow it (a syntax or size problem). */
  readonly flag: string | null;

  constructor(
    reason: SvidReason,
    at: { field: string; value: unknown; flag: string | null },
    message: string,
  ) {
    super("RenderFailure", reason, message);
    this.field = at.field;
    this.value = at.value;
    this.flag = at.flag;
  }
}

/** The ClusterSPIFFEID spec fields `spec.svid` renders to (only those set). */
export interface SvidFields {
  ttl?: string;
  jwtTtl?: string;
  dnsNameTemplates?: string[];
  autoPopulateDNSNames?: boolean;
  federatesWith?: string[];
}

/**
 * docs/contract.md#api: at most 16 DNS names; the same bound for federatesWith (the CRD's
 * maxItems).
 */
export const MAX_DNS_NAMES = 16;
export const MAX_FEDERATES_WITH = 16;

const NO_FLAG = "no flag allows it";

function noneOr(list: readonly string[]): string {
  return list.length === 0 ? "none" : list.map((item) => show(item)).join(", ");
}

export function renderSvid(svid: unknown, namespace: string, limits: SvidLimits): SvidFields {
  if (svid === undefined || svid === null) return {};
  if (!isRecord(svid)) {
    throw new SvidRefusal(
      Reasons.SVIDTTLOutOfRange,
      { field: "spec.svid", value: svid, flag: null },
      `spec.svid ${show(svid)} must be an object; ${NO_FLAG}`,
    );
  }
  const fields: SvidFields = {};
  const ttl = renderTtl(svid.x509TTL, "spec.svid.x509TTL", limits);
  if (ttl !== undefined) fields.ttl = ttl;
  const jwtTtl = renderTtl(svid.jwtTTL, "spec.svid.jwtTTL", limits);
  if (jwtTtl !== undefined) fields.jwtTtl = jwtTtl;
  const dnsNames = renderDnsNames(svid.dnsNames, namespace, limits);
  if (dnsNames.length > 0) fields.dnsNameTemplates = dnsNames;
  if (renderAutoPopulate(svid.autoPopulateDNSNames)) fields.autoPopulateDNSNames = true;
  const federatesWith = renderFederatesWith(svid.federatesWith, limits);
  if (federatesWith.length > 0) fields.federatesWith = federatesWith;
  return fields;
}

function renderTtl(value: unknown, field: string, limits: SvidLimits): string | undefined {
  if (value === undefined || value === null || value === "") return undefined;
  const fail = (message: string, flag: string | null = null) =>
    new SvidRefusal(Reasons.SVIDTTLOutOfRange, { field, value, flag }, message);
  const seconds = typeof value === "string" ? parseSvidDuration(value) : undefined;
  if (seconds === undefined) {
    throw fail(
      `${field} ${show(value)} is not a duration of whole hours, minutes and seconds ` +
        `such as 90s, 30m, 1h or 1h30m; ${NO_FLAG}`,
    );
  }
  if (seconds <= 0) throw fail(`${field} ${show(value)} must be greater than zero; ${NO_FLAG}`);
  if (seconds > limits.maxTtlSeconds) {
    const max = formatSvidDuration(limits.maxTtlSeconds);
    throw fail(
      `${field} ${show(value)} is longer than the operator allows (${LIMIT_FLAGS.ttl}=${max}); ` +
        `an administrator can raise ${LIMIT_FLAGS.ttl} to allow it`,
      LIMIT_FLAGS.ttl,
    );
  }
  return formatSvidDuration(seconds);
}

/** A list of strings, or the reason's refusal naming `field`. */
function stringList(value: unknown, field: string, max: number, reason: SvidReason): string[] {
  if (value === undefined || value === null) return [];
  const at = { field, value, flag: null };
  if (!Array.isArray(value) || value.some((item) => typeof item !== "string")) {
    throw new SvidRefusal(
      reason,
      at,
      `${field} ${show(value)} must be a list of strings; ${NO_FLAG}`,
    );
  }
  if (value.length > max) {
    throw new SvidRefusal(
      reason,
      at,
      `${field} lists ${value.length} entries, at most ${max} are allowed; ${NO_FLAG}`,
    );
  }
  return value as string[];
}

function sortedUnique(items: readonly string[]): string[] {
  return [...new Set(items)].sort(compareCodeUnits);
}

/**
 * docs/contract.md#svid: `<service>.<ns>.svc` or `<service>.<ns>.svc.<cluster domain>` of the
 * binding's own namespace, or a name at or below an allowed suffix. Another namespace's Service
 * name is refused with its own words: that is the widening a namespace editor could try.
 */
function renderDnsNames(value: unknown, namespace: string, limits: SvidLimits): string[] {
  const names = stringList(value, "spec.svid.dnsNames", MAX_DNS_NAMES, Reasons.DNSNameNotAllowed);
  names.forEach((name, index) => {
    const field = `spec.svid.dnsNames[${index}]`;
    const fail = (message: string, flag: string | null = null) =>
      new SvidRefusal(Reasons.DNSNameNotAllowed, { field, value: name, flag }, message);
    const problem = dnsNameProblem(name);
    if (problem !== undefined) throw fail(`${field} ${show(name)} ${problem}; ${NO_FLAG}`);
    if (limits.allowedDnsSuffixes.some((suffix) => underSuffix(name, suffix))) return;
    const service = serviceName(name, limits.clusterDomain);
    if (service?.namespace === namespace) return;
    const own = `<service>.${namespace}.svc or <service>.${namespace}.svc.${limits.clusterDomain}`;
    const allowed = `${LIMIT_FLAGS.dnsSuffixes} (now ${noneOr(limits.allowedDnsSuffixes)})`;
    if (service !== undefined) {
      throw fail(
        `${field} ${show(name)} names a Service of namespace ${show(service.namespace)}, ` +
          `not of the binding's namespace ${show(namespace)}: a binding may only name its own ` +
          `Services (${own}); an administrator can allow other names with ${allowed}`,
        LIMIT_FLAGS.dnsSuffixes,
      );
    }
    throw fail(
      `${field} ${show(name)} is neither a Service name of namespace ${show(namespace)} ` +
        `(${own}) nor at or below a suffix an administrator allowed with ${allowed}`,
      LIMIT_FLAGS.dnsSuffixes,
    );
  });
  return sortedUnique(names);
}

/** `<service>.<ns>.svc[.<cluster domain>]` split up, or undefined for any other name. */
function serviceName(
  name: string,
  clusterDomain: string,
): { service: string; namespace: string } | undefined {
  const clusterSuffix = `.svc.${clusterDomain}`;
  const base = name.endsWith(clusterSuffix)
    ? name.slice(0, -clusterSuffix.length)
    : name.endsWith(".svc")
    ? name.slice(0, -".svc".length)
    : undefined;
  const parts = base?.split(".");
  if (parts === undefined || parts.length !== 2) return undefined;
  return { service: parts[0], namespace: parts[1] };
}

function renderAutoPopulate(value: unknown): boolean {
  if (value === undefined || value === null) return false;
  if (typeof value !== "boolean") {
    const field = "spec.svid.autoPopulateDNSNames";
    throw new SvidRefusal(
      Reasons.DNSNameNotAllowed,
      { field, value, flag: null },
      `${field} ${show(value)} must be true or false; ${NO_FLAG}`,
    );
  }
  return value;
}

function renderFederatesWith(value: unknown, limits: SvidLimits): string[] {
  const domains = stringList(
    value,
    "spec.svid.federatesWith",
    MAX_FEDERATES_WITH,
    Reasons.FederationNotAllowed,
  );
  domains.forEach((td, index) => {
    const field = `spec.svid.federatesWith[${index}]`;
    const fail = (message: string, flag: string | null = null) =>
      new SvidRefusal(Reasons.FederationNotAllowed, { field, value: td, flag }, message);
    const problem = trustDomainNameProblem(td);
    if (problem !== undefined) throw fail(`${field} ${show(td)} ${problem}; ${NO_FLAG}`);
    if (!limits.allowedFederatedTrustDomains.includes(td)) {
      throw fail(
        `${field} ${show(td)} is not a trust domain the operator may federate with: an ` +
          `administrator can list it in ${LIMIT_FLAGS.federation} (now ${
            noneOr(limits.allowedFederatedTrustDomains)
          })`,
        LIMIT_FLAGS.federation,
      );
    }
  });
  return sortedUnique(domains);
}

/** What the binding asked for in `spec.svid`, as written (for `kleym inspect`); null if nothing. */
export function requestedSvid(spec: unknown): Record<string, unknown> | null {
  const svid = isRecord(spec) ? spec.svid : undefined;
  if (!isRecord(svid)) return null;
  const out: Record<string, unknown> = {};
  for (const key of ["x509TTL", "jwtTTL", "dnsNames", "autoPopulateDNSNames", "federatesWith"]) {
    if (svid[key] !== undefined) out[key] = structuredClone(svid[key]);
  }
  return Object.keys(out).length === 0 ? null : out;
}
