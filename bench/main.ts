/**
 * `make bench`: kleym's benchmarks against a private local control plane, the operator as a
 * separate process (exactly its Deno permissions, deploy.yaml's ServiceAccount, default client
 * settings: qps 50, burst 100, concurrency 4). Not part of `make test`.
 *
 * Phases (progress on stderr):
 *   1. convergence: N bindings (10 namespaces, half PoolOnly, half PerObjective, each with its own
 *      pool and objective) created against a running operator; a watch in this process records each
 *      binding's first Ready=True; API requests by verb from the operator's /metrics before/after;
 *   2. steady state: STEADY_SECONDS with no input change: the operator's write requests (target 0);
 *   3. churn: CHURN_RATE updates/s for CHURN_SECONDS to 5 pools shared by 20 bindings each; every
 *      update bumps a `rev` label; a change is done when every binding of the pool carries that rev
 *      (or a later one) in its ClusterSPIFFEID; latency per change and requests per change;
 *   4. start-up with the N (+churn) bindings present and converged: spawn -> /readyz 200, the
 *      initial pass (writes, target 0), RSS;
 *   5. raw limit: with the operator stopped, a minimal writer does exactly the writes a binding
 *      needs (finalizer patch, ClusterSPIFFEID create, status update) for N fresh bindings with the
 *      same client settings (qps 50 / burst 100, 16 in flight so the rate limit is the bound);
 *   6. large (LARGE=0 skips): a fresh control plane with N_LARGE converged bindings (written by the
 *      raw writer without a rate limit), then the operator's start-up time and memory.
 *
 * Knobs: N (1000), N_LARGE (10000), LARGE (1), STEADY_SECONDS (60), CHURN_SECONDS (60),
 * CHURN_RATE (10), SEED (1), REFERENCE=1 also writes bench/results/reference.{md,json}.
 * Output: bench/results/bench-<time>.{md,json} (git-ignored).
 */
import { connect } from "../apis/connect.ts";
import { ApiError } from "../apis/errors.ts";
import { ResourceClient, type ResourceDescriptor } from "../apis/rest.ts";
import { Informer } from "../apis/watch.ts";
import { renderBinding } from "../reconcile/render.ts";
import { successStatus } from "../reconcile/status.ts";
import type { BindingInput } from "../reconcile/types.ts";
import { type ControlPlane, startControlPlane } from "../tests/harness/controlplane.ts";
import {
  bindingManifest,
  GAIE_V1,
  objectiveManifest,
  poolV1Manifest,
} from "../tests/harness/manifests.ts";
import { sample } from "../tests/harness/metrics.ts";
import { delay, paced, pollUntil } from "../tests/harness/poll.ts";
import { activityFromMetrics, waitSettled } from "../tests/harness/settle.ts";
import type { Obj } from "../tests/resilience/model.ts";
import {
  applyDeploy,
  diffCounts,
  type Operator,
  requestsByVerb,
  rng,
  serviceAccountKubeconfig,
  startOperator,
  TRUST_DOMAIN,
  waitReady,
  writesOf,
} from "../tests/resilience/operator.ts";

const env = (k: string, d: number) => Number(Deno.env.get(k) ?? d);
const N = env("N", 1000);
const N_LARGE = env("N_LARGE", 10000);
const LARGE = env("LARGE", 1) !== 0;
const STEADY_SECONDS = env("STEADY_SECONDS", 60);
const CHURN_SECONDS = env("CHURN_SECONDS", 60);
const CHURN_RATE = env("CHURN_RATE", 10);
const SEED = env("SEED", 1);
const REFERENCE = Deno.env.get("REFERENCE") === "1";
const NAMESPACES = 10;
const CHURN_POOLS = 5;
const CHURN_PER_POOL = 20;

const K8S = "inference.networking.k8s.io";
const FINALIZER = "kleym.sonda.red/inferenceidentitybinding-finalizer";

const t0 = Date.now();
function progress(msg: string): void {
  console.error(`[bench +${((Date.now() - t0) / 1000).toFixed(0).padStart(4)}s] ${msg}`);
}

// ---- clients and objects -------------------------------------------------------------------

