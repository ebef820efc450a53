/**
 * `make bench`: kleym's benchmarks against a private local control plane, the operator as a
 * separate process (exactly its Deno permissions and V8 flags, deploy.yaml's ServiceAccount, its
 * default client settings unless a phase says otherwise). Not part of `make test`. What each
 * figure means: docs/benchmarks.md. One module per phase:
 *
 *   converge.ts   convergence of N bindings at the shipped defaults, at qps 50 / burst 100, and
 *                 with the client limit off (the main control plane runs with API Priority and
 *                 Fairness ON: the unthrottled run relies on it)
 *   (here)        steady state: STEADY_SECONDS with no input change (writes, target 0)
 *   single.ts     LATENCY_CREATES single creates one after the other on the idle cluster
 *   churn.ts      CHURN_RATE pool changes/s for CHURN_SECONDS on shared pools
 *   (here)        start-up with the converged bindings present
 *   rawwriter.ts  the raw limit: the 3 writes a binding needs, at the operator's client limits
 *   throttled.ts  APF off and small in-flight limits: 429s answered at once
 *   restart.ts    large: N_LARGE converged bindings, the operator's start-up and memory
 *   scale.ts      SCALE_N converged bindings in 1 namespace vs over SCALE_SPREAD namespaces
 *
 * Knobs (config.ts): N, N_LARGE, LARGE, STEADY_SECONDS, CHURN_SECONDS, CHURN_RATE, SEED,
 * LATENCY_CREATES, THROTTLE_INFLIGHT, THROTTLE_MUTATING, SCALE, SCALE_N, SCALE_SPREAD;
 * REFERENCE=1 also writes bench/results/reference.{md,json}.
 * Output: bench/results/bench-<time>.{md,json} (git-ignored); progress on stderr.
 */
import { ApiError } from "../apis/errors.ts";
import { type ControlPlane, startControlPlane } from "../tests/harness/controlplane.ts";
import { delay } from "../tests/harness/poll.ts";
import {
  diffCounts,
  type Operator,
  requestsByVerb,
  scrapeReviews,
  waitReady,
  writesOf,
} from "../tests/resilience/operator.ts";
import { churn } from "./churn.ts";
import { type Clients, clients } from "./clients.ts";
import * as cfg from "./config.ts";
import { convergeRun } from "./converge.ts";
import { commit, machine } from "./machine.ts";
import { markdown } from "./markdown.ts";
import {
  deployAsServiceAccount,
  eventsWritten,
  initialPass,
  slowestHealthz,
  startBenchOperator,
} from "./operator.ts";
import { createAll, createBindings, population } from "./population.ts";
import { rawWriteAll } from "./rawwriter.ts";
import { elapsedSeconds, loadavg, progress, round } from "./report.ts";
import { large } from "./restart.ts";
import { namespaceScale } from "./scale.ts";
import { singleCreates } from "./single.ts";
import { throttled } from "./throttled.ts";

type Result = Record<string, unknown>;

/** STEADY_SECONDS without input changes: the operator's writes (target 0). */
async function steadyState(op: Operator, result: Result): Promise<void> {
  const beforeText = await op.metrics();
  const before = requestsByVerb(beforeText);
  progress(`steady state: ${cfg.STEADY_SECONDS} s without changes`);
  await delay(cfg.STEADY_SECONDS * 1000); // the quiet window is the measure
  const text = await op.metrics();
  const steady = diffCounts(requestsByVerb(text), before);
  result.steadyStateEvents = eventsWritten(text) - eventsWritten(beforeText);
  result.steadyStateSeconds = cfg.STEADY_SECONDS;
  result.steadyStateWrites = writesOf(steady);
  result.steadyStateRequestsByVerb = steady;
  result.steadyStateScrapeReviews = scrapeReviews(text) - scrapeReviews(beforeText);
  progress(`steady state: ${writesOf(steady)} writes (${JSON.stringify(steady)})`);
}

