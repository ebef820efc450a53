/**
 * Validation of what the user wrote: the binding's spec and metadata (docs/contract.md#api), the
 * objective-targets-the-pool rule (docs/contract.md#inputs), and the Kubernetes name/label syntax
 * both rely on. The controller re-validates everything the CRD also checks, because objects can
 * predate the CRD's rules. Nothing is ever "fixed up": bad input is reported, never rewritten.
 *
 * API (each `check*`/`validate*` throws `StateError`; the `*Problem` helpers return a short
 * explanation or `undefined` when the input is fine):
 * - `validateBindingSpec(spec: unknown): ValidBindingSpec`
 * - `checkBindingName(name: string): void` — the name must fit a label value (it labels outputs)
 * - `checkObjectiveTargetsPool(objective, objectiveName, poolName, poolGroup): void`
 * - `dns1123LabelProblem`, `dns1123SubdomainProblem`, `labelKeyProblem`, `labelValueProblem`
 *
 * Checks run in a fixed order and the first failure wins, so the reported reason is stable:
 * mode, poolRef, objectiveRef (PerObjective), serviceAccountName, containerName.
 * Empty strings in optional fields (`mode`, `*.group`, PoolOnly `containerName`) mean "unset", as
 * they do for the Go reference implementation's omitempty fields.
 */

import { isRecord, show } from "./json.ts";
import { Reasons, StateError } from "./errors.ts";
import {
  BINDING_MODES,
  type BindingMode,
  DEFAULT_MODE,
  type InferenceGroup,
  isSupportedGroup,
  SUPPORTED_GROUPS,
  type ValidBindingSpec,
} from "./types.ts";

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** Label names and non-empty label values share this rule. */
const QUALIFIED_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

export function dns1123LabelProblem(value: string): string | undefined {
  const what = "a DNS-1123 label";
  if (value.length === 0) return `${what} must not be empty`;
  if (value.length > 63) {
    return `${what} must be at most 63 characters (this one has ${value.length})`;
  }
  if (!DNS1123_LABEL.test(value)) {
    return `${what} must consist of lower case letters, digits and '-', and start and end with a letter or digit`;
  }
  return undefined;
}

export function dns1123SubdomainProblem(value: string): string | undefined {
  const what = "a DNS-1123 subdomain";
  if (value.length === 0) return `${what} must not be empty`;
  if (value.length > 253) {
    return `${what} must be at most 253 characters (this one has ${value.length})`;
  }
  if (!DNS1123_SUBDOMAIN.test(value)) {
    return `${what} must consist of lower case letters, digits, '-' and '.', and each '.'-separated part must start and end with a letter or digit`;
  }
  return undefined;
}

/** Kubernetes label key: optional DNS-1123 subdomain prefix and `/`, then a name of 1-63 chars. */
export function labelKeyProblem(key: string): string | undefined {
  if (key !== key.trim()) return "a label key must not have leading or trailing whitespace";
  const slash = key.indexOf("/");
  const prefix = slash === -1 ? undefined : key.slice(0, slash);
  const name = slash === -1 ? key : key.slice(slash + 1);
  if (prefix !== undefined) {
    const problem = dns1123SubdomainProblem(prefix);
    if (problem !== undefined) return `the prefix ${show(prefix)} is not valid: ${problem}`;
  }
  const what = "the name part of a label key";
  if (name.length === 0) return `${what} must not be empty`;
  if (name.length > 63) {
    return `${what} must be at most 63 characters (this one has ${name.length})`;
  }
  if (!QUALIFIED_NAME.test(name)) {
    return `${what} must consist of letters, digits, '-', '_' and '.', and start and end with a letter or digit`;
  }
  return undefined;
}

/**
 * Kubernetes label value. An empty value is allowed, as Kubernetes and the GAIE CRDs allow it:
 * `key: ""` selects pods carrying that label with an empty value, exactly like any other value.
 */