const d = (group: string, version: string, plural: string, kind: string, namespaced = true) =>
  ({ group, version, plural, kind, namespaced }) as ResourceDescriptor;

interface Clients {
  bindings: ResourceClient<Obj>;
  csids: ResourceClient<Obj>;
  namespaces: ResourceClient<Obj>;
  pools: ResourceClient<Obj>;
  objectives: ResourceClient<Obj>;
  close(): void;
}

async function clients(kubeconfig: string, qps?: number, burst?: number): Promise<Clients> {
  const c = await connect({ kubeconfig, env: () => undefined, qps, burst });
  const r = (x: ResourceDescriptor) => new ResourceClient<Obj>(c.rest, x);
  return {
    bindings: r(
      d("kleym.sonda.red", "v1alpha1", "inferenceidentitybindings", "InferenceIdentityBinding"),
    ),
    csids: r(d("spire.spiffe.io", "v1alpha1", "clusterspiffeids", "ClusterSPIFFEID", false)),
    namespaces: r(d("", "v1", "namespaces", "Namespace", false)),
    pools: r(d(K8S, "v1", "inferencepools", "InferencePool")),
    objectives: r(d(K8S, "v1", "inferenceobjectives", "InferenceObjective")),
    close: c.close,
  };
}

// The shared builders (tests/harness/manifests.ts); the bench's bindings name inference-sa.
const pool = (ns: string, name: string, labels: Record<string, string>): Obj =>
  poolV1Manifest(ns, name, { matchLabels: labels });
const objective = (ns: string, name: string, poolName: string): Obj =>
  objectiveManifest(GAIE_V1, ns, name, { name: poolName });
const binding = (ns: string, name: string, spec: Record<string, unknown>): Obj =>
  bindingManifest(ns, name, { serviceAccountName: "inference-sa", ...spec });

/** One population: `n` bindings over `namespaces`, each with its own pool (and objective). */
interface Population {
  namespaces: string[];
  pools: Obj[];
  objectives: Obj[];
  bindings: Obj[];
}

function population(prefix: string, n: number): Population {
  const p: Population = { namespaces: [], pools: [], objectives: [], bindings: [] };
  for (let i = 0; i < NAMESPACES; i++) p.namespaces.push(`${prefix}-${i}`);
  for (let i = 0; i < n; i++) {
    const ns = p.namespaces[i % NAMESPACES];
    const name = `b${i}`;
    p.pools.push(pool(ns, `pool-${i}`, { app: `model-${i}` }));
    if (i % 2 === 0) {
      p.bindings.push(binding(ns, name, { poolRef: { name: `pool-${i}` }, mode: "PoolOnly" }));
    } else {
      p.objectives.push(objective(ns, `objective-${i}`, `pool-${i}`));
      p.bindings.push(binding(ns, name, {
        poolRef: { name: `pool-${i}` },
        objectiveRef: { name: `objective-${i}` },
        mode: "PerObjective",
        containerName: "main",
      }));
    }
  }
  return p;
}

async function parallel<T>(items: readonly T[], inFlight: number, fn: (x: T) => Promise<void>) {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(inFlight, items.length) }, async () => {
    while (next < items.length) await fn(items[next++]);
  }));
}

async function createAll(c: Clients, p: Population, what: string): Promise<void> {
  for (const ns of p.namespaces) {
    await c.namespaces.create({ apiVersion: "v1", kind: "Namespace", metadata: { name: ns } });
  }
  await parallel(p.pools, 16, async (o) => void await c.pools.create(o));
  await parallel(p.objectives, 16, async (o) => void await c.objectives.create(o));
  progress(`${what}: ${p.pools.length} pools, ${p.objectives.length} objectives created`);
}

const percentile = (sorted: number[], q: number) =>
  sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
const round = (x: number, digits = 2) => Number(x.toFixed(digits));

function isReady(b: Obj): boolean {
  const st = b.status as { conditions?: { type: string; status: string }[] } | undefined;
  return st?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;
}

/** `kleym_workqueue_depth` and `kleym_reconcile_duration_seconds_count`. */
function queueState(text: string): { depth: number; reconciles: number } {
  return {
    depth: sample(text, "kleym_workqueue_depth") ?? NaN,
    reconciles: sample(text, "kleym_reconcile_duration_seconds_count") ?? 0,
  };
}

