/**
 * The resilience suite (docs/benchmarks.md, "Resilience"): on a private control plane, the operator
 * as a separate process (exact permissions, deploy.yaml's ServiceAccount, connected through a TCP
 * proxy the suite controls) goes through
 *
 *   1. churn: seeded random create/update/delete of bindings, pools and objectives (including
 *      colliding and invalid ones, and requests admission refuses) while faults happen —
 *      kube-apiserver restarts, every proxied connection cut, the operator kill -9'd and restarted,
 *      a foreign writer editing and deleting managed ClusterSPIFFEIDs, bursts of a fast foreign
 *      writer (fast_writer.ts) that deletes or overwrites each managed ClusterSPIFFEID the moment
 *      its watch event arrives, milliseconds after kleym's write, and a second writer poking
 *      binding annotations so the operator's resourceVersion-guarded writes hit 409s;
 *   2. convergence: within a deadline the cluster must equal what the independent model
 *      (model.ts) computes from the final inputs — every binding's five conditions, its status
 *      identity, every managed ClusterSPIFFEID's spec/labels/annotation, no orphan, none missing;
 *   3. deletion of every binding: every managed ClusterSPIFFEID disappears, no finalizer sticks;
 *   4. bad input (hostile.ts): a few hundred invalid or hostile objects, first dry-run against the
 *      real CRD (recording what admission refuses), then created under a permissive copy of
 *      kleym's CRD; each reports exactly the modelled reason; the operator keeps its pid and never
 *      exits; RSS before/after is reported.
 *
 * Throughout, a watch on ClusterSPIFFEIDs checks the safety invariant of docs/contract.md#rendering
 * on every object state it delivers (exactly the binding's `k8s:ns:`, a non-empty `k8s:sa:`, the
 * namespaceSelector pinned). Everything random comes from one seed (printed), so a failure replays
 * with `SEED=`.
 */
import { parse, stringify } from "yaml";
import { ApiError } from "../../apis/errors.ts";
import { Informer } from "../../apis/watch.ts";
import { type ControlPlane, kleymCrdText, startControlPlane } from "../harness/controlplane.ts";
import {
  bindingManifest,
  GAIE_V1,
  GAIE_V1ALPHA2,
  objectiveManifest,
  poolV1alpha2Manifest,
  poolV1Manifest,
} from "../harness/manifests.ts";
import { paced, pollUntil } from "../harness/poll.ts";
import { type Clients, clients, compare, holdersOf, type Snapshot, snapshot } from "./contract.ts";
import { FastForeignWriter } from "./fast_writer.ts";
import { hostileSet } from "./hostile.ts";
export { holdersOf };
import {
  canon,
  expectState,
  K8S_GROUP,
  key,
  type Obj,
  type ObjectiveVersion,
  type PoolVersion,
  safetyViolation,
  XK8S_GROUP,
} from "./model.ts";
import {
  applyDeploy,
  type Operator,
  rng,
  serviceAccountKubeconfig,
  startOperator,
  waitReady,
} from "./operator.ts";
import { startTcpProxy, type TcpProxy } from "./proxy.ts";

export interface ResilienceOptions {
  seed: number;
  churnSeconds: number;
  namespaces: number;
  bindingsPerNamespace: number;
  poolsPerNamespace: number;
  objectivesPerNamespace: number;
  /** Input changes per second during churn. */
  opsPerSecond: number;
  apiServerRestarts: number;
  connectionDrops: number;
  operatorKills: number;
  /** Foreign edits/deletes of managed ClusterSPIFFEIDs per second. */
  foreignPerSecond: number;
  /** Bursts of the fast foreign writer (alternately deleting and editing) and their length. */
  fastWriterBursts: number;
  fastWriterBurstMs: number;
  /** Concurrent annotation pokes on bindings per second (409s for the operator). */
  pokesPerSecond: number;
  /** Hostile catalogue copies (namespaces) and seeded fuzz entries per namespace. */
  hostileCopies: number;
  hostileFuzz: number;
  convergeDeadlineMs: number;
  log?: (line: string) => void;
}

export const SHORT: Omit<ResilienceOptions, "seed"> = {
  churnSeconds: 30,
  namespaces: 3,
  bindingsPerNamespace: 8,
  poolsPerNamespace: 4,
  objectivesPerNamespace: 5,
  opsPerSecond: 8,
  apiServerRestarts: 2,
  connectionDrops: 3,
  operatorKills: 1,
  foreignPerSecond: 1,
  fastWriterBursts: 2,
  fastWriterBurstMs: 4_000,
  pokesPerSecond: 3,
  hostileCopies: 1,
  hostileFuzz: 10,
  convergeDeadlineMs: 90_000,
};

export const FULL: Omit<ResilienceOptions, "seed"> = {
  churnSeconds: 180,
  namespaces: 6,
  bindingsPerNamespace: 15,
  poolsPerNamespace: 5,
  objectivesPerNamespace: 8,
  opsPerSecond: 12,
  apiServerRestarts: 4,
  connectionDrops: 8,
  operatorKills: 3,
  foreignPerSecond: 2,
  fastWriterBursts: 6,
  fastWriterBurstMs: 5_000,
  pokesPerSecond: 5,
  hostileCopies: 3,
  hostileFuzz: 25,
  convergeDeadlineMs: 180_000,
};