export function labelValueProblem(value: string): string | undefined {
  const what = "a label value";
  if (value !== value.trim()) return `${what} must not have leading or trailing whitespace`;
  if (value.length > 63) {
    return `${what} must be at most 63 characters (this one has ${value.length})`;
  }
  if (value.length > 0 && !QUALIFIED_NAME.test(value)) {
    return `${what} must be empty or consist of letters, digits, '-', '_' and '.', and start and end with a letter or digit`;
  }
  return undefined;
}

const GROUP_CHOICES = SUPPORTED_GROUPS.join(" or ");

export function validateBindingSpec(spec: unknown): ValidBindingSpec {
  const fields = isRecord(spec) ? spec : {};
  const mode = decodeMode(fields.mode);
  const poolRef = decodePoolRef(fields.poolRef);
  const objectiveRef = mode === "PerObjective"
    ? decodeObjectiveRef(fields.objectiveRef)
    : undefined;
  const serviceAccountName = decodeServiceAccountName(fields.serviceAccountName);
  const containerName = decodeContainerName(mode, fields.containerName);
  return { mode, poolRef, objectiveRef, serviceAccountName, containerName };
}

function decodeMode(value: unknown): BindingMode {
  if (value === undefined || value === null || value === "") return DEFAULT_MODE;
  if (typeof value === "string" && (BINDING_MODES as readonly string[]).includes(value)) {
    return value as BindingMode;
  }
  throw new StateError(
    "RenderFailure",
    Reasons.UnsupportedMode,
    `spec.mode ${show(value)} is not supported: use PoolOnly or PerObjective`,
  );
}

function decodePoolRef(value: unknown): ValidBindingSpec["poolRef"] {
  const ref = isRecord(value) ? value : {};
  if (typeof ref.name !== "string" || ref.name === "") {
    const got = ref.name === undefined ? "" : ` (got ${show(ref.name)})`;
    throw new StateError(
      "InvalidRef",
      Reasons.InvalidPoolRef,
      `spec.poolRef.name is required${got}`,
    );
  }
  const group = decodeGroup(
    ref.group,
    "spec.poolRef.group",
    (message) => new StateError("InvalidRef", Reasons.InvalidPoolRef, message),
  );
  return group === undefined ? { name: ref.name } : { name: ref.name, group };
}

function decodeObjectiveRef(value: unknown): ValidBindingSpec["objectiveRef"] {
  const ref = isRecord(value) ? value : {};
  if (typeof ref.name !== "string" || ref.name === "") {
    const got = ref.name === undefined ? "" : ` (got ${show(ref.name)})`;
    throw new StateError(
      "RenderFailure",
      Reasons.MissingObjectiveRef,
      `spec.objectiveRef.name is required when spec.mode is PerObjective${got}`,
    );
  }
  const group = decodeGroup(
    ref.group,
    "spec.objectiveRef.group",
    (message) => new StateError("InvalidRef", Reasons.InvalidObjectiveRef, message),
  );
  return group === undefined ? { name: ref.name } : { name: ref.name, group };
}

function decodeGroup(
  value: unknown,
  field: string,
  fail: (message: string) => StateError,
): InferenceGroup | undefined {
  if (value === undefined || value === null || value === "") return undefined;
  if (typeof value === "string" && isSupportedGroup(value)) return value;
  throw fail(`${field} ${show(value)} is not a supported group: use ${GROUP_CHOICES}`);
}

function decodeServiceAccountName(value: unknown): string {
  if (value === undefined || value === null || value === "") {
    throw new StateError(
      "RenderFailure",
      Reasons.InvalidServiceAccountName,
      "spec.serviceAccountName is required",
    );
  }
  const problem = typeof value === "string" ? dns1123SubdomainProblem(value) : "not a string";
  if (problem !== undefined) {
    throw new StateError(
      "RenderFailure",
      Reasons.InvalidServiceAccountName,
      `spec.serviceAccountName ${show(value)} is not a valid DNS-1123 subdomain: ${problem}`,
    );
  }
  return value as string;
}

