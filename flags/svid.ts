/**
 * The four flags that bound `spec.svid` (docs/contract.md#svid, #flags): entries of the operator's
 * table (flags/operator.ts) and, without their variables, of `kleym inspect` (flags/cli.ts), so
 * the CLI renders with the same limits when told the operator's values. The values' rules live in
 * reconcile/svid_limits.ts (the controller's code), parsed here into a flag's one-line messages.
 */
import type { Flag } from "./parse.ts";
import { refuse } from "./values.ts";
import {
  DEFAULT_SVID_LIMITS,
  formatSvidDuration,
  parseClusterDomain,
  type Parsed,
  parseDnsSuffixes,
  parseFederatedTrustDomains,
  parseMaxSvidTtl,
} from "../reconcile/svid_limits.ts";

/** A flag whose text `parse` turns into a value or a problem (reconcile/svid_limits.ts). */
function limitFlag<T>(
  spec: Pick<Flag<T>, "name" | "env" | "value" | "help" | "default" | "defaultHelp">,
  parse: (text: string) => Parsed<T>,
): Flag<T> {
  return {
    ...spec,
    type: "string",
    parse: (text, source) => {
      const parsed = parse(text);
      if ("problem" in parsed) refuse(source, text, parsed.problem);
      return parsed.value;
    },
  };
}

/**
 * What a binding's `spec.svid` may ask for (docs/contract.md#svid). Each one widens what every
 * namespace editor can do with an identity: docs/operations.md says how far.
 */
export const SVID_LIMIT_FLAGS = {
  // In milliseconds, as every duration flag; SvidLimits keeps whole seconds.
  maxSvidTtl: limitFlag({
    name: "max-svid-ttl",
    env: "KLEYM_MAX_SVID_TTL",
    value: "duration",
    help: "longest spec.svid.x509TTL / jwtTTL a binding may ask for, whole seconds",
    default: DEFAULT_SVID_LIMITS.maxTtlSeconds * 1000,
    defaultHelp: formatSvidDuration(DEFAULT_SVID_LIMITS.maxTtlSeconds),
  }, (text) => {
    const parsed = parseMaxSvidTtl(text);
    return "problem" in parsed ? parsed : { value: parsed.value * 1000 };
  }),
  clusterDomain: limitFlag({
    name: "cluster-domain",
    env: "KLEYM_CLUSTER_DOMAIN",
    value: "domain",
    help: "the cluster's Service DNS domain: spec.svid.dnsNames may name " +
      "<service>.<binding namespace>.svc[.<domain>]",
    default: DEFAULT_SVID_LIMITS.clusterDomain,
    defaultHelp: DEFAULT_SVID_LIMITS.clusterDomain,
  }, parseClusterDomain),
  allowedDnsSuffixes: limitFlag<readonly string[]>({
    name: "allowed-dns-suffixes",
    env: "KLEYM_ALLOWED_DNS_SUFFIXES",
    value: "a.example,b.example",
    help: "DNS names that bindings in EVERY namespace may put in SVIDs, each with the names " +
      "below it",
    default: DEFAULT_SVID_LIMITS.allowedDnsSuffixes,
    defaultHelp: "none",
  }, parseDnsSuffixes),
  allowedFederatedTrustDomains: limitFlag<readonly string[]>({
    name: "allowed-federated-trust-domains",
    env: "KLEYM_ALLOWED_FEDERATED_TRUST_DOMAINS",
    value: "td1,td2",
    help: "trust domains bindings in every namespace may federate with (spec.svid.federatesWith)",
    default: DEFAULT_SVID_LIMITS.allowedFederatedTrustDomains,
    defaultHelp: "none",
  }, parseFederatedTrustDomains),
} as const;
