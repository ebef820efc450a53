/**
 * `make bench-v8flags`: compares V8 flag sets for the operator on the two numbers the memory
 * and start-up acceptance needs (docs/benchmarks.md "Memory: V8 flag sets"), without the rest of
 * `make bench`:
 *   1. per flag set, a fresh control plane and N (1000) bindings converging through the operator:
 *      its peak RSS (VmHWM);
 *   2. one control plane with N_LARGE (10000) converged bindings (raw writer); per flag set an
 *      operator restart: spawn -> /readyz 200, the initial pass, writes (target 0), peak RSS.
 *
 * Knobs: V8_FLAGS — flag sets separated by `;`, each a comma list as in `--v8-flags=` (an empty set
 * runs without V8 flags; default: the deno.json operator task's); N, N_LARGE; SMALL=0 / LARGE=0 skip
 * a phase. Results on stdout (markdown table) and bench/results/v8flags-<time>.json. Each row
 * carries the load average when it was measured: the machine is shared.
 */
import { type ControlPlane, startControlPlane } from "../tests/harness/controlplane.ts";
import {
  type Operator,
  operatorPermissions,
  requestsByVerb,
  waitReady,
  writesOf,
} from "../tests/resilience/operator.ts";
import { clients } from "./clients.ts";
import { convergeRun } from "./converge.ts";
import {
  deployAsServiceAccount,
  initialPass,
  slowestHealthz,
  startBenchOperator,
} from "./operator.ts";
import { createAll, createBindings, population } from "./population.ts";
import { rawWriteAll } from "./rawwriter.ts";
import { progress, round } from "./report.ts";

const env = (k: string, d: number) => Number(Deno.env.get(k) ?? d);
const N = env("N", 1000);
const N_LARGE = env("N_LARGE", 10000);
const SMALL = env("SMALL", 1) !== 0;
const LARGE = env("LARGE", 1) !== 0;
const shipped = operatorPermissions().find((f) => f.startsWith("--v8-flags="))?.slice(11) ?? "";
const SETS = (Deno.env.get("V8_FLAGS") ?? shipped).split(";").map((s) => s.trim());
const MiB = (b: number) => round(b / 1048576, 1);
const load = () => Deno.loadavg().map((x) => x.toFixed(2)).join(" ");

interface Row {
  flags: string;
  small?: { peakMiB: number; convergeSeconds: number; load: string };
  large?: {
    readySeconds: number;
    initialPassSeconds: number;
    writes: number;
    slowestHealthzMs: number;
    peakMiB: number;
    peakAtReadyMiB: number;
    load: string;
  };
}

async function small(flags: string, i: number): Promise<Row["small"]> {
  const cp = await startControlPlane({ priorityAndFairness: true });
  const ops: Operator[] = [];
  try {
    const sa = await deployAsServiceAccount(cp);
    const admin = await clients(cp.kubeconfigPath, 2000, 2000);
    const { op, out } = await convergeRun(`small[${i}]`, admin, sa, `s${i}`, N, [], ops, flags);
    const row = {
      peakMiB: MiB(op.memory().hwm),
      convergeSeconds: Number(out.convergeSeconds),
      load: load(),
    };
    admin.close();
    return row;
  } finally {
    for (const op of ops) if (op.exitCode === undefined) await op.stop();
    await cp.stop();
  }
}

async function largeSetup(cp: ControlPlane): Promise<string> {
  const sa = await deployAsServiceAccount(cp);
  const admin = await clients(cp.kubeconfigPath, 5000, 5000);
  const p = population("large", N_LARGE);
  await createAll(admin, p, "large");
  const created = await createBindings(admin, p);
  await rawWriteAll(admin, p, created, 32);
  admin.close();
  progress(`large: ${N_LARGE} converged bindings written`);
  return sa;
}

async function restart(sa: string, flags: string): Promise<Row["large"]> {
  const spawn = Date.now();
  const op = startBenchOperator(sa, [], flags);
  try {
    const healthStop = new AbortController();
    const health = slowestHealthz(op, healthStop.signal);
    const readyMs = await waitReady(op, spawn, 600_000);
    const atReady = op.memory().hwm; // the lists' share of the peak (before the initial pass)
    const passMs = await initialPass(op, N_LARGE, 1_800_000);
    healthStop.abort();
    return {
      readySeconds: round(readyMs / 1000),
      initialPassSeconds: round(passMs / 1000),
      writes: writesOf(requestsByVerb(await op.metrics())),
      slowestHealthzMs: await health,
      peakMiB: MiB(op.memory().hwm),
      peakAtReadyMiB: MiB(atReady),
      load: load(),
    };
  } finally {
    await op.stop();
  }
}

async function run() {
  progress(`V8 flag sets: ${JSON.stringify(SETS)}; N=${N} N_LARGE=${N_LARGE}; load ${load()}`);
  const rows: Row[] = SETS.map((flags) => ({ flags }));
  if (SMALL) {
    for (const [i, row] of rows.entries()) {
      row.small = await small(row.flags, i);
      progress(`small ${JSON.stringify(row)}`);
    }
  }
  if (LARGE) {
    const cp = await startControlPlane();
    try {
      const sa = await largeSetup(cp);
      for (const row of rows) {
        row.large = await restart(sa, row.flags);
        progress(`large ${JSON.stringify(row)}`);
      }
    } finally {
      await cp.stop();
    }
  }
  console.log(
    `| V8 flags | ${N} converge: peak RSS (load) | ${N_LARGE} restart: /readyz, ` +
      `initial pass, writes, slowest /healthz (load) | ${N_LARGE} restart: peak RSS |`,
  );
  console.log("| --- | --- | --- | --- |");
  for (const r of rows) {
    const s = r.small ? `${r.small.peakMiB} MiB (${r.small.load})` : "-";
    const l = r.large
      ? `${r.large.readySeconds} s, ${r.large.initialPassSeconds} s, ${r.large.writes}, ` +
        `${r.large.slowestHealthzMs} ms (${r.large.load})`
      : "-";
    console.log(
      `| \`${r.flags || "(none)"}\` | ${s} | ${l} | ${
        r.large ? `${r.large.peakMiB} MiB (${r.large.peakAtReadyMiB} at /readyz)` : "-"
      } |`,
    );
  }
  const dir = new URL("./results/", import.meta.url).pathname;
  await Deno.mkdir(dir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  await Deno.writeTextFile(`${dir}v8flags-${stamp}.json`, `${JSON.stringify(rows, null, 2)}\n`);
}

if (import.meta.main) await run();
