// The four spec.svid limit flags (docs/contract.md#flags, docs/operations.md "Limits on
// spec.svid"): environment fallbacks, the flag winning even when empty, one line per bad value.

import assert from "node:assert/strict";
import { type Env, parseConfig } from "../../operator/config.ts";

const envOf = (vars: Record<string, string>): Env => (n) => vars[n];
const TD = "--trust-domain=td.example";

function limits(args: string[], env: Env = () => undefined) {
  const r = parseConfig([TD, ...args], env);
  if (r.kind !== "run") throw new Error(`expected a config, got ${JSON.stringify(r)}`);
  return r.config.svidLimits;
}

function usage(args: string[], env: Env = () => undefined): string {
  const r = parseConfig([TD, ...args], env);
  if (r.kind !== "usage") throw new Error(`expected a usage error, got ${JSON.stringify(r)}`);
  return r.message;
}

Deno.test("svid limit flags fall back to KLEYM_* variables; the flag wins even when empty", () => {
  const env = envOf({
    KLEYM_MAX_SVID_TTL: "2h",
    KLEYM_CLUSTER_DOMAIN: "corp.internal",
    KLEYM_ALLOWED_DNS_SUFFIXES: "a.example",
    KLEYM_ALLOWED_FEDERATED_TRUST_DOMAINS: "peer.example",
  });
  assert.deepEqual(limits([], env), {
    maxTtlSeconds: 7200,
    clusterDomain: "corp.internal",
    allowedDnsSuffixes: ["a.example"],
    allowedFederatedTrustDomains: ["peer.example"],
  });
  const flagged = limits(["--allowed-dns-suffixes=", "--allowed-federated-trust-domains="], env);
  assert.deepEqual(flagged.allowedDnsSuffixes, []);
  assert.deepEqual(flagged.allowedFederatedTrustDomains, []);
});

Deno.test("bad svid limit values each give one line naming the flag and value", async (t) => {
  const cases: [string[], Record<string, string>, string[]][] = [
    [["--max-svid-ttl=1d"], {}, ['--max-svid-ttl="1d"', "whole hours"]],
    [["--max-svid-ttl=0s"], {}, ["greater than zero"]],
    [[], { KLEYM_MAX_SVID_TTL: "500ms" }, ['KLEYM_MAX_SVID_TTL="500ms"']],
    [["--cluster-domain="], { KLEYM_CLUSTER_DOMAIN: "x" }, ['--cluster-domain=""', "empty"]],
    [["--allowed-dns-suffixes=*.example.com"], {}, ['"*.example.com"', "no wildcards"]],
    [["--allowed-federated-trust-domains=td.example"], {}, ["own", "--trust-domain"]],
    [["--allowed-federated-trust-domains=spiffe://peer"], {}, ['"spiffe://peer"']],
  ];
  for (const [args, env, includes] of cases) {
    await t.step([...args, ...Object.keys(env)].join(" "), () => {
      const message = usage(args, envOf(env));
      assert.ok(!message.includes("\n"), message);
      for (const part of includes) assert.ok(message.includes(part), `${message} lacks ${part}`);
    });
  }
});
