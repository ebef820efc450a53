/**
 * `make bench`: kleym's benchmarks against a private local control plane, the operator as a
 * separate process (exactly its Deno permissions and V8 flags, deploy.yaml's ServiceAccount, its
 * default client settings unless a phase says otherwise). Not part of `make test`.
 *
 * Issue 15 phases (docs/benchmarks.md): the main control plane runs with API Priority and
 * Fairness ON (the unthrottled run relies on it); convergence at the shipped defaults (RSS and
 * Reconciled events counted), at qps 50 / burst 100, with the client limit off; 200 sequential
 * single creates on the idle cluster (latency); and a second control plane with APF off and
 * `--max-requests-inflight`/`--max-mutating-requests-inflight` small (THROTTLE_INFLIGHT /
 * THROTTLE_MUTATING), so it answers 429 at once, converged with the client limit off.
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
import { type MetricsScraper, metricsScraper } from "../tests/harness/operator.ts";
import type { Obj } from "../tests/resilience/model.ts";
import {
  applyDeploy,
  diffCounts,
  type Operator,
  requestsByVerb,
  rng,
  scrapeReviews,
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
const LATENCY_CREATES = env("LATENCY_CREATES", 200);
const THROTTLE_INFLIGHT = env("THROTTLE_INFLIGHT", 8);
const THROTTLE_MUTATING = env("THROTTLE_MUTATING", 3);

const K8S = "inference.networking.k8s.io";
const FINALIZER = "kleym.sonda.red/inferenceidentitybinding-finalizer";

const t0 = Date.now();
export function progress(msg: string): void {
  console.error(`[bench +${((Date.now() - t0) / 1000).toFixed(0).padStart(4)}s] ${msg}`);
}

// ---- clients and objects -------------------------------------------------------------------

const d = (group: string, version: string, plural: string, kind: string, namespaced = true) =>
  ({ group, version, plural, kind, namespaced }) as ResourceDescriptor;

export interface Clients {
  bindings: ResourceClient<Obj>;
  csids: ResourceClient<Obj>;
  namespaces: ResourceClient<Obj>;
  pools: ResourceClient<Obj>;
  objectives: ResourceClient<Obj>;
  events: ResourceClient<Obj>;
  close(): void;
}

export async function clients(kubeconfig: string, qps?: number, burst?: number): Promise<Clients> {
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
    events: r(d("events.k8s.io", "v1", "events", "Event")),
    close: c.close,
  };
}

function pool(ns: string, name: string, labels: Record<string, string>): Obj {
  return {
    apiVersion: `${K8S}/v1`,
    kind: "InferencePool",
    metadata: { name, namespace: ns },
    spec: {
      selector: { matchLabels: labels },
      targetPorts: [{ number: 8000 }],
      endpointPickerRef: { name: `${name}-epp`, port: { number: 9002 } },
    },
  };
}

function objective(ns: string, name: string, poolName: string): Obj {
  return {
    apiVersion: `${K8S}/v1`,
    kind: "InferenceObjective",
    metadata: { name, namespace: ns },
    spec: { poolRef: { name: poolName } },
  };
}

function binding(ns: string, name: string, spec: Record<string, unknown>): Obj {
  return {
    apiVersion: "kleym.sonda.red/v1alpha1",
    kind: "InferenceIdentityBinding",
    metadata: { name, namespace: ns },
    spec: { serviceAccountName: "inference-sa", ...spec },
  };
}

/** One population: `n` bindings over `namespaces`, each with its own pool (and objective). */
interface Population {
  namespaces: string[];
  pools: Obj[];
  objectives: Obj[];
  bindings: Obj[];
}

