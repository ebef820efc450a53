/**
 * The 429 run: a control plane with API Priority and Fairness off and few in-flight requests (it
 * answers 429 at once), converged by an operator with the client limit off.
 */
import { startControlPlane } from "../tests/harness/controlplane.ts";
import type { Operator } from "../tests/resilience/operator.ts";
import { clients } from "./clients.ts";
import { N, THROTTLE_INFLIGHT, THROTTLE_MUTATING } from "./config.ts";
import { convergeRun } from "./converge.ts";
import { deployAsServiceAccount } from "./operator.ts";
import { progress } from "./report.ts";

export async function throttled(): Promise<Record<string, unknown>> {
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
    const { out } = await convergeRun("throttled", admin, saKubeconfig, "thr", N, [
      "--kube-api-qps=0",
    ], ops);
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
