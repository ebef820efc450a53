/**
 * The documented shape of the two JSON reports, as data, and a small checker (pure). Tests check
 * real CLI output against it, and that docs/cli.md names every field path it lists; scripts may
 * use it too (`checkReport(JSON.parse(out))` returns the list of problems, [] when it conforms).
 *
 * Objects are exact: an undocumented key is a problem, so the contract cannot grow silently.
 */
import { FINDING_IDS } from "./report.ts";

export type Shape =
  | "string"
  | "number"
  | "boolean"
  | "null"
  | { enum: readonly string[] }
  | { anyOf: readonly Shape[] }
  | { array: Shape }
  | { record: Shape }
  /** As an object member: the key may be absent. */
  | { optional: Shape }
  | { object: Readonly<Record<string, Shape>> };

const str: Shape = "string";
const num: Shape = "number";
const nullable = (s: Shape): Shape => ({ anyOf: [s, "null"] });
const labelMap: Shape = { record: str };

const objectRef: Shape = {
  object: { apiVersion: str, kind: str, namespace: nullable(str), name: str },
};

const finding: Shape = {
  object: {
    id: { enum: FINDING_IDS },
    severity: { enum: ["info", "warning", "error"] },
    reason: str,
    message: str,
    affectedRefs: { array: objectRef },
  },
};

const configValue: Shape = {
  object: {
    value: nullable(str),
    source: { enum: ["binding-status", "deployment-args", "undiscovered"] },
    mixed: "boolean",
    observed: { array: nullable(str) },
  },
};

export const STATUS_REPORT_SHAPE: Shape = {
  object: {
    schemaVersion: { enum: ["v1alpha1"] },
    kind: { enum: ["KleymStatusReport"] },
    generatedAt: str,
    status: { enum: ["OK", "WARNING", "ERROR"] },
    cliVersion: str,
    components: {
      object: {
        crds: {
          array: {
            object: {
              name: str,
              group: str,
              kind: str,
              component: { enum: ["kleym", "spire", "gaie"] },
              supportedVersions: { array: str },
              servedVersions: { array: str },
              served: "boolean",
            },
          },
        },
        operator: {
          object: {
            state: { enum: ["available", "unavailable", "not-found", "unknown"] },
            evidence: { enum: ["lease", "deployment", "bindings", "none"] },
            lease: nullable({
              object: {
                namespace: str,
                name: str,
                holder: nullable(str),
                renewTime: nullable(str),
                leaseDurationSeconds: nullable(num),
                ageSeconds: nullable(num),
                live: "boolean",
              },
            }),
            deployments: {
              array: {
                object: {
                  namespace: str,
                  name: str,
                  replicas: num,
                  readyReplicas: num,
                  image: nullable(str),
                  imageTag: nullable(str),
                },
              },
            },
          },
        },
      },
    },
    config: { object: { trustDomain: configValue, className: configValue } },
    summary: {
      object: {
        bindings: nullable({ object: { total: num, ok: num, warning: num, error: num } }),
        trueConditions: nullable({ record: num }),
        spire: nullable({
          object: {
            reported: num,
            podsSelected: num,
            entryFailures: num,
            podEntryRenderFailures: num,
            entriesMasked: num,
          },
        }),
      },
    },
    findings: { array: finding },
  },
};

const source: Shape = { enum: ["flag", "binding-status", "default"] };
const limitSource: Shape = { enum: ["flag", "default"] };
const strings: Shape = { array: str };
/** `spec.svid` as written, and the ClusterSPIFFEID fields it renders to (cli/inspect_svid.ts). */
const svidRequested: Shape = {
  object: {
    x509TTL: { optional: str },
    jwtTTL: { optional: str },
    dnsNames: { optional: strings },
    autoPopulateDNSNames: { optional: "boolean" },
    federatesWith: { optional: strings },
  },
};
const svidRendered = {
  ttl: { optional: str },
  jwtTtl: { optional: str },
  dnsNameTemplates: { optional: strings },
  autoPopulateDNSNames: { optional: "boolean" },
  federatesWith: { optional: strings },
} as const satisfies Record<string, Shape>;
const resolvedRef = {
  name: nullable(str),
  requestedGroup: nullable(str),
  apiVersion: nullable(str),
  found: "boolean",
} as const satisfies Record<string, Shape>;

