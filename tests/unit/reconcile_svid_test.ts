// spec.svid (docs/contract.md#svid, #rendering): each field rendered, each limit refusing with a
// message naming field, value and flag, attempts to widen an identity refused, and a binding
// without svid rendering exactly as before.

import assert from "node:assert/strict";
import { renderBinding } from "../../reconcile/render.ts";
import { renderSvid, requestedSvid, SvidRefusal } from "../../reconcile/svid.ts";
import {
  DEFAULT_SVID_LIMITS,
  formatSvidDuration,
  parseClusterDomain,
  parseDnsSuffixes,
  parseFederatedTrustDomains,
  parseMaxSvidTtl,
  parseSvidDuration,
  type SvidLimits,
} from "../../reconcile/svid_limits.ts";
import type { ResolvedInputs } from "../../reconcile/types.ts";
import { assertStateError, catchStateError } from "./reconcile_helpers.ts";

const NS = "team-a";
const limits = (over: Partial<SvidLimits> = {}): SvidLimits => ({
  ...DEFAULT_SVID_LIMITS,
  ...over,
});
const TTL = { condition: "RenderFailure", reason: "SVIDTTLOutOfRange" };
const DNS = { condition: "RenderFailure", reason: "DNSNameNotAllowed" };
const FED = { condition: "RenderFailure", reason: "FederationNotAllowed" };

Deno.test("svid durations: whole h/m/s parse to seconds and render one canonical text", async (t) => {
  const cases: [string, number | undefined, string | undefined][] = [
    ["90s", 90, "1m30s"],
    ["30m", 1800, "30m"],
    ["1h", 3600, "1h"],
    ["60m", 3600, "1h"],
    ["1h30m", 5400, "1h30m"],
    ["1h0m5s", 3605, "1h5s"],
    ["24h", 86400, "24h"],
    ["0s", 0, "0s"],
    ["", undefined, undefined],
    ["1.5h", undefined, undefined],
    ["500ms", undefined, undefined],
    ["1d", undefined, undefined],
    ["30m1h", undefined, undefined],
    [" 1h", undefined, undefined],
    ["-1h", undefined, undefined],
  ];
  for (const [text, seconds, canonical] of cases) {
    await t.step(JSON.stringify(text), () => {
      assert.equal(parseSvidDuration(text), seconds);
      if (seconds !== undefined) assert.equal(formatSvidDuration(seconds), canonical);
    });
  }
});

Deno.test("renderSvid renders each field as the ClusterSPIFFEID spells it", async (t) => {
  const lim = limits({
    allowedDnsSuffixes: ["models.example.com"],
    allowedFederatedTrustDomains: ["b.example", "a.example"],
  });
  await t.step("x509TTL -> ttl (canonical)", () => {
    assert.deepEqual(renderSvid({ x509TTL: "900s" }, NS, lim), { ttl: "15m" });
  });
  await t.step("jwtTTL -> jwtTtl", () => {
    assert.deepEqual(renderSvid({ jwtTTL: "5m" }, NS, lim), { jwtTtl: "5m" });
  });
  await t.step("dnsNames -> dnsNameTemplates, sorted and de-duplicated", () => {
    const names = ["z.models.example.com", `api.${NS}.svc.cluster.local`, `api.${NS}.svc`];
    assert.deepEqual(renderSvid({ dnsNames: [...names, names[0]] }, NS, lim), {
      dnsNameTemplates: [`api.${NS}.svc`, `api.${NS}.svc.cluster.local`, "z.models.example.com"],
    });
  });
  await t.step("the suffix itself is allowed too", () => {
    assert.deepEqual(renderSvid({ dnsNames: ["models.example.com"] }, NS, lim), {
      dnsNameTemplates: ["models.example.com"],
    });
  });
  await t.step("autoPopulateDNSNames: true only", () => {
    assert.deepEqual(renderSvid({ autoPopulateDNSNames: true }, NS, lim), {
      autoPopulateDNSNames: true,
    });
    assert.deepEqual(renderSvid({ autoPopulateDNSNames: false }, NS, lim), {});
  });
  await t.step("federatesWith sorted", () => {
    assert.deepEqual(renderSvid({ federatesWith: ["b.example", "a.example"] }, NS, lim), {
      federatesWith: ["a.example", "b.example"],
    });
  });
  await t.step("empty options render nothing", () => {
    for (
      const svid of [undefined, null, {}, { dnsNames: [], federatesWith: [] }, { x509TTL: "" }]
    ) {
      assert.deepEqual(renderSvid(svid, NS, lim), {}, JSON.stringify(svid));
    }
  });
  await t.step("a TTL exactly at the limit renders", () => {
    assert.deepEqual(renderSvid({ x509TTL: "1h" }, NS, limits({ maxTtlSeconds: 3600 })), {
      ttl: "1h",
    });
  });
  await t.step("another cluster domain", () => {
    const name = `api.${NS}.svc.corp.internal`;
    assert.deepEqual(
      renderSvid({ dnsNames: [name] }, NS, limits({ clusterDomain: "corp.internal" })),
      { dnsNameTemplates: [name] },
    );
  });
});

