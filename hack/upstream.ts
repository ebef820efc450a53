/**
 * Pinned upstream CRDs, read from the Go module cache (never committed copies).
 *
 * Used by the test harness (to install them) and by tools/codegen.ts (to generate typed
 * clients). `go mod download -json <module>@<version>` fetches a module into the cache and
 * names its directory; the CRD files sit at fixed paths inside it.
 *
 * SPIRE Controller Manager: the module proxy here refuses v0.6.6 and v0.6.5 ("not available"),
 * so we pin v0.7.0, whose ClusterSPIFFEID CRD is byte-identical to v0.6.6's and which builds
 * against client-go 0.36 like our kube-apiserver.
 */
import { parse, parseAllDocuments, stringify } from "yaml";

export interface UpstreamModule {
  path: string;
  version: string;
}

export const GAIE: UpstreamModule = {
  path: "sigs.k8s.io/gateway-api-inference-extension",
  version: "v1.5.0",
};
/** v1.4.0 is the last GAIE release that ships the v1alpha2 InferencePool CRD. */
export const GAIE_V1ALPHA2_POOL: UpstreamModule = { ...GAIE, version: "v1.4.0" };
export const SPIRE_CONTROLLER_MANAGER: UpstreamModule = {
  path: "github.com/spiffe/spire-controller-manager",
  version: "v0.7.0",
};

/** Every CRD kleym reads or writes, by a short name tests and tools use. */
export type CrdName =
  | "inferencepools.v1"
  | "inferencepools.v1alpha2"
  | "inferenceobjectives.v1alpha2"
  | "inferenceobjectives.v1-stand-in"
  | "clusterspiffeids"
  | "clusterstaticentries"
  | "clusterfederatedtrustdomains";

interface CrdSource {
  module: UpstreamModule;
  file: string;
}

const SOURCES: Record<Exclude<CrdName, "inferenceobjectives.v1-stand-in">, CrdSource> = {
  "inferencepools.v1": {
    module: GAIE,
    file: "config/crd/bases/inference.networking.k8s.io_inferencepools.yaml",
  },
  "inferencepools.v1alpha2": {
    module: GAIE_V1ALPHA2_POOL,
    file: "config/crd/bases/inference.networking.x-k8s.io_inferencepools.yaml",
  },
  "inferenceobjectives.v1alpha2": {
    module: GAIE,
    file: "config/crd/bases/inference.networking.x-k8s.io_inferenceobjectives.yaml",
  },
  clusterspiffeids: {
    module: SPIRE_CONTROLLER_MANAGER,
    file: "config/crd/bases/spire.spiffe.io_clusterspiffeids.yaml",
  },
  clusterstaticentries: {
    module: SPIRE_CONTROLLER_MANAGER,
    file: "config/crd/bases/spire.spiffe.io_clusterstaticentries.yaml",
  },
  clusterfederatedtrustdomains: {
    module: SPIRE_CONTROLLER_MANAGER,
    file: "config/crd/bases/spire.spiffe.io_clusterfederatedtrustdomains.yaml",
  },
};

/**
 * What a cluster with upstream GAIE v1.5.0 serves: InferencePool v1 and InferenceObjective
 * x-k8s.io v1alpha2, nothing else (no v1 objective: that is the test stand-in). `make cluster-up`
 * (the demo's cluster) and the examples test install exactly these.
 */
export const UPSTREAM_GAIE_CRDS: readonly CrdName[] = [
  "inferencepools.v1",
  "inferenceobjectives.v1alpha2",
];

/** The CRDs a normal test run installs (SPIRE's extra CRDs only matter for the SPIRE e2e). */
export const DEFAULT_CRDS: readonly CrdName[] = [
  "inferencepools.v1",
  "inferencepools.v1alpha2",
  "inferenceobjectives.v1alpha2",
  "inferenceobjectives.v1-stand-in",
  "clusterspiffeids",
];

const moduleDirs = new Map<string, Promise<string>>();

/** Directory of a module in the Go module cache, downloading it if needed. */
export function moduleDir(mod: UpstreamModule): Promise<string> {
  const key = `${mod.path}@${mod.version}`;
  let dir = moduleDirs.get(key);
  if (!dir) {
    dir = downloadModule(key);
    moduleDirs.set(key, dir);
  }
  return dir;
}

async function downloadModule(key: string): Promise<string> {
  const out = await new Deno.Command("go", {
    args: ["mod", "download", "-json", key],
    // Outside any module, so the download never touches a go.mod of ours.
    cwd: Deno.env.get("TMPDIR") ?? "/tmp",
    env: { GOFLAGS: "-mod=mod" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  let info: { Dir?: string; Error?: string } = {};
  try {
    info = JSON.parse(text);
  } catch {
    // fall through to the error below
  }
  if (!out.success || !info.Dir) {
    const why = info.Error ?? new TextDecoder().decode(out.stderr).trim();
    throw new Error(`go mod download ${key} failed: ${why}`);
  }
  return info.Dir;
}

/** The CRD manifest text for one name. */
export async function crdText(name: CrdName): Promise<string> {
  if (name === "inferenceobjectives.v1-stand-in") {
    return stringify(standInObjectiveCrd(parse(await crdText("inferenceobjectives.v1alpha2"))));
  }
  const src = SOURCES[name];
  return await Deno.readTextFile(`${await moduleDir(src.module)}/${src.file}`);
}

/** The CRD manifest as an object (first YAML document). */
export async function crdObject(name: CrdName): Promise<Record<string, unknown>> {
  const docs = parseAllDocuments(await crdText(name));
  return docs[0].toJSON() as Record<string, unknown>;
}

interface CrdShape {
  metadata: { name: string; annotations?: Record<string, string> };
  spec: { group: string; versions: { name: string }[] };
}

/**
 * GAIE never served InferenceObjective in inference.networking.k8s.io/v1, yet manifests written
 * for it exist (the PerObjective seed uses it). The stand-in is the x-k8s.io v1alpha2 schema moved
 * to that group/version, so such manifests apply in tests. Derived, never committed.
 */
export function standInObjectiveCrd(xk8s: unknown): unknown {
  const crd = structuredClone(xk8s) as CrdShape;
  crd.spec.group = "inference.networking.k8s.io";
  crd.metadata.name = "inferenceobjectives.inference.networking.k8s.io";
  crd.metadata.annotations = {
    ...crd.metadata.annotations,
    // k8s.io groups are protected: the API server demands an approval annotation. The stand-in
    // borrows the one GAIE's v1 InferencePool CRD carries.
    "api-approved.kubernetes.io":
      "https://github.com/kubernetes-sigs/gateway-api-inference-extension/pull/1173",
    "kleym.sonda.red/stand-in":
      "not upstream: x-k8s.io v1alpha2 InferenceObjective schema served as inference.networking.k8s.io/v1",
  };
  crd.spec.versions = crd.spec.versions.map((v) => ({ ...v, name: "v1" }));
  return crd;
}