/** A new operator with everything converged present: /readyz, the initial pass, its writes. */
async function startup(saKubeconfig: string, ops: Operator[], result: Result): Promise<void> {
  const present = cfg.N + cfg.CHURN_POOLS * cfg.CHURN_PER_POOL + cfg.LATENCY_CREATES;
  const spawn = Date.now();
  const op = startBenchOperator(saKubeconfig);
  ops.push(op);
  const healthStop = new AbortController();
  const health = slowestHealthz(op, healthStop.signal);
  const startupMs = await waitReady(op, spawn, 300_000);
  const passMs = await initialPass(op, present, 600_000);
  healthStop.abort();
  const req = requestsByVerb(await op.metrics());
  Object.assign(result, {
    startupSeconds: round(startupMs / 1000),
    startupCachesSyncedSeconds: round(((op.syncedAt() ?? NaN) - spawn) / 1000),
    startupSlowestHealthzMs: await health,
    startupInitialPassSeconds: round(passMs / 1000),
    startupWrites: writesOf(req),
    startupPeakRssBytes: op.memory().hwm,
  });
  progress(
    `start-up with ${present} bindings: ready in ${(startupMs / 1000).toFixed(2)} s, initial pass ${
      (passMs / 1000).toFixed(1)
    } s, ${writesOf(req)} writes`,
  );
  await op.stop();
}

/** The raw writer at the operator's qps 50 / burst 100 on N fresh bindings (operator stopped). */
async function rawLimit(admin: Clients, saKubeconfig: string): Promise<number> {
  const raw = population("raw", cfg.N);
  await createAll(admin, raw, "raw limit");
  const created = await createBindings(admin, raw);
  const rawClient = await clients(saKubeconfig); // default qps 50 / burst 100, like the operator
  const start = Date.now();
  await rawWriteAll(rawClient, raw, created, 16);
  const seconds = (Date.now() - start) / 1000;
  rawClient.close();
  return seconds;
}

