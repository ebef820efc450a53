/**
 * The foundation itself (docs/testing.md): the real upstream CRDs accept the user's example,
 * kleym's CRD enforces its CEL rules with its own messages, and the harness cleans up after itself.
 */
import assert from "node:assert/strict";
import { parse } from "yaml";
import { testEnv } from "../harness/env.ts";
import { REPO_ROOT } from "../harness/controlplane.ts";
import { bindingManifest } from "../harness/manifests.ts";
import { pollUntil } from "../harness/poll.ts";
import { isOurProcess } from "../harness/process.ts";

const EXAMPLE = `${REPO_ROOT}/tests/fixtures/examples/per-objective/input.yaml`;

Deno.test("the PerObjective example's pool and objective apply to the real CRDs and read back", async () => {
  const env = await testEnv();
  const ns = await env.newNamespace("foundation");
  // The example names namespace "default"; this test applies it in its own namespace instead.
  const docs = (await Deno.readTextFile(EXAMPLE)).replaceAll(/^\s+namespace: default$/gm, "")
    .split(/^---$/m).filter((d) => /kind: Inference(Pool|Objective)\b/.test(d));
  assert.equal(docs.length, 2);
  await env.kubectl(["apply", "-n", ns, "-f", "-"], { stdin: docs.join("\n---\n") });
  const pool = JSON.parse(
    await env.kubectl([
      "get",
      "inferencepools.inference.networking.k8s.io",
      "pool-a",
      "-n",
      ns,
      "-o",
      "json",
    ]),
  );
  assert.deepEqual(pool.spec.selector, { matchLabels: { app: "model-server" } });
  assert.equal(pool.apiVersion, "inference.networking.k8s.io/v1");
  const objective = JSON.parse(
    await env.kubectl([
      "get",
      "inferenceobjectives.inference.networking.x-k8s.io",
      "objective-a",
      "-n",
      ns,
      "-o",
      "json",
    ]),
  );
  assert.equal(objective.spec.poolRef.name, "pool-a");
  assert.equal(objective.apiVersion, "inference.networking.x-k8s.io/v1alpha2");
  // The GAIE schema defaults the poolRef group to the v1 pool's.
  assert.equal(objective.spec.poolRef.group, "inference.networking.k8s.io");
});

const CEL_CASES: { name: string; spec: Record<string, unknown>; message: string }[] = [
  {
    name: "PoolOnly with a containerName",
    spec: {
      poolRef: { name: "p" },
      serviceAccountName: "sa",
      mode: "PoolOnly",
      containerName: "main",
    },
    message: "spec.containerName must be empty when spec.mode is PoolOnly",
  },
  {
    name: "defaulted PerObjective without a containerName",
    spec: { poolRef: { name: "p" }, objectiveRef: { name: "o" }, serviceAccountName: "sa" },
    message: "spec.containerName is required when spec.mode is PerObjective (the default)",
  },
  {
    name: "PerObjective without an objectiveRef",
    spec: {
      poolRef: { name: "p" },
      serviceAccountName: "sa",
      mode: "PerObjective",
      containerName: "c",
    },
    message: "spec.objectiveRef.name is required when spec.mode is PerObjective (the default)",
  },
];

for (const c of CEL_CASES) {
  Deno.test(`the API server rejects a binding that is ${c.name} with the CRD's own message`, async () => {
    const env = await testEnv();
    const ns = await env.newNamespace("cel");
    const manifest = JSON.stringify(bindingManifest(ns, "bad", c.spec));
    await assert.rejects(
      env.kubectl(["create", "-f", "-"], { stdin: manifest }),
      (e: Error) => e.message.includes(c.message),
    );
    const left = await env.kubectl(["get", "inferenceidentitybindings", "-n", ns, "-o", "name"]);
    assert.equal(left.trim(), "");
  });
}