export const INSPECTION_REPORT_SHAPE: Shape = {
  object: {
    schemaVersion: { enum: ["v1alpha1"] },
    kind: { enum: ["BindingInspectionReport"] },
    generatedAt: str,
    cliVersion: str,
    identityConfig: {
      object: {
        trustDomain: { object: { value: str, source } },
        className: { object: { value: nullable(str), source } },
        svidLimits: {
          object: {
            maxSvidTtl: { object: { value: str, source: limitSource } },
            clusterDomain: { object: { value: str, source: limitSource } },
            allowedDnsSuffixes: { object: { value: strings, source: limitSource } },
            allowedFederatedTrustDomains: { object: { value: strings, source: limitSource } },
          },
        },
      },
    },
    bindingRef: {
      object: {
        apiVersion: str,
        kind: str,
        namespace: str,
        name: str,
        found: "boolean",
        uid: nullable(str),
        generation: nullable(num),
      },
    },
    resolvedInput: nullable({
      object: {
        mode: nullable(str),
        serviceAccountName: nullable(str),
        containerName: nullable(str),
        pool: { object: { ...resolvedRef, podLabels: nullable(labelMap) } },
        objective: nullable({ object: resolvedRef }),
      },
    }),
    renderedIdentity: nullable({
      object: { mode: str, spiffeID: str, selectors: { array: str }, podLabels: labelMap },
    }),
    renderedClusterSPIFFEID: nullable({
      object: {
        name: str,
        // The object kleym would write; its schema is SPIRE's ClusterSPIFFEID (docs/cli.md).
        object: {
          object: {
            apiVersion: { enum: ["spire.spiffe.io/v1alpha1"] },
            kind: { enum: ["ClusterSPIFFEID"] },
            metadata: {
              object: { name: str, labels: labelMap, annotations: labelMap },
            },
            spec: {
              object: {
                spiffeIDTemplate: str,
                podSelector: { object: { matchLabels: labelMap } },
                namespaceSelector: { object: { matchLabels: labelMap } },
                workloadSelectorTemplates: { array: str },
                fallback: "boolean",
                hint: str,
                className: { optional: str },
                ...svidRendered,
              },
            },
          },
        },
        clusterState: { enum: ["in-sync", "differs", "absent", "not-served", "unknown"] },
      },
    }),
    conditions: {
      array: {
        object: {
          type: str,
          status: str,
          reason: str,
          message: str,
          lastTransitionTime: nullable(str),
          observedGeneration: nullable(num),
        },
      },
    },
    matchedPods: nullable({
      array: {
        object: {
          namespace: str,
          name: str,
          serviceAccountName: nullable(str),
          labels: labelMap,
          containerName: nullable(str),
        },
      },
    }),
    spire: nullable({
      object: {
        state: { enum: ["reported", "no-clusterspiffeid", "not-copied", "not-reported"] },
        message: nullable(str),
        figures: nullable({
          object: {
            clusterSPIFFEIDName: str,
            namespacesSelected: num,
            namespacesIgnored: num,
            podsSelected: num,
            entriesToSet: num,
            entriesMasked: num,
            entryFailures: num,
            podEntryRenderFailures: num,
            lastChangeTime: nullable(str),
          },
        }),
      },
    }),
    svid: nullable({
      object: {
        requested: nullable(svidRequested),
        rendered: nullable({ object: svidRendered }),
        refusedBy: nullable({
          object: {
            reason: { enum: ["SVIDTTLOutOfRange", "DNSNameNotAllowed", "FederationNotAllowed"] },
            field: str,
            value: str,
            flag: nullable(str),
            limit: nullable(str),
            message: str,
          },
        }),
      },
    }),
    findings: { array: finding },
  },
};

function typeName(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  return typeof v;
}

/** Problems of `value` against `shape` ("<path>: <problem>"); [] when it conforms. */
export function checkShape(value: unknown, shape: Shape, path = "$"): string[] {
  if (typeof shape === "string") {
    return typeName(value) === shape ? [] : [`${path}: expected ${shape}, got ${typeName(value)}`];
  }
  if ("enum" in shape) {
    return typeof value === "string" && shape.enum.includes(value)
      ? []
      : [`${path}: expected one of ${shape.enum.join("|")}, got ${JSON.stringify(value)}`];
  }
  if ("anyOf" in shape) {
    const all = shape.anyOf.map((s) => checkShape(value, s, path));
    return all.some((p) => p.length === 0) ? [] : all.flat();
  }
  if ("optional" in shape) return checkShape(value, shape.optional, path);
  if ("array" in shape) {
    if (!Array.isArray(value)) return [`${path}: expected array, got ${typeName(value)}`];
    return value.flatMap((item, i) => checkShape(item, shape.array, `${path}[${i}]`));
  }
  if (typeName(value) !== "object") return [`${path}: expected object, got ${typeName(value)}`];
  const o = value as Record<string, unknown>;
  if ("record" in shape) {
    return Object.entries(o).flatMap(([k, v]) => checkShape(v, shape.record, `${path}.${k}`));
  }
  const problems: string[] = [];
  for (const [key, s] of Object.entries(shape.object)) {
    if (!(key in o)) {
      if (!(typeof s === "object" && "optional" in s)) problems.push(`${path}.${key}: missing`);
      continue;
    }
    problems.push(...checkShape(o[key], s, `${path}.${key}`));
  }
  for (const key of Object.keys(o)) {
    if (!(key in shape.object)) problems.push(`${path}.${key}: not part of the documented shape`);
  }
  return problems;
}

/** Checks either report by its `kind`. */
export function checkReport(value: unknown): string[] {
  const kind = typeName(value) === "object" ? (value as Record<string, unknown>).kind : undefined;
  if (kind === "KleymStatusReport") return checkShape(value, STATUS_REPORT_SHAPE);
  if (kind === "BindingInspectionReport") return checkShape(value, INSPECTION_REPORT_SHAPE);
  return [
    `$.kind: expected KleymStatusReport or BindingInspectionReport, got ${JSON.stringify(kind)}`,
  ];
}

/** Every field path of a shape (`a.b`, arrays as `a[]`, maps as `a.*`), for the docs check. */
export function fieldPaths(shape: Shape, prefix = ""): string[] {
  if (typeof shape === "string" || "enum" in shape) return [];
  if ("anyOf" in shape) return shape.anyOf.flatMap((s) => fieldPaths(s, prefix));
  if ("optional" in shape) return fieldPaths(shape.optional, prefix);
  if ("array" in shape) return fieldPaths(shape.array, `${prefix}[]`);
  if ("record" in shape) return fieldPaths(shape.record, `${prefix}.*`);
  return Object.entries(shape.object).flatMap(([k, s]) => {
    const p = prefix === "" ? k : `${prefix}.${k}`;
    return [p, ...fieldPaths(s, p)];
  });
}
