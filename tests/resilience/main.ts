/**
 * `make resilience`: the full resilience suite (suite.ts, FULL settings) on a private control
 * plane. Knobs: `SEED=` (default: random, printed), `CHURN_SECONDS=`. Prints the result table and
 * writes it to bench/results/resilience-<seed>.md; exits 1 on any problem.
 */
import { FULL, reportTable, runResilience } from "./suite.ts";

const seed = Number(Deno.env.get("SEED") ?? Math.floor(Math.random() * 2 ** 31));
const churn = Deno.env.get("CHURN_SECONDS");
const report = await runResilience({
  ...FULL,
  seed,
  ...(churn ? { churnSeconds: Number(churn) } : {}),
});
const table = reportTable(report);
console.log(table);
const dir = new URL("../../bench/results/", import.meta.url).pathname;
await Deno.mkdir(dir, { recursive: true });
await Deno.writeTextFile(`${dir}resilience-${seed}.md`, `${table}\n`);
await Deno.writeTextFile(`${dir}resilience-${seed}.json`, `${JSON.stringify(report, null, 2)}\n`);
Deno.exit(report.ok ? 0 : 1);
