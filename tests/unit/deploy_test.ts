/**
 * deploy.yaml and crds.yaml (rendered from config/ by `make manifests`; that they are current is
 * tests/integration/manifests_test.ts): one CRD in both, the Deployment locked down, the
 * operator's arguments ones it accepts, least-privilege RBAC plus the metrics and user roles, and
 * one version everywhere.
 */
import assert from "node:assert/strict";
import { parse, parseAllDocuments } from "yaml";
import { VERSION } from "../../apis/version.ts";
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

Deno.test("crds.yaml holds exactly kleym's CRD, and deploy.yaml the same one", () => {
  const source = docs(`${ROOT}config/crd/bases/kleym.sonda.red_inferenceidentitybindings.yaml`);
  assert.deepEqual(docs(`${ROOT}crds.yaml`), source);
  // docs/contract.md#deployment: `kubectl apply -f deploy.yaml` alone installs everything.
  assert.deepEqual(all.filter((d) => d.kind === "CustomResourceDefinition"), source);
});

Deno.test("make undeploy's operator step (label app.kubernetes.io/name=kleym) spares only the CRD", () => {
  for (const d of all) {
    const labelled = d.metadata.labels?.["app.kubernetes.io/name"] === "kleym";
    assert.equal(labelled, d.kind !== "CustomResourceDefinition", `${d.kind} ${d.metadata.name}`);
  }
});

Deno.test("everything namespaced lives in kleym-system, created first, Pod Security restricted", () => {
  assert.equal(all[0].kind, "Namespace");
  assert.equal(all[0].metadata.name, "kleym-system");
  for (const mode of ["enforce", "audit", "warn"]) {
    assert.equal(all[0].metadata.labels?.[`pod-security.kubernetes.io/${mode}`], "restricted");
  }
  for (const d of all) {
    const namespaced = ["ServiceAccount", "Role", "RoleBinding", "Deployment", "Service"];
    if ([...namespaced, "PodDisruptionBudget"].includes(d.kind)) {
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
  assert.equal(r.config.metricsAddress?.port, 8443);
  // ":port": every interface, IPv4 and IPv6 (probes and scrapes work on IPv6-only clusters).
  assert.equal(r.config.metricsAddress?.hostname, "");
  assert.equal(r.config.healthAddress?.hostname, "");
  assert.equal(r.config.metricsSecure, true);
});

Deno.test("the metrics Service selects the operator pods' metrics port", () => {
  const svc = one("Service");
  assert.deepEqual(svc.spec.selector, one("Deployment").spec.selector.matchLabels);
  assert.deepEqual(svc.spec.ports, [{
    name: "https",
    port: 8443,
    targetPort: "metrics",
    protocol: "TCP",
  }]);
  const c = one("Deployment").spec.template.spec.containers[0];
  assert.equal(c.ports.find((p: { name: string }) => p.name === "metrics").containerPort, 8443);
});

Deno.test("a PodDisruptionBudget keeps one of the two replicas through drains", () => {
  const pdb = one("PodDisruptionBudget");
  assert.deepEqual(pdb.spec.selector.matchLabels, one("Deployment").spec.selector.matchLabels);
  assert.equal(pdb.spec.minAvailable, 1);
});

Deno.test("one version: apis/version.ts, the image tag, the kustomization and the Dockerfile", () => {
  const image: string = one("Deployment").spec.template.spec.containers[0].image;
  assert.equal(image, `kleym-operator:${VERSION}`);
  const k = parse(Deno.readTextFileSync(`${ROOT}config/manager/kustomization.yaml`));
  assert.deepEqual(k.images, [{ name: "kleym-operator", newTag: VERSION }]);
  // The Makefile reads the same constant for `make image` / `make version`.
  assert.match(Deno.readTextFileSync(`${ROOT}apis/version.ts`), /^export const VERSION = "/m);
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
      for (const field of ["apiGroups", "resources", "verbs", "nonResourceURLs"]) {
        assert.ok(
          !(rule[field] ?? []).includes("*"),
          `${r.kind} ${r.metadata.name}: wildcard in ${field}`,
        );
      }
    }
  }
  const bound = all.filter((d) => d.kind === "ClusterRoleBinding").map((b) => b.roleRef.name);
  assert.deepEqual(bound.sort(), ["kleym-metrics-auth", "kleym-operator"]);
  assert.deepEqual(one("ClusterRole", "kleym-metrics-auth").rules, [
    { apiGroups: ["authentication.k8s.io"], resources: ["tokenreviews"], verbs: ["create"] },
    { apiGroups: ["authorization.k8s.io"], resources: ["subjectaccessreviews"], verbs: ["create"] },
  ]);
  assert.deepEqual(one("ClusterRole", "kleym-metrics-reader").rules, [
    { nonResourceURLs: ["/metrics"], verbs: ["get"] },
  ]);
  const leases = one("Role").rules.flatMap((r: { verbs: string[] }) => r.verbs).sort();
  assert.deepEqual(leases, ["create", "get", "update"]);
});

Deno.test("user roles for bindings aggregate into view/edit/admin; only admin reads status", () => {
  const rules = (name: string) =>
    one("ClusterRole", `kleym-inferenceidentitybinding-${name}`).rules as {
      apiGroups: string[];
      resources: string[];
      verbs: string[];
    }[];
  const labels = (name: string) =>
    one("ClusterRole", `kleym-inferenceidentitybinding-${name}`).metadata.labels ?? {};
  assert.equal(labels("viewer")["rbac.authorization.k8s.io/aggregate-to-view"], "true");
  assert.equal(labels("editor")["rbac.authorization.k8s.io/aggregate-to-edit"], "true");
  assert.equal(labels("admin")["rbac.authorization.k8s.io/aggregate-to-admin"], "true");
  assert.deepEqual(rules("viewer"), [{
    apiGroups: ["kleym.sonda.red"],
    resources: ["inferenceidentitybindings"],
    verbs: ["get", "list", "watch"],
  }]);
  for (const name of ["viewer", "editor"]) {
    assert.ok(rules(name).every((r) => r.resources.every((res) => !res.includes("/"))), name);
  }
  assert.ok(rules("editor")[0].verbs.includes("create"));
  const status = rules("admin").filter((r) => r.resources.some((res) => res.endsWith("/status")));
  assert.deepEqual(status.flatMap((r) => r.verbs), ["get"]);
});

Deno.test("optional parts: the NetworkPolicy admits only labelled namespaces to :8443", () => {
  const [np] = docs(`${ROOT}config/network-policy/allow-metrics-traffic.yaml`);
  assert.equal(np.kind, "NetworkPolicy");
  assert.deepEqual(np.spec.podSelector.matchLabels, one("Deployment").spec.selector.matchLabels);
  assert.deepEqual(np.spec.policyTypes, ["Ingress"]);
  assert.deepEqual(np.spec.ingress, [{
    from: [{ namespaceSelector: { matchLabels: { "kleym.sonda.red/metrics": "enabled" } } }],
    ports: [{ port: 8443, protocol: "TCP" }],
  }]);
  const [sm] = docs(`${ROOT}config/prometheus/monitor.yaml`);
  assert.equal(sm.kind, "ServiceMonitor");
  assert.deepEqual(sm.spec.selector.matchLabels, one("Service").metadata.labels);
  assert.equal(sm.spec.endpoints[0].port, one("Service").spec.ports[0].name);
  assert.equal(sm.spec.endpoints[0].scheme, "https");
});
