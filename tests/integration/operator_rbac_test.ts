/**
 * The operator process as deploy.yaml's ServiceAccount (TokenRequest token, RBAC on): the examples
 * converge and recover, every API call it makes is allowed, and every (resource, verb) deploy.yaml
 * grants is one it actually uses — recorded by the operator's own request hook
 * (`kleym_api_requests_total`). Then SIGTERM: exit 0, Lease released.
 */
import assert from "node:assert/strict";
import { clusterSPIFFEIDName } from "../../reconcile/naming.ts";
import {
  apiRequests,
  applyDeploy,
  bindingReady,
  deployDocs,
  exampleIn,
  FAST_LEASE,
  metricsScraper,
  pollUntil,
  sample,
  serviceAccountKubeconfig,
  startOperator,
  tempDir,
  testEnv,
  TRUST_DOMAIN,
} from "./operator_support.ts";
import { bindingManifest } from "../harness/manifests.ts";
import { activityFromMetrics, waitSettled } from "../harness/settle.ts";

interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  resourceNames?: string[];
}

/**
 * Every (resource label as the request hook spells it, verb) deploy.yaml grants the kleym
 * ServiceAccount (the roles its bindings name; the metrics reader and user roles are for others).
 */
function granted(): Set<string> {
  const out = new Set<string>();
  const docs = deployDocs();
  const boundToOperator = new Set(
    docs.filter((d) => d.kind === "ClusterRoleBinding" || d.kind === "RoleBinding")
      .filter((b) =>
        (b.subjects as { kind: string; name: string }[]).some((s) =>
          s.kind === "ServiceAccount" && s.name === "kleym"
        )
      )
      .map((b) =>
        `${(b.roleRef as { kind: string }).kind}/${(b.roleRef as { name: string }).name}`
      ),
  );
  for (const d of docs) {
    if (d.kind !== "ClusterRole" && d.kind !== "Role") continue;
    const name = (d.metadata as { name: string }).name;
    if (!boundToOperator.has(`${d.kind}/${name}`)) continue;
    for (const r of d.rules as Rule[]) {
      for (const g of r.apiGroups) {
        for (const res of r.resources) {
          const [plural, sub] = res.split("/");
          const label = `${g === "" ? plural : `${plural}.${g}`}${sub ? `/${sub}` : ""}`;
          for (const v of r.verbs) out.add(`${v} ${label}`);
        }
      }
    }
  }
  return out;
}

async function csids(
  ns: string,
): Promise<{ metadata: { name: string }; spec: Record<string, unknown> }[]> {
  const env = await testEnv();
  const list = JSON.parse(
    await env.kubectl([
      "get",
      "clusterspiffeids",
      "-l",
      `kleym.sonda.red/managed-by=kleym,kleym.sonda.red/binding-namespace=${ns}`,
      "-o",
      "json",
    ]),
  );
  return list.items;
}

