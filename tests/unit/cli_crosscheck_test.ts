/**
 * docs/contract.md#lifecycle from outside: `kleym inspect binding` and `kleym status` raise
 * `stale-ready` (error) when a binding says Ready=True but its ClusterSPIFFEID is absent or differs
 * from the rendered one — and only then.
 */
import assert from "node:assert/strict";
import type { InspectCommand } from "../../cli/args.ts";
import { crossCheckBindings, type CrossCheckInput } from "../../cli/crosscheck.ts";
import { buildInspectionReport, type ClusterObjectRead } from "../../cli/inspect.ts";
import { identityConfig, renderConfig, renderForInspect } from "../../cli/inspect_render.ts";
import type { Finding } from "../../cli/report.ts";
import { checkReport } from "../../cli/schema.ts";
import { buildStatusReport } from "../../cli/status.ts";
import { drifted } from "../../reconcile/ownership.ts";
import type { ObservedClusterSPIFFEID } from "../../reconcile/types.ts";
import { INSPECT_COMMAND, SERVED_ALL, V1, V1ALPHA2 } from "./cli_fixtures.ts";

const NOW = new Date("2030-01-02T03:04:05Z");
const command = INSPECT_COMMAND;
const served = SERVED_ALL;

const pool = {
  metadata: { name: "p", namespace: "ns" },
  spec: { selector: { matchLabels: { app: "m" } } },
};
const objective = { metadata: { name: "o", namespace: "ns" }, spec: { poolRef: { name: "p" } } };
const spec = {
  poolRef: { name: "p" },
  objectiveRef: { name: "o" },
  serviceAccountName: "sa",
  containerName: "main",
};

function binding(ready: "True" | "False", trustDomain = "kleym.sonda.red") {
  return {
    metadata: { name: "b", namespace: "ns", uid: "u-1", generation: 1 },
    spec,
    status: {
      trustDomain,
      conditions: [{
        type: "Ready",
        status: ready,
        reason: ready === "True" ? "Reconciled" : "TargetPoolNotFound",
        message: ready === "True" ? "Binding reconciled" : "pool p not found",
        lastTransitionTime: "2030-01-01T00:00:00Z",
        observedGeneration: 1,
      }],
    },
  };
}

const fetched = { pools: { [V1]: pool }, objectives: { [V1ALPHA2]: objective } };

/** A loosely typed copy of the object the operator writes for `binding("True")` (to edit). */
interface Editable {
  metadata: { name: string; labels: Record<string, string> };
  spec: Record<string, unknown>;
}

function rendered(): Editable {
  const outcome = renderForInspect(binding("True"), served, fetched, {
    trustDomain: "kleym.sonda.red",
  });
  assert.ok(outcome.ok);
  return JSON.parse(JSON.stringify(outcome.identity.clusterSPIFFEID));
}

function inspect(
  b: ReturnType<typeof binding>,
  cluster: ClusterObjectRead,
  flags: Partial<InspectCommand> = {},
) {
  const cmd = { ...command, ...flags };
  const report = buildInspectionReport({
    now: NOW,
    command: cmd,
    served,
    binding: b,
    fetched,
    outcome: renderForInspect(b, served, fetched, renderConfig(identityConfig(cmd, b))),
    pods: { state: "read", items: [] },
    cluster,
  });
  assert.deepEqual(checkReport(JSON.parse(JSON.stringify(report))), []);
  return report;
}

const stale = (findings: readonly Finding[]) => findings.filter((f) => f.id === "stale-ready");

