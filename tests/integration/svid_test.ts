/**
 * SVID options (docs/contract.md#svid, docs/contract.md#rendering, docs/contract.md#fail-closed),
 * on the run's real API server with the operator as a process (exact permissions, deploy.yaml's
 * ServiceAccount):
 * - each `spec.svid` field lands in the binding's ClusterSPIFFEID as the contract spells it;
 * - each refusal (SVIDTTLOutOfRange, DNSNameNotAllowed for another namespace's Service and for a
 *   public name without an allowed suffix, FederationNotAllowed) names field, value and flag,
 *   removes the identity the binding had, and recovers when the binding changes back;
 * - the same refusals recover when an administrator widens the flags (operator restarted), and a
 *   Ready binding loses its identity when they are narrowed;
 * - tries to widen an identity around the binding: options written straight into the managed
 *   ClusterSPIFFEID (a longer ttl, another DNS name, a federation, `admin`) are reverted, and
 *   the CRD refuses at admission what no flag can allow.
 */
import assert from "node:assert/strict";
import {
  applyDeploy,
  type OperatorProcess,
  serviceAccountKubeconfig,
  startOperator,
  tempDir,
  testEnv,
} from "./operator_support.ts";
import {
  adminClients,
  apply,
  binding,
  type Clients,
  conditionOf,
  managedOf,
  pollUntil,
  poolV1,
  waitReason,
} from "./reconcile_helpers.ts";
import type { InferenceIdentityBinding } from "../../generated/kleym.sonda.red/v1alpha1.ts";
import type { BindingInspectionReport } from "../../cli/report.ts";
import { checkedReport, runCliCaptured } from "../harness/cli.ts";

const FLAGS = [
  "--max-svid-ttl=1h",
  "--allowed-dns-suffixes=models.example.com",
  "--allowed-federated-trust-domains=peer.example",
];
const WIDER = [
  "--max-svid-ttl=3h",
  "--allowed-dns-suffixes=models.example.com,example.com",
  "--allowed-federated-trust-domains=peer.example,other.example",
];

/** A PoolOnly binding `name` on its own pool `name` (distinct IDs, no duplicate-id conflicts). */
function svidBinding(ns: string, name: string, svid?: Record<string, unknown>) {
  const b = binding(ns, name, { poolRef: { name }, mode: "PoolOnly" });
  if (svid !== undefined) (b.spec as unknown as Record<string, unknown>).svid = svid;
  return [poolV1(ns, name, { app: name }), b];
}

/** The binding's one managed ClusterSPIFFEID spec, once it satisfies `check`. */
async function csidSpec(
  c: Clients,
  ns: string,
  name: string,
  what: string,
  check: (spec: Record<string, unknown>) => boolean,
): Promise<Record<string, unknown>> {
  return await pollUntil(`${ns}/${name}: ${what}`, 60_000, async () => {
    const owned = await managedOf(c, ns, name);
    if (owned.length !== 1) return undefined;
    const spec = owned[0].spec as unknown as Record<string, unknown>;
    return check(spec) ? spec : undefined;
  });
}

async function noneOwned(c: Clients, ns: string, name: string): Promise<void> {
  await pollUntil(`${ns}/${name}: no managed ClusterSPIFFEID`, 60_000, async () => {
    return (await managedOf(c, ns, name)).length === 0;
  });
}

function assertRefused(
  b: InferenceIdentityBinding,
  reason: string,
  includes: string[],
): void {
  const failing = conditionOf(b, "RenderFailure");
  assert.equal(failing?.status, "True");
  assert.equal(failing?.reason, reason);
  for (const part of includes) {
    assert.ok(failing?.message.includes(part), `${failing?.message} lacks ${part}`);
  }
  assert.equal(b.status?.computedSpiffeIDs, undefined, "status IDs cleared");
  assert.equal(b.status?.renderedSelectors, undefined, "status selectors cleared");
}

interface Refusal {
  name: string;
  reason: string;
  bad: Record<string, unknown>;
  includes: string[];
  /** Allowed once the operator runs with WIDER. */
  widenedField: string;
}