/** Waits until the operator reconciled at least `keys` keys and its queue is empty. */
async function initialPass(op: Operator, keys: number, deadlineMs: number): Promise<number> {
  const start = Date.now();
  let q = { depth: NaN, reconciles: 0 };
  await pollUntil(`initial pass (${keys} keys)`, deadlineMs, async () => {
    q = queueState(await op.metrics());
    return q.reconciles >= keys && q.depth === 0;
  }, 200).catch((e) => {
    throw new Error(`${e instanceof Error ? e.message : e} (${JSON.stringify(q)})`);
  });
  return Date.now() - start;
}

/**
 * Polls `/healthz` every 100 ms until `stop` aborts; resolves with the slowest answer in ms. A
 * slow answer means the operator's single JavaScript thread was busy (not the network: loopback).
 */
async function slowestHealthz(op: Operator, stop: AbortSignal): Promise<number> {
  const url = `${await op.healthUrl()}/healthz`;
  let worst = 0;
  while (!stop.aborted) {
    const t = Date.now();
    try {
      const r = await fetch(url, { signal: stop });
      await r.body?.cancel();
    } catch { /* stopped, or not listening yet */ }
    if (!stop.aborted) worst = Math.max(worst, Date.now() - t);
    await new Promise((r) => setTimeout(r, 100));
  }
  return worst;
}

// ---- the minimal writer ----------------------------------------------------------------------

/**
 * Exactly the writes one binding needs, with the operator's own rendering (so the result is what
 * the operator would write): finalizer merge patch (with resourceVersion), ClusterSPIFFEID create,
 * status update (PUT with resourceVersion).
 */
async function rawWrite(c: Clients, b: Obj, poolObj: Obj, objectiveObj: Obj | undefined) {
  const ns = b.metadata.namespace ?? "";
  const name = b.metadata.name ?? "";
  const current = await c.bindings.patch(name, "merge", {
    metadata: { finalizers: [FINALIZER], resourceVersion: b.metadata.resourceVersion },
  }, { namespace: ns });
  const rendered = renderBinding(current as BindingInput, {
    pool: { apiVersion: `${K8S}/v1`, object: poolObj },
    objective: objectiveObj ? { apiVersion: `${K8S}/v1`, object: objectiveObj } : undefined,
  }, { trustDomain: TRUST_DOMAIN });
  if (!rendered.ok) throw new Error(`${ns}/${name}: ${rendered.error.message}`);
  await c.csids.create(rendered.identity.clusterSPIFFEID as unknown as Obj);
  const status = successStatus(
    rendered.identity,
    { trustDomain: TRUST_DOMAIN },
    [],
    new Date(),
    current.metadata.generation,
  );
  await c.bindings.updateStatus({ ...current, status } as Obj, { namespace: ns });
}

async function rawWriteAll(c: Clients, p: Population, created: Map<string, Obj>, inFlight: number) {
  const pools = new Map(p.pools.map((o) => [`${o.metadata.namespace}/${o.metadata.name}`, o]));
  const objectives = new Map(
    p.objectives.map((o) => [`${o.metadata.namespace}/${o.metadata.name}`, o]),
  );
  await parallel(p.bindings, inFlight, async (b) => {
    const k = `${b.metadata.namespace}/${b.metadata.name}`;
    const spec = b.spec as { poolRef: { name: string }; objectiveRef?: { name: string } };
    await rawWrite(
      c,
      created.get(k)!,
      pools.get(`${b.metadata.namespace}/${spec.poolRef.name}`)!,
      spec.objectiveRef
        ? objectives.get(`${b.metadata.namespace}/${spec.objectiveRef.name}`)
        : undefined,
    );
  });
}

async function createBindings(c: Clients, p: Population): Promise<Map<string, Obj>> {
  const created = new Map<string, Obj>();
  await parallel(p.bindings, 16, async (b) => {
    const o = await c.bindings.create(b);
    created.set(`${o.metadata.namespace}/${o.metadata.name}`, o);
  });
  return created;
}

