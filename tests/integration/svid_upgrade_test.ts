/**
 * An upgrade writes nothing (docs/contract.md#rendering: a binding without `svid` renders exactly
 * what it rendered before the options existed): 1,000 bindings converged by the PREVIOUS version of
 * kleym — the real operator of the commit before `spec.svid` existed, taken from git history (`git
 * archive`), installed with that commit's deploy.yaml (its CRD and RBAC) — then the upgrade: this
 * version's deploy.yaml applied and this version's operator started over them. It must make zero
 * writes: no API write request (its own /metrics, after its initial pass has reconciled every
 * binding and it has settled), and not one binding or ClusterSPIFFEID resourceVersion changed.
 *
 * Needs git history that holds PREVIOUS (any full clone; a shallow CI clone must fetch it:
 * `git fetch --unshallow`): the test fails saying so rather than compare against anything else.
 * A private control plane, so the 1,000 bindings load no other test.
 */
import assert from "node:assert/strict";
import { parseAllDocuments, stringify } from "yaml";
import { DEFAULT_CRDS } from "../../hack/upstream.ts";
import { REPO_ROOT, startControlPlane } from "../harness/controlplane.ts";
import { requestsByVerb, writesOf } from "../harness/metrics.ts";
import {
  applyDeploy,
  serviceAccountKubeconfig,
  spawnOperator,
  TRUST_DOMAIN,
} from "../harness/operator.ts";
import { pollUntil } from "../harness/poll.ts";
import { runCollecting, spawnCollecting } from "../harness/process.ts";
import { activityFromMetrics, waitSettled } from "../harness/settle.ts";
import { taskFlags } from "../../tools/task_flags.ts";
import type * as gaieV1 from "../../generated/inference.networking.k8s.io/v1.ts";
import type * as gaieV1alpha2 from "../../generated/inference.networking.x-k8s.io/v1alpha2.ts";
import { adminClients, binding, type Clients, objective, poolV1 } from "./reconcile_helpers.ts";

/** main just before spec.svid landed ("spec.svid: TTLs, DNS names, federation ..."). */
const PREVIOUS = "7f3d27abf445c198d3d3a6f43ad28e9934aa8399";
const N = 1000;
const NAMESPACES = 10;
/** Failure bounds only: 1,000 bindings converge in ~25 s idle, minutes on a loaded 2-CPU host. */
const CONVERGE_MS = 600_000;

/** The previous version's tree in `dir` (git archive: exactly the committed files). */
async function checkoutPrevious(dir: string): Promise<void> {
  const has = await runCollecting("git", [
    "-C",
    REPO_ROOT,
    "cat-file",
    "-e",
    `${PREVIOUS}^{commit}`,
  ]);
  assert.equal(
    has.code,
    0,
    `the upgrade test runs kleym ${PREVIOUS.slice(0, 12)} from git history, which this clone ` +
      `lacks (shallow?): run git fetch --unshallow`,
  );
  const archive = `${dir}.tar`;
  const made = await runCollecting("git", [
    "-C",
    REPO_ROOT,
    "archive",
    "--format=tar",
    `--output=${archive}`,
    PREVIOUS,
  ]);
  assert.equal(made.code, 0, made.stderr);
  await Deno.mkdir(dir, { recursive: true });
  const unpacked = await runCollecting("tar", ["-x", "-f", archive, "-C", dir]);
  assert.equal(unpacked.code, 0, unpacked.stderr);
}

/** The previous version's deploy.yaml but the Deployment (its CRD, namespace, RBAC). */
async function installPrevious(
  kubectl: (args: string[], opts?: { stdin?: string }) => Promise<string>,
  dir: string,
): Promise<void> {
  const docs = parseAllDocuments(await Deno.readTextFile(`${dir}/deploy.yaml`))
    .map((d) => d.toJS() as Record<string, unknown>)
    .filter((d) => d.kind !== "Deployment");
  await kubectl(["apply", "--server-side", "--force-conflicts", "-f", "-"], {
    stdin: docs.map((d) => stringify(d)).join("---\n"),
  });
  await kubectl([
    "wait",
    "--for=condition=Established",
    "--timeout=60s",
    "crd/inferenceidentitybindings.kleym.sonda.red",
  ]);
}

/**
 * 1,000 bindings over 10 namespaces, half PoolOnly, half PerObjective, each on its own pool:
 * plain creates, 16 at a time (kubectl apply sends two requests per object, one at a time).
 */