export interface ResilienceReport {
  seed: number;
  ok: boolean;
  problems: string[];
  seconds: { total: number; churn: number; converge: number; deletion: number; hostile: number };
  faults: {
    apiServerRestarts: number;
    connectionDrops: number;
    connectionsCut: number;
    operatorKills: number;
    foreignEdits: number;
    foreignDeletes: number;
    fastWriterBursts: number;
    /** Writes of the fast foreign writer, by mode (each within ms of a kleym write). */
    fastDeletes: number;
    fastEdits: number;
    pokes: number;
  };
  churn: {
    ops: number;
    refusedByAdmission: number;
    failedDuringFaults: number;
    byKind: Record<string, number>;
  };
  operator: { conflicts409: number; watchRestarts: number; errorLogLines: number; pids: number[] };
  final: {
    bindings: number;
    ready: number;
    byReason: Record<string, number>;
    csids: number;
    /** Bindings in a 5.3 overlap (model), equal to the operator's `kleym_identity_overlaps`. */
    overlapping: number;
  };
  safety: { statesChecked: number; violations: string[] };
  hostile: {
    bindings: number;
    pools: number;
    objectives: number;
    refusedByRealCrd: number;
    refusedByPermissiveCrd: number;
    poolsRefused: number;
    reported: Record<string, number>;
    refusedExamples: string[];
    /** Which hostile bindings kleym's real CRD refused (dry run), and why. */
    refusedByRealCrdDetail: string[];
    rssBefore: number;
    rssAfter: number;
    hwmAfter: number;
    pidStable: boolean;
  };
}

const FIELD_MANAGER = "resilience-churn";
const isApi = (e: unknown, pred: (a: ApiError) => boolean) => e instanceof ApiError && pred(e);

async function converge(
  c: Clients,
  deadlineMs: number,
  alive: () => void,
): Promise<{ problems: string[]; ms: number; last?: Snapshot }> {
  const start = Date.now();
  let problems: string[] = ["not checked"];
  let last: Snapshot | undefined;
  let fatal: { error: unknown } | undefined;
  await pollUntil("convergence", deadlineMs, async () => {
    try {
      alive();
    } catch (error) {
      fatal = { error }; // the operator died: stop at once, not at the deadline
      return true;
    }
    try {
      last = await snapshot(c);
      problems = compare(last);
    } catch (e) {
      problems = [`snapshot failed: ${e}`];
    }
    return problems.length === 0;
  }, 500).catch(() => {/* not converged: reported through `problems` */});
  if (fatal) throw fatal.error;
  return { problems, ms: Date.now() - start, last };
}

// ---- churn ---------------------------------------------------------------------------------

/**
 * docs/contract.md#exclusivity in every run, whatever the seed: a duplicate SPIFFE ID (two
 * PoolOnly bindings of pool `fx`, two service accounts) and an overlap (PerObjective bindings on
 * `fx` and on the narrower `fx-narrow`, one account and container). Churn never touches these
 * names (it uses p<k>, o<k>, b<k>); its own random bindings add more of both.
 */
async function exclusivityFixtures(c: Clients, ns: string): Promise<void> {
  const opts = { fieldManager: FIELD_MANAGER, force: true };
  const pools = c.pools[`${K8S_GROUP}/v1`];
  await pools.apply(poolV1Manifest(ns, "fx", { matchLabels: { app: "fx" } }), opts);
  await pools.apply(
    poolV1Manifest(ns, "fx-narrow", { matchLabels: { app: "fx", tier: "n" } }),
    opts,
  );
  const objectives = c.objectives[`${K8S_GROUP}/v1`];
  await objectives.apply(objectiveManifest(GAIE_V1, ns, "fx-o", { name: "fx" }), opts);
  await objectives.apply(objectiveManifest(GAIE_V1, ns, "fx-n", { name: "fx-narrow" }), opts);
  const bindings: [string, Record<string, unknown>][] = [
    ["dup-a", { poolRef: { name: "fx" }, mode: "PoolOnly", serviceAccountName: "sa-a" }],
    ["dup-b", { poolRef: { name: "fx" }, mode: "PoolOnly", serviceAccountName: "sa-b" }],
    ["ovl-a", {
      poolRef: { name: "fx" },
      objectiveRef: { name: "fx-o" },
      serviceAccountName: "sa-o",
      containerName: "main",
    }],
    ["ovl-b", {
      poolRef: { name: "fx-narrow" },
      objectiveRef: { name: "fx-n" },
      serviceAccountName: "sa-o",
      containerName: "main",
    }],
  ];
  for (const [name, spec] of bindings) {
    await c.bindings.apply(bindingManifest(ns, name, spec), opts);
  }
}

function pick<T>(random: () => number, xs: readonly T[]): T {
  return xs[Math.floor(random() * xs.length)];
}

interface Churner {
  ops: number;
  refused: number;
  failed: number;
  byKind: Record<string, number>;
}

