/**
 * The code generator: committed `generated/` equals fresh output; schema -> TypeScript translation
 * on small schemas; naming; the CRD reader; output pruning; the generated decoders.
 *
 * The freshness test reads the upstream CRDs from the Go module cache (hack/upstream.ts runs
 * `go mod download`, so it also works on a fresh machine with network access).
 */
import assert from "node:assert/strict";
import { listTsFiles, main, writeOutput } from "../../tools/codegen.ts";
import { servedKinds } from "../../tools/codegen/crd.ts";
import { clientName, valueName } from "../../tools/codegen/emit.ts";
import { decodeSchema, SchemaError } from "../../tools/codegen/schema.ts";
import { renderDeclaration, Translator, wrapLine } from "../../tools/codegen/typescript.ts";
import { DecodeError } from "../../generated/decode.ts";
import { decodeInferencePool } from "../../generated/inference.networking.k8s.io/v1.ts";
import { clusterSPIFFEIDsClient } from "../../generated/spire.spiffe.io/v1alpha1.ts";
import { RestClient } from "../../apis/rest.ts";

const GENERATED = new URL("../../generated", import.meta.url).pathname;

Deno.test("committed generated/ is exactly what the generator produces today", async () => {
  const fresh = await Deno.makeTempDir({ prefix: "kleym-codegen-" });
  const log = console.log;
  console.log = () => {};
  try {
    await main(["--out", fresh]);
  } finally {
    console.log = log;
  }
  try {
    const freshFiles = await listTsFiles(fresh);
    const committedFiles = await listTsFiles(GENERATED);
    const problems: string[] = [];
    for (const rel of freshFiles) {
      const want = await Deno.readTextFile(`${fresh}/${rel}`);
      let have: string | undefined;
      try {
        have = await Deno.readTextFile(`${GENERATED}/${rel}`);
      } catch {
        have = undefined;
      }
      if (have === undefined) problems.push(`generated/${rel} is missing`);
      else if (have !== want) problems.push(`generated/${rel} differs from fresh output`);
    }
    for (const rel of committedFiles) {
      if (!freshFiles.includes(rel)) problems.push(`generated/${rel} is no longer generated`);
    }
    assert.deepEqual(problems, [], `${problems.join("; ")} (run: deno task codegen)`);
  } finally {
    await Deno.remove(fresh, { recursive: true });
  }
});

/** Render everything a schema named `name` needs, the way the generator writes it (unformatted). */
function translate(name: string, raw: unknown): string {
  const { declarations } = new Translator().named(name, decodeSchema(raw));
  return declarations.map(renderDeclaration).join("\n");
}

