/**
 * Strangers have no lever (docs/contract.md#metrics-auth): the operator as a process with exactly
 * its permissions, `--leader-elect --kube-api-qps=5`, secure /metrics (the default), flooded for
 * more than 30 s by callers that each send a bearer token never seen before (every one would cost a
 * TokenReview). It keeps its leadership, reconciles a binding created mid-flood within the
 * contract's 10 s, and the reviews it sends stay within their own budget (counted by the
 * operator's own `kleym_api_requests_total`), while `kleym_metrics_auth_total` shows the flood.
 */
import assert from "node:assert/strict";
import { MAX_CONCURRENT_REVIEWS, REVIEW_BUDGET } from "../../operator/review_limit.ts";
import { delay } from "../harness/poll.ts";
import { scrapeReviews } from "../harness/metrics.ts";
import { leaseHolder } from "../harness/operator.ts";
import {
  applyDeploy,
  metricsScraper,
  pollUntil,
  sample,
  serviceAccountKubeconfig,
  startOperator,
  tempDir,
  testEnv,
} from "./operator_support.ts";
import { adminClients, apply, binding, conditionOf, poolV1 } from "./reconcile_helpers.ts";

/** How long the flood lasts. */
const FLOOD_MS = 35_000;
/** Callers at once, each with a new token per request. */
const CALLERS = 48;
/** The contract's bound for a binding created during the flood (the acceptance). */
const READY_WITHIN_MS = 10_000;

Deno.test("a /metrics flood of unknown tokens at --kube-api-qps=5 takes no leadership, delays no reconcile and sends reviews only within their own budget", async () => {
  const env = await testEnv();
  await applyDeploy(env);
  const dir = await tempDir();
  const kubeconfig = await serviceAccountKubeconfig(env, dir);
  const ns = await env.newNamespace("flood");
  const scraper = await metricsScraper(env, ns, dir);
  const admin = await adminClients(env.kubeconfigPath);
  const startedAt = Date.now();
  const op = startOperator({
    name: "flooded",
    kubeconfig,
    secureMetrics: scraper,
    args: ["--leader-elect", "--kube-api-qps=5"],
  });
  const statuses: Record<string, number> = {};
  const stopFlood = new AbortController();
  let flooders: Promise<void>[] = [];
  try {
    await op.waitForLog((l) => l.msg === "became leader", 60_000, "leadership");
    const holder = await leaseHolder(env.kubectl);
    assert.ok(holder.startsWith("flooded"), `lease held by ${holder}`);
    const url = `${await op.metricsUrl()}/metrics`;

    // The flood: every request carries a token nobody has sent before.
    let sent = 0;
    const flooder = async (caller: number) => {
      const client = Deno.createHttpClient({ caCerts: [scraper.caPem] });
      try {
        while (!stopFlood.signal.aborted) {
          const token = `flood-${caller}-${sent++}-${crypto.randomUUID()}`;
          try {
            const r = await fetch(url, {
              client,
              headers: { Authorization: `Bearer ${token}` },
              signal: AbortSignal.any([stopFlood.signal, AbortSignal.timeout(30_000)]),
            });
            await r.body?.cancel();
            statuses[r.status] = (statuses[r.status] ?? 0) + 1;
          } catch {
            if (!stopFlood.signal.aborted) statuses.error = (statuses.error ?? 0) + 1;
          }
        }
      } finally {
        client.close();
      }
    };
    const floodStart = Date.now();
    flooders = Array.from({ length: CALLERS }, (_, i) => flooder(i));

    // Mid-flood, a new binding: Ready within the contract's bound of its creation.
    await delay(10_000);
    await apply(env.kubectl, poolV1(ns, "pool", { app: "m" }));
    const createdAt = Date.now();
    await admin.bindings.create(binding(ns, "b", { poolRef: { name: "pool" }, mode: "PoolOnly" }), {
      namespace: ns,
    });
    const readyAfter = await pollUntil("binding Ready during the flood", 60_000, async () => {
      const b = await admin.bindings.get("b", { namespace: ns });
      return conditionOf(b, "Ready")?.status === "True" ? Date.now() - createdAt : undefined;
    }, { intervalMs: 50 });
    console.log(`  binding Ready ${readyAfter} ms after its creation, mid-flood`);

    // The rest of the flood.
    await delay(Math.max(0, FLOOD_MS - (Date.now() - floodStart)));
    stopFlood.abort();
    await Promise.all(flooders);
    const floodMs = Date.now() - floodStart;
    const total = Object.values(statuses).reduce((a, b) => a + b, 0);
    console.log(`  flood: ${total} requests in ${floodMs} ms: ${JSON.stringify(statuses)}`);

    assert.ok(floodMs >= 30_000, `the flood lasted ${floodMs} ms`);
    assert.ok(total >= 2_000, `only ${total} flood requests were answered`);
    assert.equal(statuses[200], undefined, "a flood token was let in");
    assert.ok((statuses[429] ?? 0) > 0, "the review cap never answered 429");
    assert.ok(readyAfter <= READY_WITHIN_MS, `Ready ${readyAfter} ms after creation`);

    // Leadership was never lost: same holder, still running, no such line.
    assert.equal(op.exitCode, undefined, "the operator exited");
    assert.equal(await leaseHolder(env.kubectl), holder);
    assert.ok(!op.logs.some((l) => l.msg === "lost leadership"), "leadership was lost");

    // The reviews stayed within their own budget over the process's whole life (the scrape's
    // own review included), and the flood shows in kleym_metrics_auth_total.
    const text = await op.metrics();
    const lifeSeconds = (Date.now() - startedAt) / 1000;
    // Counted by the operator per attempt. An attempt without an answer (`code="error"`) is one
    // whose caller hung up: at most the MAX_CONCURRENT_REVIEWS waiting when the flood stopped, and
    // one abandoned while it waited for a token gave the token back and was never sent.
    const reviews = scrapeReviews(text, { answered: true });
    const abandoned = scrapeReviews(text) - reviews;
    // The bucket allows burst + qps x its lifetime, and the process lived less than `lifeSeconds`.
    // What separates the reviews' own budget from the reconciler's is shown by the Ready-within-
    // 10-s and leadership assertions above, not by this count (both budgets run at 5 qps here).
    const budget = REVIEW_BUDGET.burst + REVIEW_BUDGET.qps * lifeSeconds;
    console.log(
      `  reviews answered: ${reviews} in ${lifeSeconds.toFixed(1)} s (budget ${
        Math.floor(budget)
      }); ${abandoned} abandoned or unanswered`,
    );
    assert.ok(
      abandoned <= MAX_CONCURRENT_REVIEWS,
      `${abandoned} reviews without an answer: more than the ${MAX_CONCURRENT_REVIEWS} that can wait at once`,
    );
    assert.ok(reviews <= budget, `${reviews} reviews exceed the budget ${budget}`);
    assert.ok(
      (sample(text, "kleym_metrics_auth_total", { result: "throttled" }) ?? 0) > 0,
      "the flood is not visible in kleym_metrics_auth_total",
    );
    assert.ok((sample(text, "kleym_metrics_auth_total", { result: "unauthenticated" }) ?? 0) > 0);
  } finally {
    stopFlood.abort();
    await Promise.all(flooders);
    await op.stop();
    // Other tests expect to create kleym-system's Lease themselves (operator_rbac_test.ts).
    await env.kubectl([
      "delete",
      "lease",
      "kleym-operator",
      "-n",
      "kleym-system",
      "--ignore-not-found",
    ]);
    admin.close();
    await env.kubectl(["delete", "clusterrolebinding", `kleym-metrics-reader-${ns}`]);
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});