async function churnOp(
  c: Clients,
  o: ResilienceOptions,
  random: () => number,
  ns: string[],
  st: Churner,
) {
  const n = pick(random, ns);
  const r = random();
  let kind: string;
  const poolName = () => `p${Math.floor(random() * o.poolsPerNamespace)}`;
  const objName = () => `o${Math.floor(random() * o.objectivesPerNamespace)}`;
  const bName = () => `b${Math.floor(random() * o.bindingsPerNamespace)}`;
  const group = () => {
    const g = random();
    return g < 0.8 ? undefined : g < 0.9 ? K8S_GROUP : XK8S_GROUP;
  };
  try {
    if (r < 0.42) {
      kind = "binding-apply";
      const perObjective = random() < 0.65;
      const sa = random() < 0.05 ? "Bad_SA" : pick(random, ["sa-a", "sa-a", "sa-b"]);
      const pg = group();
      // Objective o<k> mostly targets pool p<k mod pools>, and so mostly does its binding: most
      // PerObjective bindings can become Ready (or collide), not only fail on a mismatch.
      const k = Math.floor(random() * o.objectivesPerNamespace);
      const pool = perObjective && random() < 0.85 ? `p${k % o.poolsPerNamespace}` : poolName();
      const spec: Record<string, unknown> = {
        poolRef: { name: pool, ...(pg ? { group: pg } : {}) },
        serviceAccountName: sa,
      };
      if (perObjective) {
        if (random() < 0.8) spec.mode = "PerObjective";
        const og = group();
        spec.objectiveRef = { name: `o${k}`, ...(og ? { group: og } : {}) };
        spec.containerName = random() < 0.05 ? "Bad_Name" : pick(random, ["main", "main", "side"]);
      } else spec.mode = "PoolOnly";
      await c.bindings.apply(bindingManifest(n, bName(), spec), {
        fieldManager: FIELD_MANAGER,
        force: true,
      });
    } else if (r < 0.54) {
      kind = "binding-delete";
      await c.bindings.delete(bName(), { namespace: n });
    } else if (r < 0.69) {
      kind = "pool-apply";
      const v1 = random() < 0.7;
      const labels: Record<string, string> = { app: pick(random, ["a", "b", "c"]) };
      if (random() < 0.3) labels.tier = pick(random, ["x", "y"]);
      const bad = random() < 0.08;
      const name = poolName();
      const object: Obj = v1
        ? poolV1Manifest(n, name, { matchLabels: bad ? { "bad key": "v" } : labels })
        : poolV1alpha2Manifest(
          n,
          name,
          bad ? (random() < 0.5 ? {} : { "k8s:ns:other": "v" }) : labels,
        );
      await c.pools[v1 ? `${K8S_GROUP}/v1` : `${XK8S_GROUP}/v1alpha2`].apply(object, {
        fieldManager: FIELD_MANAGER,
        force: true,
      });
    } else if (r < 0.74) {
      kind = "pool-delete";
      await c.pools[random() < 0.5 ? `${K8S_GROUP}/v1` : `${XK8S_GROUP}/v1alpha2`].delete(
        poolName(),
        {
          namespace: n,
        },
      );
    } else if (r < 0.89) {
      kind = "objective-apply";
      const v1 = random() < 0.5;
      const g = random();
      const k = Math.floor(random() * o.objectivesPerNamespace);
      const poolRef: Record<string, string> = {
        name: random() < 0.85 ? `p${k % o.poolsPerNamespace}` : poolName(),
      };
      if (g >= 0.6) poolRef.group = g < 0.85 ? K8S_GROUP : XK8S_GROUP;
      await c.objectives[v1 ? `${K8S_GROUP}/v1` : `${XK8S_GROUP}/v1alpha2`].apply(
        objectiveManifest(v1 ? GAIE_V1 : GAIE_V1ALPHA2, n, `o${k}`, poolRef as { name: string }),
        { fieldManager: FIELD_MANAGER, force: true },
      );
    } else if (r < 0.95) {
      kind = "objective-delete";
      await c.objectives[random() < 0.5 ? `${K8S_GROUP}/v1` : `${XK8S_GROUP}/v1alpha2`].delete(
        objName(),
        {
          namespace: n,
        },
      );
    } else {
      // Shapes kleym's CRD refuses at admission (they must never reach the operator).
      kind = "binding-refused";
      const spec = random() < 0.5
        ? {
          poolRef: { name: poolName() },
          serviceAccountName: "sa-a",
          mode: "PoolOnly",
          containerName: "main",
        }
        : {
          poolRef: { name: poolName(), group: "example.com" },
          serviceAccountName: "sa-a",
          mode: "PoolOnly",
        };
      await c.bindings.apply(bindingManifest(n, bName(), spec), {
        fieldManager: FIELD_MANAGER,
        force: true,
      });
      throw new Error("admission accepted a shape kleym's CRD forbids");
    }
    st.byKind[kind] = (st.byKind[kind] ?? 0) + 1;
  } catch (e) {
    if (isApi(e, (a) => a.isNotFound())) return;
    if (isApi(e, (a) => a.isInvalid())) {
      st.refused++;
      return;
    }
    if (e instanceof Error && e.message.startsWith("admission accepted")) throw e;
    st.failed++;
  } finally {
    st.ops++;
  }
}

// ---- the run -------------------------------------------------------------------------------

