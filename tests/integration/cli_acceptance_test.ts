/**
 * The CLI as docs/cli.md describes it, against the run's real control plane: the `kleym` CLI next
 * to the real controller (in-process, reconcile_helpers.ts), on the fixture examples applied to a
 * fresh namespace, with pods created directly through the API (no kubelet: they just exist).
 *
 * - inspect reports the SPIFFE ID, selectors and ClusterSPIFFEID (name and spec) the operator
 *   actually wrote; matched pods are exactly those with the labels + service account (+ container);
 * - a user who may read everything but pods gets `rbac-limited`, exit 0 (2 with --strict); a user
 *   with no grants gets exit 4;
 * - exit codes 0, 2, 3 and 4 from real runs (5: tests/unit/cli_run_test.ts, injected failure);
 * - every `-o json` output passes the documented shape (cli/schema.ts);
 * - every request the CLI made (all in-process runs, through its request hook) was a GET.
 */
import assert from "node:assert/strict";
import { svidLimitsConfig } from "../../cli/inspect_svid.ts";
import type { RequestInfo } from "../../apis/hooks.ts";
import { checkedReport, cliPermissions, type CliRun, runCliCaptured } from "../harness/cli.ts";
import { runCollecting } from "../harness/process.ts";
import type { BindingInspectionReport, Finding, KleymStatusReport } from "../../cli/report.ts";
import { REPO_ROOT } from "../harness/controlplane.ts";
import { testEnv } from "../harness/env.ts";
import { applyOperatorDeployment, setDeploymentReady } from "../harness/operator.ts";
import {
  adminClients,
  apply,
  conditionOf,
  deleteIfExists,
  getBinding,
  managedOf,
  pollUntil,
  startController,
  waitGone,
  waitReason,
} from "./reconcile_helpers.ts";

const EXAMPLES = `${REPO_ROOT}/tests/fixtures/examples`;
const DENO = `${REPO_ROOT}/node_modules/.bin/deno`;

/** Every request any in-process CLI run made. */
const requests: RequestInfo[] = [];

const cli = (args: string[]) => runCliCaptured(args, { onRequest: (info) => requests.push(info) });

/** The CLI as a process with exactly the `kleym` task's permissions. */
function cliProcess(args: string[]): Promise<CliRun> {
  return runCollecting(DENO, ["run", ...cliPermissions(), `${REPO_ROOT}/cli/main.ts`, ...args], {
    cwd: REPO_ROOT,
    env: { KUBECONFIG: "" },
  });
}

function example(name: string, ns: string): string {
  return Deno.readTextFileSync(`${EXAMPLES}/${name}/input.yaml`).replaceAll(
    "namespace: default",
    `namespace: ${ns}`,
  );
}

function pod(
  ns: string,
  name: string,
  labels: Record<string, string>,
  serviceAccountName: string,
  containers: string[],
) {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace: ns, labels },
    spec: {
      serviceAccountName,
      containers: containers.map((c) => ({ name: c, image: "registry.invalid/model:1" })),
    },
  };
}

const refNames = (f: Finding) => f.affectedRefs.map((x) => x.name);