export function population(prefix: string, n: number): Population {
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

export async function createAll(c: Clients, p: Population, what: string): Promise<void> {
  for (const ns of p.namespaces) {
    await c.namespaces.create({ apiVersion: "v1", kind: "Namespace", metadata: { name: ns } });
  }
  await parallel(p.pools, 16, async (o) => void await c.pools.create(o));
  await parallel(p.objectives, 16, async (o) => void await c.objectives.create(o));
  progress(`${what}: ${p.pools.length} pools, ${p.objectives.length} objectives created`);
}

const percentile = (sorted: number[], q: number) =>
  sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
export const round = (x: number, digits = 2) => Number(x.toFixed(digits));

function isReady(b: Obj): boolean {
  const st = b.status as { conditions?: { type: string; status: string }[] } | undefined;
  return st?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;
}

/** `kleym_workqueue_depth` and `kleym_reconcile_duration_seconds_count`. */
function queueState(text: string): { depth: number; reconciles: number } {
  const depth = Number(/^kleym_workqueue_depth (\S+)$/m.exec(text)?.[1] ?? NaN);
  const reconciles = Number(/^kleym_reconcile_duration_seconds_count (\S+)$/m.exec(text)?.[1] ?? 0);
  return { depth, reconciles };
}

/** Waits until the operator reconciled at least `keys` keys and its queue is empty. */
export async function initialPass(op: Operator, keys: number, deadlineMs: number): Promise<number> {
  const start = Date.now();
  for (;;) {
    const q = queueState(await op.metrics());
    if (q.reconciles >= keys && q.depth === 0) return Date.now() - start;
    if (Date.now() - start > deadlineMs) {
      throw new Error(`initial pass not done within ${deadlineMs} ms (${JSON.stringify(q)})`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * Polls `/healthz` every 100 ms until `stop` aborts; resolves with the slowest answer in ms. A
 * slow answer means the operator's single JavaScript thread was busy (not the network: loopback).
 */
export async function slowestHealthz(op: Operator, stop: AbortSignal): Promise<number> {
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

// ---- convergence runs (issue 15) -------------------------------------------------------------

/** Sum of `kleym_api_requests_total` samples with `code`. */
function requestsWithCode(text: string, code: string): number {
  let n = 0;
  for (const line of text.split("\n")) {
    const m = /^kleym_api_requests_total\{([^}]*)\} (\S+)$/.exec(line);
    if (m && m[1].includes(`code="${code}"`)) n += Number(m[2]);
  }
  return n;
}

/** Event writes (creates and series patches) the operator made. */
function eventsWritten(text: string): number {
  let n = 0;
  for (const m of text.matchAll(/^kleym_events_written_total\{[^}]*\} (\S+)$/gm)) n += Number(m[1]);
  return n;
}

function sampleOf(text: string, name: string): number {
  return Number(new RegExp(`^${name} (\\S+)$`, "m").exec(text)?.[1] ?? NaN);
}

/** RSS from /proc and from the operator's own /metrics, read back to back. */
async function rssNow(op: Operator): Promise<Record<string, number>> {
  const proc = op.memory();
  const metricsRss = sampleOf(await op.metrics(), "process_resident_memory_bytes");
  return { procRssBytes: proc.rss, metricsRssBytes: metricsRss, procPeakRssBytes: proc.hwm };
}

/** Reconciled events about the population's bindings (distinct bindings). */
async function reconciledEvents(c: Clients, p: Population): Promise<number> {
  const names = new Set<string>();
  for (const ns of p.namespaces) {
    const list = await c.events.list({ namespace: ns });
    for (const e of list.items) {
      const ev = e as Obj & { reason?: string; regarding?: { name?: string } };
      if (ev.reason === "Reconciled") names.add(`${ns}/${ev.regarding?.name}`);
    }
  }
  return names.size;
}

/**
 * One convergence run: a fresh population's inputs, an operator with `args`, N bindings created
 * 16 at a time; returns the operator (still running) and the measures. Exactness: every binding
 * Ready, exactly one managed ClusterSPIFFEID per binding, a Reconciled event per binding.
 */
export async function convergeRun(
  label: string,
  admin: Clients,
  saKubeconfig: string,
  prefix: string,
  n: number,
  args: string[],
  ops: Operator[],
  v8Flags?: string,
): Promise<{ op: Operator; out: Record<string, unknown>; keys: string[] }> {
  const p = population(prefix, n);
  await createAll(admin, p, label);
  const op = startBenchOperator(saKubeconfig, args, v8Flags);
  ops.push(op);
  await waitReady(op, Date.now(), 120_000);
  const createdAt = new Map<string, number>();
  const readyAt = new Map<string, number>();
  const stop = new AbortController();
  const informer = new Informer<Obj>(admin.bindings);
  const onBinding = (b: Obj) => {
    const k = `${b.metadata.namespace}/${b.metadata.name}`;
    if (!readyAt.has(k) && isReady(b)) readyAt.set(k, Date.now());
  };
  informer.addHandler({ onAdd: onBinding, onUpdate: (_, b) => onBinding(b) });
  const watching = informer.run(stop.signal);
  await informer.waitForSync();
  const beforeText = await op.metrics();
  const before = requestsByVerb(beforeText);
  const first = Date.now();
  const ticker = setInterval(
    () => {
      const ready = [...createdAt.keys()].filter((k) => readyAt.has(k)).length; // this population
      progress(`${label}: ${createdAt.size} created, ${ready}/${n} Ready`);
    },
    5000,
  );
  await parallel(p.bindings, 16, async (b) => {
    createdAt.set(`${b.metadata.namespace}/${b.metadata.name}`, Date.now());
    await admin.bindings.create(b);
  });
  const keys = p.bindings.map((b) => `${b.metadata.namespace}/${b.metadata.name}`);
  while (keys.some((k) => !readyAt.has(k))) {
    if (Date.now() - first > 30 * 60_000) throw new Error(`${label}: over 30 minutes`);
    await new Promise((r) => setTimeout(r, 100));
  }
  clearInterval(ticker);
  const last = Math.max(...keys.map((k) => readyAt.get(k)!));
  const seconds = (last - first) / 1000;
  const rss = await rssNow(op);
  stop.abort();
  await watching.catch(() => {});
  // Events are asynchronous: wait (bounded) until the recorder's buffer is empty.
  const eventsDeadline = Date.now() + 120_000;
  while (sampleOf(await op.metrics(), "kleym_events_buffered") !== 0) {
    if (Date.now() > eventsDeadline) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  await new Promise((r) => setTimeout(r, 1000)); // the last write's answer
  const afterText = await op.metrics();
  const requests = diffCounts(requestsByVerb(afterText), before);
  const events = await reconciledEvents(admin, p);
  const managed = new Set<string>();
  for (const ns of p.namespaces) {
    const list = await admin.csids.list({
      labelSelector: `kleym.sonda.red/binding-namespace=${ns}`,
    });
    for (const o of list.items) {
      managed.add(`${ns}/${o.metadata.labels?.["kleym.sonda.red/binding-name"]}`);
    }
  }
  const latencies = keys.map((k) => readyAt.get(k)! - createdAt.get(k)!).sort((a, b) => a - b);
  const out = {
    n,
    args,
    convergeSeconds: round(seconds),
    latencyMs: {
      p50: percentile(latencies, 0.5),
      p95: percentile(latencies, 0.95),
      p99: percentile(latencies, 0.99),
    },
    requestsByVerb: requests,
    requestsPerBinding: round(Object.values(requests).reduce((a, b) => a + b, 0) / n, 3),
    writesPerBinding: round(writesOf(requests) / n, 3),
    throttled429: requestsWithCode(afterText, "429") - requestsWithCode(beforeText, "429"),
    scrapeReviews: scrapeReviews(afterText) - scrapeReviews(beforeText),
    reconciledEvents: events,
    eventsDropped: Object.fromEntries(
      [...afterText.matchAll(/^kleym_events_dropped_total\{reason="([^"]+)"\} (\S+)$/gm)].map((
        m,
      ) => [m[1], Number(m[2])]),
    ),
    bindingsWithOneClusterSPIFFEID: keys.filter((k) => managed.has(k)).length,
    managedClusterSPIFFEIDs: managed.size,
    errorLines: op.errorLines.length,
    logLevels: { ...op.levels },
    logNotices: { ...op.notices },
    ...rss,
  };
  progress(`${label}: ${JSON.stringify(out)}`);
  return { op, out, keys };
}

/** LATENCY_CREATES single creates one after the other on an idle cluster: create -> Ready. */
async function singleCreates(admin: Clients): Promise<Record<string, unknown>> {
  const ns = "bench-latency";
  await admin.namespaces.create({ apiVersion: "v1", kind: "Namespace", metadata: { name: ns } });
  for (let i = 0; i < LATENCY_CREATES; i++) {
    await admin.pools.create(pool(ns, `pool-${i}`, { app: `single-${i}` }));
  }
  const stop = new AbortController();
  const ready = new Map<string, number>();
  const informer = new Informer<Obj>(admin.bindings, { namespace: ns });
  const on = (b: Obj) => {
    if (!ready.has(b.metadata.name ?? "") && isReady(b)) {
      ready.set(b.metadata.name ?? "", Date.now());
    }
  };
  informer.addHandler({ onAdd: on, onUpdate: (_, b) => on(b) });
  const watching = informer.run(stop.signal);
  await informer.waitForSync();
  await new Promise((r) => setTimeout(r, 2000)); // idle: nothing in flight
  const latencies: number[] = [];
  for (let i = 0; i < LATENCY_CREATES; i++) {
    const name = `single-${i}`;
    const t = Date.now();
    await admin.bindings.create(
      binding(ns, name, { poolRef: { name: `pool-${i}` }, mode: "PoolOnly" }),
    );
    while (!ready.has(name)) {
      if (Date.now() - t > 60_000) throw new Error(`${name} not Ready within 60 s`);
      await new Promise((r) => setTimeout(r, 1));
    }
    latencies.push(ready.get(name)! - t);
  }
  stop.abort();
  await watching.catch(() => {});
  latencies.sort((a, b) => a - b);
  const out = {
    creates: LATENCY_CREATES,
    p50Ms: percentile(latencies, 0.5),
    p99Ms: percentile(latencies, 0.99),
    maxMs: latencies[latencies.length - 1] ?? 0,
  };
  progress(`single creates: ${JSON.stringify(out)}`);
  return out;
}

/** A control plane with APF off and few in-flight requests: it answers 429 at once. */
async function throttled(): Promise<Record<string, unknown>> {
  const args = [
    `--max-requests-inflight=${THROTTLE_INFLIGHT}`,
    `--max-mutating-requests-inflight=${THROTTLE_MUTATING}`,
  ];
  progress(`throttled: fresh control plane (APF off, ${args.join(" ")})`);
  const cp = await startControlPlane({ apiServerArgs: args });
  const ops: Operator[] = [];
  try {
    const saKubeconfig = await deployAsServiceAccount(cp);
    const admin = await clients(cp.kubeconfigPath, 2000, 2000);
    const { out } = await convergeRun(
      "throttled",
      admin,
      saKubeconfig,
      "thr",
      N,
      ["--kube-api-qps=0"],
      ops,
    );
    const op = ops[0];
    const errors = [...op.errorLines];
    await op.stop();
    admin.close();
    return {
      apiServerArgs: args,
      priorityAndFairness: false,
      ...out,
      errorSamples: errors.slice(0, 5),
    };
  } finally {
    for (const op of ops) if (op.exitCode === undefined) await op.stop();
    await cp.stop();
  }
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

export async function rawWriteAll(
  c: Clients,
  p: Population,
  created: Map<string, Obj>,
  inFlight: number,
) {
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

export async function createBindings(c: Clients, p: Population): Promise<Map<string, Obj>> {
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
  // The runs without a client-side limit rely on the API server's Priority and Fairness.
  let cp: ControlPlane | undefined = await startControlPlane({ priorityAndFairness: true });
  const ops: Operator[] = [];
  const result: Record<string, unknown> = { n: N, priorityAndFairness: true };
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
      N,
      [],
      ops,
    );
    const convergeSeconds = Number(defaults.convergeSeconds);
    Object.assign(result, {
      convergeSeconds,
      latencyMs: defaults.latencyMs,
      requestsByVerb: defaults.requestsByVerb,
      requestsPerBinding: defaults.requestsPerBinding,
      writesPerBinding: defaults.writesPerBinding,
      defaults,
    });

    // 2. steady state
    const steadyBeforeText = await opA.metrics();
    const steadyBefore = requestsByVerb(steadyBeforeText);
    const eventsBefore = eventsWritten(steadyBeforeText);
    progress(`steady state: ${STEADY_SECONDS} s without changes`);
    await new Promise((r) => setTimeout(r, STEADY_SECONDS * 1000));
    const steadyText = await opA.metrics();
    const steady = diffCounts(requestsByVerb(steadyText), steadyBefore);
    result.steadyStateEvents = eventsWritten(steadyText) - eventsBefore;
    result.steadyStateSeconds = STEADY_SECONDS;
    result.steadyStateWrites = writesOf(steady);
    result.steadyStateRequestsByVerb = steady;
    result.steadyStateScrapeReviews = scrapeReviews(steadyText) - scrapeReviews(steadyBeforeText);
    progress(`steady state: ${writesOf(steady)} writes (${JSON.stringify(steady)})`);

    // 2b. single creates on the idle cluster
    result.singleCreates = await singleCreates(admin);

    // 3. churn on shared pools
    result.churn = await churn(admin, opA);

    result.peakRssBytes = opA.memory().hwm;
    result.rssBytes = opA.memory().rss;
    await opA.stop();

    // 4. start-up with N present
    const present = N + CHURN_POOLS * CHURN_PER_POOL + LATENCY_CREATES;
    const spawnB = Date.now();
    const opB = startBenchOperator(saKubeconfig);
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

    // 4b. convergence at qps 50 / burst 100, then with the client limit off (APF on)
    const q50 = await convergeRun("convergence (qps 50)", admin, saKubeconfig, "q50", N, [
      "--kube-api-qps=50",
      "--kube-api-burst=100",
    ], ops);
    await q50.op.stop();
    result.qps50 = {
      ...q50.out,
      threeWriteLimitSeconds: round((3 * N - 100) / 50),
      ratioToThreeWriteLimit: round(Number(q50.out.convergeSeconds) / ((3 * N - 100) / 50)),
    };
    const off = await convergeRun("convergence (no client limit)", admin, saKubeconfig, "off", N, [
      "--kube-api-qps=0",
    ], ops);
    await off.op.stop();
    result.noClientLimit = off.out;

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
      // the raw writer runs at qps 50 / burst 100: compare the operator at the same limits
      ratioToRaw: round(Number(q50.out.convergeSeconds) / rawLimitSeconds),
    });
    progress(
      `raw limit: ${N} x 3 writes in ${rawLimitSeconds.toFixed(1)} s; operator/raw = ${
        (convergeSeconds / rawLimitSeconds).toFixed(2)
      }`,
    );
    admin.close();
    await cp.stop();
    cp = undefined;

    // 5b. the 429 run on its own control plane
    result.throttled = await throttled();

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
    LATENCY_CREATES,
    THROTTLE_INFLIGHT,
    THROTTLE_MUTATING,
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
  const setupStart = Date.now();
  while ([...poolOf.keys()].some((b) => (revOf.get(b) ?? -1) < 0)) {
    if (Date.now() - setupStart > 600_000) {
      throw new Error("churn bindings not Ready in 10 minutes");
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  await new Promise((r) => setTimeout(r, 2000));
  progress(
    `churn: ${total} bindings on ${CHURN_POOLS} shared pools ready; ${CHURN_RATE} updates/s for ${CHURN_SECONDS} s`,
  );
  const before = requestsByVerb(await op.metrics());
  const random = rng(SEED);
  const revs = new Array(CHURN_POOLS).fill(0);
  const start = Date.now();
  let changes = 0;
  for (let i = 0; Date.now() - start < CHURN_SECONDS * 1000; i++) {
    const due = start + (i * 1000) / CHURN_RATE;
    if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
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
  }
  const drainStart = Date.now();
  while (pending.length > 0) {
    if (Date.now() - drainStart > 600_000) {
      throw new Error(`churn: ${pending.length} changes never landed`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const drainSeconds = (Date.now() - drainStart) / 1000;
  await new Promise((r) => setTimeout(r, 2000));
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

/** The scraper of each control plane's operators, by their kubeconfig (`deployAsServiceAccount`). */
const scrapers = new Map<string, MetricsScraper>();

/** deploy.yaml's RBAC applied; a kubeconfig that authenticates as its ServiceAccount. */
export async function deployAsServiceAccount(cp: ControlPlane): Promise<string> {
  await applyDeploy(cp.kubectl);
  const kubeconfig = await serviceAccountKubeconfig(
    cp.kubectl,
    cp.server,
    cp.caPem,
    `${cp.dir}/kubeconfig-kleym`,
  );
  scrapers.set(kubeconfig, await metricsScraper(cp.kubectl, "kleym-system", cp.dir));
  return kubeconfig;
}

/**
 * The operator as shipped: /metrics over HTTPS with every scrape reviewed by the API server, so
 * its memory includes the TLS server. The reviews (at most two per 10 s of scraping) are not the
 * operator's writes: `requestsByVerb` leaves them out and the results report them apart.
 */
export function startBenchOperator(saKubeconfig: string, args: string[] = [], v8Flags?: string) {
  return startOperator(saKubeconfig, args, v8Flags, scrapers.get(saKubeconfig));
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
    op = startBenchOperator(saKubeconfig);
    const healthStop = new AbortController();
    const health = slowestHealthz(op, healthStop.signal);
    const startupMs = await waitReady(op, spawn, 600_000);
    const passMs = await initialPass(op, N_LARGE, 1_800_000);
    healthStop.abort();
    const req = requestsByVerb(await op.metrics());
    const mem = op.memory();
    const rss = await rssNow(op);
    const out = {
      ...rss,
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
  const sc = r.singleCreates as Record<string, number> | undefined;
  const dflt = r.defaults as Record<string, number> | undefined;
  const q = r.qps50 as Record<string, unknown> | undefined;
  const o = r.noClientLimit as Record<string, unknown> | undefined;
  const t = r.throttled as Record<string, unknown> | undefined;
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
    [
      `writes / event writes in ${r.steadyStateSeconds} s of steady state`,
      `${r.steadyStateWrites} / ${r.steadyStateEvents}`,
    ],
    ["operator peak RSS (N + churn)", mib(r.peakRssBytes)],
    [
      "start-up with N present: spawn -> 'caches synced' log / -> /readyz 200",
      `${r.startupCachesSyncedSeconds} s / ${r.startupSeconds} s (initial pass ${r.startupInitialPassSeconds} s after, ${r.startupWrites} writes, slowest /healthz ${r.startupSlowestHealthzMs} ms)`,
    ],
    [
      "single creates on an idle cluster: create -> Ready p50 / p99 / max",
      sc ? `${sc.p50Ms} / ${sc.p99Ms} / ${sc.maxMs} ms (${sc.creates} sequential)` : "?",
    ],
    [
      "operator RSS after converging N (defaults): /proc VmRSS / /metrics / /proc peak (VmHWM)",
      dflt
        ? `${mib(dflt.procRssBytes)} / ${mib(dflt.metricsRssBytes)} / ${mib(dflt.procPeakRssBytes)}`
        : "?",
    ],
    ["Reconciled events after converging N (defaults)", dflt ? String(dflt.reconciledEvents) : "?"],
    [
      "qps 50 / burst 100: converge / 3-write limit (3N-100)/50 / ratio",
      q
        ? `${q.convergeSeconds} s / ${q.threeWriteLimitSeconds} s / ${q.ratioToThreeWriteLimit} (${q.reconciledEvents} Reconciled events, requests ${
          JSON.stringify(q.requestsByVerb)
        })`
        : "?",
    ],
    [
      "no client limit (APF on): converge",
      o
        ? `${o.convergeSeconds} s (${o.reconciledEvents} Reconciled events, ${o.throttled429} x 429)`
        : "?",
    ],
    [
      "429 run (APF off, small max in-flight, no client limit)",
      t
        ? `${
          (t.apiServerArgs as string[]).join(" ")
        }: converged ${t.convergeSeconds} s, ${t.bindingsWithOneClusterSPIFFEID}/${t.n} bindings with their ClusterSPIFFEID (${t.managedClusterSPIFFEIDs} managed), ${t.throttled429} x 429 retried, ${t.reconciledEvents} Reconciled events, ${t.errorLines} error lines, log levels ${
          JSON.stringify(t.logLevels)
        }, warn/error lines by message ${JSON.stringify(t.logNotices)}`
        : "?",
    ],
    ["raw limit (3 writes/binding, qps 50 burst 100)", `${r.rawLimitSeconds} s`],
    ["operator at qps 50 / raw", String(r.ratioToRaw)],
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
        } (RSS /proc ${mib(l.procRssBytes)} vs /metrics ${mib(l.metricsRssBytes)})`
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