Deno.test("renderSvid refuses what the limits do not allow, naming field, value and flag", async (t) => {
  const cases: [string, unknown, SvidLimits, typeof TTL, string[]][] = [
    ["x509TTL over the default 24h", { x509TTL: "25h" }, limits(), TTL, [
      "spec.svid.x509TTL",
      '"25h"',
      "--max-svid-ttl=24h",
    ]],
    ["jwtTTL over a lowered limit", { jwtTTL: "61m" }, limits({ maxTtlSeconds: 3600 }), TTL, [
      "spec.svid.jwtTTL",
      '"61m"',
      "--max-svid-ttl=1h",
    ]],
    ["zero TTL", { x509TTL: "0h0s" }, limits(), TTL, ["spec.svid.x509TTL", '"0h0s"', "zero"]],
    ["sub-second TTL", { x509TTL: "500ms" }, limits(), TTL, ['"500ms"', "no flag allows it"]],
    ["another namespace's Service (.svc)", { dnsNames: ["db.payments.svc"] }, limits(), DNS, [
      "spec.svid.dnsNames[0]",
      '"db.payments.svc"',
      'namespace "payments"',
      "--allowed-dns-suffixes",
    ]],
    [
      "another namespace's Service (cluster domain)",
      { dnsNames: [`api.${NS}.svc`, "db.payments.svc.cluster.local"] },
      limits(),
      DNS,
      ["spec.svid.dnsNames[1]", '"db.payments.svc.cluster.local"', "--allowed-dns-suffixes"],
    ],
    ["a public name without an allowed suffix", { dnsNames: ["api.example.com"] }, limits(), DNS, [
      "spec.svid.dnsNames[0]",
      '"api.example.com"',
      "--allowed-dns-suffixes (now none)",
    ]],
    [
      "a suffix matched only on a label boundary",
      { dnsNames: ["badexample.com"] },
      limits({ allowedDnsSuffixes: ["example.com"] }),
      DNS,
      ['"badexample.com"', '--allowed-dns-suffixes (now "example.com")'],
    ],
    [
      "a Service name under another cluster domain",
      { dnsNames: [`api.${NS}.svc.other.local`] },
      limits(),
      DNS,
      [`"api.${NS}.svc.other.local"`],
    ],
    [
      "a headless pod name is not a Service name",
      { dnsNames: [`pod-0.api.${NS}.svc`] },
      limits(),
      DNS,
      [`"pod-0.api.${NS}.svc"`],
    ],
    ["a wildcard", { dnsNames: [`*.${NS}.svc`] }, limits({ allowedDnsSuffixes: ["svc"] }), DNS, [
      "no wildcards",
    ]],
    ["a template", { dnsNames: ["{{.PodMeta.Name}}.x"] }, limits(), DNS, ["no flag allows it"]],
    ["upper case", { dnsNames: [`API.${NS}.svc`] }, limits(), DNS, ["lowercase"]],
    [
      "17 names",
      { dnsNames: Array.from({ length: 17 }, (_, i) => `s${i}.${NS}.svc`) },
      limits(),
      DNS,
      [
        "at most 16",
      ],
    ],
    ["autoPopulateDNSNames not a boolean", { autoPopulateDNSNames: "yes" }, limits(), DNS, [
      "spec.svid.autoPopulateDNSNames",
    ]],
    ["a trust domain nobody allowed", { federatesWith: ["evil.example"] }, limits(), FED, [
      "spec.svid.federatesWith[0]",
      '"evil.example"',
      "--allowed-federated-trust-domains (now none)",
    ]],
    [
      "one allowed, one not",
      { federatesWith: ["ok.example", "evil.example"] },
      limits({ allowedFederatedTrustDomains: ["ok.example"] }),
      FED,
      ["spec.svid.federatesWith[1]", '"evil.example"', '(now "ok.example")'],
    ],
    [
      "a SPIFFE ID instead of a trust domain",
      { federatesWith: ["spiffe://ok.example"] },
      limits({ allowedFederatedTrustDomains: ["ok.example"] }),
      FED,
      ['"spiffe://ok.example"', "no flag allows it"],
    ],
  ];
  for (const [label, svid, lim, expected, includes] of cases) {
    await t.step(label, () => {
      assertStateError(() => renderSvid(svid, NS, lim), { ...expected, includes }, label);
    });
  }
});

