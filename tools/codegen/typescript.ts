/**
 * Schema -> TypeScript declarations.
 *
 * Every object schema with properties becomes an interface named by its path from the kind
 * (`InferencePool` -> `InferencePoolSpec` -> `InferencePoolSpecSelector`); array elements take the
 * singular of the array's name (`...TargetPorts` -> `...TargetPort`, else `...Item`), map values
 * take `...Value`. Every enum becomes a string-literal (or JSON-literal) union alias named the same
 * way. Everything else is written inline:
 *
 * | schema                                              | TypeScript                      |
 * | --------------------------------------------------- | ------------------------------- |
 * | `string` / `integer`, `number` / `boolean`          | `string` / `number` / `boolean` |
 * | `x-kubernetes-int-or-string`                        | `number \| string`              |
 * | `array` of T                                        | `T[]`                           |
 * | `object` with `additionalProperties: T`             | `Record<string, T>`             |
 * | `object` with nothing declared, or `true` maps      | `Record<string, unknown>`       |
 * | `object` with properties and preserve-unknown-fields | interface + `[key: string]: unknown` |
 * | no type (preserve-unknown-fields)                   | `unknown`                       |
 * | `nullable`                                          | `T \| null`                     |
 *
 * A property is optional unless the parent's `required` lists it. Descriptions (and defaults,
 * as `@default`) become doc comments. Properties are sorted by name; declarations of one kind come
 * resource-first, then sorted by name, so output depends only on the schema's content.
 */
import type { JsonValue, Schema } from "./schema.ts";
import { SchemaError } from "./schema.ts";

/** One property of an interface. */
export interface Field {
  name: string;
  type: string;
  optional: boolean;
  doc: string[];
}

export type Declaration =
  | { form: "interface"; name: string; doc: string[]; fields: Field[]; openEnded: boolean }
  | { form: "alias"; name: string; doc: string[]; type: string };

/** A type expression; `union` says it needs parentheses before `[]`. */
interface TypeExpr {
  text: string;
  union: boolean;
}

/** Literal `apiVersion`/`kind` plus `metadata: ObjectMeta` head every resource interface. */
export interface ResourceHead {
  apiVersion: string;
  kind: string;
  /** The TypeScript type used for `metadata` (imported by the emitter). */
  metadataType: string;
}

const RESERVED_ROOT_FIELDS = new Set(["apiVersion", "kind", "metadata"]);

/** `spiffeIDTemplate` -> `SpiffeIDTemplate`, `x-foo.bar` -> `XFooBar`. */
export function pascalCase(name: string): string {
  const out = name.split(/[^A-Za-z0-9]+/).filter((p) => p !== "").map((p) =>
    p[0].toUpperCase() + p.slice(1)
  ).join("");
  return /^[A-Za-z]/.test(out) ? out : `T${out}`;
}

/** The element type name for an array type named `name`. */
function singular(name: string): string {
  return /[^siu]s$/.test(name) ? name.slice(0, -1) : `${name}Item`;
}

/** A property key as written in an interface: bare when it is an identifier, else quoted. */
export function propertyKey(name: string): string {
  return /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(name) ? name : JSON.stringify(name);
}

function literal(value: JsonValue): string {
  return JSON.stringify(value);
}

/** Doc comment lines for a schema: its description, then its default. */
function docOf(schema: Schema): string[] {
  const lines = schema.description === undefined || schema.description.trim() === ""
    ? []
    : schema.description.trim().split("\n").map((l) => l.trimEnd());
  if (schema.default !== undefined) {
    if (lines.length > 0) lines.push("");
    lines.push(`@default ${literal(schema.default)}`);
  }
  return lines;
}

/**
 * Collects the declarations of one output file. Type names are unique per file: two schema paths
 * that want the same name are an error (never a silent merge).
 */
export class Translator {
  readonly #claims = new Map<string, string>();
  #made: Declaration[] = [];

  /**
   * The declarations for one resource kind: the resource interface first, then every nested
   * declaration sorted by name.
   */
  resource(schema: Schema, head: ResourceHead): Declaration[] {
    const name = head.kind;
    const path = `${head.apiVersion} ${head.kind}`;
    this.#claim(name, path);
    const fields: Field[] = [
      { name: "apiVersion", type: literal(head.apiVersion), optional: false, doc: [] },
      { name: "kind", type: literal(head.kind), optional: false, doc: [] },
      { name: "metadata", type: head.metadataType, optional: false, doc: [] },
    ];
    const rest = Object.fromEntries(
      Object.entries(schema.properties ?? {}).filter(([k]) => !RESERVED_ROOT_FIELDS.has(k)),
    );
    fields.push(...this.#fields(name, { ...schema, properties: rest }, path));
    const root: Declaration = {
      form: "interface",
      name,
      doc: docOf({ description: schema.description }),
      fields,
      openEnded: schema.preserveUnknownFields === true,
    };
    return [root, ...this.#take()];
  }

  /**
   * The declarations a schema needs when its type is called `name`: the named declaration (if the
   * schema gets one) first, then nested ones sorted by name. Also returns the type expression to
   * use where the schema appears.
   */
  named(name: string, schema: Schema): { type: string; declarations: Declaration[] } {
    const type = this.#type(name, schema, name).text;
    const made = this.#take();
    const own = made.filter((d) => d.name === name);
    return { type, declarations: [...own, ...made.filter((d) => d.name !== name)] };
  }

  #take(): Declaration[] {
    const made = this.#made.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    this.#made = [];
    return made;
  }

  #claim(name: string, path: string): void {
    const owner = this.#claims.get(name);
    if (owner !== undefined && owner !== path) {
      throw new SchemaError(path, `type name ${name} is already taken by ${owner}`);
    }
    this.#claims.set(name, path);
  }