function pidsIn(dir: string): number[] {
  try {
    return Deno.readTextFileSync(`${dir}/pids`).split("\n").filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

Deno.test("interrupting a test run leaves no etcd or kube-apiserver behind", async () => {
  const runsDir = `${REPO_ROOT}/.cache/testenv/runs`;
  const before = new Set([...Deno.readDirSync(runsDir)].map((e) => e.name));
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${REPO_ROOT}/tools/testenv.ts`, "run", "--", "sleep", "600"],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let stderr = "";
  const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  const drain = (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      stderr += value;
    }
  })();
  let runDir = "";
  await pollUntil("the run's control plane to come up", 120_000, () => {
    const m = stderr.match(/state in (\S+)\)/);
    if (m) runDir = m[1];
    return runDir !== "";
  });
  assert.ok(!before.has(runDir.split("/").pop()!));
  const pids = pidsIn(runDir);
  assert.equal(pids.length, 2, "etcd and kube-apiserver");
  assert.ok(pids.every(isOurProcess), "both running before the interrupt");
  child.kill("SIGINT");
  const status = await child.status;
  await drain;
  assert.equal(status.code, 130);
  assert.ok(pids.every((p) => !isOurProcess(p)), `still running: ${pids.filter(isOurProcess)}`);
  assert.throws(() => Deno.statSync(runDir), "the run's temp dir is removed");
});

Deno.test("cluster-up serves kleym's, upstream GAIE's and SPIRE's CRDs only; cluster-down stops it", async () => {
  const home = await Deno.makeTempDir({ prefix: "kleym-testenv-home-" });
  const testenv = (verb: string) =>
    new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", `${REPO_ROOT}/tools/testenv.ts`, verb],
      env: { KLEYM_TESTENV_HOME: home },
      stdout: "piped",
      stderr: "piped",
    }).output();
  try {
    const up = await testenv("up");
    const upText = new TextDecoder().decode(up.stdout);
    assert.ok(up.success, new TextDecoder().decode(up.stderr));
    assert.match(upText, new RegExp(`kubeconfig: ${home}/kubeconfig`));
    const kubectl = `${REPO_ROOT}/.cache/testenv/bin/kubectl`;
    const out = await new Deno.Command(kubectl, {
      args: ["--kubeconfig", `${home}/kubeconfig`, "get", "crds", "-o", "name"],
      stdout: "piped",
    }).output();
    const names = new TextDecoder().decode(out.stdout).trim().split("\n").sort();
    assert.deepEqual(names, [
      "customresourcedefinition.apiextensions.k8s.io/clusterspiffeids.spire.spiffe.io",
      "customresourcedefinition.apiextensions.k8s.io/inferenceidentitybindings.kleym.sonda.red",
      "customresourcedefinition.apiextensions.k8s.io/inferenceobjectives.inference.networking.x-k8s.io",
      "customresourcedefinition.apiextensions.k8s.io/inferencepools.inference.networking.k8s.io",
    ]);
    const pids = pidsIn(`${home}/cluster`);
    assert.equal(pids.length, 2);
    const down = await testenv("down");
    assert.ok(down.success);
    assert.ok(pids.every((p) => !isOurProcess(p)));
  } finally {
    await testenv("down");
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test("the harness kubeconfig authenticates as a cluster admin with a client certificate", async () => {
  const env = await testEnv();
  const kc = parse(await Deno.readTextFile(env.kubeconfigPath)) as {
    users: { user: Record<string, string> }[];
  };
  assert.ok(kc.users[0].user["client-certificate-data"]);
  const who = JSON.parse(await env.kubectl(["auth", "whoami", "-o", "json"]));
  assert.equal(who.status.userInfo.username, "kleym-admin");
  assert.ok(who.status.userInfo.groups.includes("system:masters"));
  // RBAC is on: an unprivileged user is refused.
  const restricted = await env.userKubeconfig("nobody");
  const out = await new Deno.Command(`${REPO_ROOT}/.cache/testenv/bin/kubectl`, {
    args: ["--kubeconfig", restricted, "get", "namespaces"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.success, false);
  assert.match(new TextDecoder().decode(out.stderr), /forbidden/i);
});