function decodeContainerName(mode: BindingMode, value: unknown): string | undefined {
  const unset = value === undefined || value === null || value === "";
  if (mode === "PoolOnly") {
    if (unset) return undefined;
    throw new StateError(
      "RenderFailure",
      Reasons.UnexpectedContainerName,
      `spec.containerName ${show(value)} must be empty when spec.mode is PoolOnly`,
    );
  }
  if (unset) {
    throw new StateError(
      "RenderFailure",
      Reasons.InvalidContainerName,
      "spec.containerName is required when spec.mode is PerObjective",
    );
  }
  const problem = typeof value === "string" ? dns1123LabelProblem(value) : "not a string";
  if (problem !== undefined) {
    throw new StateError(
      "RenderFailure",
      Reasons.InvalidContainerName,
      `spec.containerName ${show(value)} is not a valid DNS-1123 label: ${problem}`,
    );
  }
  return value as string;
}

/**
 * The binding's name becomes the value of the `kleym.sonda.red/binding-name` label on its
 * ClusterSPIFFEID (docs/contract.md#rendering). Object names may be 253 characters, label values
 * only 63, so a longer name could never be written; report it instead of failing every apply. Added
 * reason: RenderFailure/InvalidBindingName.
 */
export function checkBindingName(name: string): void {
  const problem = labelValueProblem(name);
  if (problem !== undefined) {
    throw new StateError(
      "RenderFailure",
      Reasons.InvalidBindingName,
      `metadata.name ${show(name)} cannot label the managed ClusterSPIFFEID` +
        ` (kleym.sonda.red/binding-name): ${problem}`,
    );
  }
}

/**
 * docs/contract.md#inputs: the resolved objective must point at the binding's pool — same name and,
 * when the objective's poolRef carries a group (the GAIE CRD defaults it), a supported group equal
 * to the group the pool was resolved from. A `kind` other than InferencePool is also rejected.
 */
export function checkObjectiveTargetsPool(
  objective: unknown,
  objectiveName: string,
  poolName: string,
  poolGroup: InferenceGroup,
): void {
  const fail = (message: string) =>
    new StateError("InvalidRef", Reasons.InvalidObjectiveRef, message);
  const what = `InferenceObjective ${show(objectiveName)}`;
  const spec = isRecord(objective) && isRecord(objective.spec) ? objective.spec : {};
  const ref = isRecord(spec.poolRef) ? spec.poolRef : {};
  if (typeof ref.name !== "string" || ref.name === "") {
    throw fail(
      `${what} has no spec.poolRef.name, so it cannot target the binding's spec.poolRef.name ${
        show(poolName)
      }`,
    );
  }
  if (ref.name !== poolName) {
    throw fail(
      `${what} targets InferencePool ${show(ref.name)} (its spec.poolRef.name), ` +
        `but the binding's spec.poolRef.name is ${show(poolName)}`,
    );
  }
  if (
    ref.kind !== undefined && ref.kind !== null && ref.kind !== "" && ref.kind !== "InferencePool"
  ) {
    throw fail(`${what} spec.poolRef.kind ${show(ref.kind)} is not InferencePool`);
  }
  if (ref.group === undefined || ref.group === null || ref.group === "") return;
  if (typeof ref.group !== "string" || !isSupportedGroup(ref.group)) {
    throw fail(
      `${what} spec.poolRef.group ${
        show(ref.group)
      } is not a supported group: use ${GROUP_CHOICES}`,
    );
  }
  if (ref.group !== poolGroup) {
    throw fail(
      `${what} spec.poolRef.group ${show(ref.group)} does not match the group InferencePool ${
        show(poolName)
      } was resolved from (${show(poolGroup)})`,
    );
  }
}
