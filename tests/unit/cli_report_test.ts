/** The pure report builders: matching, findings, config precedence, status aggregation. */
import assert from "node:assert/strict";
import { collisionPeers, renderFindingId } from "../../cli/findings.ts";
import { buildInspectionReport, type InspectInput } from "../../cli/inspect.ts";
import { identityConfig, renderConfig, renderForInspect } from "../../cli/inspect_render.ts";
import { decodePod, matchPods } from "../../cli/matching.ts";
import { checkReport } from "../../cli/schema.ts";
import {
  buildStatusReport,
  decodeDeployment,
  imageTag,
  type StatusInput,
} from "../../cli/status.ts";
import { Reasons, StateError } from "../../reconcile/errors.ts";
import { collisionMessage } from "../../reconcile/collision.ts";
import { INSPECT_COMMAND, SERVED_ALL } from "./cli_fixtures.ts";

const NOW = new Date("2030-01-02T03:04:05Z");

const command = INSPECT_COMMAND;
const served = SERVED_ALL;

function binding(spec: Record<string, unknown>, status?: Record<string, unknown>) {
  return { metadata: { name: "b", namespace: "ns", uid: "u-1", generation: 1 }, spec, status };
}

const pool = {
  metadata: { name: "p", namespace: "ns" },
  spec: { selector: { matchLabels: { app: "m" } } },
};
const objective = { metadata: { name: "o", namespace: "ns" }, spec: { poolRef: { name: "p" } } };
const perObjective = {
  poolRef: { name: "p" },
  objectiveRef: { name: "o" },
  serviceAccountName: "sa",
  containerName: "main",
};

function inspect(b: ReturnType<typeof binding>, extra: Partial<InspectInput> = {}) {
  const cfg = renderConfig(identityConfig(command, b));
  const fetched = {
    pools: { "inference.networking.k8s.io/v1": pool },
    objectives: { "inference.networking.x-k8s.io/v1alpha2": objective },
  };
  const report = buildInspectionReport({
    now: NOW,
    command,
    served,
    binding: b,
    fetched,
    outcome: renderForInspect(b, served, fetched, cfg),
    pods: { state: "read", items: [] },
    cluster: { state: "absent" },
    ...extra,
  });
  assert.deepEqual(checkReport(JSON.parse(JSON.stringify(report))), []);
  return report;
}

Deno.test("identity config: flag, then binding status, then the default", () => {
  const reconciled = binding(perObjective, {
    trustDomain: "td.example",
    clusterSPIFFEIDClassName: "c1",
  });
  assert.deepEqual(identityConfig(command, reconciled), {
    trustDomain: { value: "td.example", source: "binding-status" },
    className: { value: "c1", source: "binding-status" },
    svidLimits: DEFAULT_LIMITS,
  });
  assert.deepEqual(
    identityConfig({ ...command, trustDomain: "f.example", className: "" }, reconciled),
    {
      trustDomain: { value: "f.example", source: "flag" },
      className: { value: null, source: "flag" },
      svidLimits: DEFAULT_LIMITS,
    },
  );
  assert.deepEqual(identityConfig(command, binding(perObjective)), {
    trustDomain: { value: "kleym.sonda.red", source: "default" },
    className: { value: null, source: "default" },
    svidLimits: DEFAULT_LIMITS,
  });
});

/** The operator's defaults, as inspect reports them when no limit flag is given. */
const DEFAULT_LIMITS = {
  maxSvidTtl: { value: "24h", source: "default" },
  clusterDomain: { value: "cluster.local", source: "default" },
  allowedDnsSuffixes: { value: [], source: "default" },
  allowedFederatedTrustDomains: { value: [], source: "default" },
};

Deno.test("inspect: an unreconciled binding renders with the default and says so", () => {
  const r = inspect(binding(perObjective));
  assert.equal(r.renderedIdentity?.spiffeID, "spiffe://kleym.sonda.red/ns/ns/objective/o");
  assert.deepEqual(r.findings.map((f) => [f.id, f.severity]), [
    ["binding-unhealthy", "warning"],
    ["identity-config-undiscovered", "warning"],
    ["zero-matched-pods", "info"],
  ]);
  assert.equal(r.renderedClusterSPIFFEID?.clusterState, "absent");
});

