/**
 * Install and uninstall (docs/contract.md#deployment, docs/operations.md), on a private control
 * plane that starts without kleym's CRD (so removing it cannot disturb other tests): `kubectl apply
 * --server-side` of crds.yaml then deploy.yaml on a fresh cluster; the pod template under Pod
 * Security `restricted`; deleting the CRD while the operator runs finalizes every binding;
 * re-applying the manifests (`make deploy`, the upgrade path) and then the documented uninstall
 * (`make undeploy`: bindings, operator, CRD) leaves no binding, no managed ClusterSPIFFEID, no
 * kleym CRD and nothing stuck.
 *
 * There is no kubelet or controller manager here, so the operator runs as a process (exactly its
 * permissions, deploy.yaml's ServiceAccount) and the namespace's own deletion only starts (no
 * namespace controller finishes it); the Deployment is checked as an object.
 */
import assert from "node:assert/strict";
import { parseAllDocuments, stringify } from "yaml";
import { DEFAULT_CRDS } from "../../hack/upstream.ts";
import { KUBECTL, REPO_ROOT, startControlPlane, waitEstablished } from "../harness/controlplane.ts";
import { serviceAccountKubeconfig } from "../harness/operator.ts";
import { exampleIn, pollUntil, startOperator, tempDir } from "./operator_support.ts";

const CRD = "customresourcedefinition/inferenceidentitybindings.kleym.sonda.red";
const MANAGED = "kleym.sonda.red/managed-by=kleym";

interface Obj {
  kind: string;
  metadata: { name: string; namespace?: string; deletionTimestamp?: string };
  // deno-lint-ignore no-explicit-any -- test-only traversal of manifests
  spec?: any;
}

