/**
 * Reads a CustomResourceDefinition (apiextensions.k8s.io/v1, already parsed from YAML) into one
 * `ServedKind` per served version: what the generator needs to emit types, a descriptor and a
 * client. Versions with `served: false` are skipped; a CRD that serves none is an error.
 */
import { decodeSchema, type Schema } from "./schema.ts";

export interface ServedKind {
  group: string;
  version: string;
  kind: string;
  plural: string;
  namespaced: boolean;
  schema: Schema;
  /** Where the CRD came from, for the generated file's header. */
  source: string;
}

function isRecord(u: unknown): u is Record<string, unknown> {
  return typeof u === "object" && u !== null && !Array.isArray(u);
}

function field(obj: Record<string, unknown>, key: string, where: string): unknown {
  const v = obj[key];
  if (v === undefined) throw new Error(`${where}: ${key} is missing`);
  return v;
}

function str(obj: Record<string, unknown>, key: string, where: string): string {
  const v = field(obj, key, where);
  if (typeof v !== "string" || v === "") {
    throw new Error(`${where}: ${key} must be a non-empty string`);
  }
  return v;
}

function rec(obj: Record<string, unknown>, key: string, where: string): Record<string, unknown> {
  const v = field(obj, key, where);
  if (!isRecord(v)) throw new Error(`${where}: ${key} must be an object`);
  return v;
}

/** Decode a CRD; `source` labels it in errors and in the generated header. */
export function servedKinds(crd: unknown, source: string): ServedKind[] {
  if (!isRecord(crd)) throw new Error(`${source}: a CRD must be an object`);
  if (crd.apiVersion !== "apiextensions.k8s.io/v1" || crd.kind !== "CustomResourceDefinition") {
    throw new Error(`${source}: not an apiextensions.k8s.io/v1 CustomResourceDefinition`);
  }
  const spec = rec(crd, "spec", source);
  const group = str(spec, "group", `${source} spec`);
  const names = rec(spec, "names", `${source} spec`);
  const kind = str(names, "kind", `${source} spec.names`);
  const plural = str(names, "plural", `${source} spec.names`);
  const scope = str(spec, "scope", `${source} spec`);
  if (scope !== "Namespaced" && scope !== "Cluster") {
    throw new Error(`${source} spec.scope: expected Namespaced or Cluster, got ${scope}`);
  }
  const versions = field(spec, "versions", `${source} spec`);
  if (!Array.isArray(versions)) throw new Error(`${source} spec.versions must be a list`);

  const out: ServedKind[] = [];
  versions.forEach((v: unknown, i: number) => {
    const where = `${source} spec.versions[${i}]`;
    if (!isRecord(v)) throw new Error(`${where} must be an object`);
    const version = str(v, "name", where);
    if (v.served !== true) return;
    const schema = rec(rec(v, "schema", where), "openAPIV3Schema", `${where}.schema`);
    out.push({
      group,
      version,
      kind,
      plural,
      namespaced: scope === "Namespaced",
      schema: decodeSchema(schema, `${source} ${kind} ${version} openAPIV3Schema`),
      source,
    });
  });
  if (out.length === 0) throw new Error(`${source}: the CRD serves no version`);
  return out;
}