/** kleym's CRD without the admission rules that forbid the hostile shapes. */
async function permissiveCrd(): Promise<string> {
  const crd = parse(await kleymCrdText());
  const strip = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(strip);
    if (typeof node !== "object" || node === null) return;
    const r = node as Record<string, unknown>;
    delete r["x-kubernetes-validations"];
    delete r.enum;
    delete r.minLength;
    delete r.maxLength;
    Object.values(r).forEach(strip);
  };
  for (const v of crd.spec.versions) strip(v.schema.openAPIV3Schema.properties.spec);
  return stringify(crd);
}

export async function runResilience(o: ResilienceOptions): Promise<ResilienceReport> {
  const log = o.log ?? ((l: string) => console.error(l));
  const t0 = Date.now();
  const random = rng(o.seed);
  log(`resilience: seed ${o.seed} (replay with SEED=${o.seed})`);
  const report: ResilienceReport = {
    seed: o.seed,
    ok: false,
    problems: [],
    seconds: { total: 0, churn: 0, converge: 0, deletion: 0, hostile: 0 },
    faults: {
      apiServerRestarts: 0,
      connectionDrops: 0,
      connectionsCut: 0,
      operatorKills: 0,
      foreignEdits: 0,
      foreignDeletes: 0,
      fastWriterBursts: 0,
      fastDeletes: 0,
      fastEdits: 0,
      pokes: 0,
    },
    churn: { ops: 0, refusedByAdmission: 0, failedDuringFaults: 0, byKind: {} },
    operator: { conflicts409: 0, watchRestarts: 0, errorLogLines: 0, pids: [] },
    final: { bindings: 0, ready: 0, byReason: {}, csids: 0, overlapping: 0 },
    safety: { statesChecked: 0, violations: [] },
    hostile: {
      bindings: 0,
      pools: 0,
      objectives: 0,
      refusedByRealCrd: 0,
      refusedByPermissiveCrd: 0,
      poolsRefused: 0,
      reported: {},
      refusedExamples: [],
      refusedByRealCrdDetail: [],
      rssBefore: 0,
      rssAfter: 0,
      hwmAfter: 0,
      pidStable: false,
    },
  };
  let cp: ControlPlane | undefined;
  let proxy: TcpProxy | undefined;
  let op: Operator | undefined;
  let c: Clients | undefined;
  const watchStop = new AbortController();
  let watchRun: Promise<void> | undefined;
  const unexpectedExits: string[] = [];
  let expectingExit = false;
  // Counters of operators that were replaced (their metrics die with them).
  const retired = { conflicts: 0, restarts: 0, errors: 0 };
  const metricsOf = async (p: Operator) => {
    const text = await p.metrics().catch(() => "");
    let conflicts = 0;
    let restarts = 0;
    for (const line of text.split("\n")) {
      const m409 = /^kleym_api_requests_total\{[^}]*code="409"[^}]*\} (\S+)$/.exec(line);
      if (m409) conflicts += Number(m409[1]);
      const mr = /^kleym_watch_restarts_total\{[^}]*\} (\S+)$/.exec(line);
      if (mr) restarts += Number(mr[1]);
    }
    return { conflicts, restarts };
  };
  const launch = async (kubeconfig: string) => {
    const p = startOperator(kubeconfig);
    report.operator.pids.push(p.pid);
    p.exited.then((code) => {
      if (!expectingExit) {
        unexpectedExits.push(`operator ${p.pid} exited on its own (code ${code})`);
      }
    });
    await waitReady(p, Date.now(), 120_000);
    return p;
  };
  try {
    cp = await startControlPlane();
    log(`resilience: control plane at ${cp.server}`);
    await applyDeploy(cp.kubectl);
    proxy = startTcpProxy(Number(new URL(cp.server).port));
    const saKubeconfig = await serviceAccountKubeconfig(
      cp.kubectl,
      proxy.url,
      cp.caPem,
      `${cp.dir}/kubeconfig-kleym-proxy`,
    );
    c = await clients(cp.kubeconfigPath);
    const cl = c;
    const namespaces = Array.from({ length: o.namespaces }, (_, i) => `churn-${i}`);
    for (const n of namespaces) {
      await cl.namespaces.create({ apiVersion: "v1", kind: "Namespace", metadata: { name: n } });
    }

    // The continuous safety watch (straight to the API server, not through the proxy).
    const informer = new Informer<Obj>(cl.csids, { backoffBaseMs: 100, backoffMaxMs: 1000 });
    const check = (obj: Obj) => {
      report.safety.statesChecked++;
      const v = safetyViolation(obj);
      if (v && report.safety.violations.length < 50) report.safety.violations.push(v);
    };
    informer.addHandler({ onAdd: check, onUpdate: (_, obj) => check(obj) });
    watchRun = informer.run(watchStop.signal);

    op = await launch(saKubeconfig);
    log(`resilience: operator pid ${op.pid} ready`);
    await exclusivityFixtures(cl, namespaces[0]);

    // ---- 1. churn with faults ----
    const churnStart = Date.now();
    const churnEnd = churnStart + o.churnSeconds * 1000;
    const st: Churner = { ops: 0, refused: 0, failed: 0, byKind: {} };
    const faultRandom = rng(o.seed ^ 0x5eed);
    type Fault = { at: number; kind: "apiserver" | "drop" | "kill" };
    const faults: Fault[] = [
      ...Array.from({ length: o.apiServerRestarts }, () => ({ kind: "apiserver" as const })),
      ...Array.from({ length: o.connectionDrops }, () => ({ kind: "drop" as const })),
      ...Array.from({ length: o.operatorKills }, () => ({ kind: "kill" as const })),
    ].map((f) => ({ ...f, at: churnStart + (0.05 + 0.93 * faultRandom()) * o.churnSeconds * 1000 }))
      .sort((a, b) => a.at - b.at);
    const sleepUntil = async (t: number) => {
      const d = t - Date.now();
      if (d > 0) await new Promise((r) => setTimeout(r, d));
    };
    const cpRef = cp;
    const proxyRef = proxy;
    const faultLoop = (async () => {
      for (const f of faults) {
        await sleepUntil(f.at);
        if (f.kind === "apiserver") {
          log(
            `resilience: +${
              ((Date.now() - churnStart) / 1000).toFixed(1)
            }s restarting kube-apiserver`,
          );
          await cpRef.restartApiServer();
          report.faults.apiServerRestarts++;
        } else if (f.kind === "drop") {
          const n = proxyRef.dropAll();
          report.faults.connectionDrops++;
          report.faults.connectionsCut += n;
          log(
            `resilience: +${
              ((Date.now() - churnStart) / 1000).toFixed(1)
            }s cut ${n} operator connections`,
          );
        } else {
          const old = op!;
          const m = await metricsOf(old);
          retired.conflicts += m.conflicts;
          retired.restarts += m.restarts;
          retired.errors += old.levels.error ?? 0;
          expectingExit = true;
          old.kill("SIGKILL");
          await old.exited;
          expectingExit = false;
          report.faults.operatorKills++;
          log(
            `resilience: +${
              ((Date.now() - churnStart) / 1000).toFixed(1)
            }s kill -9 operator ${old.pid}`,
          );
          op = await launch(saKubeconfig);
          log(`resilience: operator restarted as pid ${op.pid}`);
        }
      }
    })();
    const churnLoop = paced(
      churnStart,
      o.opsPerSecond,
      churnEnd,
      () => churnOp(cl, o, random, namespaces, st),
    );
    const foreignRandom = rng(o.seed ^ 0xf0e1);
    const foreignLoop = paced(churnStart, o.foreignPerSecond, churnEnd, async () => {
      try {
        const list = await cl.csids.list({ labelSelector: "kleym.sonda.red/managed-by=kleym" });
        if (list.items.length === 0) return;
        const target = pick(foreignRandom, list.items);
        const name = target.metadata.name ?? "";
        const r = foreignRandom();
        if (r < 0.3) {
          await cl.csids.delete(name);
          report.faults.foreignDeletes++;
          return;
        }
        const patch = r < 0.45
          ? { spec: { spiffeIDTemplate: "spiffe://evil.example/stolen" } }
          : r < 0.6
          ? {
            spec: {
              dnsNameTemplates: ["evil.example"],
              podSelector: { matchLabels: { app: "evil" } },
            },
          }
          : r < 0.75
          ? { metadata: { labels: { "foreign.example/touched": "yes" } } }
          : r < 0.9
          ? { metadata: { annotations: { "kleym.sonda.red/binding-uid": "someone-else" } } }
          : { spec: { fallback: true, hint: "foreign" } };
        await cl.csids.patch(name, "merge", patch);
        report.faults.foreignEdits++;
      } catch { /* raced with a delete, or the API server is restarting */ }
    });
    const pokeRandom = rng(o.seed ^ 0x90c3);
    const pokeLoop = paced(churnStart, o.pokesPerSecond, churnEnd, async (i) => {
      try {
        const n = pick(pokeRandom, namespaces);
        const b = `b${Math.floor(pokeRandom() * o.bindingsPerNamespace)}`;
        await cl.bindings.patch(b, "merge", {
          metadata: {
            annotations: { "churn.example/poke": String(i) },
            labels: { "churn.example/poke": String(i % 7) },
          },
        }, { namespace: n });
        report.faults.pokes++;
      } catch { /* not there, or the API server is restarting */ }
    });
    // The fast foreign writer: bursts at seeded times, all over before churn ends (then the
    // model judges what kleym made of it). Straight to the API server, not through the proxy.
    const fastRandom = rng(o.seed ^ 0xfa57);
    const bursts = Array.from({ length: o.fastWriterBursts }, (_, i) => ({
      at: churnStart + (0.05 + 0.9 * fastRandom()) * (o.churnSeconds * 1000 - o.fastWriterBurstMs),
      mode: i % 2 === 0 ? "delete" as const : "edit" as const,
    })).sort((a, b) => a.at - b.at);
    const fastLoop = (async () => {
      for (const burst of bursts) {
        await sleepUntil(burst.at);
        const writer = new FastForeignWriter(cl.csids, { mode: burst.mode });
        await writer.start();
        log(
          `resilience: +${
            ((Date.now() - churnStart) / 1000).toFixed(1)
          }s fast foreign writer (${burst.mode}) for ${o.fastWriterBurstMs} ms`,
        );
        await sleepUntil(Date.now() + o.fastWriterBurstMs);
        await writer.stop();
        report.faults.fastWriterBursts++;
        if (burst.mode === "delete") report.faults.fastDeletes += writer.writes;
        else report.faults.fastEdits += writer.writes;
      }
    })();
    await Promise.all([churnLoop, foreignLoop, pokeLoop, faultLoop, fastLoop]);
    report.churn = {
      ops: st.ops,
      refusedByAdmission: st.refused,
      failedDuringFaults: st.failed,
      byKind: st.byKind,
    };
    report.seconds.churn = (Date.now() - churnStart) / 1000;
    log(
      `resilience: churn done: ${st.ops} ops (${st.refused} refused by admission, ${st.failed} failed during faults), ` +
        `faults ${canon(report.faults)}`,
    );

    // ---- 2. convergence ----
    const alive = () => {
      if (unexpectedExits.length > 0) throw new Error(unexpectedExits.join("; "));
    };
    const conv = await converge(cl, o.convergeDeadlineMs, alive);
    report.seconds.converge = conv.ms / 1000;
    if (conv.last) {
      const e = expectState(conv.last.inputs, holdersOf(conv.last.csids));
      report.final.bindings = e.bindings.size;
      for (const b of e.bindings.values()) {
        report.final.byReason[b.reason] = (report.final.byReason[b.reason] ?? 0) + 1;
        if (b.ready) report.final.ready++;
      }
      report.final.csids = e.csids.size;
      report.final.overlapping = e.overlapping;
      // The fixtures keep one duplicate pair and one overlap pair in every converged state.
      if ((report.final.byReason.DuplicateSPIFFEID ?? 0) < 2 || e.overlapping < 2) {
        report.problems.push(`the model lost the exclusivity fixtures: ${canon(report.final)}`);
      }
      const gauge = async () =>
        Number(/^kleym_identity_overlaps (\S+)$/m.exec(await op!.metrics())?.[1] ?? NaN);
      await pollUntil(
        `kleym_identity_overlaps = ${e.overlapping}`,
        30_000,
        async () => (await gauge()) === e.overlapping,
      ).catch(async () => {
        report.problems.push(
          `kleym_identity_overlaps ${await gauge()} != ${e.overlapping} overlapping bindings`,
        );
      });
    }
    if (conv.problems.length > 0) {
      report.problems.push(
        `not converged within ${o.convergeDeadlineMs} ms:`,
        ...conv.problems.slice(0, 40),
      );
      throw new Stop();
    }
    log(`resilience: converged in ${(conv.ms / 1000).toFixed(1)} s: ${canon(report.final)}`);

    // ---- 3. delete everything: no finalizer sticks, no orphan remains ----
    const delStart = Date.now();
    const deleted = await deleteAllBindings(cl, o.convergeDeadlineMs, alive);
    report.seconds.deletion = (Date.now() - delStart) / 1000;
    if (deleted.length > 0) {
      report.problems.push("deletion did not finish:", ...deleted.slice(0, 40));
      throw new Stop();
    }
    log(
      `resilience: all bindings deleted, no managed ClusterSPIFFEID left (${
        report.seconds.deletion.toFixed(1)
      } s)`,
    );

    // ---- 4. bad input ----
    const hStart = Date.now();
    const hostileProblems = await hostilePhase(cl, cp, op, o, report, alive, log);
    report.seconds.hostile = (Date.now() - hStart) / 1000;
    report.problems.push(...hostileProblems);
  } catch (e) {
    if (!(e instanceof Stop)) {
      report.problems.push(`suite error: ${e instanceof Error ? e.stack : e}`);
    }
  } finally {
    if (op) {
      const m = await metricsOf(op);
      report.operator.conflicts409 = retired.conflicts + m.conflicts;
      report.operator.watchRestarts = retired.restarts + m.restarts;
      report.operator.errorLogLines = retired.errors + (op.levels.error ?? 0);
      expectingExit = true;
      const code = await op.stop();
      if (code !== 0) report.problems.push(`operator exit code ${code} after SIGTERM (want 0)`);
      if (report.problems.length > 0) {
        report.problems.push("operator's last log lines:", ...op.lastLines.slice(-15));
      }
    }
    report.problems.push(...unexpectedExits);
    report.problems.push(...report.safety.violations.map((v) => `safety: ${v}`));
    watchStop.abort();
    await watchRun?.catch(() => {});
    c?.close();
    await proxy?.close();
    await cp?.stop();
  }
  report.seconds.total = (Date.now() - t0) / 1000;
  report.ok = report.problems.length === 0;
  return report;
}