const resolved: ResolvedInputs = {
  pool: {
    apiVersion: "inference.networking.k8s.io/v1",
    object: { metadata: { name: "pool-a" }, spec: { selector: { matchLabels: { app: "x" } } } },
  },
};
const poolOnly = { poolRef: { name: "pool-a" }, serviceAccountName: "sa", mode: "PoolOnly" };
const bindingWith = (spec: Record<string, unknown>) => ({
  metadata: { name: "b", namespace: NS, uid: "u" },
  spec,
});

Deno.test("a binding without svid renders byte-for-byte as before svid existed", () => {
  const outcome = renderBinding(bindingWith(poolOnly), resolved, { trustDomain: "td" });
  assert.ok(outcome.ok);
  // The exact object the previous version wrote (key order included: it is the PUT body).
  assert.equal(
    JSON.stringify(outcome.identity.clusterSPIFFEID.spec),
    JSON.stringify({
      spiffeIDTemplate: `spiffe://td/ns/${NS}/pool/pool-a`,
      podSelector: { matchLabels: { app: "x" } },
      namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": NS } },
      workloadSelectorTemplates: [`k8s:ns:${NS}`, "k8s:pod-label:app:x", "k8s:sa:sa"],
      fallback: false,
      hint: `${NS}/b`,
    }),
  );
  for (const svid of [{}, { autoPopulateDNSNames: false, dnsNames: [] }]) {
    const same = renderBinding(bindingWith({ ...poolOnly, svid }), resolved, { trustDomain: "td" });
    assert.ok(same.ok);
    assert.equal(
      JSON.stringify(same.identity.clusterSPIFFEID),
      JSON.stringify(outcome.identity.clusterSPIFFEID),
    );
  }
});

Deno.test("renderBinding carries svid into the ClusterSPIFFEID, never admin or downstream", () => {
  const svid = {
    x509TTL: "15m",
    jwtTTL: "5m",
    dnsNames: [`model.${NS}.svc`],
    autoPopulateDNSNames: true,
    federatesWith: ["peer.example"],
    // Fields kleym's CRD does not have: never rendered, whatever an old object holds.
    admin: true,
    downstream: true,
  };
  const outcome = renderBinding(bindingWith({ ...poolOnly, svid }), resolved, {
    trustDomain: "td",
    svid: limits({ allowedFederatedTrustDomains: ["peer.example"] }),
  });
  assert.ok(outcome.ok);
  const spec = outcome.identity.clusterSPIFFEID.spec as unknown as Record<string, unknown>;
  assert.equal(spec.ttl, "15m");
  assert.equal(spec.jwtTtl, "5m");
  assert.deepEqual(spec.dnsNameTemplates, [`model.${NS}.svc`]);
  assert.equal(spec.autoPopulateDNSNames, true);
  assert.deepEqual(spec.federatesWith, ["peer.example"]);
  assert.equal(spec.admin, undefined);
  assert.equal(spec.downstream, undefined);
});

