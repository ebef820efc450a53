/**
 * The examples (docs/contract.md#rendering, docs/contract.md#same-selection): the three examples in
 * tests/fixtures/examples, applied verbatim to the `default` namespace of a real API server with
 * the controller running in-process, produce exactly the expected ClusterSPIFFEIDs and status;
 * after the collision, deleting `objective-b` brings `objective-a` back to Ready with its
 * ClusterSPIFFEID. Events and outcome metrics are checked on the way. Runs in `default` because the
 * fixtures' expected names are literal (`kleym-default-objective-a-objective-3ace974d`); everything
 * is removed afterwards.
 */
import assert from "node:assert/strict";
import { parseAllDocuments } from "yaml";
import { REPO_ROOT } from "../harness/controlplane.ts";
import { testEnv } from "../harness/env.ts";
import {
  adminClients,
  conditionOf,
  deleteIfExists,
  eventsOf,
  FINALIZER,
  getBinding,
  managedOf,
  pollUntil,
  startController,
  waitGone,
  waitReason,
} from "./reconcile_helpers.ts";
import { assertExpected, expected } from "./examples_support.ts";
import { waitSettled } from "../harness/settle.ts";

const EXAMPLES = `${REPO_ROOT}/tests/fixtures/examples`;
const NS = "default";

function input(example: string): string {
  return Deno.readTextFileSync(`${EXAMPLES}/${example}/input.yaml`);
}

Deno.test("the fixture examples produce exactly the expected objects and status in default", async (t) => {
  const env = await testEnv();
  const c = await adminClients(env.kubeconfigPath);
  const op = await startController(env.kubeconfigPath);
  const cleanup = async () => {
    for (const name of ["objective-a", "objective-b", "pool-a"]) {
      await deleteIfExists(c.bindings, name, NS);
    }
    for (const name of ["objective-a", "objective-b", "pool-a"]) {
      await waitGone(c.bindings, name, NS);
    }
    for (const name of ["objective-a", "objective-b"]) {
      await deleteIfExists(c.objectivesV1alpha2, name, NS);
      await deleteIfExists(c.objectivesV1, name, NS);
    }
    await deleteIfExists(c.poolsV1, "pool-a", NS);
  };
  try {
    await cleanup(); // a crashed earlier run may have left them

    await t.step("per-objective: the ClusterSPIFFEID and status of expected.yaml", async () => {
      await env.kubectl(["apply", "-f", "-"], { stdin: input("per-objective") });
      const want = expected("per-objective");
      assert.equal(
        want.clusterSPIFFEIDs[0].metadata.name,
        "kleym-default-objective-a-objective-3ace974d",
      );
      await assertExpected(c, want);
      assert.deepEqual(
        (await managedOf(c, NS, "objective-a")).map((o) => o.metadata.name),
        ["kleym-default-objective-a-objective-3ace974d"],
        "exactly one managed object",
      );
      // Events are written asynchronously (apis/events.ts): wait for it.
      await pollUntil(
        "Normal Reconciled event",
        60_000,
        async () =>
          (await eventsOf(c, NS, "objective-a")).some((e) =>
            e.reason === "Reconciled" && e.type === "Normal"
          ),
      );
    });

    await t.step("pool-only: the ClusterSPIFFEID and status of expected.yaml", async () => {
      await env.kubectl(["apply", "-f", "-"], { stdin: input("pool-only") });
      await assertExpected(c, expected("pool-only"));
      const b = await getBinding(c, NS, "pool-a");
      assert.equal(b?.status?.renderedSelectors?.[0].selectors.length, 3);
    });

    await t.step("collision: both bindings conflict, naming each other, no output", async () => {
      await env.kubectl(["apply", "-f", "-"], { stdin: input("collision") });
      const want = expected("collision");
      await assertExpected(c, want);
      assert.deepEqual(await managedOf(c, NS, "objective-a"), []);
      assert.deepEqual(await managedOf(c, NS, "objective-b"), []);
      for (const name of ["objective-a", "objective-b"]) {
        const b = await getBinding(c, NS, name);
        assert.equal(b?.status?.computedSpiffeIDs, undefined, `${name} computedSpiffeIDs cleared`);
        assert.equal(b?.status?.renderedSelectors, undefined);
        await pollUntil(
          `${name} IdentityCollision warning`,
          60_000,
          async () =>
            (await eventsOf(c, NS, name)).some((e) =>
              e.reason === "IdentityCollision" && e.type === "Warning"
            ),
        );
      }
      // The PoolOnly binding on the same pool never takes part.
      assert.equal(conditionOf(await getBinding(c, NS, "pool-a"), "Ready")?.status, "True");
    });

    await t.step(
      "deleting objective-b brings objective-a back to Ready with its object",
      async () => {
        await c.bindings.delete("objective-b", { namespace: NS });
        await waitGone(c.bindings, "objective-b", NS);
        const back = await waitReason(c, NS, "objective-a", "Reconciled");
        assert.equal(conditionOf(back, "Conflict")?.status, "False");
        assert.equal(conditionOf(back, "Conflict")?.reason, "Resolved");
        await assertExpected(c, expected("per-objective"));
        await pollUntil(
          "IdentityCollisionResolved event",
          60_000,
          async () =>
            (await eventsOf(c, NS, "objective-a")).some((e) =>
              e.reason === "IdentityCollisionResolved" && e.type === "Normal"
            ),
        );
        assert.deepEqual(back.metadata.finalizers, [FINALIZER]);
      },
    );

    await t.step("the outcome metrics moved", async () => {
      // Counters move after the writes they count: read them once the controller has settled.
      await waitSettled("the controller", () => op.activity());
      const m = op.metrics;
      assert.ok(
        m.bindingOutcomes.get({ condition: "Ready", reason: "Reconciled", mode: "PerObjective" }) >=
          2,
      );
      assert.ok(
        m.bindingOutcomes.get({
          condition: "Conflict",
          reason: "IdentityCollision",
          mode: "PerObjective",
        }) >= 2,
      );
      assert.equal(
        m.bindings.get({ condition: "Ready", reason: "Reconciled", mode: "PerObjective" }) >= 1,
        true,
      );
      // The gauge is cluster-wide: it equals the colliding bindings the cluster holds now (other
      // tests' too, whatever ran first), none of them this test's any more.
      const colliding = (await c.bindings.list()).items.filter((b) =>
        conditionOf(b, "Ready")?.reason === "IdentityCollision"
      );
      assert.ok(!colliding.some((b) => b.metadata.namespace === NS), "this test's collision ended");
      assert.equal(
        m.bindings.get({
          condition: "Conflict",
          reason: "IdentityCollision",
          mode: "PerObjective",
        }),
        colliding.length,
        "the gauge follows the current state",
      );
      assert.ok(m.expose().includes("kleym_identity_binding_outcomes_total{"));
    });
  } finally {
    await cleanup().catch((e) => console.error("cleanup failed:", e));
    await op.stop();
    c.close();
  }
});

// The fixture documents parse (guards the regexes above against a reformatted fixture).
Deno.test("the fixture inputs hold the documents the example test applies", () => {
  const kinds = parseAllDocuments(input("per-objective")).map((d) =>
    (d.toJS() as { kind: string }).kind
  );
  assert.deepEqual(kinds, ["InferencePool", "InferenceObjective", "InferenceIdentityBinding"]);
});