class Stop extends Error {}

async function deleteAllBindings(
  c: Clients,
  deadlineMs: number,
  alive: () => void,
): Promise<string[]> {
  const all = await c.bindings.listAll();
  for (const b of all.items) {
    try {
      await c.bindings.delete(b.metadata.name ?? "", { namespace: b.metadata.namespace });
    } catch (e) {
      if (!isApi(e, (a) => a.isNotFound())) throw e;
    }
  }
  let left: string[] = [];
  let fatal: { error: unknown } | undefined;
  await pollUntil("every binding and managed ClusterSPIFFEID gone", deadlineMs, async () => {
    try {
      alive();
    } catch (error) {
      fatal = { error };
      return true;
    }
    const [bs, cs] = await Promise.all([
      c.bindings.listAll(),
      c.csids.listAll({ labelSelector: "kleym.sonda.red/managed-by=kleym" }),
    ]);
    left = [
      ...bs.items.map((b) =>
        `binding ${b.metadata.namespace}/${b.metadata.name} still there (finalizers ${
          canon(b.metadata.finalizers)
        })`
      ),
      ...cs.items.map((o) => `managed ClusterSPIFFEID ${o.metadata.name} still there`),
    ];
    return left.length === 0;
  }, 500).catch(() => {/* reported through `left` */});
  if (fatal) throw fatal.error;
  return left;
}