Deno.test("as the kleym ServiceAccount: examples converge and recover, RBAC is exactly what is used, SIGTERM releases the lease", async () => {
  const env = await testEnv();
  await applyDeploy(env);
  const dir = await tempDir();
  const kubeconfig = await serviceAccountKubeconfig(env, dir);
  const ns = await env.newNamespace("rbac");
  // Metrics as in production: HTTPS, each scrape reviewed by the API server (TokenReview and
  // SubjectAccessReview are rules the operator must be granted and must use).
  const scraper = await metricsScraper(env, ns, dir);
  const op = startOperator({
    name: "rbac",
    kubeconfig,
    args: ["--leader-elect", "--leader-elect-namespace=kleym-system", ...FAST_LEASE],
    secureMetrics: scraper,
  });
  try {
    await op.waitForLog((l) => l.msg === "became leader", 60_000, "leadership");

    // 1. PerObjective and PoolOnly examples converge.
    await env.kubectl(["apply", "-f", "-"], { stdin: exampleIn("per-objective.yaml", ns) });
    await env.kubectl(["apply", "-f", "-"], { stdin: exampleIn("pool-only.yaml", ns) });
    for (const name of ["objective-a", poolOnlyName(ns)]) {
      await pollUntil(
        `${name} Ready`,
        60_000,
        async () => (await bindingReady(env, ns, name)).status === "True",
      );
    }
    const perObjectiveId = `spiffe://${TRUST_DOMAIN}/ns/${ns}/objective/objective-a`;
    const initial = await csids(ns);
    const owned = initial.find((c) => c.spec.spiffeIDTemplate === perObjectiveId);
    assert.ok(owned, `no ClusterSPIFFEID for ${perObjectiveId}: ${JSON.stringify(initial)}`);

    // 2. Someone edits the managed object: restored.
    await env.kubectl([
      "patch",
      "clusterspiffeid",
      owned.metadata.name,
      "--type=merge",
      "-p",
      JSON.stringify({ spec: { hint: "tampered" } }),
    ]);
    await pollUntil(
      "edit repaired",
      60_000,
      async () =>
        (await csids(ns)).find((c) => c.metadata.name === owned.metadata.name)?.spec.hint ===
          `${ns}/objective-a`,
    );

    // 2b. The same edit again: repaired again, and the identical Normal Reconciled event
    // ("restored ...") joins the first one's series (events patch) instead of a new Event.
    await env.kubectl([
      "patch",
      "clusterspiffeid",
      owned.metadata.name,
      "--type=merge",
      "-p",
      JSON.stringify({ spec: { hint: "tampered" } }),
    ]);
    await pollUntil("repeated event counted in its series", 20_000, async () => {
      const events = JSON.parse(
        await env.kubectl(["get", "events.events.k8s.io", "-n", ns, "-o", "json"]),
      ) as {
        items: { regarding?: { name?: string }; note?: string; series?: { count: number } }[];
      };
      return events.items.some((e) =>
        e.regarding?.name === "objective-a" && e.note?.includes("restored") &&
        (e.series?.count ?? 1) >= 2
      );
    });

    // 3. Someone deletes it: recreated.
    await env.kubectl(["delete", "clusterspiffeid", owned.metadata.name, "--wait=true"]);
    await pollUntil(
      "deletion repaired",
      60_000,
      async () => (await csids(ns)).some((c) => c.metadata.name === owned.metadata.name),
    );

    // 4. Collision: both PerObjective bindings Conflict, their output removed.
    await env.kubectl(["apply", "-f", "-"], { stdin: exampleIn("collision.yaml", ns) });
    await pollUntil("collision reported", 60_000, async () => {
      const a = await bindingReady(env, ns, "objective-a");
      const b = await bindingReady(env, ns, "objective-b");
      return a.reason === "IdentityCollision" && b.reason === "IdentityCollision";
    });

    // 5. The peer goes away: objective-a recovers completely; the deleted binding is finalized.
    await env.kubectl(["delete", "iib", "objective-b", "-n", ns, "--wait=true", "--timeout=30s"]);
    await pollUntil(
      "objective-a recovered",
      60_000,
      async () => (await bindingReady(env, ns, "objective-a")).status === "True",
    );

    // 6. Deleting a binding removes its output and the finalizer (the object disappears).
    const poolOnly = poolOnlyName(ns);
    await env.kubectl(["delete", "iib", poolOnly, "-n", ns, "--wait=true", "--timeout=30s"]);
    await pollUntil(
      "pool-only output gone",
      60_000,
      async () =>
        !(await csids(ns)).some((c) => String(c.spec.spiffeIDTemplate).includes("/pool/")),
    );

    // 7. A foreign object already holds a new binding's name: reported, never touched. (The
    // create answers AlreadyExists; only then does kleym GET the name to see who holds it.)
    const takenId = `spiffe://${TRUST_DOMAIN}/ns/${ns}/pool/pool-a`;
    const takenName = clusterSPIFFEIDName(ns, "taken", "PoolOnly", takenId);
    await env.kubectl(["create", "-f", "-"], {
      stdin: JSON.stringify({
        apiVersion: "spire.spiffe.io/v1alpha1",
        kind: "ClusterSPIFFEID",
        metadata: { name: takenName, labels: { owner: "someone-else" } },
        spec: { spiffeIDTemplate: "spiffe://other.example/x" },
      }),
    });
    await env.kubectl(["apply", "-f", "-"], {
      stdin: JSON.stringify(
        bindingManifest(ns, "taken", {
          poolRef: { name: "pool-a" },
          serviceAccountName: "inference-sa",
          mode: "PoolOnly",
        }),
      ),
    });
    await pollUntil(
      "name taken reported",
      60_000,
      async () => (await bindingReady(env, ns, "taken")).reason === "ClusterSPIFFEIDNameTaken",
    );
    await env.kubectl(["delete", "clusterspiffeid", takenName]);

    // Read the counters and gauges only once the operator has settled: its last writes (and
    // other namespaces' bindings it reconciles too) are then all counted.
    await waitSettled("the operator", async () => activityFromMetrics(await op.metrics()));
    // This scrape's TokenReview and SubjectAccessReview are counted before the exposition is
    // rendered, so they are in it.
    const metrics = await op.metrics();
    const calls = apiRequests(metrics);
    const forbidden = calls.filter((c) => c.code === "403" || c.code === "401");
    assert.deepEqual(forbidden, [], "the ServiceAccount was refused something it needs");
    const used = new Set(calls.map((c) => `${c.verb} ${c.resource}`));
    const grants = granted();
    const unused = [...grants].filter((g) => !used.has(g)).sort();
    const ungranted = [...used].filter((u) => !grants.has(u) && u.split(" ")[1].includes(".") // non-resource paths (discovery) need no rule
    ).sort();
    console.log(
      `API calls (verb resource -> count):\n${
        calls.map((c) => `  ${c.verb} ${c.resource} ${c.code}: ${c.count}`).join("\n")
      }`,
    );
    assert.deepEqual(unused, [], "deploy.yaml grants verbs the operator never used");
    assert.deepEqual(ungranted, [], "the operator used verbs deploy.yaml does not grant");

    // Outcome metrics moved.
    assert.ok(
      (sample(metrics, "kleym_identity_binding_outcomes_total", { condition: "Ready" }) ?? 0) >= 1,
    );
    assert.ok(
      (sample(metrics, "kleym_identity_binding_outcomes_total", { reason: "IdentityCollision" }) ??
        0) >= 1,
    );
    // The gauge counts every binding in the cluster (other tests' too) by its current outcome.
    const all = JSON.parse(await env.kubectl(["get", "iib", "-A", "-o", "json"])) as {
      items: {
        spec: { mode?: string };
        status?: { conditions?: { type: string; status: string }[] };
      }[];
    };
    const readyPerObjective = all.items.filter((b) =>
      (b.spec.mode ?? "PerObjective") === "PerObjective" &&
      b.status?.conditions?.some((c) =>
        c.type === "Ready" && c.status === "True"
      )
    ).length;
    assert.ok(readyPerObjective >= 1);
    assert.equal(
      sample(metrics, "kleym_identity_bindings", {
        condition: "Ready",
        reason: "Reconciled",
        mode: "PerObjective",
      }),
      readyPerObjective,
    );
    assert.equal(sample(metrics, "kleym_leader"), 1);

    // SIGTERM: exit 0 within the grace period, Lease released. The operator exits 0 only if
    // its shutdown finished within its own SHUTDOWN_TIMEOUT_MS (operator/entry.ts; else exit 1),
    // so the bound is proven on its clock; the wall-clock time here is printed, not asserted.
    // stop() sends SIGTERM (SIGKILL only after 15 s: then the code is 137) and also waits for
    // the log reader, so the assertions on the last log lines below see every line.
    const t0 = Date.now();
    const code = await op.stop();
    console.log(`SIGTERM -> exit ${code} after ${Date.now() - t0} ms`);
    assert.equal(code, 0, "exit 0: shutdown finished within SHUTDOWN_TIMEOUT_MS");
    assert.ok(!op.logs.some((l) => String(l.msg).startsWith("shutdown did not finish")));
    const lease = JSON.parse(
      await env.kubectl(["get", "lease", "kleym-operator", "-n", "kleym-system", "-o", "json"]),
    );
    assert.equal(lease.spec.holderIdentity ?? "", "");
    assert.ok(op.logs.some((l) => l.msg === "released the leader lease"));
  } finally {
    await op.stop();
  }
});

function poolOnlyName(ns: string): string {
  const m = /kind: InferenceIdentityBinding\nmetadata:\n {2}name: (\S+)/.exec(
    exampleIn("pool-only.yaml", ns),
  );
  assert.ok(m, "pool-only example has a binding");
  return m[1];
}
