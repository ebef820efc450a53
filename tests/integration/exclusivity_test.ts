/**
 * docs/contract.md#exclusivity with the operator as a process (deploy.yaml's ServiceAccount, RBAC
 * on) against a real API server: duplicate SPIFFE IDs (5.2) refused in both modes and fully
 * recovered, 5.1 and 5.2 at once, twins left alone, and overlaps (5.3) warned about by default —
 * Warning event naming the peers and a pod both select, `kleym_identity_overlaps` — or refused
 * with `--identity-overlap=refuse`, with recovery.
 */
import assert from "node:assert/strict";
import { duplicateMessage, overlapMessage } from "../../reconcile/conflict_messages.ts";
import { collisionMessage } from "../../reconcile/conflict_messages.ts";
import { activityFromMetrics, waitSettled } from "../harness/settle.ts";
import { sample } from "./operator_support.ts";
import {
  apply,
  binding,
  eventsOf,
  getBinding,
  objective,
  pollUntil,
  poolV1,
} from "./reconcile_helpers.ts";
import {
  idOf,
  operatorRig,
  type Rig,
  waitConflict,
  waitEvent,
  waitRecovered,
} from "./exclusivity_support.ts";

const V1 = "inference.networking.k8s.io/v1";
const LLAMA = { app: "llama" };
const DECODE = { app: "llama", role: "decode" };

/** The namespace: pools llama and llama-decode, objectives chat and premium. */
async function llamaNamespace(r: Rig, prefix: string): Promise<string> {
  const ns = await r.newNamespace(prefix);
  await apply(
    r.kubectl,
    poolV1(ns, "llama", LLAMA),
    poolV1(ns, "llama-decode", DECODE),
    objective(V1, ns, "chat", { name: "llama" }),
    objective(V1, ns, "premium", { name: "llama-decode" }),
  );
  return ns;
}

const perObjective = (
  ns: string,
  name: string,
  pool: string,
  obj: string,
  sa: string,
  container: string,
) =>
  binding(ns, name, {
    poolRef: { name: pool },
    objectiveRef: { name: obj },
    serviceAccountName: sa,
    containerName: container,
  });

const poolOnly = (ns: string, name: string, pool: string, sa: string) =>
  binding(ns, name, { poolRef: { name: pool }, mode: "PoolOnly", serviceAccountName: sa });

async function overlapsGauge(r: Rig): Promise<number> {
  return sample(await r.op.metrics(), "kleym_identity_overlaps") ?? 0;
}