async function createPopulation(c: Clients, kubectl: (args: string[]) => Promise<string>) {
  const namespaces = Array.from({ length: NAMESPACES }, (_, n) => `upgrade-${n}`);
  for (const ns of namespaces) await kubectl(["create", "namespace", ns]);
  // The builders return wire shapes (hostile ones too); these are valid objects.
  const creates: (() => Promise<unknown>)[] = [];
  for (let i = 0; i < N; i++) {
    const ns = namespaces[i % NAMESPACES];
    const pool = poolV1(ns, `pool-${i}`, { app: `model-${i}` });
    creates.push(() => c.poolsV1.create(pool as unknown as gaieV1.InferencePool));
    if (i % 2 === 0) {
      const b = binding(ns, `b${i}`, { poolRef: { name: `pool-${i}` }, mode: "PoolOnly" });
      creates.push(() => c.bindings.create(b));
      continue;
    }
    const o = objective("inference.networking.x-k8s.io/v1alpha2", ns, `objective-${i}`, {
      name: `pool-${i}`,
    }) as unknown as gaieV1alpha2.InferenceObjective;
    const b = binding(ns, `b${i}`, {
      poolRef: { name: `pool-${i}` },
      objectiveRef: { name: `objective-${i}` },
      containerName: "main",
    });
    creates.push(() => c.objectivesV1alpha2.create(o), () => c.bindings.create(b));
  }
  let next = 0;
  await Promise.all(Array.from({ length: 16 }, async () => {
    while (next < creates.length) await creates[next++]();
  }));
}

/** resourceVersions of every binding and managed ClusterSPIFFEID, by kind/namespace/name. */
async function versions(c: Clients): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const b of (await c.bindings.list()).items) {
    out.set(`binding ${b.metadata.namespace}/${b.metadata.name}`, b.metadata.resourceVersion ?? "");
  }
  const csids = await c.csids.list({ labelSelector: "kleym.sonda.red/managed-by=kleym" });
  for (const o of csids.items) {
    out.set(`csid ${o.metadata.name}`, o.metadata.resourceVersion ?? "");
  }
  return out;
}

const started = Date.now();
/** Phase timings on stderr (shown with the test's output; they are not asserted). */
function progress(what: string): void {
  console.error(`upgrade test: ${what} at ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

function ready(b: { status?: { conditions?: { type: string; status: string }[] } }): boolean {
  return b.status?.conditions?.some((x) => x.type === "Ready" && x.status === "True") ?? false;
}

Deno.test("upgrade: this version restarted over 1,000 bindings the previous version converged makes zero writes", async () => {
  const cp = await startControlPlane({ crds: DEFAULT_CRDS });
  const previousDir = `${cp.dir}/previous`;
  const c = await adminClients(cp.kubeconfigPath);
  let old: ReturnType<typeof spawnCollecting> | undefined;
  try {
    await checkoutPrevious(previousDir);
    await installPrevious(cp.kubectl, previousDir);
    const kubeconfig = await serviceAccountKubeconfig(
      cp.kubectl,
      cp.server,
      cp.caPem,
      `${cp.dir}/kubeconfig-kleym`,
    );
    const oldFlags = taskFlags(await Deno.readTextFile(`${previousDir}/deno.json`), "operator");
    old = spawnCollecting(Deno.execPath(), [
      "run",
      "--quiet",
      ...oldFlags,
      "main.ts",
      `--trust-domain=${TRUST_DOMAIN}`,
      `--kubeconfig=${kubeconfig}`,
      "--metrics-bind-address=0",
      "--health-probe-bind-address=0",
      "--log-level=warn",
    ], { cwd: previousDir, env: { POD_NAME: "previous-operator", NO_COLOR: "1" } });

    progress("previous version started");
    await createPopulation(c, cp.kubectl);
    progress("1,000 bindings created");
    await pollUntil("the previous version converged 1,000 bindings", CONVERGE_MS, async () => {
      if (old?.exited()) throw new Error(`previous operator exited: ${old.stderr()}`);
      const bindings = (await c.bindings.list()).items;
      const csids = await c.csids.list({ labelSelector: "kleym.sonda.red/managed-by=kleym" });
      return bindings.length === N && bindings.every(ready) && csids.items.length === N;
    }, { intervalMs: 1000 });
    progress("previous version converged");
    old.child.kill("SIGTERM");
    const stopped = await old.done;
    assert.equal(stopped.code, 0, stopped.stderr);

    // The upgrade as docs/operations.md has it: this version's deploy.yaml (CRD with spec.svid).
    await applyDeploy(cp.kubectl);
    const before = await versions(c);
    assert.equal(before.size, 2 * N);

    const op = spawnOperator({ name: "upgraded-operator", kubeconfig, logLevel: "info" });
    try {
      await pollUntil("the new operator reconciled every binding once", CONVERGE_MS, async () => {
        if (op.exitCode !== undefined) throw new Error(`operator exited: ${op.lastLines}`);
        const text = await op.metrics();
        const count = Number(
          /^kleym_reconcile_duration_seconds_count (\S+)$/m.exec(text)?.[1] ?? 0,
        );
        return count >= N;
      }, { intervalMs: 500 });
      progress("initial pass done");
      const settled = await waitSettled(
        "upgraded operator",
        async () => activityFromMetrics(await op.metrics()),
      );
      assert.equal(settled.writes, 0, "write requests after the initial pass");
      assert.equal(writesOf(requestsByVerb(await op.metrics())), 0);
      const after = await versions(c);
      const changed = [...before].filter(([key, rv]) => after.get(key) !== rv).map(([k]) => k);
      assert.deepEqual(changed.slice(0, 10), [], `${changed.length} objects changed`);
      assert.equal(after.size, before.size);
    } finally {
      await op.stop();
    }
  } finally {
    if (old !== undefined && !old.exited()) old.child.kill("SIGKILL");
    await old?.done;
    c.close();
    await cp.stop();
  }
});