// ---- machine -------------------------------------------------------------------------------

async function machine(cp: ControlPlane) {
  const cpu = Deno.readTextFileSync("/proc/cpuinfo");
  const mem = Deno.readTextFileSync("/proc/meminfo");
  const version = JSON.parse(await cp.kubectl(["get", "--raw", "/version"])) as {
    gitVersion?: string;
  };
  return {
    nproc: navigator.hardwareConcurrency,
    memoryBytes: Number(/^MemTotal:\s+(\d+) kB/m.exec(mem)?.[1] ?? 0) * 1024,
    cpuModel: /^model name\s*:\s*(.*)$/m.exec(cpu)?.[1] ?? "unknown",
    deno: Deno.version.deno,
    // The harness builds kube-apiserver from the pinned module without version ldflags, so
    // /version says v0.0.0-master; the pinned module version is the truth.
    kubeApiserver: `${
      /^\s*k8s\.io\/kubernetes (v\S+)/m.exec(
        Deno.readTextFileSync(new URL("../hack/controlplane/go.mod", import.meta.url)),
      )?.[1] ?? "unknown"
    } (hack/controlplane/go.mod; /version reports ${version.gitVersion})`,
    etcd: /^\s*go\.etcd\.io\/etcd\/server\/v3 (v\S+)/m.exec(
      Deno.readTextFileSync(new URL("../hack/controlplane/go.mod", import.meta.url)),
    )?.[1] ?? "unknown",
  };
}
const loadavg = () => Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).map(Number);

// ---- the run -------------------------------------------------------------------------------