Deno.test("exclusivity, default mode: duplicates refused and recovered, overlaps warned", async (t) => {
  const r = await operatorRig("exclusivity-warn");
  try {
    await t.step(
      "the issue's five bindings: two duplicate IDs refused, the overlap warned",
      async () => {
        const ns = await llamaNamespace(r, "five");
        await apply(
          r.kubectl,
          perObjective(ns, "chat", "llama", "chat", "llama-sa", "vllm"),
          perObjective(ns, "chat-2", "llama", "chat", "batch-sa", "worker"),
          perObjective(ns, "premium", "llama-decode", "premium", "llama-sa", "vllm"),
          poolOnly(ns, "pool-1", "llama", "llama-sa"),
          poolOnly(ns, "pool-2", "llama", "batch-sa"),
        );
        const chatID = idOf(ns, "objective", "chat");
        const poolID = idOf(ns, "pool", "llama");
        // PerObjective duplicate by objective; PoolOnly duplicate by pool.
        await waitConflict(
          r,
          ns,
          "chat",
          "DuplicateSPIFFEID",
          duplicateMessage(chatID, ["chat-2"]),
        );
        await waitConflict(
          r,
          ns,
          "chat-2",
          "DuplicateSPIFFEID",
          duplicateMessage(chatID, ["chat"]),
        );
        await waitConflict(
          r,
          ns,
          "pool-1",
          "DuplicateSPIFFEID",
          duplicateMessage(poolID, ["pool-2"]),
        );
        await waitConflict(
          r,
          ns,
          "pool-2",
          "DuplicateSPIFFEID",
          duplicateMessage(poolID, ["pool-1"]),
        );
        for (const name of ["chat", "pool-1"]) await waitEvent(r, ns, name, "DuplicateSPIFFEID");
        // premium stays Ready (warn) and is told who else selects its containers, and a pod both
        // select. Peers in a conflict still count: outcomes depend on renderings only.
        const premium = {
          id: idOf(ns, "objective", "premium"),
          labels: DECODE,
          serviceAccount: "llama-sa",
          container: "vllm",
        };
        await waitRecovered(r, ns, "premium", premium);
        const note = await waitEvent(r, ns, "premium", "IdentityOverlap");
        assert.equal(
          note,
          `${
            overlapMessage("llama-sa", [
              { name: "chat", labels: DECODE, container: "vllm" },
              { name: "pool-1", labels: DECODE, container: "vllm" },
            ])
          }; this binding stays Ready (--identity-overlap=warn)`,
        );

        // Recovery of every former peer, with exactly its ClusterSPIFFEID.
        await r.c.bindings.delete("chat-2", { namespace: ns });
        await r.c.bindings.delete("pool-2", { namespace: ns });
        await waitRecovered(r, ns, "chat", {
          id: chatID,
          labels: LLAMA,
          serviceAccount: "llama-sa",
          container: "vllm",
        });
        await waitRecovered(r, ns, "pool-1", {
          id: poolID,
          labels: LLAMA,
          serviceAccount: "llama-sa",
        });
        await waitEvent(r, ns, "chat", "DuplicateSPIFFEIDResolved");
        await waitEvent(r, ns, "pool-1", "DuplicateSPIFFEIDResolved");
        await waitRecovered(r, ns, "premium", premium);
      },
    );

    await t.step("twins with identical selections stay Ready", async () => {
      const ns = await llamaNamespace(r, "twins");
      await apply(
        r.kubectl,
        poolOnly(ns, "twin-a", "llama", "sa"),
        poolOnly(ns, "twin-b", "llama", "sa"),
      );
      for (const name of ["twin-a", "twin-b"]) {
        await waitRecovered(r, ns, name, {
          id: idOf(ns, "pool", "llama"),
          labels: LLAMA,
          serviceAccount: "sa",
        });
      }
    });

    await t.step("three bindings share one ID; one fixed, then another: all recover", async () => {
      const ns = await llamaNamespace(r, "three");
      await apply(
        r.kubectl,
        poolOnly(ns, "t1", "llama", "sa-1"),
        poolOnly(ns, "t2", "llama", "sa-2"),
        poolOnly(ns, "t3", "llama", "sa-3"),
      );
      const id = idOf(ns, "pool", "llama");
      for (
        const [name, peers] of [["t1", ["t2", "t3"]], ["t2", ["t1", "t3"]], ["t3", [
          "t1",
          "t2",
        ]]] as const
      ) {
        await waitConflict(r, ns, name, "DuplicateSPIFFEID", duplicateMessage(id, [...peers]));
      }
      // t3 moves to another pool: it recovers; the other two name only each other.
      await apply(r.kubectl, poolOnly(ns, "t3", "llama-decode", "sa-3"));
      await waitRecovered(r, ns, "t3", {
        id: idOf(ns, "pool", "llama-decode"),
        labels: DECODE,
        serviceAccount: "sa-3",
      });
      await waitConflict(r, ns, "t1", "DuplicateSPIFFEID", duplicateMessage(id, ["t2"]));
      await waitConflict(r, ns, "t2", "DuplicateSPIFFEID", duplicateMessage(id, ["t1"]));
      // t2 takes t1's service account: twins, both recover.
      await apply(r.kubectl, poolOnly(ns, "t2", "llama", "sa-1"));
      for (const name of ["t1", "t2"]) {
        await waitRecovered(r, ns, name, { id, labels: LLAMA, serviceAccount: "sa-1" });
        await waitEvent(r, ns, name, "DuplicateSPIFFEIDResolved");
      }
    });

    await t.step(
      "5.1 and 5.2 at once: IdentityCollision first, then the duplicate, then Ready",
      async () => {
        const ns = await llamaNamespace(r, "both");
        await apply(r.kubectl, objective(V1, ns, "other", { name: "llama" }));
        await apply(
          r.kubectl,
          perObjective(ns, "x", "llama", "chat", "sa", "main"), // collides with y, duplicates z
          perObjective(ns, "y", "llama", "other", "sa", "main"),
          perObjective(ns, "z", "llama", "chat", "sa-z", "main"),
        );
        const chatID = idOf(ns, "objective", "chat");
        await waitConflict(r, ns, "x", "IdentityCollision", collisionMessage(["y"]));
        await waitConflict(r, ns, "y", "IdentityCollision", collisionMessage(["x"]));
        await waitConflict(r, ns, "z", "DuplicateSPIFFEID", duplicateMessage(chatID, ["x"]));
        await r.c.bindings.delete("y", { namespace: ns });
        await waitConflict(r, ns, "x", "DuplicateSPIFFEID", duplicateMessage(chatID, ["z"]));
        await r.c.bindings.delete("z", { namespace: ns });
        await waitRecovered(r, ns, "x", {
          id: chatID,
          labels: LLAMA,
          serviceAccount: "sa",
          container: "main",
        });
        await waitEvent(r, ns, "x", "DuplicateSPIFFEIDResolved");
      },
    );

    await t.step("an overlap: both Ready, an event on each, the gauge counts them", async () => {
      const ns = await llamaNamespace(r, "overlap");
      const before = await overlapsGauge(r);
      await apply(
        r.kubectl,
        perObjective(ns, "wide", "llama", "chat", "sa", "vllm"),
        perObjective(ns, "narrow", "llama-decode", "premium", "sa", "vllm"),
      );
      await waitRecovered(r, ns, "wide", {
        id: idOf(ns, "objective", "chat"),
        labels: LLAMA,
        serviceAccount: "sa",
        container: "vllm",
      });
      await waitRecovered(r, ns, "narrow", {
        id: idOf(ns, "objective", "premium"),
        labels: DECODE,
        serviceAccount: "sa",
        container: "vllm",
      });
      const witness = "pods labelled app=llama,role=decode, container vllm";
      await waitEvent(r, ns, "wide", "IdentityOverlap", `with narrow: ${witness}`);
      await waitEvent(r, ns, "narrow", "IdentityOverlap", `with wide: ${witness}`);
      await pollUntil(
        "gauge counts both",
        60_000,
        async () => (await overlapsGauge(r)) >= before + 2,
      );
      // Fixed (another container): the gauge drops by the two again.
      const during = await overlapsGauge(r);
      await apply(r.kubectl, perObjective(ns, "narrow", "llama-decode", "premium", "sa", "other"));
      await pollUntil("gauge drops", 60_000, async () => (await overlapsGauge(r)) === during - 2);
    });
  } finally {
    await r.stop();
  }
});