const translationCases: { what: string; name: string; schema: unknown; ts: string }[] = [
  {
    what: "a string enum becomes a literal union alias, in schema order",
    name: "Mode",
    schema: { type: "string", enum: ["PoolOnly", "PerObjective"] },
    ts: `export type Mode = "PoolOnly" | "PerObjective";\n`,
  },
  {
    what: "required properties are mandatory, the rest optional, sorted by name",
    name: "Ref",
    schema: {
      type: "object",
      required: ["name"],
      properties: {
        name: { type: "string" },
        group: { type: "string" },
        port: { type: "integer" },
      },
    },
    ts: "export interface Ref {\n  group?: string;\n  name: string;\n  port?: number;\n}\n",
  },
  {
    what: "int-or-string is number | string",
    name: "Probe",
    schema: {
      type: "object",
      properties: { port: { "x-kubernetes-int-or-string": true, anyOf: [{ type: "integer" }] } },
    },
    ts: "export interface Probe {\n  port?: number | string;\n}\n",
  },
  {
    what: "preserve-unknown-fields: untyped is unknown, bare object is a record",
    name: "Ext",
    schema: {
      type: "object",
      properties: {
        anything: { "x-kubernetes-preserve-unknown-fields": true },
        config: { type: "object", "x-kubernetes-preserve-unknown-fields": true },
      },
    },
    ts: "export interface Ext {\n  anything?: unknown;\n  config?: Record<string, unknown>;\n}\n",
  },
  {
    what: "preserve-unknown-fields with properties keeps an index signature",
    name: "Open",
    schema: {
      type: "object",
      "x-kubernetes-preserve-unknown-fields": true,
      properties: { known: { type: "boolean" } },
    },
    ts: "export interface Open {\n  known?: boolean;\n  [key: string]: unknown;\n}\n",
  },
  {
    what: "additionalProperties becomes a Record of the value type",
    name: "Sel",
    schema: {
      type: "object",
      properties: {
        labels: { type: "object", additionalProperties: { type: "string" } },
        any: { type: "object", additionalProperties: true },
        ports: {
          type: "object",
          additionalProperties: { type: "object", properties: { n: { type: "integer" } } },
        },
      },
    },
    ts: [
      "export interface Sel {\n  any?: Record<string, unknown>;\n  labels?: Record<string, string>;\n" +
      "  ports?: Record<string, SelPortsValue>;\n}\n",
      "export interface SelPortsValue {\n  n?: number;\n}\n",
    ].join("\n"),
  },
  {
    what: "arrays of objects name their element type in the singular",
    name: "Pool",
    schema: {
      type: "object",
      properties: {
        targetPorts: {
          type: "array",
          items: {
            type: "object",
            required: ["number"],
            properties: { number: { type: "integer" } },
          },
        },
        tags: { type: "array", items: { type: "string" } },
      },
    },
    ts: [
      "export interface Pool {\n  tags?: string[];\n  targetPorts?: PoolTargetPort[];\n}\n",
      "export interface PoolTargetPort {\n  number: number;\n}\n",
    ].join("\n"),
  },
  {
    what: "an array whose name is not a plural gets an Item element type",
    name: "Status",
    schema: {
      type: "object",
      properties: {
        parent: { type: "array", items: { type: "object", properties: { x: { type: "string" } } } },
      },
    },
    ts: [
      "export interface Status {\n  parent?: StatusParentItem[];\n}\n",
      "export interface StatusParentItem {\n  x?: string;\n}\n",
    ].join("\n"),
  },
  {
    what: "union elements are parenthesised in arrays; nullable adds null",
    name: "Mixed",
    schema: {
      type: "object",
      properties: {
        ports: { type: "array", items: { "x-kubernetes-int-or-string": true } },
        maybe: { type: "string", nullable: true },
      },
    },
    ts: "export interface Mixed {\n  maybe?: string | null;\n  ports?: (number | string)[];\n}\n",
  },
  {
    what: "nested objects are named by their path, declared sorted after the parent",
    name: "Pool",
    schema: {
      type: "object",
      required: ["spec"],
      properties: {
        spec: {
          type: "object",
          properties: {
            selector: {
              type: "object",
              properties: {
                matchLabels: { type: "object", additionalProperties: { type: "string" } },
              },
            },
            mode: { type: "string", enum: ["A"] },
          },
        },
      },
    },
    ts: [
      "export interface Pool {\n  spec: PoolSpec;\n}\n",
      "export interface PoolSpec {\n  mode?: PoolSpecMode;\n  selector?: PoolSpecSelector;\n}\n",
      `export type PoolSpecMode = "A";\n`,
      "export interface PoolSpecSelector {\n  matchLabels?: Record<string, string>;\n}\n",
    ].join("\n"),
  },
  {
    what: "descriptions and defaults become doc comments, with */ escaped",
    name: "Doc",
    schema: {
      type: "object",
      description: "The doc.",
      properties: {
        a: { type: "string", description: "First line.\nSecond */ line.", default: "x" },
      },
    },
    ts:
      "/** The doc. */\nexport interface Doc {\n  /**\n   * First line.\n   * Second *\\/ line.\n" +
      '   *\n   * @default "x"\n   */\n  a?: string;\n}\n',
  },
];

for (const c of translationCases) {
  Deno.test(`schema translation: ${c.what}`, () => {
    assert.equal(translate(c.name, c.schema), c.ts);
  });
}

Deno.test("schema translation: two paths wanting one type name is an error", () => {
  const schema = {
    type: "object",
    properties: {
      a: { type: "object", properties: { bC: { type: "object", properties: { x: {} } } } },
      aB: { type: "object", properties: { c: { type: "object", properties: { y: {} } } } },
    },
  };
  assert.throws(() => translate("T", schema), /type name TABC is already taken/);
});

Deno.test("resource interfaces get literal apiVersion/kind, ObjectMeta, and the other root fields", () => {
  const decls = new Translator().resource(
    decodeSchema({
      type: "object",
      required: ["spec"],
      properties: {
        apiVersion: { type: "string" },
        kind: { type: "string" },
        metadata: { type: "object" },
        spec: { type: "object", properties: { a: { type: "string" } } },
      },
    }),
    { apiVersion: "g.example/v1", kind: "Thing", metadataType: "ObjectMeta" },
  );
  assert.equal(
    renderDeclaration(decls[0]),
    'export interface Thing {\n  apiVersion: "g.example/v1";\n  kind: "Thing";\n' +
      "  metadata: ObjectMeta;\n  spec: ThingSpec;\n}\n",
  );
  assert.deepEqual(decls.map((d) => d.name), ["Thing", "ThingSpec"]);
});

Deno.test("schema decoding rejects shapes that have no TypeScript meaning", () => {
  assert.throws(() => decodeSchema({ type: "tuple" }), SchemaError);
  assert.throws(
    () => decodeSchema({ type: "array", items: [{ type: "string" }] }),
    /openAPIV3Schema: tuple items/,
  );
  assert.throws(
    () => decodeSchema({ type: "object", properties: { a: { type: 5 } } }),
    /openAPIV3Schema\.properties\.a: unsupported type 5/,
  );
});

