/**
 * The shallow boundary check behind every generated `decode<Kind>` function.
 *
 * tools/codegen.ts copies this file verbatim to `generated/decode.ts`; edit the original in
 * `tools/codegen/decode_runtime.ts` and re-run `deno task codegen`.
 * @module
 */

/** An object read from the API is not the resource it should be. */
export class DecodeError extends Error {
  override readonly name = "DecodeError";
}

function isRecord(u: unknown): u is Record<string, unknown> {
  return typeof u === "object" && u !== null && !Array.isArray(u);
}

function describe(u: unknown): string {
  if (u === undefined) return "missing";
  if (u === null) return "null";
  if (Array.isArray(u)) return "a list";
  if (typeof u === "object") return "an object";
  return JSON.stringify(u);
}

/**
 * Checks that `u` is an object with exactly this `apiVersion` and `kind` and a `metadata` object
 * with a non-empty string `name`, then hands it back typed. Nothing else is looked at: spec and
 * status stay unvalidated, for the reconciler to judge. List items, which the API sends without
 * `apiVersion`/`kind`, reach this with both already filled in by `ResourceClient`.
 */
export function decodeResource<T>(u: unknown, apiVersion: string, kind: string): T {
  if (!isRecord(u)) throw new DecodeError(`decode ${kind}: expected an object, got ${describe(u)}`);
  const meta = isRecord(u.metadata) ? u.metadata : undefined;
  const name = typeof meta?.name === "string" ? meta.name : "";
  const ns = typeof meta?.namespace === "string" && meta.namespace !== ""
    ? `${meta.namespace}/`
    : "";
  const what = name === "" ? `decode ${kind}` : `decode ${kind} ${ns}${name}`;
  if (u.apiVersion !== apiVersion) {
    throw new DecodeError(
      `${what}: apiVersion is ${describe(u.apiVersion)}, expected ${JSON.stringify(apiVersion)}`,
    );
  }
  if (u.kind !== kind) {
    throw new DecodeError(`${what}: kind is ${describe(u.kind)}, expected ${JSON.stringify(kind)}`);
  }
  if (meta === undefined) {
    throw new DecodeError(`${what}: metadata is ${describe(u.metadata)}, expected an object`);
  }
  if (name === "") {
    throw new DecodeError(
      `${what}: metadata.name is ${describe(meta.name)}, expected a non-empty string`,
    );
  }
  return u as T;
}