  #fields(parent: string, schema: Schema, path: string): Field[] {
    const required = new Set(schema.required ?? []);
    return Object.keys(schema.properties ?? {}).sort().map((key) => {
      const sub = schema.properties![key];
      return {
        name: key,
        type: this.#type(parent + pascalCase(key), sub, `${path}.${key}`).text,
        optional: !required.has(key),
        doc: docOf(sub),
      };
    });
  }

  #type(name: string, schema: Schema, path: string): TypeExpr {
    const base = this.#baseType(name, schema, path);
    return schema.nullable ? { text: `${base.text} | null`, union: true } : base;
  }

  #baseType(name: string, schema: Schema, path: string): TypeExpr {
    if (schema.intOrString) return { text: "number | string", union: true };
    if (schema.enum !== undefined) {
      this.#claim(name, path);
      const values = [...new Set(schema.enum.map(literal))];
      this.#made.push({ form: "alias", name, doc: [], type: values.join(" | ") });
      return { text: name, union: false };
    }
    switch (schema.type) {
      case "string":
        return { text: "string", union: false };
      case "integer":
      case "number":
        return { text: "number", union: false };
      case "boolean":
        return { text: "boolean", union: false };
      case "array": {
        if (schema.items === undefined) return { text: "unknown[]", union: false };
        let item = singular(name);
        if (this.#claims.has(item)) item = `${name}Item`;
        const elem = this.#type(item, schema.items, `${path}[]`);
        return { text: elem.union ? `(${elem.text})[]` : `${elem.text}[]`, union: false };
      }
      case "object":
        return this.#objectType(name, schema, path);
      case undefined:
        return { text: "unknown", union: false };
    }
  }

  #objectType(name: string, schema: Schema, path: string): TypeExpr {
    if (schema.properties !== undefined && Object.keys(schema.properties).length > 0) {
      this.#claim(name, path);
      this.#made.push({
        form: "interface",
        name,
        doc: docOf({ description: schema.description }),
        fields: this.#fields(name, schema, path),
        openEnded: schema.preserveUnknownFields === true,
      });
      return { text: name, union: false };
    }
    if (schema.additionalProperties !== undefined && schema.additionalProperties !== true) {
      const value = this.#type(`${name}Value`, schema.additionalProperties, `${path}{}`);
      return { text: `Record<string, ${value.text}>`, union: false };
    }
    return { text: "Record<string, unknown>", union: false };
  }
}

/** Generated lines stay within this width where a description allows (deno fmt uses 100). */
const LINE_WIDTH = 100;

/** Greedy word wrap of one description line; continuation lines keep its leading whitespace. */
export function wrapLine(line: string, width: number): string[] {
  if (line.length <= width) return [line];
  const lead = line.match(/^\s*/)![0];
  const words = line.slice(lead.length).split(/ +/);
  const out: string[] = [];
  let current = lead + words[0];
  for (const word of words.slice(1)) {
    if (current.length + 1 + word.length > width) {
      out.push(current);
      current = lead + word;
    } else {
      current += ` ${word}`;
    }
  }
  out.push(current);
  return out;
}

function renderDoc(lines: string[], indent: string): string {
  if (lines.length === 0) return "";
  const width = LINE_WIDTH - indent.length - " * ".length;
  const safe = lines
    .flatMap((l) => (l.startsWith("@default ") ? [l] : wrapLine(l, width)))
    .map((l) => l.replaceAll("*/", "*\\/"));
  if (safe.length === 1 && safe[0].length <= width - 3) return `${indent}/** ${safe[0]} */\n`;
  const body = safe.map((l) => (l === "" ? `${indent} *` : `${indent} * ${l}`)).join("\n");
  return `${indent}/**\n${body}\n${indent} */\n`;
}

/** TypeScript source for one declaration (exported). */
export function renderDeclaration(d: Declaration): string {
  const doc = renderDoc(d.doc, "");
  if (d.form === "alias") return `${doc}export type ${d.name} = ${d.type};\n`;
  const members = d.fields.map((f) =>
    `${renderDoc(f.doc, "  ")}  ${propertyKey(f.name)}${f.optional ? "?" : ""}: ${f.type};\n`
  );
  if (d.openEnded) members.push("  [key: string]: unknown;\n");
  return `${doc}export interface ${d.name} {\n${members.join("")}}\n`;
}