Deno.test("long description lines wrap at word boundaries, keeping their indentation", () => {
  assert.deepEqual(wrapLine("  aaa bbb ccc", 9), ["  aaa bbb", "  ccc"]);
  assert.deepEqual(wrapLine("short", 9), ["short"]);
});

Deno.test("value and client names keep the kind's casing", () => {
  assert.equal(valueName("ClusterSPIFFEID"), "clusterSPIFFEID");
  assert.equal(clientName("InferencePool", "inferencepools"), "inferencePoolsClient");
  assert.equal(clientName("ClusterSPIFFEID", "clusterspiffeids"), "clusterSPIFFEIDsClient");
  assert.equal(clientName("Person", "people"), "peopleClient");
});

function crd(versions: unknown[]): unknown {
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    spec: {
      group: "g.example",
      names: { kind: "Thing", plural: "things" },
      scope: "Cluster",
      versions,
    },
  };
}

Deno.test("only served CRD versions are generated", () => {
  const schema = { openAPIV3Schema: { type: "object" } };
  const kinds = servedKinds(
    crd([{ name: "v1", served: true, schema }, { name: "v0", served: false, schema }]),
    "test",
  );
  assert.deepEqual(kinds.map((k) => [k.version, k.namespaced]), [["v1", false]]);
  assert.throws(
    () => servedKinds(crd([{ name: "v0", served: false, schema }]), "x.yaml"),
    /x\.yaml: the CRD serves no version/,
  );
});

Deno.test("writing output removes stale generated files and leaves other files alone", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kleym-codegen-" });
  try {
    await Deno.mkdir(`${dir}/old.group`);
    await Deno.writeTextFile(
      `${dir}/old.group/v1.ts`,
      "// Code generated by tools/codegen.ts from x. DO NOT EDIT.\n",
    );
    await Deno.writeTextFile(`${dir}/mine.ts`, "export const x = 1;\n");
    const report = await writeOutput(dir, new Map([["g/v1.ts", "fresh\n"]]));
    assert.deepEqual(report, { written: ["g/v1.ts"], unchanged: [], removed: ["old.group/v1.ts"] });
    assert.deepEqual(await listTsFiles(dir), ["g/v1.ts", "mine.ts"]);
    const again = await writeOutput(dir, new Map([["g/v1.ts", "fresh\n"]]));
    assert.deepEqual(again, { written: [], unchanged: ["g/v1.ts"], removed: [] });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

const pool = {
  apiVersion: "inference.networking.k8s.io/v1",
  kind: "InferencePool",
  metadata: { name: "p", namespace: "ns" },
  spec: "not checked here",
};

Deno.test("generated decoders pass a well-formed object through without looking at spec", () => {
  assert.equal(decodeInferencePool(pool), pool);
});

Deno.test("generated decoders reject the wrong apiVersion or kind, naming the object", () => {
  assert.throws(
    () => decodeInferencePool({ ...pool, apiVersion: "inference.networking.x-k8s.io/v1alpha2" }),
    (e: unknown) =>
      e instanceof DecodeError &&
      e.message ===
        'decode InferencePool ns/p: apiVersion is "inference.networking.x-k8s.io/v1alpha2", ' +
          'expected "inference.networking.k8s.io/v1"',
  );
  assert.throws(
    () => decodeInferencePool({ ...pool, kind: "InferenceObjective" }),
    /decode InferencePool ns\/p: kind is "InferenceObjective", expected "InferencePool"/,
  );
  assert.throws(() => decodeInferencePool({ ...pool, kind: undefined }), /kind is missing/);
});

Deno.test("generated decoders reject non-objects and missing metadata or name", () => {
  assert.throws(() => decodeInferencePool(null), /expected an object, got null/);
  assert.throws(() => decodeInferencePool([pool]), /expected an object, got a list/);
  assert.throws(
    () => decodeInferencePool({ ...pool, metadata: undefined }),
    /metadata is missing, expected an object/,
  );
  assert.throws(
    () => decodeInferencePool({ ...pool, metadata: { name: "" } }),
    /metadata\.name is "", expected a non-empty string/,
  );
});

Deno.test("generated client factories bind the descriptor and decoder", () => {
  const client = clusterSPIFFEIDsClient(new RestClient(() => Promise.reject(new Error("unused"))));
  assert.deepEqual(client.desc, {
    group: "spire.spiffe.io",
    version: "v1alpha1",
    plural: "clusterspiffeids",
    kind: "ClusterSPIFFEID",
    namespaced: false,
  });
  assert.throws(() => client.decode({ apiVersion: "spire.spiffe.io/v1alpha1" }), DecodeError);
});