Deno.test("inspect: stale-ready exactly when Ready=True and the ClusterSPIFFEID is absent or differs", async (t) => {
  await t.step("Ready, object absent: error ClusterSPIFFEIDAbsent", () => {
    const r = inspect(binding("True"), { state: "absent" });
    const [f] = stale(r.findings);
    assert.equal(f?.severity, "error");
    assert.equal(f.reason, "ClusterSPIFFEIDAbsent");
    assert.match(
      f.message,
      /^binding ns\/b says Ready=True but ClusterSPIFFEID \S+ does not exist/,
    );
    assert.deepEqual(f.affectedRefs.map((x) => x.kind), [
      "InferenceIdentityBinding",
      "ClusterSPIFFEID",
    ]);
    assert.equal(f.affectedRefs[1].name, r.renderedClusterSPIFFEID?.name);
  });
  await t.step("Ready, object as rendered: no finding", () => {
    const r = inspect(binding("True"), { state: "found", object: rendered() });
    assert.equal(r.renderedClusterSPIFFEID?.clusterState, "in-sync");
    assert.deepEqual(stale(r.findings), []);
  });
  await t.step("Ready, spec edited: error ClusterSPIFFEIDDiffers naming the field", () => {
    const object = rendered();
    object.spec.spiffeIDTemplate = "spiffe://evil.example/x";
    const r = inspect(binding("True"), { state: "found", object });
    const [f] = stale(r.findings);
    assert.equal(f?.reason, "ClusterSPIFFEIDDiffers");
    assert.match(f.message, /differs from the rendered one \(spec\.spiffeIDTemplate\)/);
  });
  await t.step("Ready, held with another binding's owner label: differs, naming the label", () => {
    const object = rendered();
    object.metadata.labels["kleym.sonda.red/binding-name"] = "other";
    const [f] = stale(inspect(binding("True"), { state: "found", object }).findings);
    assert.equal(f?.reason, "ClusterSPIFFEIDDiffers");
    assert.match(f.message, /\(label kleym\.sonda\.red\/binding-name\)/);
  });
  await t.step("Ready=False, object absent: no stale-ready (binding-unhealthy says it)", () => {
    const r = inspect(binding("False"), { state: "absent" });
    assert.deepEqual(stale(r.findings), []);
    assert.ok(r.findings.some((f) => f.id === "binding-unhealthy"));
  });
  await t.step("Ready, object unreadable: rbac-limited, not stale-ready", () => {
    const r = inspect(binding("True"), { state: "forbidden", message: "forbidden" });
    assert.deepEqual(stale(r.findings), []);
    assert.ok(r.findings.some((f) => f.id === "rbac-limited"));
  });
  await t.step("another --trust-domain renders another object on purpose: no stale-ready", () => {
    const r = inspect(binding("True"), { state: "found", object: rendered() }, {
      trustDomain: "other.example",
    });
    assert.equal(r.renderedClusterSPIFFEID?.clusterState, "differs");
    assert.deepEqual(stale(r.findings), []);
  });
  await t.step("flags equal to the operator's configuration still cross-check", () => {
    const r = inspect(binding("True"), { state: "absent" }, { trustDomain: "kleym.sonda.red" });
    assert.equal(stale(r.findings).length, 1);
  });
});

function crossCheck(over: Partial<CrossCheckInput> = {}): CrossCheckInput {
  return {
    served,
    pools: { [V1]: { state: "listed", items: [pool] } },
    objectives: { [V1ALPHA2]: { state: "listed", items: [objective] } },
    clusterSPIFFEIDs: { state: "listed", items: [] },
    ...over,
  };
}