Deno.test("kleym CLI: inspect and status against the real controller's output", async (t) => {
  const env = await testEnv();
  const c = await adminClients(env.kubeconfigPath);
  const op = await startController(env.kubeconfigPath);
  const ns = await env.newNamespace("cli");
  const other = await env.newNamespace("cli-other");
  const kc = ["--kubeconfig", env.kubeconfigPath];
  const suffix = ns.slice(ns.lastIndexOf("-") + 1);
  const role = `kleym-cli-no-pods-${suffix}`;
  try {
    await env.kubectl(["apply", "-f", "-"], { stdin: example("per-objective", ns) });
    await env.kubectl(["apply", "-f", "-"], { stdin: example("pool-only", ns) });
    const app = { app: "model-server" };
    await apply(
      env.kubectl,
      pod(ns, "p-match", app, "inference-sa", ["main", "sidecar"]),
      pod(ns, "p-other-sa", app, "other-sa", ["main"]),
      pod(ns, "p-no-container", app, "inference-sa", ["sidecar"]),
      pod(ns, "p-other-labels", { app: "other" }, "inference-sa", ["main"]),
      pod(other, "p-match", app, "inference-sa", ["main"]),
    );
    await waitReason(c, ns, "objective-a", "Reconciled");
    await waitReason(c, ns, "pool-a", "Reconciled");

    await t.step("inspect reports exactly what the operator wrote (both examples)", async () => {
      for (const name of ["objective-a", "pool-a"]) {
        const run = await cli(["inspect", "binding", name, "-n", ns, "-o", "json", ...kc]);
        assert.equal(run.code, 0, run.stderr + run.stdout);
        const r = checkedReport<BindingInspectionReport>(run);
        const b = await getBinding(c, ns, name);
        const written = await managedOf(c, ns, name);
        assert.equal(written.length, 1);
        assert.equal(r.renderedIdentity?.spiffeID, b?.status?.computedSpiffeIDs?.[0].spiffeID);
        assert.deepEqual(
          r.renderedIdentity?.selectors,
          b?.status?.renderedSelectors?.[0].selectors,
        );
        assert.equal(r.renderedClusterSPIFFEID?.name, written[0].metadata.name);
        assert.deepEqual(r.renderedClusterSPIFFEID?.object.spec, written[0].spec);
        assert.deepEqual(
          r.renderedClusterSPIFFEID?.object.metadata.labels,
          written[0].metadata.labels,
        );
        assert.equal(r.renderedClusterSPIFFEID?.clusterState, "in-sync");
        assert.deepEqual(r.identityConfig, {
          trustDomain: { value: "kleym.sonda.red", source: "binding-status" },
          className: { value: null, source: "binding-status" },
          svidLimits: svidLimitsConfig({}),
        });
        assert.equal(r.resolvedInput?.pool.apiVersion, "inference.networking.k8s.io/v1");
        assert.deepEqual(r.conditions.map((x) => [x.type, x.status]), [
          ["Ready", "True"],
          ["Conflict", "False"],
          ["InvalidRef", "False"],
          ["UnsafeSelector", "False"],
          ["RenderFailure", "False"],
        ]);
        // The seed's two examples share pool-a and inference-sa: the PoolOnly binding selects
        // every container the PerObjective one does (docs/contract.md#overlap, warn mode).
        assert.deepEqual(r.findings.map((f) => [f.id, f.severity, refNames(f)]), [
          ["identity-overlap", "warning", ["objective-a", "pool-a"]],
        ]);
      }
    });

    await t.step(
      "matched pods: labels + service account (+ container), this namespace only",
      async () => {
        const perObjective = checkedReport<BindingInspectionReport>(
          await cli(["inspect", "binding", "objective-a", "-n", ns, "-o", "json", ...kc]),
        );
        assert.deepEqual(perObjective.matchedPods, [{
          namespace: ns,
          name: "p-match",
          serviceAccountName: "inference-sa",
          labels: { app: "model-server" },
          containerName: "main",
        }]);
        const poolOnly = checkedReport<BindingInspectionReport>(
          await cli(["inspect", "binding", "pool-a", "-n", ns, "-o", "json", ...kc]),
        );
        assert.deepEqual(
          poolOnly.matchedPods?.map((p) => [p.namespace, p.name, p.containerName]),
          [[ns, "p-match", null], [ns, "p-no-container", null]],
        );
      },
    );

    await t.step("text output has the documented sections and the exit code", async () => {
      const run = await cli(["inspect", "binding", "objective-a", "-n", ns, ...kc]);
      assert.equal(run.code, 0);
      for (
        const section of [
          "Identity",
          "ClusterSPIFFEID",
          "Conditions",
          "Matched pods",
          "Findings",
          "Exit code",
        ]
      ) {
        assert.match(run.stdout, new RegExp(`^${section}$`, "m"), `section ${section}`);
      }
      assert.match(run.stdout, /spiffe:\/\/kleym\.sonda\.red\/ns\/\S+\/objective\/objective-a/);
      assert.doesNotMatch(run.stdout, /SVID (was |is )?issued|attested/i);
    });

    await t.step("exit 3: a missing binding still prints the report", async () => {
      const run = await cli(["inspect", "binding", "nope", "-n", ns, "-o", "json", ...kc]);
      assert.equal(run.code, 3);
      const r = checkedReport<BindingInspectionReport>(run);
      assert.equal(r.bindingRef.found, false);
      assert.deepEqual(r.findings.map((f) => f.id), ["binding-not-found"]);
    });

    await t.step("status: operator Deployment not ready is an error; ready is OK", async () => {
      await applyOperatorDeployment(env.kubectl, ns);

      // status is cluster-wide: bindings other tests of the run left elsewhere may add findings;
      // only those are tolerated, and the aggregate and exit code must follow them.
      const foreign = (f: Finding) =>
        f.affectedRefs.length > 0 && f.affectedRefs.every((x) => x.namespace !== ns);
      let run = await cli(["status", "-o", "json", ...kc]);
      let r = checkedReport<KleymStatusReport>(run);
      assert.equal(run.code, 2, run.stdout);
      assert.equal(r.status, "ERROR");
      assert.equal(r.components.operator.state, "unavailable");
      assert.deepEqual(r.findings.filter((f) => !foreign(f)).map((f) => f.id), [
        "operator-unavailable",
        "identity-overlap", // the two examples (inspect step above)
      ]);

      await setDeploymentReady(env.kubectl, ns, 2);
      run = await cli(["status", "-o", "json", ...kc]);
      r = checkedReport<KleymStatusReport>(run);
      assert.deepEqual(
        r.findings.filter((f) => !foreign(f)).map((f) => [f.id, refNames(f)]),
        [["identity-overlap", ["objective-a", "pool-a"]]],
        run.stdout,
      );
      const errors = r.findings.some((f) => f.severity === "error");
      const warnings = r.findings.some((f) => f.severity === "warning");
      assert.equal(r.status, errors ? "ERROR" : warnings ? "WARNING" : "OK");
      assert.equal(run.code, errors ? 2 : 0, run.stdout);
      // The Lease may be left (released) by other tests of the run: no evidence either way.
      const { lease: _lease, ...operator } = r.components.operator;
      assert.deepEqual(operator, {
        state: "available",
        evidence: "deployment",
        deployments: [{
          namespace: ns,
          name: "kleym-operator",
          replicas: 2,
          readyReplicas: 2,
          image: "kleym-operator:0.1.0",
          imageTag: "0.1.0",
        }],
      });
      assert.equal(r.config.trustDomain.source, "binding-status");
      assert.ok(r.config.trustDomain.observed.includes("kleym.sonda.red"));
      assert.ok(r.config.className.observed.includes(null), "classless");
      const crd = (name: string) => r.components.crds.find((x) => x.name === name);
      assert.deepEqual(crd("inferenceidentitybindings.kleym.sonda.red")?.servedVersions, [
        "v1alpha1",
      ]);
      assert.equal(crd("clusterspiffeids.spire.spiffe.io")?.served, true);
      assert.equal(crd("inferencepools.inference.networking.k8s.io")?.served, true);
      assert.ok(r.summary.bindings && r.summary.bindings.ok >= 2);

      const text = await cli(["status", ...kc]);
      assert.equal(text.code, run.code);
      for (const section of ["Kleym", "Bindings", "Dependencies"]) {
        assert.match(text.stdout, new RegExp(`^${section}$`, "m"), `section ${section}`);
      }
    });

    await t.step("rbac-limited: no pod access is a warning (exit 0, 2 with --strict)", async () => {
      const rules = [
        {
          apiGroups: ["kleym.sonda.red"],
          resources: ["inferenceidentitybindings"],
          verbs: ["get", "list"],
        },
        {
          apiGroups: ["inference.networking.k8s.io", "inference.networking.x-k8s.io"],
          resources: ["inferencepools", "inferenceobjectives"],
          verbs: ["get", "list"],
        },
        { apiGroups: ["spire.spiffe.io"], resources: ["clusterspiffeids"], verbs: ["get", "list"] },
        { apiGroups: ["apps"], resources: ["deployments"], verbs: ["list"] },
      ];
      const user = `cli-reader-${suffix}`;
      await apply(
        env.kubectl,
        {
          apiVersion: "rbac.authorization.k8s.io/v1",
          kind: "ClusterRole",
          metadata: { name: role },
          rules,
        },
        {
          apiVersion: "rbac.authorization.k8s.io/v1",
          kind: "ClusterRoleBinding",
          metadata: { name: role },
          roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: role },
          subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "User", name: user }],
        },
      );
      const userKc = ["--kubeconfig", await env.userKubeconfig(user)];
      const args = ["inspect", "binding", "objective-a", "-n", ns, "-o", "json", ...userKc];
      // RBAC changes reach the authorizer's cache shortly after the write.
      const run = await pollUntil("the ClusterRole is in effect", 60_000, async () => {
        const r = await cli(args);
        return r.code !== 4 ? r : undefined;
      });
      assert.equal(run.code, 0, run.stderr + run.stdout);
      const r = checkedReport<BindingInspectionReport>(run);
      assert.deepEqual(r.findings.map((f) => [f.id, f.severity]), [
        ["identity-overlap", "warning"],
        ["rbac-limited", "warning"],
      ]);
      assert.equal(r.matchedPods, null);
      assert.equal(r.renderedClusterSPIFFEID?.clusterState, "in-sync");
      assert.equal((await cli([...args, "--strict"])).code, 2);

      const nobody = await cli([
        "inspect",
        "binding",
        "objective-a",
        "-n",
        ns,
        "--kubeconfig",
        await env.userKubeconfig(`cli-nobody-${suffix}`),
      ]);
      assert.equal(nobody.code, 4);
      assert.equal(nobody.stdout, "");
      assert.match(nobody.stderr, /^kleym: cannot read InferenceIdentityBinding .*forbidden.*\n$/);
    });

    await t.step("exit 2: a collision is reported from the Conflict condition", async () => {
      await env.kubectl(["apply", "-f", "-"], { stdin: example("collision", ns) });
      await pollUntil(
        "objective-a in conflict",
        60_000,
        async () =>
          conditionOf(await getBinding(c, ns, "objective-a"), "Conflict")?.status === "True",
      );
      await pollUntil(
        "objective-a's ClusterSPIFFEID deleted",
        60_000,
        async () => (await managedOf(c, ns, "objective-a")).length === 0,
      );
      const run = await cli(["inspect", "binding", "objective-a", "-n", ns, "-o", "json", ...kc]);
      assert.equal(run.code, 2);
      const r = checkedReport<BindingInspectionReport>(run);
      const collision = r.findings.find((f) => f.id === "kleym-collision");
      assert.ok(collision, JSON.stringify(r.findings));
      assert.equal(collision.reason, "IdentityCollision");
      assert.deepEqual(collision.affectedRefs.map((x) => x.name), ["objective-a", "objective-b"]);
      assert.equal(r.renderedClusterSPIFFEID?.clusterState, "absent");

      const status = await cli(["status", "-o", "json", ...kc]);
      assert.equal(status.code, 2);
      const s = checkedReport<KleymStatusReport>(status);
      assert.equal(s.status, "ERROR");
      assert.ok(s.summary.trueConditions && s.summary.trueConditions.Conflict >= 2);
    });

    await t.step("the CLI sent only GET requests", () => {
      assert.ok(requests.length > 20);
      const writes = requests.filter((r) => r.verb !== "get" && r.verb !== "list");
      assert.deepEqual(writes, []);
    });

    await t.step("as a process: --version, JSON inspect, a bad flag", async () => {
      const version = await cliProcess(["--version"]);
      assert.equal(version.code, 0);
      assert.match(version.stdout, /^kleym \d+\.\d+\.\d+\n$/);
      const run = await cliProcess([
        "inspect",
        "binding",
        "pool-a",
        "-n",
        ns,
        "-o",
        "json",
        `--kubeconfig=${env.kubeconfigPath}`,
      ]);
      assert.equal(run.code, 0, run.stderr);
      assert.equal(checkedReport<BindingInspectionReport>(run).renderedIdentity?.mode, "PoolOnly");
      const bad = await cliProcess(["status", "--timeout=0s"]);
      assert.equal(bad.code, 4);
      assert.equal(bad.stdout, "");
      assert.equal(bad.stderr, "kleym: --timeout=0s: must be greater than zero\n");
    });
  } finally {
    for (const name of ["objective-a", "objective-b", "pool-a"]) {
      await deleteIfExists(c.bindings, name, ns);
    }
    for (const name of ["objective-a", "objective-b", "pool-a"]) {
      await waitGone(c.bindings, name, ns).catch((e) => console.error(e));
    }
    await env.kubectl(["delete", "deployment", "kleym-operator", "-n", ns, "--ignore-not-found"])
      .catch(() => {});
    await env.kubectl(["delete", "clusterrolebinding,clusterrole", role, "--ignore-not-found"])
      .catch(() => {});
    await op.stop();
    c.close();
  }
});
