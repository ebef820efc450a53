/** `kleym inspect`'s spec.svid view: requested, rendered, limits and the limit that refused. */
import assert from "node:assert/strict";
import type { InspectCommand } from "../../cli/args.ts";
import { buildInspectionReport } from "../../cli/inspect.ts";
import { identityConfig, renderConfig, renderForInspect } from "../../cli/inspect_render.ts";
import { checkReport } from "../../cli/schema.ts";
import { inspectionText } from "../../cli/text.ts";
import { INSPECT_COMMAND, SERVED_ALL } from "./cli_fixtures.ts";

const pool = {
  metadata: { name: "p", namespace: "ns" },
  spec: { selector: { matchLabels: { app: "m" } } },
};
const ready = {
  trustDomain: "kleym.sonda.red",
  conditions: [{
    type: "Ready",
    status: "True",
    reason: "Reconciled",
    message: "Binding reconciled",
    lastTransitionTime: "2030-01-01T00:00:00Z",
    observedGeneration: 1,
  }],
};

function inspect(svid: unknown, command: InspectCommand = INSPECT_COMMAND, status?: unknown) {
  const b = {
    metadata: { name: "b", namespace: "ns", uid: "u", generation: 1 },
    spec: { poolRef: { name: "p" }, mode: "PoolOnly", serviceAccountName: "sa", svid },
    status,
  };
  const fetched = { pools: { "inference.networking.k8s.io/v1": pool }, objectives: {} };
  const report = buildInspectionReport({
    now: new Date("2030-01-02T00:00:00Z"),
    command,
    served: SERVED_ALL,
    binding: b,
    fetched,
    outcome: renderForInspect(b, SERVED_ALL, fetched, renderConfig(identityConfig(command, b))),
    pods: { state: "read", items: [] },
    cluster: { state: "absent" },
  });
  assert.deepEqual(checkReport(JSON.parse(JSON.stringify(report))), []);
  return report;
}

Deno.test("inspect shows requested and rendered svid options", () => {
  const r = inspect({ x509TTL: "60m", dnsNames: ["b.ns.svc", "a.ns.svc"] });
  assert.deepEqual(r.svid, {
    requested: { x509TTL: "60m", dnsNames: ["b.ns.svc", "a.ns.svc"] },
    rendered: { ttl: "1h", dnsNameTemplates: ["a.ns.svc", "b.ns.svc"] },
    refusedBy: null,
  });
  assert.equal(r.renderedClusterSPIFFEID?.object.spec.ttl, "1h");
  const text = inspectionText(r, 0);
  assert.match(text, /SVID options/);
  assert.match(text, /Rendered: +ttl="1h" dnsNameTemplates=\["a.ns.svc","b.ns.svc"\]/);
});

Deno.test("inspect says which limit refused a value, with the flag and its value", async (t) => {
  const cases: [string, unknown, string, string | null, string | null][] = [
    ["ttl", { jwtTTL: "48h" }, "spec.svid.jwtTTL", "--max-svid-ttl", "24h"],
    [
      "dns",
      { dnsNames: ["db.other.svc"] },
      "spec.svid.dnsNames[0]",
      "--allowed-dns-suffixes",
      "none",
    ],
    [
      "federation",
      { federatesWith: ["x.example"] },
      "spec.svid.federatesWith[0]",
      "--allowed-federated-trust-domains",
      "none",
    ],
    ["syntax", { x509TTL: "1d" }, "spec.svid.x509TTL", null, null],
  ];
  for (const [label, svid, field, flag, limit] of cases) {
    await t.step(label, () => {
      const r = inspect(svid);
      assert.equal(r.svid?.rendered, null);
      assert.equal(r.svid?.refusedBy?.field, field);
      assert.equal(r.svid?.refusedBy?.flag, flag);
      assert.equal(r.svid?.refusedBy?.limit, limit);
      const f = r.findings.find((x) => x.id === "render-failure");
      assert.equal(f?.severity, "error");
      assert.match(inspectionText(r, 2), /Refused by:/);
    });
  }
});

Deno.test("inspect renders with the operator's limits when given them", () => {
  const command = {
    ...INSPECT_COMMAND,
    svidLimits: { maxTtlSeconds: 3 * 3600, allowedDnsSuffixes: ["example.com"] },
  };
  const r = inspect({ x509TTL: "2h", dnsNames: ["api.example.com"] }, command);
  assert.deepEqual(r.svid?.rendered, { ttl: "2h", dnsNameTemplates: ["api.example.com"] });
  assert.deepEqual(r.identityConfig.svidLimits.maxSvidTtl, { value: "3h", source: "flag" });
  assert.deepEqual(r.identityConfig.svidLimits.clusterDomain, {
    value: "cluster.local",
    source: "default",
  });
});

Deno.test("a Ready binding the default limits refuse: a warning to pass the operator's flags", () => {
  const r = inspect({ x509TTL: "48h" }, INSPECT_COMMAND, ready);
  assert.equal(r.findings.some((f) => f.id === "render-failure"), false);
  const f = r.findings.find((x) => x.reason === "SVIDLimitsUnknown");
  assert.equal(f?.severity, "warning");
  assert.match(f?.message ?? "", /--max-svid-ttl=24h/);
  // With a limit flag given, the CLI's verdict stands: an error.
  const given = { ...INSPECT_COMMAND, svidLimits: { maxTtlSeconds: 3600 } };
  const strict = inspect({ x509TTL: "48h" }, given, ready);
  assert.equal(strict.findings.find((x) => x.id === "render-failure")?.severity, "error");
});