async function main() {
  const started = new Date().toISOString();
  const loadStart = loadavg();
  progress(
    `N=${N} N_LARGE=${
      LARGE ? N_LARGE : "skipped"
    } steady=${STEADY_SECONDS}s churn=${CHURN_SECONDS}s@${CHURN_RATE}/s seed=${SEED}; load ${
      loadStart.join(" ")
    }`,
  );
  let cp: ControlPlane | undefined = await startControlPlane();
  const ops: Operator[] = [];
  const result: Record<string, unknown> = { n: N };
  try {
    result.machine = await machine(cp);
    const saKubeconfig = await deployAsServiceAccount(cp);
    const admin = await clients(cp.kubeconfigPath, 2000, 2000);

    // 1. convergence
    const main = population("bench", N);
    await createAll(admin, main, "convergence");
    const opA = startOperator(saKubeconfig);
    ops.push(opA);
    await waitReady(opA, Date.now(), 120_000);
    const createdAt = new Map<string, number>();
    const readyAt = new Map<string, number>();
    const watchStop = new AbortController();
    const bindingsInformer = new Informer<Obj>(admin.bindings);
    const onBinding = (b: Obj) => {
      const k = `${b.metadata.namespace}/${b.metadata.name}`;
      if (!readyAt.has(k) && isReady(b)) readyAt.set(k, Date.now());
    };
    bindingsInformer.addHandler({ onAdd: onBinding, onUpdate: (_, b) => onBinding(b) });
    const bindingsWatch = bindingsInformer.run(watchStop.signal);
    await bindingsInformer.waitForSync();
    const before = requestsByVerb(await opA.metrics());
    const first = Date.now();
    const ticker = setInterval(
      () => progress(`convergence: ${createdAt.size} created, ${readyAt.size}/${N} Ready`),
      5000,
    );
    await parallel(main.bindings, 16, async (b) => {
      const k = `${b.metadata.namespace}/${b.metadata.name}`;
      createdAt.set(k, Date.now());
      await admin.bindings.create(b);
    });
    const mainKeys = main.bindings.map((b) => `${b.metadata.namespace}/${b.metadata.name}`);
    await pollUntil("convergence", 30 * 60_000, () => mainKeys.every((k) => readyAt.has(k)));
    clearInterval(ticker);
    const last = Math.max(...mainKeys.map((k) => readyAt.get(k)!));
    const convergeSeconds = (last - first) / 1000;
    // Let in-flight event writes land before reading the counters (tests/harness/settle.ts).
    await waitSettled("operator A", async () => activityFromMetrics(await opA.metrics()), {
      deadlineMs: 600_000,
    });
    const requests = diffCounts(requestsByVerb(await opA.metrics()), before);
    const latencies = mainKeys.map((k) => readyAt.get(k)! - createdAt.get(k)!).sort((a, b) =>
      a - b
    );
    Object.assign(result, {
      convergeSeconds: round(convergeSeconds),
      latencyMs: {
        p50: percentile(latencies, 0.5),
        p95: percentile(latencies, 0.95),
        p99: percentile(latencies, 0.99),
      },
      requestsByVerb: requests,
      requestsPerBinding: round(Object.values(requests).reduce((a, b) => a + b, 0) / N, 3),
      writesPerBinding: round(writesOf(requests) / N, 3),
    });
    progress(
      `convergence: ${N} Ready in ${convergeSeconds.toFixed(1)} s; requests ${
        JSON.stringify(requests)
      }`,
    );

    // 2. steady state
    const steadyBefore = requestsByVerb(await opA.metrics());
    progress(`steady state: ${STEADY_SECONDS} s without changes`);
    await delay(STEADY_SECONDS * 1000); // the window is the measurement
    const steady = diffCounts(requestsByVerb(await opA.metrics()), steadyBefore);
    result.steadyStateSeconds = STEADY_SECONDS;
    result.steadyStateWrites = writesOf(steady);
    result.steadyStateRequestsByVerb = steady;
    progress(`steady state: ${writesOf(steady)} writes (${JSON.stringify(steady)})`);

    // 3. churn on shared pools
    result.churn = await churn(admin, opA);

    result.peakRssBytes = opA.memory().hwm;
    result.rssBytes = opA.memory().rss;
    await opA.stop();

    // 4. start-up with N present
    const present = N + CHURN_POOLS * CHURN_PER_POOL;
    const spawnB = Date.now();
    const opB = startOperator(saKubeconfig);
    ops.push(opB);
    const healthStopB = new AbortController();
    const healthB = slowestHealthz(opB, healthStopB.signal);
    const startupMs = await waitReady(opB, spawnB, 300_000);
    const passMs = await initialPass(opB, present, 600_000);
    healthStopB.abort();
    const bReq = requestsByVerb(await opB.metrics());
    Object.assign(result, {
      startupSeconds: round(startupMs / 1000),
      startupCachesSyncedSeconds: round(((opB.syncedAt() ?? NaN) - spawnB) / 1000),
      startupSlowestHealthzMs: await healthB,
      startupInitialPassSeconds: round(passMs / 1000),
      startupWrites: writesOf(bReq),
      startupPeakRssBytes: opB.memory().hwm,
    });
    progress(
      `start-up with ${present} bindings: ready in ${
        (startupMs / 1000).toFixed(2)
      } s, initial pass ${(passMs / 1000).toFixed(1)} s, ${writesOf(bReq)} writes`,
    );
    await opB.stop();
    watchStop.abort();
    await bindingsWatch.catch(() => {});

    // 5. the raw limit (operator stopped)
    const raw = population("raw", N);
    await createAll(admin, raw, "raw limit");
    const rawCreated = await createBindings(admin, raw);
    const rawClient = await clients(saKubeconfig); // default qps 50 / burst 100, like the operator
    const rawStart = Date.now();
    await rawWriteAll(rawClient, raw, rawCreated, 16);
    const rawLimitSeconds = (Date.now() - rawStart) / 1000;
    rawClient.close();
    Object.assign(result, {
      rawLimitSeconds: round(rawLimitSeconds),
      rawWritesPerBinding: 3,
      ratioToRaw: round(convergeSeconds / rawLimitSeconds),
    });
    progress(
      `raw limit: ${N} x 3 writes in ${rawLimitSeconds.toFixed(1)} s; operator/raw = ${
        (convergeSeconds / rawLimitSeconds).toFixed(2)
      }`,
    );
    admin.close();
    await cp.stop();
    cp = undefined;

    // 6. large
    if (LARGE) result.large = await large();
    else result.large = null;
  } finally {
    for (const op of ops) if (op.exitCode === undefined) await op.stop();
    await cp?.stop();
  }
  const loadEnd = loadavg();
  result.load = { start: loadStart, end: loadEnd };
  result.startedAt = started;
  try {
    const git = await new Deno.Command("git", {
      args: ["rev-parse", "--short", "HEAD"],
      stdout: "piped",
      stderr: "null",
    }).output();
    result.commit = new TextDecoder().decode(git.stdout).trim() || "unknown";
  } catch {
    result.commit = "unknown";
  }
  result.seconds = round((Date.now() - t0) / 1000, 0);
  result.settings = {
    N,
    N_LARGE: LARGE ? N_LARGE : null,
    STEADY_SECONDS,
    CHURN_SECONDS,
    CHURN_RATE,
    SEED,
    qps: 50,
    burst: 100,
    concurrency: 4,
  };
  const md = markdown(result);
  console.log(md);
  const dir = new URL("./results/", import.meta.url).pathname;
  await Deno.mkdir(dir, { recursive: true });
  const stamp = started.replace(/[:.]/g, "-");
  const json = `${JSON.stringify(result, null, 2)}\n`;
  await Deno.writeTextFile(`${dir}bench-${stamp}.json`, json);
  await Deno.writeTextFile(`${dir}bench-${stamp}.md`, `${md}\n`);
  if (REFERENCE) {
    await Deno.writeTextFile(`${dir}reference.json`, json);
    await Deno.writeTextFile(`${dir}reference.md`, `${md}\n`);
  }
  progress(
    `results in bench/results/bench-${stamp}.{md,json}${
      REFERENCE ? " and reference.{md,json}" : ""
    }`,
  );
}

