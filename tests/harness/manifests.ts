/**
 * The one set of manifest builders for the objects tests create: InferenceIdentityBindings, GAIE
 * InferencePools (v1 and v1alpha2) and InferenceObjectives. Integration, resilience and bench tests
 * all build from these (no copies); each returns a plain object in the exact wire shape, with the
 * spec taken as given (tests write shapes the CRDs refuse on purpose).
 */

export const BINDING_API_VERSION = "kleym.sonda.red/v1alpha1";
export const GAIE_V1 = "inference.networking.k8s.io/v1";
export const GAIE_V1ALPHA2 = "inference.networking.x-k8s.io/v1alpha2";

export interface Manifest<V extends string = string, K extends string = string> {
  apiVersion: V;
  kind: K;
  metadata: { name: string; namespace: string };
  spec: Record<string, unknown>;
}

export function bindingManifest(
  ns: string,
  name: string,
  spec: Record<string, unknown>,
): Manifest<typeof BINDING_API_VERSION, "InferenceIdentityBinding"> {
  return {
    apiVersion: BINDING_API_VERSION,
    kind: "InferenceIdentityBinding",
    metadata: { name, namespace: ns },
    spec,
  };
}

/** An `inference.networking.k8s.io/v1` pool; `selector` is the whole `spec.selector`. */
export function poolV1Manifest(
  ns: string,
  name: string,
  selector: unknown,
): Manifest<typeof GAIE_V1, "InferencePool"> {
  return {
    apiVersion: GAIE_V1,
    kind: "InferencePool",
    metadata: { name, namespace: ns },
    spec: {
      selector,
      targetPorts: [{ number: 8000 }],
      endpointPickerRef: { name: `${name}-epp`, port: { number: 9002 } },
    },
  };
}

/** An `inference.networking.x-k8s.io/v1alpha2` pool; its selector is a plain label map. */
export function poolV1alpha2Manifest(
  ns: string,
  name: string,
  selector: unknown,
): Manifest<typeof GAIE_V1ALPHA2, "InferencePool"> {
  return {
    apiVersion: GAIE_V1ALPHA2,
    kind: "InferencePool",
    metadata: { name, namespace: ns },
    spec: { selector, targetPortNumber: 8000, extensionRef: { name: `${name}-epp` } },
  };
}

export function objectiveManifest<V extends typeof GAIE_V1 | typeof GAIE_V1ALPHA2>(
  apiVersion: V,
  ns: string,
  name: string,
  poolRef: { name: string; group?: string },
): Manifest<V, "InferenceObjective"> {
  return {
    apiVersion,
    kind: "InferenceObjective",
    metadata: { name, namespace: ns },
    spec: { poolRef },
  };
}
