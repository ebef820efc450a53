/**
 * The operator's limits on `spec.svid` (docs/contract.md#svid, #flags) and the syntax they share
 * with the binding: SVID lifetimes and DNS names. Pure; the operator's flag parser and the CLI's
 * both call the `parse*` functions, so a value means the same in both places.
 *
 * Why limits at all: every `spec.svid` option widens what an identity can do (a longer-lived
 * credential, another host name, trust in another trust domain). A namespace editor writes the
 * binding; only the operator's administrator sets these flags (docs/operations.md).
 *
 * API:
 * - `SvidLimits`, `DEFAULT_SVID_LIMITS`, `LIMIT_FLAGS` (the flag that lifts each limit)
 * - `parseSvidDuration(text)` -> whole seconds, `formatSvidDuration(seconds)` (canonical text)
 * - `dnsNameProblem(name)`, `trustDomainNameProblem(td)`
 * - `parseMaxSvidTtl`, `parseClusterDomain`, `parseDnsSuffixes`, `parseFederatedTrustDomains`:
 *   a flag's text to its value, or a `{problem}` in words (the caller names the flag)
 */

/** What a namespace editor may ask for in `spec.svid`. */
export interface SvidLimits {
  /** `--max-svid-ttl`, whole seconds: the longest x509TTL or jwtTTL a binding may ask for. */
  readonly maxTtlSeconds: number;
  /** `--cluster-domain`: `<service>.<namespace>.svc.<clusterDomain>` names the binding's Service. */
  readonly clusterDomain: string;
  /** `--allowed-dns-suffixes`: names at or below one of these are allowed in any namespace. */
  readonly allowedDnsSuffixes: readonly string[];
  /** `--allowed-federated-trust-domains`: the only trust domains `federatesWith` may name. */
  readonly allowedFederatedTrustDomains: readonly string[];
}

export const DEFAULT_MAX_SVID_TTL_SECONDS = 24 * 3600;
export const DEFAULT_CLUSTER_DOMAIN = "cluster.local";

export const DEFAULT_SVID_LIMITS: SvidLimits = Object.freeze({
  maxTtlSeconds: DEFAULT_MAX_SVID_TTL_SECONDS,
  clusterDomain: DEFAULT_CLUSTER_DOMAIN,
  allowedDnsSuffixes: Object.freeze([]),
  allowedFederatedTrustDomains: Object.freeze([]),
});

/** The flag an administrator changes to lift each limit (named in every refusal message). */
export const LIMIT_FLAGS = {
  ttl: "--max-svid-ttl",
  clusterDomain: "--cluster-domain",
  dnsSuffixes: "--allowed-dns-suffixes",
  federation: "--allowed-federated-trust-domains",
} as const;

/**
 * SPIRE keeps entry TTLs as 32-bit seconds and SPIRE Controller Manager truncates a duration to
 * whole seconds, so a sub-second TTL would become 0, which SPIRE reads as "its default": longer
 * than asked. Hence whole seconds only, and nothing beyond int32.
 */
export const MAX_TTL_SECONDS = 2 ** 31 - 1;

/**
 * `1h`, `30m`, `90s`, `1h30m`: hours, minutes and seconds in that order, each at most once, whole
 * numbers (the CRD's pattern is the same). A subset of Go's time.ParseDuration, which SPIRE
 * Controller Manager uses, so every value kleym renders parses there to the same length.
 */
const DURATION = /^(?:([0-9]{1,9})h)?(?:([0-9]{1,9})m)?(?:([0-9]{1,10})s)?$/;

/** Whole seconds of a duration, or `undefined` when the text is not one (see DURATION). */
export function parseSvidDuration(text: string): number | undefined {
  const match = DURATION.exec(text);
  if (match === null || text === "") return undefined;
  const [h, m, s] = [match[1], match[2], match[3]].map((part) => Number(part ?? "0"));
  return h * 3600 + m * 60 + s;
}