async function main() {
  const started = new Date().toISOString();
  const loadStart = loadavg();
  progress(
    `N=${cfg.N} N_LARGE=${cfg.LARGE ? cfg.N_LARGE : "skipped"} SCALE_N=${
      cfg.SCALE ? cfg.SCALE_N : "skipped"
    } steady=${cfg.STEADY_SECONDS}s churn=${cfg.CHURN_SECONDS}s@${cfg.CHURN_RATE}/s seed=${cfg.SEED}; load ${
      loadStart.join(" ")
    }`,
  );
  // The runs without a client-side limit rely on the API server's Priority and Fairness.
  let cp: ControlPlane | undefined = await startControlPlane({ priorityAndFairness: true });
  const ops: Operator[] = [];
  const result: Result = { n: cfg.N, priorityAndFairness: true };
  try {
    result.machine = await machine(cp);
    const saKubeconfig = await deployAsServiceAccount(cp);
    const admin = await clients(cp.kubeconfigPath, 2000, 2000);

    // 1. convergence at the shipped defaults
    const { op: opA, out: defaults } = await convergeRun(
      "convergence (defaults)",
      admin,
      saKubeconfig,
      "bench",
      cfg.N,
      [],
      ops,
    );
    Object.assign(result, {
      convergeSeconds: Number(defaults.convergeSeconds),
      latencyMs: defaults.latencyMs,
      requestsByVerb: defaults.requestsByVerb,
      requestsPerBinding: defaults.requestsPerBinding,
      writesPerBinding: defaults.writesPerBinding,
      defaults,
    });

    // 2. steady state; 2b. single creates on the idle cluster; 3. churn on shared pools
    await steadyState(opA, result);
    result.singleCreates = await singleCreates(admin);
    result.churn = await churn(admin, opA);
    result.peakRssBytes = opA.memory().hwm;
    result.rssBytes = opA.memory().rss;
    await opA.stop();

    // 4. start-up with everything present
    await startup(saKubeconfig, ops, result);

    // 4b. convergence at qps 50 / burst 100, then with the client limit off (APF on)
    const q50 = await convergeRun("convergence (qps 50)", admin, saKubeconfig, "q50", cfg.N, [
      "--kube-api-qps=50",
      "--kube-api-burst=100",
    ], ops);
    await q50.op.stop();
    const threeWriteLimit = (3 * cfg.N - 100) / 50;
    result.qps50 = {
      ...q50.out,
      threeWriteLimitSeconds: round(threeWriteLimit),
      ratioToThreeWriteLimit: round(Number(q50.out.convergeSeconds) / threeWriteLimit),
    };
    const off = await convergeRun(
      "convergence (no client limit)",
      admin,
      saKubeconfig,
      "off",
      cfg.N,
      ["--kube-api-qps=0"],
      ops,
    );
    await off.op.stop();
    result.noClientLimit = off.out;

    // 5. the raw limit (operator stopped)
    const rawLimitSeconds = await rawLimit(admin, saKubeconfig);
    Object.assign(result, {
      rawLimitSeconds: round(rawLimitSeconds),
      rawWritesPerBinding: 3,
      // the raw writer runs at qps 50 / burst 100: compare the operator at the same limits
      ratioToRaw: round(Number(q50.out.convergeSeconds) / rawLimitSeconds),
    });
    progress(
      `raw limit: ${cfg.N} x 3 writes in ${rawLimitSeconds.toFixed(1)} s; operator/raw = ${
        (Number(q50.out.convergeSeconds) / rawLimitSeconds).toFixed(2)
      }`,
    );
    admin.close();
    await cp.stop();
    cp = undefined;

    // 5b. the 429 run on its own control plane
    result.throttled = await throttled();

    // 6. large; 7. namespace scale
    result.large = cfg.LARGE ? await large() : null;
    result.scale = cfg.SCALE ? await namespaceScale() : null;
  } finally {
    for (const op of ops) if (op.exitCode === undefined) await op.stop();
    await cp?.stop();
  }
  result.load = { start: loadStart, end: loadavg() };
  result.startedAt = started;
  result.commit = await commit();
  result.seconds = round(elapsedSeconds(), 0);
  result.settings = {
    N: cfg.N,
    N_LARGE: cfg.LARGE ? cfg.N_LARGE : null,
    STEADY_SECONDS: cfg.STEADY_SECONDS,
    CHURN_SECONDS: cfg.CHURN_SECONDS,
    CHURN_RATE: cfg.CHURN_RATE,
    SEED: cfg.SEED,
    LATENCY_CREATES: cfg.LATENCY_CREATES,
    THROTTLE_INFLIGHT: cfg.THROTTLE_INFLIGHT,
    THROTTLE_MUTATING: cfg.THROTTLE_MUTATING,
    SCALE_N: cfg.SCALE ? cfg.SCALE_N : null,
    SCALE_SPREAD: cfg.SCALE_SPREAD,
    defaults: "operator defaults (--kube-api-qps 200, --kube-api-burst 400, 4 reconciles)",
  };
  const md = markdown(result);
  console.log(md);
  const dir = new URL("./results/", import.meta.url).pathname;
  await Deno.mkdir(dir, { recursive: true });
  const stamp = started.replace(/[:.]/g, "-");
  const json = `${JSON.stringify(result, null, 2)}\n`;
  await Deno.writeTextFile(`${dir}bench-${stamp}.json`, json);
  await Deno.writeTextFile(`${dir}bench-${stamp}.md`, `${md}\n`);
  if (cfg.REFERENCE) {
    await Deno.writeTextFile(`${dir}reference.json`, json);
    await Deno.writeTextFile(`${dir}reference.md`, `${md}\n`);
  }
  progress(
    `results in bench/results/bench-${stamp}.{md,json}${
      cfg.REFERENCE ? " and reference.{md,json}" : ""
    }`,
  );
}

if (import.meta.main) {
  try {
    await main();
  } catch (e) {
    console.error(
      `bench failed: ${e instanceof ApiError ? e.message : e instanceof Error ? e.stack : e}`,
    );
    Deno.exit(1);
  }
}