const REFUSALS: Refusal[] = [{
  name: "r-ttl",
  reason: "SVIDTTLOutOfRange",
  bad: { x509TTL: "2h" },
  includes: ["spec.svid.x509TTL", '"2h"', "--max-svid-ttl=1h"],
  widenedField: "ttl",
}, {
  name: "r-dns-other-ns",
  reason: "DNSNameNotAllowed",
  bad: { dnsNames: ["db.payments.svc.cluster.local"] },
  includes: [
    "spec.svid.dnsNames[0]",
    '"db.payments.svc.cluster.local"',
    'namespace "payments"',
    "--allowed-dns-suffixes",
  ],
  // No widening flag lists svc.cluster.local: another namespace's Service stays refused.
  widenedField: "",
}, {
  name: "r-dns-public",
  reason: "DNSNameNotAllowed",
  bad: { dnsNames: ["api.example.com"] },
  includes: ["spec.svid.dnsNames[0]", '"api.example.com"', "--allowed-dns-suffixes"],
  widenedField: "dnsNameTemplates",
}, {
  name: "r-federation",
  reason: "FederationNotAllowed",
  bad: { federatesWith: ["other.example"] },
  includes: [
    "spec.svid.federatesWith[0]",
    '"other.example"',
    "--allowed-federated-trust-domains",
  ],
  widenedField: "federatesWith",
}];