Deno.test("inspect: rendering failures map to their finding ids", async (t) => {
  const missingPool = inspect(binding({ ...perObjective, poolRef: { name: "gone" } }));
  const f = missingPool.findings.find((x) => x.id === "dependency-missing");
  assert.ok(f);
  assert.equal(f.reason, "TargetPoolNotFound");
  assert.deepEqual(f.affectedRefs.map((x) => x.kind), [
    "InferenceIdentityBinding",
    "InferencePool",
  ]);
  assert.equal(missingPool.renderedIdentity, null);
  assert.equal(missingPool.matchedPods, null);

  const cases: [StateError, string][] = [
    [new StateError("InvalidRef", Reasons.InvalidPoolRef, "m"), "invalid-ref"],
    [new StateError("InvalidRef", Reasons.InferencePoolCRDMissing, "m"), "crd-missing"],
    [new StateError("UnsafeSelector", Reasons.InvalidPoolSelector, "m"), "unsafe-selector"],
    [new StateError("RenderFailure", Reasons.InvalidContainerName, "m"), "render-failure"],
    [new StateError("InvalidRef", Reasons.TargetObjectiveNotFound, "m"), "dependency-missing"],
  ];
  for (const [error, id] of cases) {
    await t.step(`${JSON.stringify(error)}`, () => {
      assert.equal(renderFindingId(error), id, error.reason);
    });
  }
});

Deno.test("inspect: the collision comes from the Conflict condition, never recomputed", () => {
  const message = collisionMessage(["c", "a"]);
  const cond = (type: string, status: string, reason: string) => ({
    type,
    status,
    reason,
    message: type === "Ready" || type === "Conflict" ? message : "ok",
    lastTransitionTime: "2030-01-01T00:00:00Z",
  });
  const r = inspect(binding(perObjective, {
    trustDomain: "kleym.sonda.red",
    conditions: [
      cond("Ready", "False", "IdentityCollision"),
      cond("Conflict", "True", "IdentityCollision"),
    ],
  }));
  assert.deepEqual(collisionPeers(message), ["a", "c"]);
  const ids = r.findings.map((f) => f.id);
  assert.deepEqual(ids, ["kleym-collision", "zero-matched-pods"], "no duplicate binding-unhealthy");
  assert.deepEqual(r.findings[0].affectedRefs.map((x) => x.name), ["b", "a", "c"]);
});

Deno.test("inspect: pods are matched by labels, account and container; others are counted", () => {
  const pods = [
    {
      metadata: { name: "ok", namespace: "ns", labels: { app: "m", x: "y" } },
      spec: { serviceAccountName: "sa", containers: [{ name: "main" }] },
    },
    {
      metadata: { name: "init", namespace: "ns", labels: { app: "m" } },
      spec: { serviceAccount: "sa", initContainers: [{ name: "main" }] },
    },
    {
      metadata: { name: "sa", namespace: "ns", labels: { app: "m" } },
      spec: { serviceAccountName: "x", containers: [{ name: "main" }] },
    },
    {
      metadata: { name: "nc", namespace: "ns", labels: { app: "m" } },
      spec: { serviceAccountName: "sa", containers: [{ name: "side" }] },
    },
    {
      metadata: { name: "ns2", namespace: "other", labels: { app: "m" } },
      spec: { serviceAccountName: "sa", containers: [{ name: "main" }] },
    },
  ].map(decodePod);
  const selectors = ["k8s:container-name:main", "k8s:ns:ns", "k8s:pod-label:app:m", "k8s:sa:sa"];
  const m = matchPods(selectors, pods);
  assert.deepEqual(m.matched.map((p) => p.name), ["init", "ok"]);
  assert.equal(m.withPoolLabels, 4);
  assert.equal(m.otherServiceAccount, 1);
  assert.equal(m.missingContainer, 1);
  assert.deepEqual(m.unsupported, []);

  const none = inspect(binding(perObjective, { trustDomain: "kleym.sonda.red" }), {
    pods: { state: "read", items: pods.filter((p) => p.name === "sa" || p.name === "nc") },
  });
  const zero = none.findings.find((f) => f.id === "zero-matched-pods");
  assert.match(
    zero?.message ?? "",
    /2 carry the pool's labels; of those, 1 run under another service account than "sa", 1 have no container "main"/,
  );
});

Deno.test("matching: a selector that cannot be evaluated is skipped and reported", () => {
  const m = matchPods(["k8s:ns:ns", "k8s:node-name:n1"], [
    decodePod({ metadata: { name: "p", namespace: "ns" } }),
  ]);
  assert.deepEqual(m.unsupported, ["k8s:node-name:n1"]);
  assert.equal(m.matched.length, 1);
});