async function churn(admin: Clients, op: Operator): Promise<Record<string, unknown>> {
  const ns = "bench-churn";
  await admin.namespaces.create({ apiVersion: "v1", kind: "Namespace", metadata: { name: ns } });
  const poolOf = new Map<string, number>();
  for (let p = 0; p < CHURN_POOLS; p++) {
    await admin.pools.create(pool(ns, `shared-${p}`, { app: `shared-${p}`, rev: "0" }));
    for (let j = 0; j < CHURN_PER_POOL; j++) {
      const name = `s${p}-${j}`;
      poolOf.set(name, p);
      if (j % 2 === 0) {
        await admin.bindings.create(
          binding(ns, name, { poolRef: { name: `shared-${p}` }, mode: "PoolOnly" }),
        );
      } else {
        await admin.objectives.create(objective(ns, `o-${name}`, `shared-${p}`));
        await admin.bindings.create(binding(ns, name, {
          poolRef: { name: `shared-${p}` },
          objectiveRef: { name: `o-${name}` },
          containerName: `c${j}`,
        }));
      }
    }
  }
  // Per binding: the highest rev its ClusterSPIFFEID carries.
  const revOf = new Map<string, number>();
  const pending: { pool: number; rev: number; at: number }[] = [];
  const latencies: number[] = [];
  const stop = new AbortController();
  const informer = new Informer<Obj>(admin.csids, {
    labelSelector: `kleym.sonda.red/binding-namespace=${ns}`,
  });
  const settle = () => {
    for (let p = 0; p < CHURN_POOLS; p++) {
      let min = Infinity;
      for (const [b, bp] of poolOf) if (bp === p) min = Math.min(min, revOf.get(b) ?? -1);
      for (let i = pending.length - 1; i >= 0; i--) {
        if (pending[i].pool === p && pending[i].rev <= min) {
          latencies.push(Date.now() - pending[i].at);
          pending.splice(i, 1);
        }
      }
    }
  };
  const onCsid = (o: Obj) => {
    const b = o.metadata.labels?.["kleym.sonda.red/binding-name"] ?? "";
    const spec = o.spec as { podSelector?: { matchLabels?: Record<string, string> } };
    const rev = Number(spec.podSelector?.matchLabels?.rev ?? -1);
    if (rev > (revOf.get(b) ?? -1)) revOf.set(b, rev);
    settle();
  };
  informer.addHandler({ onAdd: onCsid, onUpdate: (_, o) => onCsid(o) });
  const run = informer.run(stop.signal);
  const total = CHURN_POOLS * CHURN_PER_POOL;
  await pollUntil(
    "churn bindings Ready",
    600_000,
    () => [...poolOf.keys()].every((b) => (revOf.get(b) ?? -1) >= 0),
    200,
  );
  await waitSettled("the operator", async () => activityFromMetrics(await op.metrics()), {
    deadlineMs: 600_000,
  });
  progress(
    `churn: ${total} bindings on ${CHURN_POOLS} shared pools ready; ${CHURN_RATE} updates/s for ${CHURN_SECONDS} s`,
  );
  const before = requestsByVerb(await op.metrics());
  const random = rng(SEED);
  const revs = new Array(CHURN_POOLS).fill(0);
  const start = Date.now();
  let changes = 0;
  await paced(start, CHURN_RATE, start + CHURN_SECONDS * 1000, async (i) => {
    const p = Math.floor(random() * CHURN_POOLS);
    const rev = ++revs[p];
    const at = Date.now();
    await admin.pools.patch(`shared-${p}`, "merge", {
      spec: { selector: { matchLabels: { rev: String(rev) } } },
    }, {
      namespace: ns,
    });
    pending.push({ pool: p, rev, at });
    changes++;
    if (i % (CHURN_RATE * 10) === 0) {
      progress(`churn: ${changes} changes, ${pending.length} pending`);
    }
  });
  const drainStart = Date.now();
  await pollUntil("churn: every change landed", 600_000, () => pending.length === 0);
  const drainSeconds = (Date.now() - drainStart) / 1000;
  await waitSettled("the operator", async () => activityFromMetrics(await op.metrics()), {
    deadlineMs: 600_000,
  });
  const req = diffCounts(requestsByVerb(await op.metrics()), before);
  stop.abort();
  await run.catch(() => {});
  latencies.sort((a, b) => a - b);
  const out = {
    seconds: CHURN_SECONDS,
    ratePerSecond: CHURN_RATE,
    pools: CHURN_POOLS,
    bindingsPerPool: CHURN_PER_POOL,
    changes,
    latencyMs: {
      p50: percentile(latencies, 0.5),
      p95: percentile(latencies, 0.95),
      p99: percentile(latencies, 0.99),
      max: latencies[latencies.length - 1] ?? 0,
    },
    drainSecondsAfterLastChange: round(drainSeconds),
    requestsByVerb: req,
    requestsPerChange: round(Object.values(req).reduce((a, b) => a + b, 0) / changes),
    writesPerChange: round(writesOf(req) / changes),
  };
  progress(`churn: ${JSON.stringify(out)}`);
  return out;
}

