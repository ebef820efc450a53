/**
 * The CRDs the generator reads: kleym's own (`config/crd/bases/kleym.sonda.red_inferenceidentitybindings.yaml`) and the pinned upstream ones
 * (`hack/upstream.ts`, from the Go module cache). Each carries the label that names it in the
 * generated file's header.
 */
import { parse } from "yaml";
import {
  type CrdName,
  crdObject,
  GAIE,
  GAIE_V1ALPHA2_POOL,
  SPIRE_CONTROLLER_MANAGER,
  type UpstreamModule,
} from "../../hack/upstream.ts";

export interface CrdInput {
  /** Names the CRD's origin in the generated header and in errors. */
  label: string;
  load(): Promise<unknown>;
}

/** Upstream CRDs by their `hack/upstream.ts` name, with the module each comes from. */
const UPSTREAM: readonly { name: CrdName; module: UpstreamModule; note?: string }[] = [
  { name: "inferencepools.v1", module: GAIE },
  { name: "inferencepools.v1alpha2", module: GAIE_V1ALPHA2_POOL },
  { name: "inferenceobjectives.v1alpha2", module: GAIE },
  {
    name: "inferenceobjectives.v1-stand-in",
    module: GAIE,
    note: "derived by hack/upstream.ts",
  },
  { name: "clusterspiffeids", module: SPIRE_CONTROLLER_MANAGER },
];

/** Every CRD input; `root` is the repository root. */
export function crdInputs(root: URL): CrdInput[] {
  const own: CrdInput = {
    label: "config/crd/bases/kleym.sonda.red_inferenceidentitybindings.yaml",
    load: async () =>
      parse(
        await Deno.readTextFile(
          new URL("config/crd/bases/kleym.sonda.red_inferenceidentitybindings.yaml", root),
        ),
      ),
  };
  return [
    own,
    ...UPSTREAM.map(({ name, module, note }) => ({
      label: `${module.path}@${module.version} (${name}${note ? `, ${note}` : ""})`,
      load: () => crdObject(name),
    })),
  ];
}