Deno.test("inspect: no pod access is rbac-limited (warning), matched pods unknown", () => {
  const r = inspect(binding(perObjective, { trustDomain: "kleym.sonda.red", conditions: [] }), {
    pods: { state: "forbidden", message: "pods is forbidden" },
    cluster: { state: "forbidden", message: "clusterspiffeids is forbidden" },
  });
  assert.equal(r.matchedPods, null);
  assert.equal(r.renderedClusterSPIFFEID?.clusterState, "unknown");
  assert.deepEqual(r.findings.filter((f) => f.id === "rbac-limited").length, 2);
});

const operatorDeployment = (ns: string, args: string[], ready: number) => ({
  metadata: { name: "kleym-operator", namespace: ns },
  spec: {
    replicas: 2,
    template: {
      spec: { containers: [{ name: "operator", image: "reg:5000/kleym-operator:1.2.3", args }] },
    },
  },
  status: { readyReplicas: ready },
});

function status(input: Partial<StatusInput>) {
  const all = new Map<string, string[]>([
    ["inferenceidentitybindings.kleym.sonda.red", ["v1alpha1"]],
    ["clusterspiffeids.spire.spiffe.io", ["v1alpha1"]],
    ["inferencepools.inference.networking.k8s.io", ["v1"]],
    ["inferenceobjectives.inference.networking.x-k8s.io", ["v1alpha2"]],
  ]);
  const r = buildStatusReport({
    now: NOW,
    served: all,
    bindings: { state: "listed", items: [] },
    deployments: { state: "listed", items: [operatorDeployment("k", ["--trust-domain=a.org"], 1)] },
    ...input,
  });
  assert.deepEqual(checkReport(JSON.parse(JSON.stringify(r))), []);
  return r;
}

Deno.test("status: trust domain from binding status, `mixed` when they differ", () => {
  const b = (name: string, td: string, cls?: string) => ({
    metadata: { name, namespace: "n" },
    status: { trustDomain: td, clusterSPIFFEIDClassName: cls, conditions: [] },
  });
  const r = status({
    bindings: { state: "listed", items: [b("x", "a.org"), b("y", "b.org", "c")] },
  });
  assert.deepEqual(r.config.trustDomain, {
    value: "mixed",
    source: "binding-status",
    mixed: true,
    observed: ["a.org", "b.org"],
  });
  assert.deepEqual(r.config.className.observed, [null, "c"]);
  assert.deepEqual(r.summary.bindings, { total: 2, ok: 0, warning: 2, error: 0 });
});

Deno.test("status: without bindings the Deployment's args name the config", () => {
  const r = status({});
  assert.deepEqual(r.config.trustDomain, {
    value: "a.org",
    source: "deployment-args",
    mixed: false,
    observed: ["a.org"],
  });
  assert.equal(r.config.className.value, null);
  assert.equal(r.status, "OK");
  assert.equal(r.components.operator.deployments[0].imageTag, "1.2.3");
  assert.equal(
    decodeDeployment(operatorDeployment("k", ["--trust-domain", "b.org"], 0)).trustDomain,
    "b.org",
  );
});

Deno.test("status: missing CRDs, no operator, forbidden lists", () => {
  const r = status({
    served: new Map(),
    bindings: { state: "not-served" },
    deployments: { state: "forbidden", message: "deployments.apps is forbidden" },
  });
  assert.equal(r.status, "ERROR");
  assert.deepEqual(r.findings.map((f) => `${f.severity} ${f.id} ${f.reason}`), [
    "error crd-missing CRDNotServed",
    "error crd-missing CRDNotServed",
    "error crd-missing InferencePoolCRDMissing",
    "warning crd-missing InferenceObjectiveCRDMissing",
    "warning identity-config-undiscovered TrustDomainUndiscovered",
    "warning rbac-limited Forbidden",
  ]);
  assert.equal(r.components.operator.state, "unknown");
  const none = status({ deployments: { state: "listed", items: [] } });
  assert.deepEqual(none.findings.map((f) => f.id), [
    "operator-unavailable",
    "identity-config-undiscovered",
  ]);
});

