/**
 * The compiled operator's permissions (deno.json "operator-incluster", what `make build` and the
 * Dockerfile compile with; docs/permissions.md) are enough for the Deployment and no more. The
 * operator runs from source with exactly those flags, configured as deploy.yaml's Deployment
 * configures it (its args and env), in-cluster: the service-account token, CA and namespace at
 * the pod's path, KUBERNETES_SERVICE_HOST/PORT set, no kubeconfig, and the metrics certificate
 * mounted where docs/permissions.md says. It leads, reconciles a binding, serves /metrics to a
 * metrics reader and stops cleanly; the same flags cannot read a kubeconfig anywhere else.
 * (`deno compile` itself needs the `denort` download, which this machine cannot make.)
 */
import assert from "node:assert/strict";
import { REPO_ROOT } from "../harness/controlplane.ts";
import { testEnv } from "../harness/env.ts";
import { inPodMounts, POD_SERVICE_ACCOUNT_DIR } from "../harness/incluster.ts";
import {
  applyDeploy,
  deployDocs,
  leaseHolder,
  metricsScraper,
  tokenKubeconfig,
} from "../harness/operator.ts";
import { pollUntil } from "../harness/poll.ts";
import { runCollecting, spawnCollecting } from "../harness/process.ts";
import { getTrusting } from "../harness/tls.ts";
import { taskFlagsOf } from "../../tools/task_flags.ts";
import { apply, binding, poolV1 } from "./reconcile_helpers.ts";

/** The container of deploy.yaml's Deployment: its args and plain env values. */
function deploymentContainer(): { args: string[]; env: { name: string }[] } {
  const d = deployDocs().find((x) => x.kind === "Deployment") as {
    spec: { template: { spec: { containers: { args: string[]; env: { name: string }[] }[] } } };
  };
  return d.spec.template.spec.containers[0];
}