Deno.test("status: every Ready binding is cross-checked against the listed ClusterSPIFFEIDs", async (t) => {
  await t.step("absent: stale-ready error", () => {
    const [f, ...rest] = crossCheckBindings([binding("True")], crossCheck());
    assert.deepEqual(rest, []);
    assert.equal(f.id, "stale-ready");
    assert.equal(f.reason, "ClusterSPIFFEIDAbsent");
  });
  await t.step("as rendered: nothing", () => {
    const csids = { state: "listed" as const, items: [rendered()] };
    assert.deepEqual(
      crossCheckBindings([binding("True")], crossCheck({ clusterSPIFFEIDs: csids })),
      [],
    );
  });
  await t.step("edited: stale-ready ClusterSPIFFEIDDiffers", () => {
    const object = rendered();
    object.spec.podSelector = { matchLabels: { app: "evil" } };
    const [f] = crossCheckBindings(
      [binding("True")],
      crossCheck({ clusterSPIFFEIDs: { state: "listed", items: [object] } }),
    );
    assert.equal(f?.reason, "ClusterSPIFFEIDDiffers");
    assert.match(f.message, /spec\.podSelector/);
  });
  await t.step("not Ready: not cross-checked", () => {
    assert.deepEqual(crossCheckBindings([binding("False")], crossCheck()), []);
  });
  await t.step("no longer renders (pool gone): left to the operator", () => {
    const pools = { [V1]: { state: "listed" as const, items: [] } };
    assert.deepEqual(crossCheckBindings([binding("True")], crossCheck({ pools })), []);
  });
  await t.step("ClusterSPIFFEIDs not listable: one rbac-limited warning", () => {
    const found = crossCheckBindings(
      [binding("True")],
      crossCheck({
        clusterSPIFFEIDs: { state: "forbidden", message: "clusterspiffeids is forbidden" },
      }),
    );
    assert.deepEqual(found.map((f) => [f.id, f.severity]), [["rbac-limited", "warning"]]);
    assert.match(found[0].message, /cannot list ClusterSPIFFEIDs.*clusterspiffeids is forbidden/);
  });
  await t.step("the report: ERROR, exit-2 aggregate", () => {
    const r = buildStatusReport({
      now: NOW,
      served: new Map([
        ["inferenceidentitybindings.kleym.sonda.red", ["v1alpha1"]],
        ["clusterspiffeids.spire.spiffe.io", ["v1alpha1"]],
        ["inferencepools.inference.networking.k8s.io", ["v1"]],
        ["inferenceobjectives.inference.networking.x-k8s.io", ["v1alpha2"]],
      ]),
      bindings: { state: "listed", items: [binding("True")] },
      deployments: { state: "listed", items: [] },
      crossCheck: crossCheck(),
    });
    assert.deepEqual(checkReport(JSON.parse(JSON.stringify(r))), []);
    assert.equal(r.status, "ERROR");
    assert.equal(stale(r.findings).length, 1);
  });
});

Deno.test("kleym inspect and the operator agree on drift, a foreign UID stamp included", async (t) => {
  type Edit = (o: Editable & { metadata: { annotations?: Record<string, string> } }) => void;
  const cases: [string, Edit, string | undefined][] = [
    ["as rendered", () => {}, undefined],
    [
      "stamped with another binding's UID (a leftover of an earlier binding of the same name)",
      (o) => {
        o.metadata.annotations = { "kleym.sonda.red/binding-uid": "u-foreign" };
      },
      "annotation kleym.sonda.red/binding-uid",
    ],
    [
      "no UID stamp at all",
      (o) => {
        o.metadata.annotations = {};
      },
      "annotation kleym.sonda.red/binding-uid",
    ],
    [
      "a spec field edited",
      (o) => {
        o.spec.className = "other";
      },
      "spec.className",
    ],
  ];
  for (const [name, edit, named] of cases) {
    await t.step(name, () => {
      const object = rendered();
      edit(object);
      const desired = renderForInspect(binding("True"), served, fetched, {
        trustDomain: "kleym.sonda.red",
      });
      assert.ok(desired.ok);
      const operator = drifted(
        object as unknown as ObservedClusterSPIFFEID,
        desired.identity.clusterSPIFFEID,
      );
      const r = inspect(binding("True"), { state: "found", object });
      const cli = r.renderedClusterSPIFFEID?.clusterState;
      assert.equal(cli, operator ? "differs" : "in-sync", "the CLI says what the operator does");
      assert.equal(operator, named !== undefined);
      const [f] = stale(r.findings);
      if (named === undefined) assert.equal(f, undefined);
      else assert.ok(f?.message.includes(`(${named})`), f?.message);
    });
  }
});