/**
 * One text per length (`3600` -> `1h`, `90` -> `1m30s`, `5400` -> `1h30m`): what kleym renders, so
 * `60m` and `1h` render alike and two bindings asking for the same lifetime render the same spec
 * (docs/contract.md#duplicate-id compares renderings).
 */
export function formatSvidDuration(seconds: number): string {
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  const text = `${h > 0 ? `${h}h` : ""}${m > 0 ? `${m}m` : ""}${s > 0 ? `${s}s` : ""}`;
  return text === "" ? "0s" : text;
}

/** Lowercase RFC 1123 host name: dot-separated labels of [a-z0-9-], no wildcard, <= 253. */
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

export function dnsNameProblem(name: string): string | undefined {
  if (name === "") return "must not be empty";
  if (name.length > 253) return `must be at most 253 characters (this one has ${name.length})`;
  if (!name.split(".").every((label) => DNS_LABEL.test(label))) {
    return "must be a lowercase DNS name: dot-separated labels of at most 63 lower case " +
      "letters, digits and '-', each starting and ending with a letter or digit (no wildcards)";
  }
  return undefined;
}

const TRUST_DOMAIN = /^[a-z0-9._-]+$/;

/** A bare SPIFFE trust domain name (`example.org`: no `spiffe://`, no path). */
export function trustDomainNameProblem(td: string): string | undefined {
  if (td === "") return "must not be empty";
  if (td.length > 255) return `must be at most 255 characters (this one has ${td.length})`;
  if (!TRUST_DOMAIN.test(td)) {
    return "must be a bare trust domain name of lower case letters, digits, '.', '-' and '_' " +
      '(no "spiffe://", no path)';
  }
  return undefined;
}

export type Parsed<T> = { readonly value: T } | { readonly problem: string };

export function parseMaxSvidTtl(text: string): Parsed<number> {
  const seconds = parseSvidDuration(text);
  if (seconds === undefined) {
    return { problem: "expected whole hours, minutes and seconds such as 24h, 90m or 1h30m" };
  }
  if (seconds <= 0) return { problem: "must be greater than zero" };
  if (seconds > MAX_TTL_SECONDS) {
    return { problem: `must be at most ${MAX_TTL_SECONDS}s (SPIRE keeps TTLs as int32 seconds)` };
  }
  return { value: seconds };
}

export function parseClusterDomain(text: string): Parsed<string> {
  const problem = dnsNameProblem(text);
  return problem === undefined ? { value: text } : { problem: `cluster domain ${problem}` };
}

/** Comma-separated; "" is the empty list. Duplicates are refused (a typo hides behind them). */
function parseList(
  text: string,
  check: (item: string) => string | undefined,
  what: string,
): Parsed<string[]> {
  if (text === "") return { value: [] };
  const items = text.split(",");
  for (const item of items) {
    const problem = check(item);
    if (problem !== undefined) return { problem: `${what} ${JSON.stringify(item)} ${problem}` };
  }
  const duplicate = items.find((item, i) => items.indexOf(item) !== i);
  if (duplicate !== undefined) {
    return { problem: `${what} ${JSON.stringify(duplicate)} is listed twice` };
  }
  return { value: items };
}

/**
 * `--allowed-dns-suffixes`: DNS names, each allowing itself and every name below it (on a label
 * boundary: `example.com` allows `a.example.com`, never `badexample.com`).
 */
export function parseDnsSuffixes(text: string): Parsed<string[]> {
  return parseList(text, dnsNameProblem, "suffix");
}

/**
 * `--allowed-federated-trust-domains`: bare trust domain names. (The operator's own trust domain
 * is refused by the operator's configuration, operator/config.ts, which knows it.)
 */
export function parseFederatedTrustDomains(text: string): Parsed<string[]> {
  return parseList(text, trustDomainNameProblem, "trust domain");
}

/** `name` is `suffix` itself or below it, on a label boundary. */
export function underSuffix(name: string, suffix: string): boolean {
  return name === suffix || name.endsWith(`.${suffix}`);
}