Deno.test("a refused svid wins over a resolution error (it is the binding's own spec)", () => {
  const outcome = renderBinding(
    bindingWith({ ...poolOnly, svid: { x509TTL: "48h" } }),
    () => resolved,
    { trustDomain: "td" },
  );
  assert.equal(outcome.ok, false);
  if (!outcome.ok) assert.equal(outcome.error.reason, "SVIDTTLOutOfRange");
});

Deno.test("requestedSvid shows what was asked, as written", () => {
  assert.equal(requestedSvid({}), null);
  assert.equal(requestedSvid({ svid: {} }), null);
  assert.deepEqual(requestedSvid({ svid: { x509TTL: "60m", other: 1 } }), { x509TTL: "60m" });
});

Deno.test("limit flag values: parsed, or a problem in words", async (t) => {
  await t.step("--max-svid-ttl", () => {
    assert.deepEqual(parseMaxSvidTtl("24h"), { value: 86400 });
    assert.deepEqual(parseMaxSvidTtl("90m"), { value: 5400 });
    for (const bad of ["", "0s", "1.5h", "10d", "999999999h"]) {
      assert.ok("problem" in parseMaxSvidTtl(bad), bad);
    }
  });
  await t.step("--cluster-domain", () => {
    assert.deepEqual(parseClusterDomain("corp.internal"), { value: "corp.internal" });
    assert.ok("problem" in parseClusterDomain(""));
    assert.ok("problem" in parseClusterDomain("Cluster.Local"));
  });
  await t.step("--allowed-dns-suffixes", () => {
    assert.deepEqual(parseDnsSuffixes(""), { value: [] });
    assert.deepEqual(parseDnsSuffixes("a.example,b.example"), {
      value: ["a.example", "b.example"],
    });
    for (const bad of [".example.com", "*.example.com", "a.example,a.example", "a,,b"]) {
      assert.ok("problem" in parseDnsSuffixes(bad), bad);
    }
  });
  await t.step("--allowed-federated-trust-domains", () => {
    assert.deepEqual(parseFederatedTrustDomains("a.example"), { value: ["a.example"] });
    assert.ok("problem" in parseFederatedTrustDomains("spiffe://a.example"));
    assert.ok("problem" in parseFederatedTrustDomains("a.example,a.example"));
  });
});

Deno.test("a refusal carries field, value and the flag that would allow it (null: none would)", () => {
  const cases: [unknown, SvidLimits, string, unknown, string | null][] = [
    [{ x509TTL: "25h" }, limits(), "spec.svid.x509TTL", "25h", "--max-svid-ttl"],
    [{ x509TTL: "1d" }, limits(), "spec.svid.x509TTL", "1d", null],
    [
      { dnsNames: ["a.b.svc"] },
      limits(),
      "spec.svid.dnsNames[0]",
      "a.b.svc",
      "--allowed-dns-suffixes",
    ],
    [{ dnsNames: ["A"] }, limits(), "spec.svid.dnsNames[0]", "A", null],
    [
      { federatesWith: ["x.example"] },
      limits(),
      "spec.svid.federatesWith[0]",
      "x.example",
      "--allowed-federated-trust-domains",
    ],
  ];
  for (const [svid, lim, field, value, flag] of cases) {
    const error = catchStateError(() => renderSvid(svid, NS, lim));
    assert.ok(error instanceof SvidRefusal, JSON.stringify(svid));
    assert.deepEqual([error.field, error.value, error.flag], [field, value, flag]);
  }
});
