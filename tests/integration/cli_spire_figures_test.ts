/**
 * SPIRE's figures, the CLI side (docs/cli.md), against the run's real API server: `kleym inspect
 * binding` and `kleym status` show what SPIRE Controller Manager reported (the binding's
 * `status.spire`) and raise the `spire-*` findings with their exact messages.
 *
 * No SPIRE runs here: the real controller reconciles the binding (status, ClusterSPIFFEID), is
 * stopped, and the test then writes SCM's side by hand as admin — the ClusterSPIFFEID's
 * `status.stats` and the binding's `status.spire`, both through the status subresource, as SCM
 * and the operator do. With the operator stopped nothing rewrites them. The figures from a real
 * SCM are the SPIRE end-to-end tests' job (tests/e2e_spire/).
 *
 * A foreign ClusterSPIFFEID with kleym's spec is created before the binding's, so it is the older
 * one SPIRE Controller Manager would keep, and the masking finding must name it. A user whose RBAC
 * allows neither listing pods nor ClusterSPIFFEIDs gets what the CLI can still say (real RBAC).
 */
import assert from "node:assert/strict";
import type { BindingInspectionReport, Finding, KleymStatusReport } from "../../cli/report.ts";
import { checkedReport, runCliCaptured } from "../harness/cli.ts";
import { testEnv } from "../harness/env.ts";
import {
  adminClients,
  apply,
  binding,
  deleteIfExists,
  managedOf,
  objective,
  pollUntil,
  poolV1,
  startController,
  waitGone,
  waitReason,
} from "./reconcile_helpers.ts";

const cli = (args: string[]) => runCliCaptured(args);

function pod(ns: string, name: string) {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace: ns, labels: { app: "model-server" } },
    spec: {
      serviceAccountName: "inference-sa",
      containers: [{ name: "main", image: "registry.invalid/model:1" }],
    },
  };
}