Deno.test("with exactly the compiled binary's permissions and the Deployment's configuration, in-cluster, the operator leads, reconciles and serves metrics", async (t) => {
  const env = await testEnv();
  await applyDeploy(env.kubectl);
  const dir = await Deno.makeTempDir({ prefix: "kleym-incluster-" });
  const ns = await env.newNamespace("incluster");
  const flags = taskFlagsOf(`${REPO_ROOT}/deno.json`, "operator-incluster");
  // The two directories it may read: the service account's, and the metrics certificate's.
  const reads = flags.find((f) => f.startsWith("--allow-read="))?.split("=")[1].split(",") ?? [];
  assert.equal(reads.length, 2, flags.join(" "));
  assert.ok(reads.includes(POD_SERVICE_ACCOUNT_DIR), flags.join(" "));
  const METRICS_CERT_DIR = reads.find((r) => r !== POD_SERVICE_ACCOUNT_DIR)!;
  const container = deploymentContainer();
  // The pod's files: the service account's token, the cluster CA and the namespace.
  const sa = `${dir}/serviceaccount`;
  await Deno.mkdir(sa);
  const token = (await env.kubectl(["create", "token", "kleym", "-n", "kleym-system"])).trim();
  await Deno.writeTextFile(`${sa}/token`, token);
  await Deno.writeTextFile(`${sa}/ca.crt`, env.caPem);
  await Deno.writeTextFile(`${sa}/namespace`, "kleym-system");
  const scraper = await metricsScraper(env.kubectl, ns, dir);
  const api = new URL(env.server);
  // The Deployment's args, with the listeners on free ports (every interface, as `:8443` is).
  const args = [
    ...container.args.map((a) =>
      a.startsWith("--metrics-bind-address=")
        ? "--metrics-bind-address=:0"
        : a.startsWith("--health-probe-bind-address=")
        ? "--health-probe-bind-address=:0"
        : a
    ),
    `--metrics-cert-dir=${METRICS_CERT_DIR}`,
  ];
  assert.deepEqual(container.env.map((e) => e.name), ["POD_NAME"], "the Deployment's env");
  const podEnv = {
    PATH: "/usr/sbin:/usr/bin:/sbin:/bin",
    POD_NAME: "kleym-operator-7d9f-incluster",
    KUBERNETES_SERVICE_HOST: api.hostname,
    KUBERNETES_SERVICE_PORT: api.port,
  };
  const wrapped = inPodMounts(
    [{ from: sa, to: POD_SERVICE_ACCOUNT_DIR }, { from: scraper.certDir, to: METRICS_CERT_DIR }],
    Deno.execPath(),
    ["run", "--quiet", ...flags, "main.ts", ...args],
  );
  const op = spawnCollecting(wrapped.cmd, wrapped.args, {
    cwd: REPO_ROOT,
    env: podEnv,
    clearEnv: true,
  });
  const line = (msg: string) => op.stderr().split("\n").find((l) => l.includes(`"msg":"${msg}"`));
  try {
    await t.step("it connects in-cluster and leads", async () => {
      await pollUntil("leadership", 60_000, () => line("became leader"), { exited: op.done });
      assert.match(line("starting") ?? "", /"source":"in-cluster service account"/);
      assert.equal(await leaseHolder(env.kubectl).then((h) => h.split("_")[0]), podEnv.POD_NAME);
    });
    await t.step("it reconciles a binding to Ready", async () => {
      await apply(
        env.kubectl,
        poolV1(ns, "pool", { app: "m" }),
        binding(ns, "b", { poolRef: { name: "pool" }, mode: "PoolOnly" }),
      );
      await pollUntil("binding Ready", 60_000, async () => {
        const ready = await env.kubectl([
          "get",
          "iib",
          "b",
          "-n",
          ns,
          "-o",
          'jsonpath={.status.conditions[?(@.type=="Ready")].status}',
        ]);
        return ready === "True";
      }, { exited: op.done });
    });
    await t.step(
      "it serves /metrics from the mounted certificate to a metrics reader",
      async () => {
        const address = JSON.parse(line("serving metrics") ?? "{}").address as string;
        const port = address.slice(address.lastIndexOf(":") + 1);
        const r = await getTrusting(`https://127.0.0.1:${port}/metrics`, scraper.caPem, {
          Authorization: `Bearer ${scraper.token}`,
        });
        assert.equal(r.status, 200, r.body);
        assert.match(r.body, /^kleym_leader 1$/m);
      },
    );
  } finally {
    op.child.kill("SIGTERM");
    const end = await op.done;
    await env.kubectl(["delete", "clusterrolebinding", `kleym-metrics-reader-${ns}`]);
    // Other tests expect to create kleym-system's Lease themselves (operator_rbac_test.ts).
    await env.kubectl([
      "delete",
      "lease",
      "kleym-operator",
      "-n",
      "kleym-system",
      "--ignore-not-found",
    ]);
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    assert.equal(end.code, 0, end.stderr);
    assert.doesNotMatch(end.stderr, /NotCapable|Requires \w+ access/, "a permission was missing");
    assert.doesNotMatch(end.stderr, /"level":"error"/);
  }
});

Deno.test("the compiled binary's permissions cannot read a kubeconfig outside the pod's directories", async () => {
  const env = await testEnv();
  const dir = await Deno.makeTempDir({ prefix: "kleym-incluster-kc-" });
  try {
    const kubeconfig = `${dir}/kubeconfig`;
    await Deno.writeTextFile(kubeconfig, tokenKubeconfig(env.server, "t", env.caPem));
    const flags = taskFlagsOf(`${REPO_ROOT}/deno.json`, "operator-incluster");
    const r = await runCollecting(Deno.execPath(), [
      "run",
      "--quiet",
      ...flags,
      "main.ts",
      "--trust-domain=example.org",
      `--kubeconfig=${kubeconfig}`,
    ], { cwd: REPO_ROOT, env: { PATH: "/usr/bin:/bin" }, clearEnv: true });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /cannot configure the Kubernetes connection/);
    assert.match(r.stderr, new RegExp(RegExp.escape(kubeconfig)));
    assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
