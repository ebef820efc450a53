/**
 * The part of a CRD's `openAPIV3Schema` (apiextensions.k8s.io/v1 `JSONSchemaProps`) that decides
 * TypeScript types, decoded once from the parsed YAML/JSON.
 *
 * Validation-only keywords (patterns, lengths, CEL rules, `allOf`/`anyOf`/`oneOf`/`not`, list and
 * map types) are dropped: they never change the shape of a value, and a structural schema (which
 * every `apiextensions.k8s.io/v1` CRD has) may not declare types inside the junctors.
 */

export type SchemaType = "object" | "array" | "string" | "integer" | "number" | "boolean";

/** A JSON value, as found in `enum` and `default`. */
export type JsonValue = null | boolean | number | string | JsonValue[] | {
  [key: string]: JsonValue;
};

export interface Schema {
  type?: SchemaType;
  description?: string;
  /** Object properties by name. */
  properties?: Record<string, Schema>;
  required?: string[];
  /** Element schema of an array. */
  items?: Schema;
  /** Value schema of a map (`true`: any value). `false` and absence mean the same: no map. */
  additionalProperties?: Schema | true;
  enum?: JsonValue[];
  default?: JsonValue;
  nullable?: boolean;
  /** `x-kubernetes-int-or-string` */
  intOrString?: boolean;
  /** `x-kubernetes-preserve-unknown-fields` */
  preserveUnknownFields?: boolean;
  /** `x-kubernetes-embedded-resource` */
  embeddedResource?: boolean;
}

const SCHEMA_TYPES: readonly string[] = [
  "object",
  "array",
  "string",
  "integer",
  "number",
  "boolean",
];

/** Thrown for a schema the generator cannot read; `path` locates the offending node. */
export class SchemaError extends Error {
  override readonly name = "SchemaError";
  constructor(readonly path: string, problem: string) {
    super(`${path}: ${problem}`);
  }
}

function isRecord(u: unknown): u is Record<string, unknown> {
  return typeof u === "object" && u !== null && !Array.isArray(u);
}

function isJsonValue(u: unknown): u is JsonValue {
  if (u === null || typeof u === "boolean" || typeof u === "string") return true;
  if (typeof u === "number") return Number.isFinite(u);
  if (Array.isArray(u)) return u.every(isJsonValue);
  if (isRecord(u)) return Object.values(u).every(isJsonValue);
  return false;
}

function optionalBoolean(raw: Record<string, unknown>, key: string, path: string): boolean {
  const v = raw[key];
  if (v === undefined) return false;
  if (typeof v !== "boolean") throw new SchemaError(path, `${key} must be a boolean`);
  return v;
}

/** Decode one schema node (and everything below it). `path` names it in error messages. */
export function decodeSchema(raw: unknown, path = "openAPIV3Schema"): Schema {
  if (!isRecord(raw)) throw new SchemaError(path, "a schema must be an object");
  const schema: Schema = {};

  if (raw.type !== undefined) {
    if (typeof raw.type !== "string" || !SCHEMA_TYPES.includes(raw.type)) {
      throw new SchemaError(path, `unsupported type ${JSON.stringify(raw.type)}`);
    }
    schema.type = raw.type as SchemaType;
  }
  if (raw.description !== undefined) {
    if (typeof raw.description !== "string") {
      throw new SchemaError(path, "description must be a string");
    }
    schema.description = raw.description;
  }
  if (raw.properties !== undefined) {
    if (!isRecord(raw.properties)) throw new SchemaError(path, "properties must be an object");
    schema.properties = Object.fromEntries(
      Object.entries(raw.properties).map((
        [name, sub],
      ) => [name, decodeSchema(sub, `${path}.properties.${name}`)]),
    );
  }
  if (raw.required !== undefined) {
    if (!Array.isArray(raw.required) || !raw.required.every((r) => typeof r === "string")) {
      throw new SchemaError(path, "required must be a list of strings");
    }
    schema.required = [...raw.required];
  }
  if (raw.items !== undefined) {
    if (Array.isArray(raw.items)) {
      throw new SchemaError(path, "tuple items (a list of schemas) are not structural");
    }
    schema.items = decodeSchema(raw.items, `${path}.items`);
  }
  if (raw.additionalProperties !== undefined && raw.additionalProperties !== false) {
    schema.additionalProperties = raw.additionalProperties === true
      ? true
      : decodeSchema(raw.additionalProperties, `${path}.additionalProperties`);
  }
  if (raw.enum !== undefined) {
    if (!Array.isArray(raw.enum) || raw.enum.length === 0 || !raw.enum.every(isJsonValue)) {
      throw new SchemaError(path, "enum must be a non-empty list of JSON values");
    }
    schema.enum = [...raw.enum];
  }
  if (raw.default !== undefined) {
    if (!isJsonValue(raw.default)) throw new SchemaError(path, "default must be a JSON value");
    schema.default = raw.default;
  }
  if (optionalBoolean(raw, "nullable", path)) schema.nullable = true;
  if (optionalBoolean(raw, "x-kubernetes-int-or-string", path)) schema.intOrString = true;
  if (optionalBoolean(raw, "x-kubernetes-preserve-unknown-fields", path)) {
    schema.preserveUnknownFields = true;
  }
  if (optionalBoolean(raw, "x-kubernetes-embedded-resource", path)) {
    schema.embeddedResource = true;
  }

  if (schema.properties && schema.additionalProperties) {
    throw new SchemaError(path, "properties and additionalProperties are mutually exclusive");
  }
  return schema;
}
