/**
 * deploy.yaml: the CRD document is config/crd.yaml verbatim, the Deployment is locked down, and
 * the operator's arguments are ones the operator accepts.
 */
import assert from "node:assert/strict";
import { parseAllDocuments } from "yaml";
import { parseConfig } from "../../operator/config.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

interface Doc {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  // deno-lint-ignore no-explicit-any -- test-only traversal of arbitrary manifests
  [k: string]: any;
}

function docs(path: string): Doc[] {
  return parseAllDocuments(Deno.readTextFileSync(path)).map((d) => d.toJS() as Doc);
}

const all = docs(`${ROOT}deploy.yaml`);
function one(kind: string, name?: string): Doc {
  const found = all.filter((d) =>
    d.kind === kind && (name === undefined || d.metadata.name === name)
  );
  assert.equal(found.length, 1, `exactly one ${kind} ${name ?? ""}`);
  return found[0];
}

Deno.test("the CRD in deploy.yaml is config/crd.yaml, byte for byte", () => {
  const deploy = Deno.readTextFileSync(`${ROOT}deploy.yaml`);
  const crdText = Deno.readTextFileSync(`${ROOT}config/crd.yaml`);
  // config/crd.yaml starts with its own comment lines; the document itself must appear verbatim.
  const body = crdText.split("\n").filter((l, i, lines) =>
    !(l.startsWith("#") && lines.slice(0, i).every((p) => p.startsWith("#")))
  ).join("\n");
  assert.ok(
    deploy.includes(`---\n${body.trimEnd()}\n---\n`),
    "CRD text differs from config/crd.yaml",
  );
  assert.deepEqual(one("CustomResourceDefinition"), docs(`${ROOT}config/crd.yaml`)[0]);
});

Deno.test("everything namespaced lives in kleym-system, created first", () => {
  assert.equal(all[0].kind, "Namespace");
  assert.equal(all[0].metadata.name, "kleym-system");
  for (const d of all) {
    if (["ServiceAccount", "Role", "RoleBinding", "Deployment", "Service"].includes(d.kind)) {
      assert.equal(d.metadata.namespace, "kleym-system", `${d.kind} ${d.metadata.name}`);
    }
  }
});

Deno.test("the Deployment runs two locked-down replicas with leader election", () => {
  const dep = one("Deployment");
  assert.equal(dep.spec.replicas, 2);
  const want = { "app.kubernetes.io/name": "kleym", "app.kubernetes.io/component": "operator" };
  assert.deepEqual(dep.spec.selector.matchLabels, want);
  assert.deepEqual(dep.spec.template.metadata.labels, want);
  const pod = dep.spec.template.spec;
  assert.equal(pod.serviceAccountName, "kleym");
  assert.equal(pod.securityContext.runAsNonRoot, true);
  assert.equal(pod.securityContext.seccompProfile.type, "RuntimeDefault");
  assert.equal(pod.containers.length, 1);
  const c = pod.containers[0];
  assert.equal(c.securityContext.allowPrivilegeEscalation, false);
  assert.equal(c.securityContext.readOnlyRootFilesystem, true);
  assert.deepEqual(c.securityContext.capabilities.drop, ["ALL"]);
  assert.equal(c.securityContext.capabilities.add, undefined);
  assert.notEqual(c.securityContext.privileged, true);
  assert.ok(c.resources.requests.cpu && c.resources.requests.memory);
  assert.ok(c.resources.limits.memory);
  assert.equal(c.livenessProbe.httpGet.path, "/healthz");
  assert.equal(c.readinessProbe.httpGet.path, "/readyz");
  const health = c.ports.find((p: { name: string }) => p.name === "health");
  assert.equal(c.livenessProbe.httpGet.port, "health");
  assert.equal(health.containerPort, 8081);
  assert.ok(pod.terminationGracePeriodSeconds >= 10);
});

Deno.test("the Deployment's arguments parse, with leader election and the placeholder domain", () => {
  const c = one("Deployment").spec.template.spec.containers[0];
  assert.ok(c.args.includes("--leader-elect"));
  const r = parseConfig(c.args, () => undefined, { inClusterNamespace: "kleym-system" });
  assert.equal(r.kind, "run", JSON.stringify(r));
  if (r.kind !== "run") return;
  assert.equal(r.config.trustDomain, "example.org");
  assert.equal(r.config.leaderElection.enabled, true);
  assert.equal(r.config.healthAddress?.port, 8081);
  assert.equal(r.config.metricsAddress?.port, 8080);
});

Deno.test("the metrics Service selects the operator pods' metrics port", () => {
  const svc = one("Service");
  assert.deepEqual(svc.spec.selector, one("Deployment").spec.selector.matchLabels);
  assert.deepEqual(svc.spec.ports.map((p: { targetPort: string }) => p.targetPort), ["metrics"]);
});

Deno.test("RBAC binds the kleym ServiceAccount and grants no wildcard", () => {
  one("ServiceAccount", "kleym");
  for (const b of all.filter((d) => d.kind === "ClusterRoleBinding" || d.kind === "RoleBinding")) {
    assert.deepEqual(b.subjects, [{
      kind: "ServiceAccount",
      name: "kleym",
      namespace: "kleym-system",
    }]);
  }
  for (const r of all.filter((d) => d.kind === "ClusterRole" || d.kind === "Role")) {
    for (const rule of r.rules) {
      for (const field of ["apiGroups", "resources", "verbs"]) {
        assert.ok(!rule[field].includes("*"), `${r.kind} ${r.metadata.name}: wildcard in ${field}`);
      }
    }
  }
  const leases = one("Role").rules.flatMap((r: { verbs: string[] }) => r.verbs).sort();
  assert.deepEqual(leases, ["create", "get", "update"]);
});
