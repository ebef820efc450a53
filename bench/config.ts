/**
 * The benchmark's knobs (environment or make variables, docs/benchmarks.md) and fixed shapes.
 * Read once at start; every bench module takes its settings from here.
 */
const env = (k: string, d: number) => Number(Deno.env.get(k) ?? d);

export const N = env("N", 1000);
export const N_LARGE = env("N_LARGE", 10000);
/** `LARGE=0` skips the large restart phase. */
export const LARGE = env("LARGE", 1) !== 0;
export const STEADY_SECONDS = env("STEADY_SECONDS", 60);
export const CHURN_SECONDS = env("CHURN_SECONDS", 60);
export const CHURN_RATE = env("CHURN_RATE", 10);
export const SEED = env("SEED", 1);
export const REFERENCE = Deno.env.get("REFERENCE") === "1";
export const LATENCY_CREATES = env("LATENCY_CREATES", 200);
export const THROTTLE_INFLIGHT = env("THROTTLE_INFLIGHT", 8);
export const THROTTLE_MUTATING = env("THROTTLE_MUTATING", 3);
/**
 * The namespace-scale phase (docs/contract.md#exclusivity-cost): `SCALE_N` converged bindings in
 * one namespace, then the same spread over `SCALE_SPREAD` namespaces. `SCALE=0` skips it.
 */
export const SCALE = env("SCALE", 1) !== 0;
export const SCALE_N = env("SCALE_N", 10000);
export const SCALE_SPREAD = env("SCALE_SPREAD", 50);
/** How long a first pass of the scale phase may take before it is reported as not done. */
export const SCALE_PASS_DEADLINE_S = env("SCALE_PASS_DEADLINE_S", 1800);

/** Namespaces of the convergence populations. */
export const NAMESPACES = 10;
export const CHURN_POOLS = 5;
export const CHURN_PER_POOL = 20;
/** Every bench binding runs as this one ServiceAccount. */
export const SERVICE_ACCOUNT = "inference-sa";
/**
 * `make bench-scale` only: checkouts to restart on each converged layout, `label=path` separated
 * by `,` (e.g. `before=/src/old,after=.`), so two versions are compared on the same data under
 * the same load. Default: this checkout.
 */
export const SCALE_ROOTS: { label: string; root?: string }[] = (Deno.env.get("SCALE_ROOTS") ?? "")
  .split(",").filter((x) => x.includes("=")).map((x) => {
    const [label, root] = x.split("=", 2);
    // absolute, so the operator's cwd is that checkout; it may not exist yet (SCALE_GATE)
    return { label, root: new URL(root, `file://${Deno.cwd()}/`).pathname.replace(/\/$/, "") };
  });
/**
 * `make bench-scale` only: when set, the restarts of checkout `label` wait (up to 3 h) until the
 * file `<SCALE_GATE>.<label>` exists, so a later version can be measured on the same converged
 * clusters once it exists (both layouts stay up meanwhile).
 */
export const SCALE_GATE = Deno.env.get("SCALE_GATE");