async function hostilePhase(
  c: Clients,
  cp: ControlPlane,
  op: Operator,
  o: ResilienceOptions,
  report: ResilienceReport,
  alive: () => void,
  log: (l: string) => void,
): Promise<string[]> {
  const problems: string[] = [];
  const h = report.hostile;
  const set = hostileSet(rng(o.seed ^ 0xbad), o.hostileCopies, o.hostileFuzz);
  const pid = op.pid;
  h.rssBefore = op.memory().rss;
  for (const n of set.namespaces) {
    await c.namespaces.create({ apiVersion: "v1", kind: "Namespace", metadata: { name: n } });
  }
  const refusedPools = new Set<string>();
  for (const p of set.pools) {
    const v: PoolVersion = p.version === "v1" ? `${K8S_GROUP}/v1` : `${XK8S_GROUP}/v1alpha2`;
    try {
      await c.pools[v].create(p.object);
    } catch (e) {
      if (!isApi(e, (a) => a.isInvalid() || a.status === 400)) throw e;
      refusedPools.add(key(p.object.metadata.namespace ?? "", p.object.metadata.name ?? ""));
      if (h.refusedExamples.length < 12) {
        h.refusedExamples.push(
          `pool ${p.object.metadata.name} ${
            canon((p.object.spec as { selector: unknown }).selector).slice(0, 60)
          }: ${(e as ApiError).message.slice(0, 120)}`,
        );
      }
    }
  }
  h.pools = set.pools.length;
  h.poolsRefused = refusedPools.size;
  for (const ob of set.objectives) {
    const v: ObjectiveVersion = ob.version === "v1" ? `${K8S_GROUP}/v1` : `${XK8S_GROUP}/v1alpha2`;
    await c.objectives[v].create(ob.object);
  }
  h.objectives = set.objectives.length;

  // Admission with the real CRD (dry run), then the permissive copy for real.
  const realRefused = new Set<string>();
  for (const b of set.bindings) {
    try {
      await c.bindings.create(b.object, { dryRun: true });
    } catch (e) {
      if (!isApi(e, (a) => a.isInvalid() || a.status === 400)) throw e;
      realRefused.add(key(b.object.metadata.namespace ?? "", b.object.metadata.name ?? ""));
      const msg = (e as ApiError).message.replace(/^.*? is invalid: /, "");
      const line = `${b.object.metadata.name?.slice(0, 30)}: ${msg.slice(0, 110)}`;
      // The catalogue repeats per namespace: list each refusal once.
      if (!h.refusedByRealCrdDetail.includes(line)) h.refusedByRealCrdDetail.push(line);
    }
  }
  h.refusedByRealCrd = realRefused.size;
  await cp.kubectl(["apply", "--server-side", "--force-conflicts", "-f", "-"], {
    stdin: await permissiveCrd(),
  });
  await cp.kubectl([
    "wait",
    "--for=condition=Established",
    "--timeout=60s",
    "crd/inferenceidentitybindings.kleym.sonda.red",
  ]);
  const created: typeof set.bindings = [];
  // The CRD update takes a moment to reach the API server's validation: a refusal of what only
  // kleym's real CRD refuses is retried until 10 s after the first create (the deadline bounds it).
  const retryUntil = Date.now() + 10_000;
  for (const b of set.bindings) {
    const k = key(b.object.metadata.namespace ?? "", b.object.metadata.name ?? "");
    let outcome: { created: true } | { refused: ApiError } | { fatal: unknown } | undefined;
    await pollUntil(`create ${k}`, Math.max(0, retryUntil - Date.now()), async () => {
      try {
        await c.bindings.create(b.object);
        outcome = { created: true };
      } catch (e) {
        outcome = isApi(e, (a) => a.isInvalid() || a.status === 400)
          ? { refused: e as ApiError }
          : { fatal: e };
      }
      return !("refused" in outcome) || !realRefused.has(k);
    }, 200).catch(() => {/* still refused at the deadline: counted below */});
    if (outcome === undefined) continue;
    if ("fatal" in outcome) throw outcome.fatal;
    if ("created" in outcome) {
      created.push(b);
      continue;
    }
    h.refusedByPermissiveCrd++;
    const line = `binding ${b.object.metadata.name?.slice(0, 40)}: ${
      outcome.refused.message.slice(0, 140)
    }`;
    if (h.refusedExamples.length < 24 && !h.refusedExamples.includes(line)) {
      h.refusedExamples.push(line);
    }
  }
  h.bindings = set.bindings.length;
  log(
    `resilience: hostile: ${set.bindings.length} bindings (${realRefused.size} refused by kleym's CRD, ` +
      `${h.refusedByPermissiveCrd} even by the permissive copy), ${set.pools.length} pools (${refusedPools.size} refused), ` +
      `${set.objectives.length} objectives`,
  );

  const conv = await converge(c, o.convergeDeadlineMs, alive);
  if (conv.problems.length > 0) {
    problems.push(
      `hostile inputs not converged within ${o.convergeDeadlineMs} ms:`,
      ...conv.problems.slice(0, 40),
    );
  }
  if (conv.last) {
    // The generator's intent and the model must agree, and every intent must be what is reported.
    const e = expectState(conv.last.inputs, holdersOf(conv.last.csids));
    for (const b of created) {
      const k = key(b.object.metadata.namespace ?? "", b.object.metadata.name ?? "");
      const want = b.pool && refusedPools.has(key(b.object.metadata.namespace ?? "", b.pool))
        ? "TargetPoolNotFound"
        : b.intent;
      const got = e.bindings.get(k)?.reason;
      h.reported[got ?? "absent"] = (h.reported[got ?? "absent"] ?? 0) + 1;
      // In the 63-character namespace, equal SPIFFE IDs alias to one ClusterSPIFFEID name (see
      // model.ts): all but the holder report ClusterSPIFFEIDNameTaken.
      const aliased = want === "Reconciled" && got === "ClusterSPIFFEIDNameTaken";
      if (got !== want && !aliased) {
        problems.push(`hostile ${k}: model says ${got}, generator intends ${want}`);
      }
    }
  }
  alive();
  h.pidStable = op.pid === pid && op.exitCode === undefined;
  if (!h.pidStable) {
    problems.push(`operator pid changed or exited during bad input (exit ${op.exitCode})`);
  }
  const mem = op.memory();
  h.rssAfter = mem.rss;
  h.hwmAfter = mem.hwm;

  const left = await deleteAllBindings(c, o.convergeDeadlineMs, alive);
  if (left.length > 0) problems.push("hostile deletion did not finish:", ...left.slice(0, 20));
  return problems;
}