Deno.test("spec.svid: each field rendered, each refusal fails closed and recovers (operator process)", async (t) => {
  const env = await testEnv();
  await applyDeploy(env);
  const kubeconfig = await serviceAccountKubeconfig(env, await tempDir());
  const c = await adminClients(env.kubeconfigPath);
  const ns = await env.newNamespace("svid");
  let op: OperatorProcess = startOperator({ name: "svid-operator", kubeconfig, args: FLAGS });
  const restart = async (args: string[]) => {
    await op.stop();
    op = startOperator({ name: "svid-operator", kubeconfig, args });
  };
  try {
    await t.step("x509TTL -> ttl (canonical form)", async () => {
      await apply(env.kubectl, ...svidBinding(ns, "f-ttl", { x509TTL: "900s" }));
      await waitReason(c, ns, "f-ttl", "Reconciled");
      await csidSpec(c, ns, "f-ttl", "ttl 15m", (s) => s.ttl === "15m");
    });
    await t.step("jwtTTL -> jwtTtl", async () => {
      await apply(env.kubectl, ...svidBinding(ns, "f-jwt", { jwtTTL: "5m" }));
      await csidSpec(c, ns, "f-jwt", "jwtTtl 5m", (s) => s.jwtTtl === "5m");
    });
    await t.step("dnsNames -> dnsNameTemplates, sorted literal names", async () => {
      const names = [`model.${ns}.svc.cluster.local`, "a.models.example.com", `model.${ns}.svc`];
      await apply(env.kubectl, ...svidBinding(ns, "f-dns", { dnsNames: names }));
      const spec = await csidSpec(c, ns, "f-dns", "dnsNameTemplates", (s) => !!s.dnsNameTemplates);
      assert.deepEqual(spec.dnsNameTemplates, [...names].sort());
      assert.ok(!JSON.stringify(spec).includes("{{"));
    });
    await t.step("autoPopulateDNSNames -> autoPopulateDNSNames", async () => {
      await apply(env.kubectl, ...svidBinding(ns, "f-auto", { autoPopulateDNSNames: true }));
      await csidSpec(c, ns, "f-auto", "autoPopulate", (s) => s.autoPopulateDNSNames === true);
    });
    await t.step("federatesWith -> federatesWith", async () => {
      await apply(env.kubectl, ...svidBinding(ns, "f-fed", { federatesWith: ["peer.example"] }));
      const spec = await csidSpec(c, ns, "f-fed", "federatesWith", (s) => !!s.federatesWith);
      assert.deepEqual(spec.federatesWith, ["peer.example"]);
      assert.equal(spec.admin, undefined);
      assert.equal(spec.downstream, undefined);
    });
    await t.step("svid: {} renders exactly what no svid renders", async () => {
      await apply(env.kubectl, ...svidBinding(ns, "f-none"), ...svidBinding(ns, "f-empty", {}));
      const none = await csidSpec(c, ns, "f-none", "rendered", () => true);
      const empty = await csidSpec(c, ns, "f-empty", "rendered", () => true);
      const keys = (s: Record<string, unknown>) => Object.keys(s).sort();
      assert.deepEqual(keys(empty), keys(none));
      assert.deepEqual(keys(none), [
        "fallback",
        "hint",
        "namespaceSelector",
        "podSelector",
        "spiffeIDTemplate",
        "workloadSelectorTemplates",
      ]);
    });

    // Each refusal: Ready first (so there is an identity to lose), then the bad value.
    for (const r of REFUSALS) {
      await t.step(`${r.reason}: ${JSON.stringify(r.bad)} fails closed, recovers`, async () => {
        await apply(env.kubectl, ...svidBinding(ns, r.name));
        await waitReason(c, ns, r.name, "Reconciled");
        await csidSpec(c, ns, r.name, "rendered", () => true);
        await apply(env.kubectl, ...svidBinding(ns, r.name, r.bad));
        assertRefused(await waitReason(c, ns, r.name, r.reason), r.reason, r.includes);
        await noneOwned(c, ns, r.name);
        // Recovery when the binding changes: back to no svid.
        await apply(env.kubectl, ...svidBinding(ns, r.name));
        await waitReason(c, ns, r.name, "Reconciled");
        await csidSpec(c, ns, r.name, "back", () => true);
        // Refused again, for the flag step below.
        await apply(env.kubectl, ...svidBinding(ns, r.name, r.bad));
        await waitReason(c, ns, r.name, r.reason);
        await noneOwned(c, ns, r.name);
      });
    }

    await t.step(
      "kleym inspect shows what each refused binding asked for and which limit refused it",
      async () => {
        const flags = { "r-ttl": "--max-svid-ttl", "r-dns-public": "--allowed-dns-suffixes" };
        for (const [name, flag] of Object.entries(flags)) {
          const run = await runCliCaptured([
            "inspect",
            "binding",
            name,
            "-n",
            ns,
            "-o",
            "json",
            "--kubeconfig",
            env.kubeconfigPath,
            // The operator's limits: the CLI cannot see its flags.
            ...FLAGS,
          ]);
          const report = checkedReport<BindingInspectionReport>(run);
          assert.equal(report.svid?.refusedBy?.flag, flag, name);
          assert.notEqual(report.svid?.requested, null, name);
          assert.equal(report.svid?.rendered, null, name);
        }
      },
    );

    await t.step(
      "wider flags: refused bindings recover after a restart, except another namespace's Service",
      async () => {
        await restart(WIDER);
        for (const r of REFUSALS) {
          if (r.widenedField === "") {
            assertRefused(await waitReason(c, ns, r.name, r.reason), r.reason, r.includes);
            continue;
          }
          await waitReason(c, ns, r.name, "Reconciled");
          await csidSpec(c, ns, r.name, r.widenedField, (s) => s[r.widenedField] !== undefined);
        }
      },
    );

    await t.step("narrower flags: a Ready binding beyond them loses its identity", async () => {
      await restart(["--max-svid-ttl=10m"]);
      const b = await waitReason(c, ns, "f-ttl", "SVIDTTLOutOfRange");
      assertRefused(b, "SVIDTTLOutOfRange", ['"900s"', "--max-svid-ttl=10m"]);
      await noneOwned(c, ns, "f-ttl");
      // Default lists: the federation and the suffix are gone too.
      await waitReason(c, ns, "f-fed", "FederationNotAllowed");
      await noneOwned(c, ns, "f-fed");
      await restart(FLAGS);
      await waitReason(c, ns, "f-ttl", "Reconciled");
      await csidSpec(c, ns, "f-ttl", "ttl back", (s) => s.ttl === "15m");
    });

    await t.step("options written into the ClusterSPIFFEID by hand are reverted", async () => {
      const [csid] = await managedOf(c, ns, "f-ttl");
      const edited = structuredClone(csid);
      const spec = edited.spec as unknown as Record<string, unknown>;
      spec.ttl = "720h";
      spec.dnsNameTemplates = ["db.payments.svc"];
      spec.federatesWith = ["evil.example"];
      spec.admin = true;
      await c.csids.update(edited);
      const repaired = await csidSpec(c, ns, "f-ttl", "repaired", (s) => s.ttl === "15m");
      for (const field of ["dnsNameTemplates", "federatesWith", "admin"]) {
        assert.equal(repaired[field], undefined, field);
      }
    });

    await t.step("the CRD refuses at admission what no flag can allow", async () => {
      const bad: [string, Record<string, unknown>, string][] = [
        ["zero", { x509TTL: "0s" }, "greater than zero"],
        ["sub-second", { jwtTTL: "500ms" }, "whole hours"],
        ["wildcard", { dnsNames: [`*.${ns}.svc`] }, "no wildcards"],
        ["template", { dnsNames: ["{{.PodMeta.Name}}.x"] }, "lowercase DNS name"],
        ["17 names", { dnsNames: Array.from({ length: 17 }, (_, i) => `s${i}.${ns}.svc`) }, "17"],
        ["duplicate", { dnsNames: [`a.${ns}.svc`, `a.${ns}.svc`] }, "duplicate entries"],
        ["spiffe://", { federatesWith: ["spiffe://peer.example"] }, "bare trust domain"],
      ];
      for (const [label, svid, message] of bad) {
        const error = await apply(env.kubectl, ...svidBinding(ns, "admission", svid)).then(
          () => undefined,
          (e: unknown) => String(e),
        );
        assert.ok(error?.includes(message), `${label}: ${error}`);
      }
    });
  } finally {
    await op.stop();
    c.close();
  }
});