Deno.test("image tags", () => {
  assert.equal(imageTag("kleym-operator:0.1.0"), "0.1.0");
  assert.equal(imageTag("reg:5000/kleym"), "latest");
  assert.equal(imageTag("reg/kleym:1@sha256:abc"), "1");
  assert.equal(imageTag("reg/kleym@sha256:abc"), "sha256:abc");
});

Deno.test("status: operator health from the leader Lease, then Deployments, then bindings", async (t) => {
  const lease = (holder: string, renewedSecondsAgo: number, duration = 15) => ({
    state: "found" as const,
    object: {
      metadata: { name: "kleym-operator", namespace: "kleym-system" },
      spec: {
        holderIdentity: holder,
        leaseDurationSeconds: duration,
        renewTime: new Date(NOW.getTime() - renewedSecondsAgo * 1000).toISOString(),
      },
    },
  });
  const none = { state: "listed" as const, items: [] };
  const fresh = {
    metadata: { name: "a", namespace: "n", generation: 2 },
    status: {
      trustDomain: "a.org",
      conditions: [{ type: "Ready", status: "True", reason: "Reconciled", observedGeneration: 2 }],
    },
  };
  const behind = {
    metadata: { name: "b", namespace: "n", generation: 3 },
    status: {
      trustDomain: "a.org",
      conditions: [{ type: "Ready", status: "True", reason: "Reconciled", observedGeneration: 2 }],
    },
  };
  const operatorFindings = (r: ReturnType<typeof status>) =>
    r.findings.filter((f) => f.id === "operator-unavailable").map((f) => f.reason);

  await t.step("a live Lease held from source, no Deployment: available", () => {
    const r = status({
      lease: lease("laptop-x1y2", 3),
      deployments: none,
      bindings: { state: "listed", items: [fresh] },
    });
    assert.equal(r.components.operator.state, "available");
    assert.equal(r.components.operator.evidence, "lease");
    assert.equal(r.components.operator.lease?.holder, "laptop-x1y2");
    assert.equal(r.components.operator.lease?.ageSeconds, 3);
    assert.deepEqual(r.components.operator.deployments, []);
    assert.deepEqual(operatorFindings(r), []);
  });
  await t.step("a Lease held but not renewed for longer than its duration: LeaseExpired", () => {
    const r = status({ lease: lease("pod-a", 16), bindings: { state: "listed", items: [fresh] } });
    assert.equal(r.components.operator.state, "unavailable");
    assert.deepEqual(operatorFindings(r), ["LeaseExpired"]);
    assert.match(
      r.findings[0].message,
      /^the leader Lease kleym-system\/kleym-operator was last renewed by pod-a 16s ago \(lease duration 15s\)/,
    );
  });
  await t.step("a live Lease wins over a Deployment without ready replicas", () => {
    const r = status({
      lease: lease("laptop", 1),
      deployments: { state: "listed", items: [operatorDeployment("k", [], 0)] },
    });
    assert.equal(r.components.operator.state, "available");
    assert.deepEqual(operatorFindings(r), []);
  });
  await t.step("a released Lease falls back to the Deployment", () => {
    const r = status({
      lease: lease("", 100),
      deployments: { state: "listed", items: [operatorDeployment("k", [], 0)] },
    });
    assert.equal(r.components.operator.evidence, "deployment");
    assert.deepEqual(operatorFindings(r), ["NoReadyReplicas"]);
  });
  await t.step("no Lease, no Deployment: bindings behind their spec mean nobody reconciles", () => {
    const r = status({
      lease: { state: "absent" },
      deployments: none,
      bindings: { state: "listed", items: [fresh, behind] },
    });
    assert.equal(r.components.operator.evidence, "bindings");
    assert.deepEqual(operatorFindings(r), ["BindingsNotReconciled"]);
    assert.match(r.findings[0].message, /1 binding\(s\) .*\(n\/b\)/);
  });
  await t.step("no Lease, no Deployment, current bindings: unknown, no error", () => {
    const r = status({
      lease: { state: "absent" },
      deployments: none,
      bindings: { state: "listed", items: [fresh] },
    });
    assert.equal(r.components.operator.state, "unknown");
    assert.deepEqual(operatorFindings(r), []);
  });
  await t.step("nothing at all: not-found", () => {
    const r = status({ lease: { state: "absent" }, deployments: none });
    assert.equal(r.components.operator.state, "not-found");
    assert.deepEqual(operatorFindings(r), ["OperatorNotFound"]);
  });
});
