/**
 * The short resilience run (docs/benchmarks.md, "Resilience") inside `make test`
 * (tests/resilience/suite.ts with SHORT settings, a private control plane). Random churn with
 * kube-apiserver restarts, cut connections, a kill -9 of the operator, foreign edits, bursts of the
 * fast foreign writer (deletes / edits on the watch event, milliseconds after kleym's writes) and
 * 409s; then the cluster must equal what the independent model says for the final inputs, deletion
 * must leave nothing behind, and a catalogue of hostile inputs must be reported exactly, without a
 * crash. `SEED=` replays a run.
 */
import assert from "node:assert/strict";
import { reportTable, runResilience, SHORT } from "../resilience/suite.ts";

Deno.test("resilience (short): churn under faults converges to the model; bad input is reported exactly", async () => {
  const seed = Number(Deno.env.get("SEED") ?? Math.floor(Math.random() * 2 ** 31));
  const report = await runResilience({ ...SHORT, seed });
  console.log(reportTable(report));
  assert.deepEqual(report.problems, [], `seed ${seed}: replay with SEED=${seed}`);
  // The faults really happened (a run that injected nothing proves nothing).
  assert.equal(report.faults.apiServerRestarts, SHORT.apiServerRestarts);
  assert.equal(report.faults.operatorKills, SHORT.operatorKills);
  assert.equal(report.faults.connectionDrops, SHORT.connectionDrops);
  assert.equal(report.faults.fastWriterBursts, SHORT.fastWriterBursts);
  assert.ok(report.safety.statesChecked > 0, "the safety watch saw ClusterSPIFFEIDs");
  assert.ok(report.hostile.bindings > 100, "the bad-input catalogue ran");
});