Deno.test("install, CRD deletion under a running operator, upgrade and the documented uninstall", async (t) => {
  const cp = await startControlPlane({ crds: DEFAULT_CRDS });
  const k = cp.kubectl;
  const dir = await tempDir();
  const items = async (args: string[]) =>
    (JSON.parse(await k([...args, "-o", "json"])) as { items: Obj[] }).items;
  const crdExists = async () => (await k(["get", CRD, "--ignore-not-found", "-o", "name"])) !== "";
  const bindingsReady = async (ns: string, names: string[]) => {
    for (const name of names) {
      await pollUntil(`${ns}/${name} Ready`, 60_000, async () => {
        const b = JSON.parse(await k(["get", "iib", name, "-n", ns, "-o", "json"]));
        return b.status?.conditions?.some((c: { type: string; status: string }) =>
          c.type === "Ready" && c.status === "True"
        );
      });
    }
  };
  const withBindings = async (ns: string) => {
    await k(["create", "namespace", ns]);
    await k(["apply", "-f", "-"], { stdin: exampleIn("per-objective.yaml", ns) });
    await k(["apply", "-f", "-"], { stdin: exampleIn("pool-only.yaml", ns) });
    await bindingsReady(ns, ["objective-a", "pool-a"]);
    assert.equal((await items(["get", "clusterspiffeids", "-l", MANAGED])).length, 2);
  };
  /** A documented make target against this control plane; resolves with its output. */
  const make = async (target: string, ...vars: string[]) => {
    const out = await new Deno.Command("make", {
      args: ["-s", target, `KUBECTL=${KUBECTL} --kubeconfig=${cp.kubeconfigPath}`, ...vars],
      cwd: REPO_ROOT,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const log = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    return { ok: out.success, log };
  };
  let op: ReturnType<typeof startOperator> | undefined;
  const runOperator = async (name: string) => {
    const kubeconfig = await serviceAccountKubeconfig(
      k,
      cp.server,
      cp.caPem,
      `${dir}/kubeconfig-${name}`,
    );
    op = startOperator({ name, kubeconfig, args: ["--leader-elect"] });
    await op.waitForLog((l) => l.msg === "became leader", 60_000, "leadership");
  };
  try {
    await t.step(
      "apply --server-side crds.yaml, then deploy.yaml, on a fresh cluster",
      async () => {
        assert.equal(await crdExists(), false);
        await k(["apply", "--server-side", "-f", `${REPO_ROOT}/crds.yaml`]);
        await waitEstablished(k, [CRD]);
        await k(["apply", "--server-side", "-f", `${REPO_ROOT}/deploy.yaml`]);
        const deployed = await items([
          "get",
          "deployment,poddisruptionbudget,service",
          "-n",
          "kleym-system",
        ]);
        assert.deepEqual(deployed.map((o) => `${o.kind}/${o.metadata.name}`).sort(), [
          "Deployment/kleym-operator",
          "PodDisruptionBudget/kleym-operator",
          "Service/kleym-operator-metrics",
        ]);
      },
    );

    await t.step(
      "the pod template passes a server-side dry run under Pod Security restricted",
      async () => {
        const ns = JSON.parse(await k(["get", "namespace", "kleym-system", "-o", "json"]));
        assert.equal(ns.metadata.labels["pod-security.kubernetes.io/enforce"], "restricted");
        const dep = parseAllDocuments(Deno.readTextFileSync(`${REPO_ROOT}/deploy.yaml`))
          .map((d) => d.toJS() as Obj).find((d) => d.kind === "Deployment")!;
        const pod = (spec: unknown) =>
          stringify({
            apiVersion: "v1",
            kind: "Pod",
            metadata: { name: "psa-check", namespace: "kleym-system" },
            spec,
          });
        await k(["create", "--dry-run=server", "-f", "-"], { stdin: pod(dep.spec.template.spec) });
        // The check is live: the same pod without its container securityContext is refused.
        const loose = structuredClone(dep.spec.template.spec);
        delete loose.containers[0].securityContext;
        await assert.rejects(
          k(["create", "--dry-run=server", "-f", "-"], { stdin: pod(loose) }),
          /violates PodSecurity "restricted:latest"/,
        );
        // The Deployment itself (PodSecurity only warns for workload objects; the namespace's
        // warn=restricted label makes it say so): no warning for ours, one for the loose one.
        const warnings = async (spec: unknown) => {
          const manifest = structuredClone(dep);
          manifest.spec.template.spec = spec;
          const child = new Deno.Command(KUBECTL, {
            args: [
              `--kubeconfig=${cp.kubeconfigPath}`,
              "apply",
              "--server-side",
              "--dry-run=server",
              "-f",
              "-",
            ],
            stdin: "piped",
            stdout: "null",
            stderr: "piped",
          }).spawn();
          const w = child.stdin.getWriter();
          await w.write(new TextEncoder().encode(stringify(manifest)));
          await w.close();
          const out = await child.output();
          assert.ok(out.success, new TextDecoder().decode(out.stderr));
          return new TextDecoder().decode(out.stderr);
        };
        assert.doesNotMatch(await warnings(dep.spec.template.spec), /PodSecurity/);
        assert.match(await warnings(loose), /would violate PodSecurity "restricted:latest"/);
      },
    );

    await t.step("deleting the CRD while the operator runs finalizes every binding", async () => {
      await runOperator("install-1");
      await withBindings("app-1");
      await k(["delete", "-f", `${REPO_ROOT}/crds.yaml`, "--wait=true", "--timeout=90s"]);
      assert.equal(await crdExists(), false);
      assert.deepEqual(await items(["get", "clusterspiffeids", "-l", MANAGED]), []);
      await op!.stop();
    });

    await t.step("upgrade: make deploy re-applies crds.yaml, then deploy.yaml", async () => {
      const r = await make("deploy");
      assert.ok(r.ok, r.log);
      await runOperator("install-2");
      await withBindings("app-2");
    });

    await t.step(
      "make undeploy without a running operator stops before removing anything else",
      async () => {
        await op!.stop();
        const r = await make("undeploy", "UNDEPLOY_TIMEOUT=2s");
        assert.equal(r.ok, false, r.log);
        assert.match(r.log, /bindings are still finalizing: is the operator running\?/);
        assert.equal(await crdExists(), true);
        assert.notEqual(
          await k(["get", "deployment", "kleym-operator", "-n", "kleym-system", "-o", "name"]),
          "",
        );
        // The operator comes back and finishes what was started.
        await runOperator("install-3");
      },
    );

    await t.step(
      "make undeploy: no binding, no managed ClusterSPIFFEID, no CRD, nothing stuck",
      async () => {
        const { ok, log } = await make("undeploy");
        assert.ok(ok, log);
        // The documented order, as the target printed it.
        assert.deepEqual(log.split("\n").filter((l) => l.startsWith("undeploy: ")), [
          "undeploy: deleting every InferenceIdentityBinding (the operator finalizes each one)",
          "undeploy: deleting the operator (deploy.yaml but the CRD)",
          "undeploy: deleting the CRD (crds.yaml)",
        ], log);
        assert.equal(await crdExists(), false);
        assert.deepEqual(await items(["get", "clusterspiffeids", "-l", MANAGED]), []);
        assert.equal(
          await k([
            "get",
            "deployment",
            "kleym-operator",
            "-n",
            "kleym-system",
            "--ignore-not-found",
          ]),
          "",
        );
        for (const kind of ["clusterrole", "clusterrolebinding"]) {
          const left = (await items(["get", kind])).filter((o) =>
            o.metadata.name.startsWith("kleym-")
          );
          assert.deepEqual(left.map((o) => o.metadata.name), [], kind);
        }
        // Nothing is held back by a finalizer: the namespace is being deleted (or gone).
        const ns = await k([
          "get",
          "namespace",
          "kleym-system",
          "--ignore-not-found",
          "-o",
          "json",
        ]);
        if (ns !== "") {
          assert.ok(JSON.parse(ns).metadata.deletionTimestamp, "namespace not deleted");
        }
      },
    );
  } finally {
    await op?.stop();
    await cp.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});