Deno.test("kleym inspect and status: SPIRE Controller Manager's figures from status.spire, each spire-* finding with its message", async (t) => {
  const env = await testEnv();
  const c = await adminClients(env.kubeconfigPath);
  const ns = await env.newNamespace("cli-spire");
  const kc = ["--kubeconfig", env.kubeconfigPath];
  const foreign = `foreign-${ns}`;
  const role = `kleym-cli-spire-${ns}`;
  let op: Awaited<ReturnType<typeof startController>> | undefined;
  try {
    await apply(
      env.kubectl,
      poolV1(ns, "pool", { app: "model-server" }),
      objective("inference.networking.k8s.io/v1", ns, "objective", { name: "pool" }),
      binding(ns, "b", {
        poolRef: { name: "pool" },
        objectiveRef: { name: "objective" },
        containerName: "main",
      }),
      pod(ns, "model-server-0"),
      pod(ns, "model-server-1"),
    );
    // The foreign copy first (older): its spec is what kleym will render (the CLI renders it
    // now, with the default trust domain the test controller also uses).
    const before = checkedReport<BindingInspectionReport>(
      await cli(["inspect", "binding", "b", "-n", ns, "-o", "json", ...kc]),
    );
    assert.ok(before.renderedClusterSPIFFEID);
    await apply(env.kubectl, {
      apiVersion: "spire.spiffe.io/v1alpha1",
      kind: "ClusterSPIFFEID",
      metadata: { name: foreign },
      spec: before.renderedClusterSPIFFEID.object.spec,
    });
    // Timestamps have whole seconds and SCM breaks a tie by UID (random): kleym's object must be
    // created in a later second for the foreign one to be the one SCM keeps. The API server runs
    // on this host, so its clock is ours.
    const created = Date.parse((await c.csids.get(foreign)).metadata.creationTimestamp ?? "");
    await pollUntil("the next second", 5_000, () => Date.now() >= created + 1000, 50);
    op = await startController(env.kubeconfigPath);
    await waitReason(c, ns, "b", "Reconciled");
    await op.stop();
    op = undefined;
    const [managed] = await managedOf(c, ns, "b");
    assert.ok(managed?.metadata.name);
    assert.ok(
      Date.parse(managed.metadata.creationTimestamp ?? "") > created,
      "kleym's ClusterSPIFFEID is younger than the foreign one",
    );
    const csid = managed.metadata.name;

    const inspect = async (...extra: string[]) => {
      const run = await cli(["inspect", "binding", "b", "-n", ns, "-o", "json", ...kc, ...extra]);
      return { code: run.code, report: checkedReport<BindingInspectionReport>(run) };
    };
    const spireOf = (fs: Finding[]) => fs.filter((f) => f.id.startsWith("spire-"));
    const setSpire = async (figures: Record<string, number> | null) => {
      await c.bindings.patch(
        "b",
        "merge",
        {
          status: {
            spire: figures === null ? null : {
              clusterSPIFFEIDName: csid,
              namespacesSelected: 1,
              namespacesIgnored: 0,
              podsSelected: 2,
              entriesToSet: 2,
              entriesMasked: 0,
              entryFailures: 0,
              podEntryRenderFailures: 0,
              lastChangeTime: "2030-01-02T03:04:05Z",
              ...figures,
            },
          },
        },
        { namespace: ns, subresource: "status" },
      );
    };

    await t.step("SCM has not reported: one line says so, no finding, exit 0", async () => {
      const { code, report } = await inspect();
      assert.equal(code, 0);
      const message = `no SPIRE figures: SPIRE Controller Manager has not reported on ` +
        `ClusterSPIFFEID ${csid} (it has no status.stats): is SPIRE Controller Manager running, ` +
        `and does it handle classless ClusterSPIFFEIDs?`;
      assert.deepEqual(report.spire, { state: "not-reported", message, figures: null });
      assert.deepEqual(report.findings, []);
      const text = await cli(["inspect", "binding", "b", "-n", ns, ...kc]);
      assert.ok(text.stdout.includes(`\nSPIRE\n  ${message}\n`), text.stdout);
    });

    await t.step(
      "SCM reported on the ClusterSPIFFEID, not yet on the binding: not-copied",
      async () => {
        await c.csids.patch(
          csid,
          "merge",
          { status: { stats: { namespacesSelected: 1, podsSelected: 2, entriesToSet: 2 } } },
          { subresource: "status" },
        );
        const { report } = await inspect();
        assert.deepEqual(report.spire, {
          state: "not-copied",
          message: `no SPIRE figures: SPIRE Controller Manager has reported on ` +
            `ClusterSPIFFEID ${csid} (its status.stats), but the operator has not copied the ` +
            `figures to the binding yet (is it running, and a version that copies them?)`,
          figures: null,
        });
      },
    );

    await t.step("healthy figures: shown in JSON and text, no finding", async () => {
      await setSpire({});
      const { code, report } = await inspect();
      assert.equal(code, 0);
      assert.deepEqual(report.spire, {
        state: "reported",
        message: null,
        figures: {
          clusterSPIFFEIDName: csid,
          namespacesSelected: 1,
          namespacesIgnored: 0,
          podsSelected: 2,
          entriesToSet: 2,
          entriesMasked: 0,
          entryFailures: 0,
          podEntryRenderFailures: 0,
          lastChangeTime: "2030-01-02T03:04:05Z",
        },
      });
      assert.deepEqual(report.findings, []);
      const text = (await cli(["inspect", "binding", "b", "-n", ns, ...kc])).stdout;
      assert.match(text, /^SPIRE\n {2}ClusterSPIFFEID: +\S+\n {2}Pods selected: +2$/m);
    });

    await t.step(
      "0 pods selected while 2 match: spire-zero-pods warning (exit 0, 2 with --strict)",
      async () => {
        await setSpire({ podsSelected: 0, entriesToSet: 0 });
        const { code, report } = await inspect();
        assert.equal(code, 0);
        assert.deepEqual(
          spireOf(report.findings).map((f) => [f.id, f.severity, f.reason, f.message]),
          [[
            "spire-zero-pods",
            "warning",
            "NoPodsSelected",
            `SPIRE Controller Manager selected 0 pods for ClusterSPIFFEID ${csid}, but 2 pods in ` +
            `namespace ${ns} match the rendered selectors (model-server-0, model-server-1): no ` +
            `entry is registered for them; if this persists, check that SPIRE Controller Manager ` +
            `is running, and its log (figures last changed 2030-01-02T03:04:05Z)`,
          ]],
        );
        assert.equal((await inspect("--strict")).code, 2);
        await setSpire({ podsSelected: 0, entriesToSet: 0, namespacesIgnored: 1 });
        const ignored = spireOf((await inspect()).report.findings);
        assert.equal(
          ignored[0]?.message,
          `SPIRE Controller Manager selected 0 pods for ClusterSPIFFEID ${csid}, but 2 pods in ` +
            `namespace ${ns} match the rendered selectors (model-server-0, model-server-1): it ` +
            `ignores the namespace (namespacesIgnored 1): remove ${ns} from SPIRE Controller ` +
            `Manager's ignoreNamespaces to register them`,
        );
      },
    );

    await t.step(
      "entry failures and pod-entry render failures: errors, exit 2 (inspect and status)",
      async () => {
        await setSpire({ entryFailures: 1, podEntryRenderFailures: 2, entriesToSet: 1 });
        const { code, report } = await inspect();
        assert.equal(code, 2);
        // Sorted by id, then message: "SPIRE Controller ..." before "SPIRE Server ...".
        const want = [
          [
            "spire-entry-failures",
            "error",
            "PodEntryRenderFailures",
            `SPIRE Controller Manager could not render 2 pod entries of ClusterSPIFFEID ${csid} ` +
            `(podEntryRenderFailures): those pods get no registration entry; its log names each ` +
            `pod and the template error`,
          ],
          [
            "spire-entry-failures",
            "error",
            "EntryFailures",
            `SPIRE Server failed to create or update 1 entry of ClusterSPIFFEID ${csid} ` +
            `(entryFailures): the pods concerned have no registration entry; SPIRE Controller ` +
            `Manager's log names each failed entry and SPIRE Server's reason`,
          ],
        ];
        const view = (fs: Finding[]) =>
          spireOf(fs).map((f) => [f.id, f.severity, f.reason, f.message]);
        assert.deepEqual(view(report.findings), want);
        const text = await cli(["inspect", "binding", "b", "-n", ns, ...kc]);
        assert.equal(text.code, 2);
        assert.match(text.stdout, /^ {2}ERROR {3}spire-entry-failures: SPIRE Server failed/m);
        const status = await cli(["status", "-o", "json", ...kc]);
        assert.equal(status.code, 2);
        const s = checkedReport<KleymStatusReport>(status);
        const ours = s.findings.filter((f) => f.affectedRefs.some((r) => r.namespace === ns));
        assert.deepEqual(view(ours), want);
        assert.ok((s.summary.spire?.entryFailures ?? 0) >= 1, JSON.stringify(s.summary));
        assert.match(status.stdout, /"podEntryRenderFailures": \d+/);
      },
    );

    await t.step(
      "masked entries: a warning naming the older foreign ClusterSPIFFEID (inspect and status)",
      async () => {
        await setSpire({ entriesMasked: 2, entriesToSet: 0 });
        const message = `2 entries of ClusterSPIFFEID ${csid} are masked by ClusterSPIFFEID ` +
          `${foreign}, declaring the same SPIFFE ID and selectors for the same pods: SPIRE ` +
          `Controller Manager registers each entry once, for the oldest object, so the binding ` +
          `does not control those entries; delete the other object or narrow its podSelector`;
        const { code, report } = await inspect();
        assert.equal(code, 0);
        const [f, ...rest] = spireOf(report.findings);
        assert.deepEqual(rest, []);
        assert.deepEqual([f.id, f.severity, f.reason, f.message], [
          "spire-entries-masked",
          "warning",
          "EntriesMasked",
          message,
        ]);
        assert.deepEqual(f.affectedRefs.map((r) => r.name), ["b", csid, foreign]);
        const s = checkedReport<KleymStatusReport>(await cli(["status", "-o", "json", ...kc]));
        const ours = s.findings.filter((x) => x.affectedRefs.some((r) => r.namespace === ns));
        assert.deepEqual(spireOf(ours).map((x) => x.message), [message]);
      },
    );

    await t.step(
      "a user who may not list pods or ClusterSPIFFEIDs: 0 pods selected is info, the masking object unnamed",
      async () => {
        await setSpire({ podsSelected: 0, entriesToSet: 0, entriesMasked: 2 });
        const user = `cli-spire-reader-${ns}`;
        await apply(
          env.kubectl,
          {
            apiVersion: "rbac.authorization.k8s.io/v1",
            kind: "ClusterRole",
            metadata: { name: role },
            rules: [
              {
                apiGroups: ["kleym.sonda.red"],
                resources: ["inferenceidentitybindings"],
                verbs: ["get"],
              },
              {
                apiGroups: ["inference.networking.k8s.io", "inference.networking.x-k8s.io"],
                resources: ["inferencepools", "inferenceobjectives"],
                verbs: ["get"],
              },
              // get, not list: the ClusterSPIFFEID at the rendered name only.
              { apiGroups: ["spire.spiffe.io"], resources: ["clusterspiffeids"], verbs: ["get"] },
            ],
          },
          {
            apiVersion: "rbac.authorization.k8s.io/v1",
            kind: "ClusterRoleBinding",
            metadata: { name: role },
            roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: role },
            subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "User", name: user }],
          },
        );
        const args = [
          "inspect",
          "binding",
          "b",
          "-n",
          ns,
          "-o",
          "json",
          "--kubeconfig",
          await env.userKubeconfig(user),
        ];
        // RBAC changes reach the authorizer's cache shortly after the write.
        const run = await pollUntil("the ClusterRole is in effect", 60_000, async () => {
          const r = await cli(args);
          return r.code !== 4 ? r : undefined;
        });
        assert.equal(run.code, 0, run.stderr + run.stdout);
        const r = checkedReport<BindingInspectionReport>(run);
        assert.equal(r.matchedPods, null);
        assert.deepEqual(
          spireOf(r.findings).map((f) => [f.id, f.severity, f.reason, f.message]),
          [
            [
              "spire-entries-masked",
              "warning",
              "EntriesMasked",
              `2 entries of ClusterSPIFFEID ${csid} are masked by an older ClusterSPIFFEID or ` +
              `ClusterStaticEntry (ClusterSPIFFEIDs cannot be listed to name it), declaring the ` +
              `same SPIFFE ID and selectors for the same pods: SPIRE Controller Manager ` +
              `registers each entry once, for the oldest object, so the binding does not ` +
              `control those entries; delete the other object or narrow its podSelector`,
            ],
            [
              "spire-zero-pods",
              "info",
              "PodsUnreadable",
              `SPIRE Controller Manager selected 0 pods for ClusterSPIFFEID ${csid}; pods in ` +
              `namespace ${ns} cannot be listed, so whether any should be selected is unknown`,
            ],
          ],
        );
      },
    );

    await t.step("status.spire removed again: back to the one line", async () => {
      await setSpire(null);
      assert.equal((await inspect()).report.spire?.state, "not-copied");
    });

    // Clean up with a running controller (it holds the finalizer).
    op = await startController(env.kubeconfigPath);
    await deleteIfExists(c.bindings, "b", ns);
    await waitGone(c.bindings, "b", ns);
  } finally {
    await op?.stop();
    await deleteIfExists(c.csids, foreign);
    await env.kubectl(["delete", "clusterrolebinding,clusterrole", role, "--ignore-not-found"]);
    c.close();
  }
});