export function reportTable(r: ResilienceReport): string {
  const mb = (b: number) => `${(b / 1024 / 1024).toFixed(1)} MiB`;
  const rows: [string, string][] = [
    ["seed", String(r.seed)],
    ["outcome", r.ok ? "PASS" : `FAIL (${r.problems.length} problems)`],
    [
      "duration",
      `${r.seconds.total.toFixed(1)} s (churn ${r.seconds.churn.toFixed(1)}, converge ${
        r.seconds.converge.toFixed(1)
      }, delete ${r.seconds.deletion.toFixed(1)}, bad input ${r.seconds.hostile.toFixed(1)})`,
    ],
    [
      "churn ops",
      `${r.churn.ops} (${
        canon(r.churn.byKind)
      }); ${r.churn.refusedByAdmission} refused by admission; ${r.churn.failedDuringFaults} failed during faults`,
    ],
    ["kube-apiserver restarts", String(r.faults.apiServerRestarts)],
    ["connection cuts", `${r.faults.connectionDrops} (${r.faults.connectionsCut} connections)`],
    ["operator kill -9", `${r.faults.operatorKills} (pids ${r.operator.pids.join(", ")})`],
    ["foreign edits / deletes", `${r.faults.foreignEdits} / ${r.faults.foreignDeletes}`],
    [
      "fast foreign writer (on the watch event)",
      `${r.faults.fastWriterBursts} bursts: ${r.faults.fastDeletes} deletes, ${r.faults.fastEdits} edits`,
    ],
    [
      "annotation pokes (409 source)",
      `${r.faults.pokes}; operator saw ${r.operator.conflicts409} x 409`,
    ],
    ["operator watch restarts (sampled every 30 s)", String(r.operator.watchRestarts)],
    [
      "final inputs",
      `${r.final.bindings} bindings, ${r.final.ready} Ready, ${r.final.csids} ClusterSPIFFEIDs; ${
        canon(r.final.byReason)
      }`,
    ],
    [
      "safety watch",
      `${r.safety.statesChecked} object states checked, ${r.safety.violations.length} violations`,
    ],
    [
      "bad input",
      `${r.hostile.bindings} bindings (${r.hostile.refusedByRealCrd} refused by kleym's CRD, ${r.hostile.refusedByPermissiveCrd} by the permissive copy), ${r.hostile.pools} pools (${r.hostile.poolsRefused} refused), ${r.hostile.objectives} objectives`,
    ],
    ["bad input reasons", canon(r.hostile.reported)],
    [
      "operator RSS (bad input)",
      `${mb(r.hostile.rssBefore)} before, ${mb(r.hostile.rssAfter)} after, peak ${
        mb(r.hostile.hwmAfter)
      }; same pid: ${r.hostile.pidStable}`,
    ],
  ];
  const lines = [
    "| what | result |",
    "| --- | --- |",
    ...rows.map(([a, b]) => `| ${a} | ${b.replaceAll("|", "\\|")} |`),
  ];
  if (r.hostile.refusedExamples.length > 0) {
    lines.push(
      "",
      "Refused at admission (examples):",
      ...r.hostile.refusedExamples.map((x) => `- ${x}`),
    );
  }
  if (r.hostile.refusedByRealCrdDetail.length > 0) {
    lines.push(
      "",
      "Bindings kleym's CRD refuses at admission (then created under the permissive copy, so the " +
        "controller's own validation is exercised too):",
      ...r.hostile.refusedByRealCrdDetail.map((x) => `- ${x}`),
    );
  }
  if (!r.ok) lines.push("", "Problems:", ...r.problems.map((p) => `- ${p}`));
  return lines.join("\n");
}