/** deploy.yaml's RBAC applied; a kubeconfig that authenticates as its ServiceAccount. */
async function deployAsServiceAccount(cp: ControlPlane): Promise<string> {
  await applyDeploy(cp.kubectl);
  return await serviceAccountKubeconfig(
    cp.kubectl,
    cp.server,
    cp.caPem,
    `${cp.dir}/kubeconfig-kleym`,
  );
}

async function large(): Promise<Record<string, unknown>> {
  progress(`large: fresh control plane, ${N_LARGE} converged bindings`);
  const cp = await startControlPlane();
  let op: Operator | undefined;
  try {
    const saKubeconfig = await deployAsServiceAccount(cp);
    const admin = await clients(cp.kubeconfigPath, 5000, 5000);
    const p = population("large", N_LARGE);
    await createAll(admin, p, "large");
    const setup = Date.now();
    const created = await createBindings(admin, p);
    progress(
      `large: ${N_LARGE} bindings created in ${
        ((Date.now() - setup) / 1000).toFixed(0)
      } s; writing their converged state`,
    );
    await rawWriteAll(admin, p, created, 32);
    progress(`large: converged state written (${((Date.now() - setup) / 1000).toFixed(0)} s)`);
    admin.close();
    const spawn = Date.now();
    op = startOperator(saKubeconfig);
    const healthStop = new AbortController();
    const health = slowestHealthz(op, healthStop.signal);
    const startupMs = await waitReady(op, spawn, 600_000);
    const passMs = await initialPass(op, N_LARGE, 1_800_000);
    healthStop.abort();
    const req = requestsByVerb(await op.metrics());
    const mem = op.memory();
    const out = {
      n: N_LARGE,
      startupSeconds: round(startupMs / 1000),
      cachesSyncedSeconds: round(((op.syncedAt() ?? NaN) - spawn) / 1000),
      slowestHealthzMs: await health,
      initialPassSeconds: round(passMs / 1000),
      writesAfterStartup: writesOf(req),
      requestsByVerb: req,
      peakRssBytes: mem.hwm,
      rssBytes: mem.rss,
    };
    progress(`large: ${JSON.stringify(out)}`);
    return out;
  } finally {
    if (op) await op.stop();
    await cp.stop();
  }
}

