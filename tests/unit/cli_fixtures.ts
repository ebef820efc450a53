/**
 * Inputs the CLI's pure report tests share: `kleym inspect binding ns/b -o json` and a cluster that
 * serves every API kleym reads (pools in the GA group, objectives in the alpha group).
 */
import type { InspectCommand } from "../../cli/args.ts";
import type { ServedApis } from "../../cli/inspect_render.ts";

export const V1 = "inference.networking.k8s.io/v1";
export const V1ALPHA2 = "inference.networking.x-k8s.io/v1alpha2";

export const INSPECT_COMMAND: InspectCommand = {
  command: "inspect-binding",
  output: "json",
  timeoutMs: 1000,
  name: "b",
  namespace: "ns",
  strict: false,
};

export const SERVED_ALL: ServedApis = {
  binding: true,
  pools: [V1],
  objectives: [V1ALPHA2],
  clusterSPIFFEID: true,
};