Deno.test("exclusivity, --identity-overlap=refuse: overlaps are conflicts that recover", async () => {
  const r = await operatorRig("exclusivity-refuse", ["--identity-overlap=refuse"]);
  try {
    const ns = await llamaNamespace(r, "refuse");
    await apply(
      r.kubectl,
      perObjective(ns, "wide", "llama", "chat", "sa", "vllm"),
      poolOnly(ns, "pool", "llama-decode", "sa"),
    );
    const witness = (name: string) => ({ name, labels: DECODE, container: "vllm" });
    await waitConflict(r, ns, "wide", "IdentityOverlap", overlapMessage("sa", [witness("pool")]));
    await waitConflict(r, ns, "pool", "IdentityOverlap", overlapMessage("sa", [witness("wide")]));
    await waitEvent(r, ns, "wide", "IdentityOverlap");
    // The PoolOnly binding moves to its own service account: both recover completely.
    await apply(r.kubectl, poolOnly(ns, "pool", "llama-decode", "pool-sa"));
    await waitRecovered(r, ns, "wide", {
      id: idOf(ns, "objective", "chat"),
      labels: LLAMA,
      serviceAccount: "sa",
      container: "vllm",
    });
    await waitRecovered(r, ns, "pool", {
      id: idOf(ns, "pool", "llama-decode"),
      labels: DECODE,
      serviceAccount: "pool-sa",
    });
    for (const name of ["wide", "pool"]) await waitEvent(r, ns, name, "IdentityOverlapResolved");
  } finally {
    await r.stop();
  }
});

Deno.test("a restart over overlapping Ready bindings repeats no IdentityOverlap warning and writes nothing to them", async () => {
  // What the two bindings and their events are: resourceVersions change on any write, an
  // event's too when a repeat is folded into its series; a new event is a new entry.
  const state = async (r: Rig, ns: string) =>
    JSON.stringify(
      await Promise.all(["wide", "narrow"].map(async (name) => ({
        binding: (await getBinding(r.c, ns, name))?.metadata?.resourceVersion,
        events: (await eventsOf(r.c, ns, name)).map((e) =>
          `${e.reason} ${e.metadata?.resourceVersion} ${e.series?.count ?? 1}`
        ),
      }))),
    );
  const first = await operatorRig("overlap-restart-1");
  let ns: string;
  let before: string;
  try {
    ns = await llamaNamespace(first, "overlap-restart");
    await apply(
      first.kubectl,
      perObjective(ns, "wide", "llama", "chat", "sa", "vllm"),
      perObjective(ns, "narrow", "llama-decode", "premium", "sa", "vllm"),
    );
    await waitEvent(first, ns, "wide", "IdentityOverlap", "with narrow");
    await waitEvent(first, ns, "narrow", "IdentityOverlap", "with wide");
    await waitSettled(
      "the first operator",
      async () => activityFromMetrics(await first.op.metrics()),
    );
    before = await state(first, ns);
  } finally {
    await first.stop();
  }
  const second = await operatorRig("overlap-restart-2");
  try {
    await waitSettled(
      "the restarted operator",
      async () => activityFromMetrics(await second.op.metrics()),
    );
    // The restarted operator has seen the overlap (the gauge) and said nothing new about it.
    assert.ok((await overlapsGauge(second)) >= 2);
    assert.equal(await state(second, ns), before);
  } finally {
    await second.stop();
  }
});
