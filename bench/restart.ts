/**
 * A restart on a converged cluster: a fresh control plane, a population whose converged state the
 * raw writer puts in place without a rate limit (setup, not measured), then the operator starts
 * with nothing to do. Measures spawn -> /readyz, the first pass (every binding reconciled once,
 * queue empty), its writes (target 0), the slowest /healthz meanwhile and the peak RSS. The large
 * phase and the namespace-scale phase are this with different populations; the latter may
 * restart several checkouts on one setup (same data, same hour, same load).
 */
import { type ControlPlane, startControlPlane } from "../tests/harness/controlplane.ts";
import { sample } from "../tests/harness/metrics.ts";
import {
  type Operator,
  requestsByVerb,
  startOperator,
  waitReady,
  writesOf,
} from "../tests/resilience/operator.ts";
import { clients } from "./clients.ts";
import { N_LARGE } from "./config.ts";
import {
  deployAsServiceAccount,
  initialPass,
  rssNow,
  scraperOf,
  slowestHealthz,
} from "./operator.ts";
import { createAll, createBindings, type Population, population } from "./population.ts";
import { rawWriteAll } from "./rawwriter.ts";
import { loadavg, progress, round } from "./report.ts";

/** A control plane holding `p` converged; the ServiceAccount kubeconfig for the operator. */
export async function convergedCluster(
  label: string,
  p: Population,
): Promise<{ cp: ControlPlane; saKubeconfig: string }> {
  const n = p.bindings.length;
  progress(`${label}: fresh control plane, ${n} converged bindings in ${p.namespaces.length} ns`);
  const cp = await startControlPlane();
  try {
    const saKubeconfig = await deployAsServiceAccount(cp);
    const admin = await clients(cp.kubeconfigPath, 5000, 5000);
    await createAll(admin, p, label);
    const setup = Date.now();
    const created = await createBindings(admin, p);
    const took = () => ((Date.now() - setup) / 1000).toFixed(0);
    progress(`${label}: ${n} bindings created in ${took()} s; writing their converged state`);
    await rawWriteAll(admin, p, created, 32);
    progress(`${label}: converged state written (${took()} s)`);
    admin.close();
    return { cp, saKubeconfig };
  } catch (e) {
    await cp.stop();
    throw e;
  }
}

/**
 * One operator start on a converged cluster of `n` bindings; `root`: the checkout to run
 * (default this one). The load average is read before the spawn and after the first pass.
 */
export async function restartOn(
  label: string,
  saKubeconfig: string,
  n: number,
  root?: string,
  passDeadlineMs = 1_800_000,
): Promise<Record<string, unknown>> {
  const loadStart = loadavg();
  const spawn = Date.now();
  const op: Operator = startOperator(saKubeconfig, [], undefined, scraperOf(saKubeconfig), root);
  try {
    const healthStop = new AbortController();
    const health = slowestHealthz(op, healthStop.signal);
    const startupMs = await waitReady(op, spawn, 600_000);
    // A first pass past the deadline is a figure too ("not done in x s, k reconciled"), not a
    // failed run: the other layout and checkout still get measured.
    let passMs = NaN;
    try {
      passMs = await initialPass(op, n, passDeadlineMs);
    } catch (e) {
      progress(`${label}: ${e instanceof Error ? e.message : e}`);
    }
    healthStop.abort();
    const text = await op.metrics();
    const req = requestsByVerb(text);
    const mem = op.memory();
    const rss = await rssNow(op);
    const out = {
      ...rss,
      n,
      ...(root ? { root } : {}),
      startupSeconds: round(startupMs / 1000),
      cachesSyncedSeconds: round(((op.syncedAt() ?? NaN) - spawn) / 1000),
      slowestHealthzMs: await health,
      initialPassSeconds: Number.isNaN(passMs) ? null : round(passMs / 1000),
      ...(Number.isNaN(passMs)
        ? {
          initialPassNotDoneWithinSeconds: passDeadlineMs / 1000,
          reconciledAtDeadline: sample(text, "kleym_reconcile_duration_seconds_count") ?? 0,
        }
        : {}),
      writesAfterStartup: writesOf(req),
      requestsByVerb: req,
      peakRssBytes: mem.hwm,
      rssBytes: mem.rss,
      load: { start: loadStart, end: loadavg() },
    };
    progress(`${label}: ${JSON.stringify(out)}`);
    return out;
  } finally {
    await op.stop();
  }
}

/** Setup and one restart of this checkout, on a control plane of its own. */
export async function convergedRestart(
  label: string,
  p: Population,
): Promise<Record<string, unknown>> {
  const { cp, saKubeconfig } = await convergedCluster(label, p);
  try {
    return {
      ...(await restartOn(label, saKubeconfig, p.bindings.length)),
      namespaces: p.namespaces.length,
    };
  } finally {
    await cp.stop();
  }
}

/** Large: N_LARGE converged bindings over the convergence populations' 10 namespaces. */
export const large = () => convergedRestart("large", population("large", N_LARGE));
