/**
 * Two operator processes with --leader-elect as deploy.yaml's ServiceAccount: both become ready,
 * exactly one writes; after `kill -9` of the leader the other takes over only once the lease ran out
 * (measured on this machine), and the new leader converges new work. `/readyz` is 503 until the
 * caches have synced.
 */
import assert from "node:assert/strict";
import {
  apiRequests,
  applyDeploy,
  bindingReady,
  deployDocs,
  exampleIn,
  FAST_LEASE,
  type OperatorProcess,
  pollUntil,
  sample,
  serviceAccountKubeconfig,
  startOperator,
  tempDir,
  testEnv,
} from "./operator_support.ts";
import { tokenKubeconfig } from "../harness/operator.ts";

const WRITE_VERBS = new Set(["create", "update", "patch", "delete", "deletecollection"]);

/** Writes other than the Lease (which every candidate may touch). */
function writes(metricsText: string): number {
  return apiRequests(metricsText)
    .filter((c) => WRITE_VERBS.has(c.verb) && !c.resource.startsWith("leases."))
    .reduce((n, c) => n + c.count, 0);
}

async function readyz(op: OperatorProcess): Promise<number> {
  const res = await fetch(`http://${await op.healthAddress()}/readyz`);
  await res.body?.cancel();
  return res.status;
}

Deno.test("two replicas: exactly one writes; after kill -9 of the leader the standby waits the lease out, takes over and does the work", async () => {
  const env = await testEnv();
  await applyDeploy(env);
  const kubeconfig = await serviceAccountKubeconfig(env, await tempDir());
  const ns = await env.newNamespace("failover");
  const leaseNs = await env.newNamespace("failover-lease");
  // deploy.yaml's Lease Role lives in kleym-system; give this test's lease namespace the same.
  const role = deployDocs().find((d) => d.kind === "Role");
  assert.ok(role, "deploy.yaml has a Role");
  await env.kubectl(["apply", "-n", leaseNs, "-f", "-"], {
    stdin: JSON.stringify({
      ...role,
      metadata: { name: "kleym-leader-election", namespace: leaseNs },
    }),
  });
  await env.kubectl([
    "create",
    "rolebinding",
    "kleym-leader-election",
    "-n",
    leaseNs,
    "--role=kleym-leader-election",
    "--serviceaccount=kleym-system:kleym",
  ]);
  const args = ["--leader-elect", `--leader-elect-namespace=${leaseNs}`, ...FAST_LEASE];
  const a = startOperator({ name: "replica-a", kubeconfig, args });
  const b = startOperator({ name: "replica-b", kubeconfig, args });
  try {
    // Both replicas become ready (standbys too), one leads.
    await pollUntil(
      "both ready",
      60_000,
      async () => (await readyz(a)) === 200 && (await readyz(b)) === 200,
    );
    const leader = await pollUntil(
      "a leader",
      60_000,
      () =>
        a.logs.some((l) => l.msg === "became leader")
          ? a
          : b.logs.some((l) => l.msg === "became leader")
          ? b
          : undefined,
    );
    const standby = leader === a ? b : a;

    await env.kubectl(["apply", "-f", "-"], { stdin: exampleIn("per-objective.yaml", ns) });
    await pollUntil(
      "objective-a Ready",
      60_000,
      async () => (await bindingReady(env, ns, "objective-a")).status === "True",
    );

    const [lm, sm] = [await leader.metrics(), await standby.metrics()];
    assert.ok(writes(lm) > 0, "the leader wrote nothing");
    assert.equal(writes(sm), 0, `the standby wrote:\n${sm}`);
    assert.equal(sample(lm, "kleym_leader"), 1);
    assert.equal(sample(sm, "kleym_leader"), 0);
    assert.ok(!standby.logs.some((l) => l.msg === "became leader"));

    // kill -9: no release, the standby must wait the lease out. Its last renewal is this one or
    // a later one, so the standby's "became leader" (its own clock, this machine) comes at least
    // the lease duration (FAST_LEASE: 3 s) after it: a bound from the configuration.
    const lease = JSON.parse(
      await env.kubectl(["get", "lease", "kleym-operator", "-n", leaseNs, "-o", "json"]),
    ) as { spec: { holderIdentity?: string; renewTime?: string } };
    // The identity is POD_NAME plus a per-process suffix.
    assert.ok(lease.spec.holderIdentity?.startsWith(`${leader.name}_`), lease.spec.holderIdentity);
    const renewedAt = Date.parse(lease.spec.renewTime ?? "");
    const killedAt = Date.now();
    leader.kill("SIGKILL");
    assert.equal(await leader.exited, 137);
    const took = await standby.waitForLog((l) => l.msg === "became leader", 60_000, "takeover");
    const ledAt = Date.parse(took.time);
    console.log(`kill -9 -> standby leads after ${ledAt - killedAt} ms (lease 3 s, retry 500 ms)`);
    assert.ok(ledAt >= renewedAt + 3_000, `led ${ledAt - renewedAt} ms after the last renewal`);

    // The new leader does the work: a change converges.
    await env.kubectl(["apply", "-f", "-"], { stdin: exampleIn("pool-only.yaml", ns) });
    await pollUntil(
      "pool-a Ready under the new leader",
      60_000,
      async () => (await bindingReady(env, ns, "pool-a")).status === "True",
    );
    assert.ok(writes(await standby.metrics()) > 0);
  } finally {
    await Promise.all([a.stop(), b.stop()]);
  }
});

Deno.test("/readyz answers 503 until the caches have synced, then 200", async () => {
  const env = await testEnv();
  await applyDeploy(env);
  // A ServiceAccount without any permission yet: the caches cannot sync.
  const sa = `kleym-readyz-${crypto.randomUUID().slice(0, 8)}`;
  await env.kubectl(["create", "serviceaccount", sa, "-n", "kleym-system"]);
  const token = (await env.kubectl(["create", "token", sa, "-n", "kleym-system"])).trim();
  const dir = await tempDir();
  const kubeconfig = `${dir}/kc`;
  await Deno.writeTextFile(kubeconfig, tokenKubeconfig(env.server, token, env.caPem));

  const op = startOperator({ name: "readyz", kubeconfig });
  try {
    await op.waitForLog((l) => l.msg === "serving health probes", 60_000, "probes");
    // Live but not ready while every list is refused.
    const health = await fetch(`http://${await op.healthAddress()}/healthz`);
    await health.body?.cancel();
    assert.equal(health.status, 200);
    await pollUntil(
      "a refused list",
      60_000,
      async () => apiRequests(await op.metrics()).some((c) => c.code === "403"),
    );
    assert.equal(await readyz(op), 503);
    assert.ok(!op.logs.some((l) => l.msg === "caches synced"));

    await env.kubectl([
      "create",
      "clusterrolebinding",
      sa,
      "--clusterrole=kleym-operator",
      `--serviceaccount=kleym-system:${sa}`,
    ]);
    await pollUntil("ready after the grant", 60_000, async () => (await readyz(op)) === 200);
    // The line is read from a pipe: it may arrive after the 200.
    await op.waitForLog((l) => l.msg === "caches synced", 60_000, "caches synced");
    await env.kubectl(["delete", "clusterrolebinding", sa]);
  } finally {
    await op.stop();
  }
});