function markdown(r: Record<string, unknown>): string {
  const m = r.machine as Record<string, unknown> | undefined;
  const c = r.churn as Record<string, unknown> | undefined;
  const l = r.large as Record<string, unknown> | null | undefined;
  const lat = r.latencyMs as { p50: number; p95: number; p99: number } | undefined;
  const clat = c?.latencyMs as { p50: number; p95: number; p99: number; max: number } | undefined;
  const mib = (b: unknown) => `${(Number(b) / 1024 / 1024).toFixed(1)} MiB`;
  const load = r.load as { start: number[]; end: number[] };
  const rows: [string, string][] = [
    [
      "machine",
      m
        ? `${m.nproc} CPUs (${m.cpuModel}), ${
          mib(m.memoryBytes)
        }, Deno ${m.deno}, kube-apiserver ${m.kubeApiserver}`
        : "?",
    ],
    ["load average (1/5/15 min) start / end", `${load.start.join(" ")} / ${load.end.join(" ")}`],
    ["bindings (N)", String(r.n)],
    ["create -> all Ready", `${r.convergeSeconds} s`],
    [
      "create -> Ready latency p50 / p95 / p99",
      lat ? `${lat.p50} / ${lat.p95} / ${lat.p99} ms` : "?",
    ],
    ["API requests during convergence", JSON.stringify(r.requestsByVerb)],
    ["requests / writes per binding", `${r.requestsPerBinding} / ${r.writesPerBinding}`],
    [`writes in ${r.steadyStateSeconds} s of steady state`, String(r.steadyStateWrites)],
    ["operator peak RSS (N + churn)", mib(r.peakRssBytes)],
    [
      "start-up with N present: spawn -> 'caches synced' log / -> /readyz 200",
      `${r.startupCachesSyncedSeconds} s / ${r.startupSeconds} s (initial pass ${r.startupInitialPassSeconds} s after, ${r.startupWrites} writes, slowest /healthz ${r.startupSlowestHealthzMs} ms)`,
    ],
    ["raw limit (3 writes/binding, qps 50 burst 100)", `${r.rawLimitSeconds} s`],
    ["operator / raw", String(r.ratioToRaw)],
    [
      "churn",
      c
        ? `${c.changes} changes (${c.ratePerSecond}/s for ${c.seconds} s, ${c.pools} pools x ${c.bindingsPerPool} bindings)`
        : "?",
    ],
    [
      "churn change -> all ClusterSPIFFEIDs p50 / p95 / p99 / max",
      clat ? `${clat.p50} / ${clat.p95} / ${clat.p99} / ${clat.max} ms` : "?",
    ],
    [
      "churn requests / writes per change",
      c
        ? `${c.requestsPerChange} / ${c.writesPerChange} (${JSON.stringify(c.requestsByVerb)})`
        : "?",
    ],
    [
      `large (N_LARGE)`,
      l
        ? `${l.n} bindings: 'caches synced' log ${l.cachesSyncedSeconds} s, /readyz ${l.startupSeconds} s, initial pass ${l.initialPassSeconds} s after, ${l.writesAfterStartup} writes, slowest /healthz ${l.slowestHealthzMs} ms, peak RSS ${
          mib(l.peakRssBytes)
        }`
        : "skipped (LARGE=0)",
    ],
  ];
  return [
    `## kleym benchmark (${r.startedAt}, ${r.seconds} s, commit ${r.commit})`,
    "",
    "| measure | value |",
    "| --- | --- |",
    ...rows.map(([a, b]) => `| ${a} | ${b} |`),
  ].join("\n");
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
