/**
 * Generator of invalid and hostile inputs (a few hundred objects): bad label keys and values,
 * unicode, maximal lengths, missing refs, self-collisions, selectors that try to talk about other
 * namespaces (`k8s:ns:` text in keys, values, accounts, containers, ref names), shapes kleym's CRD
 * forbids at admission. Every binding carries the reason its author intends; the suite checks that
 * the model agrees (a check of the generator and the model against each other) and that the
 * operator reports exactly what the model says.
 *
 * A pool's intent assumes it is admitted; a binding whose pool admission refused is expected to
 * report TargetPoolNotFound instead (the suite applies that rule).
 */
import {
  isDnsLabel,
  isDnsSubdomain,
  isLabelKey,
  isLabelValue,
  type Obj,
  XK8S_GROUP,
} from "./model.ts";
import {
  bindingManifest,
  GAIE_V1,
  GAIE_V1ALPHA2,
  objectiveManifest,
  poolV1alpha2Manifest,
  poolV1Manifest,
} from "../harness/manifests.ts";

export interface HostilePool {
  version: "v1" | "v1alpha2";
  object: Obj;
  /** What a PoolOnly binding on it reports when admission accepts the pool. */
  intent: "Reconciled" | "InvalidPoolSelector";
}

export interface HostileBinding {
  object: Obj;
  intent: string;
  /** Pool name it depends on when that pool is hostile (admission may drop it). */
  pool?: string;
}

export interface HostileSet {
  namespaces: string[];
  pools: HostilePool[];
  objectives: { version: "v1" | "v1alpha2"; object: Obj }[];
  bindings: HostileBinding[];
}

// The shared builders (tests/harness/manifests.ts): specs exactly as given, hostile ones too.
const poolV1alpha2 = (ns: string, name: string, selector: unknown): Obj =>
  poolV1alpha2Manifest(ns, name, selector);
const poolV1 = (ns: string, name: string, selector: unknown): Obj =>
  poolV1Manifest(ns, name, selector);
const binding = (ns: string, name: string, spec: Record<string, unknown>): Obj =>
  bindingManifest(ns, name, spec);

/** Random strings over an alphabet that mixes valid characters with hostile ones. */
function fuzz(random: () => number, maxLen: number): string {
  const parts = [
    "a",
    "b",
    "z",
    "0",
    "9",
    "-",
    ".",
    "_",
    "A",
    "/",
    ":",
    " ",
    "ü",
    "😀",
    "k8s:ns:",
    "{{",
    "\t",
  ];
  const n = 1 + Math.floor(random() * maxLen);
  let s = "";
  while (s.length < n) s += parts[Math.floor(random() * parts.length)];
  return s;
}

/** The catalogue for one namespace, plus `fuzzCount` seeded random accounts/containers/keys. */
function forNamespace(ns: string, random: () => number, fuzzCount: number, set: HostileSet): void {
  const sa = "sa";
  let seq = 0;
  const uniqueContainer = () => `c${seq++}`;
  // Good pools and objectives the bindings below lean on.
  set.pools.push({
    version: "v1",
    object: poolV1(ns, "good", { matchLabels: { app: "good" } }),
    intent: "Reconciled",
  });
  set.pools.push({
    version: "v1alpha2",
    object: poolV1alpha2(ns, "xgood", { app: "xgood" }),
    intent: "Reconciled",
  });
  const objective = (name: string, version: "v1" | "v1alpha2", poolRef: Record<string, unknown>) =>
    set.objectives.push({
      version,
      object: objectiveManifest(
        version === "v1" ? GAIE_V1 : GAIE_V1ALPHA2,
        ns,
        name,
        poolRef as { name: string },
      ),
    });
  // Every binding meant to be Ready renders its own SPIFFE ID (its own objective), so none is a
  // duplicate of another (docs/contract.md#duplicate-id); o6-o9 serve the collision groups.
  for (let i = 0; i < 14; i++) objective(`o${i}`, "v1", { name: "good" });
  for (let i = 0; i < fuzzCount; i++) {
    objective(`fz-sa-${i}`, "v1", { name: "good" });
    objective(`fz-c-${i}`, "v1", { name: "good" });
  }
  objective("elsewhere", "v1", { name: "not-this-pool" });
  objective("x-group", "v1alpha2", { name: "good", group: XK8S_GROUP });
  objective("x-ok", "v1alpha2", { name: "xgood", group: XK8S_GROUP });
  objective("x-defaulted", "v1alpha2", { name: "xgood" });
  objective("kind-svc", "v1", { name: "good", kind: "Service" });

  // Pools: each gets one PoolOnly binding "on-<pool>".
  const keyCases: [string, "Reconciled" | "InvalidPoolSelector"][] = [
    ["bad key", "InvalidPoolSelector"],
    [" lead", "InvalidPoolSelector"],
    ["trail ", "InvalidPoolSelector"],
    ["k8s:ns:other", "InvalidPoolSelector"],
    ["k8s:sa:", "InvalidPoolSelector"],
    ["a/b/c", "InvalidPoolSelector"],
    ["UPPER.example/x", "InvalidPoolSelector"],
    ["-dash", "InvalidPoolSelector"],
    ["x".repeat(64), "InvalidPoolSelector"],
    [`${"p".repeat(254)}/x`, "InvalidPoolSelector"],
    ["ünïcode", "InvalidPoolSelector"],
    ["emoji😀", "InvalidPoolSelector"],
    ["/x", "InvalidPoolSelector"],
    ["x/", "InvalidPoolSelector"],
    ["a..b/x", "InvalidPoolSelector"],
    ["{{x}}", "InvalidPoolSelector"],
    ["tab\tkey", "InvalidPoolSelector"],
    ["new\nline", "InvalidPoolSelector"],
    ["", "InvalidPoolSelector"],
    ["kubernetes.io/metadata.name", "Reconciled"],
    ["k8s.ns/other", "Reconciled"],
    [
      `${"a".repeat(63)}.${"b".repeat(63)}.${"c".repeat(63)}.${"d".repeat(61)}/${"n".repeat(63)}`,
      "Reconciled",
    ],
  ];
  const valueCases: [string, "Reconciled" | "InvalidPoolSelector"][] = [
    [" x", "InvalidPoolSelector"],
    ["x ", "InvalidPoolSelector"],
    ["k8s:ns:other", "InvalidPoolSelector"],
    ["ünï", "InvalidPoolSelector"],
    ["v".repeat(64), "InvalidPoolSelector"],
    ["{{x}}", "InvalidPoolSelector"],
    ["-x", "InvalidPoolSelector"],
    ["v".repeat(63), "Reconciled"],
    ["", "Reconciled"],
    ["other-namespace", "Reconciled"],
  ];
  const pools: { pool: HostilePool; name: string }[] = [];
  keyCases.forEach(([k, intent], i) => {
    const name = `key-${i}`;
    pools.push({
      name,
      pool: { version: "v1alpha2", object: poolV1alpha2(ns, name, { [k]: "v" }), intent },
    });
    const v1name = `v1key-${i}`;
    pools.push({
      name: v1name,
      pool: { version: "v1", object: poolV1(ns, v1name, { matchLabels: { [k]: "v" } }), intent },
    });
  });
  valueCases.forEach(([v, intent], i) => {
    const name = `value-${i}`;
    pools.push({
      name,
      pool: { version: "v1alpha2", object: poolV1alpha2(ns, name, { app: v }), intent },
    });
  });
  const shapes: [string, HostilePool][] = [
    ["empty", {
      version: "v1alpha2",
      object: poolV1alpha2(ns, "empty", {}),
      intent: "InvalidPoolSelector",
    }],
    ["number", {
      version: "v1alpha2",
      object: poolV1alpha2(ns, "number", { app: 1 }),
      intent: "InvalidPoolSelector",
    }],
    ["nested", {
      version: "v1alpha2",
      object: poolV1alpha2(ns, "nested", { app: { x: "y" } }),
      intent: "InvalidPoolSelector",
    }],
    ["v1-empty", {
      version: "v1",
      object: poolV1(ns, "v1-empty", { matchLabels: {} }),
      intent: "InvalidPoolSelector",
    }],
    // matchExpressions is not in the v1 schema: the API server prunes it, the pool keeps app=x.
    ["v1-expr", {
      version: "v1",
      object: poolV1(ns, "v1-expr", {
        matchLabels: { app: "expr" },
        matchExpressions: [{ key: "app", operator: "In", values: ["a"] }],
      }),
      intent: "Reconciled",
    }],
  ];
  for (const [name, pool] of shapes) pools.push({ name, pool });
  for (let i = 0; i < fuzzCount; i++) {
    const k = fuzz(random, 20);
    const v = fuzz(random, 12);
    const ok = k === k.trim() && isLabelKey(k) && v === v.trim() && isLabelValue(v);
    const name = `fuzz-${i}`;
    pools.push({
      name,
      pool: {
        version: "v1alpha2",
        object: poolV1alpha2(ns, name, { [k]: v }),
        intent: ok ? "Reconciled" : "InvalidPoolSelector",
      },
    });
  }
  for (const { name, pool } of pools) {
    set.pools.push(pool);
    set.bindings.push({
      object: binding(ns, `on-${name}`, {
        poolRef: { name },
        mode: "PoolOnly",
        serviceAccountName: sa,
      }),
      intent: pool.intent,
      pool: name,
    });
  }

  // Bindings: spec validation, refs, names, collisions, maximal lengths.
  const per = (extra: Record<string, unknown>) => ({
    poolRef: { name: "good" },
    objectiveRef: { name: "o0" },
    serviceAccountName: sa,
    containerName: uniqueContainer(),
    ...extra,
  });
  const cases: [string, Record<string, unknown>, string][] = [
    ["mode-sometimes", per({ mode: "Sometimes" }), "UnsupportedMode"],
    ["mode-lower", per({ mode: "poolonly" }), "UnsupportedMode"],
    ["mode-unicode", per({ mode: "PöolOnly" }), "UnsupportedMode"],
    ["mode-space", per({ mode: "PoolOnly " }), "UnsupportedMode"],
    ["mode-empty", per({ mode: "", objectiveRef: { name: "o1" } }), "Reconciled"],
    ["pool-empty", per({ poolRef: { name: "" } }), "InvalidPoolRef"],
    ["pool-group", per({ poolRef: { name: "good", group: "example.com" } }), "InvalidPoolRef"],
    [
      "pool-group-upper",
      per({ poolRef: { name: "good", group: "INFERENCE.NETWORKING.K8S.IO" } }),
      "InvalidPoolRef",
    ],
    ["pool-ns", per({ poolRef: { name: "k8s:ns:other" } }), "TargetPoolNotFound"],
    ["pool-dots", per({ poolRef: { name: "../other" } }), "TargetPoolNotFound"],
    ["pool-unicode", per({ poolRef: { name: "ünï" } }), "TargetPoolNotFound"],
    ["pool-long", per({ poolRef: { name: "a".repeat(253) } }), "TargetPoolNotFound"],
    ["pool-template", per({ poolRef: { name: "x{{y}}" } }), "TargetPoolNotFound"],
    [
      "pool-wrong-group",
      per({ poolRef: { name: "good", group: XK8S_GROUP } }),
      "TargetPoolNotFound",
    ],
    ["objective-missing", {
      poolRef: { name: "good" },
      serviceAccountName: sa,
      mode: "PerObjective",
      containerName: "m1",
    }, "MissingObjectiveRef"],
    ["objective-empty", per({ objectiveRef: { name: "" } }), "MissingObjectiveRef"],
    [
      "objective-group",
      per({ objectiveRef: { name: "o0", group: "example.org" } }),
      "InvalidObjectiveRef",
    ],
    ["objective-absent", per({ objectiveRef: { name: "absent" } }), "TargetObjectiveNotFound"],
    ["objective-ns", per({ objectiveRef: { name: "k8s:ns:other" } }), "TargetObjectiveNotFound"],
    ["objective-elsewhere", per({ objectiveRef: { name: "elsewhere" } }), "InvalidObjectiveRef"],
    ["objective-x-group", per({ objectiveRef: { name: "x-group" } }), "InvalidObjectiveRef"],
    [
      "objective-x-ok",
      per({ poolRef: { name: "xgood" }, objectiveRef: { name: "x-ok" } }),
      "Reconciled",
    ],
    [
      "objective-x-defaulted",
      per({ poolRef: { name: "xgood" }, objectiveRef: { name: "x-defaulted" } }),
      "InvalidObjectiveRef",
    ],
    ["objective-kind", per({ objectiveRef: { name: "kind-svc" } }), "InvalidObjectiveRef"],
    ["sa-empty", per({ serviceAccountName: "" }), "InvalidServiceAccountName"],
    ["sa-upper", per({ serviceAccountName: "Bad_SA" }), "InvalidServiceAccountName"],
    ["sa-long", per({ serviceAccountName: "a".repeat(254) }), "InvalidServiceAccountName"],
    ["sa-unicode", per({ serviceAccountName: "ünï" }), "InvalidServiceAccountName"],
    ["sa-ns", per({ serviceAccountName: "k8s:ns:other" }), "InvalidServiceAccountName"],
    ["sa-slash", per({ serviceAccountName: "sa/x" }), "InvalidServiceAccountName"],
    ["sa-space", per({ serviceAccountName: " sa" }), "InvalidServiceAccountName"],
    ["sa-dotdot", per({ serviceAccountName: "a..b" }), "InvalidServiceAccountName"],
    ["sa-template", per({ serviceAccountName: "{{.x}}" }), "InvalidServiceAccountName"],
    [
      "sa-nslike",
      per({ serviceAccountName: "k8s-ns-other", objectiveRef: { name: "o12" } }),
      "Reconciled",
    ],
    [
      "sa-max",
      per({ serviceAccountName: "a".repeat(253), objectiveRef: { name: "o13" } }),
      "Reconciled",
    ],
    ["container-poolonly", {
      poolRef: { name: "good" },
      serviceAccountName: sa,
      mode: "PoolOnly",
      containerName: "main",
    }, "UnexpectedContainerName"],
    ["container-empty", per({ containerName: "" }), "InvalidContainerName"],
    ["container-absent", {
      poolRef: { name: "good" },
      objectiveRef: { name: "o2" },
      serviceAccountName: sa,
      mode: "PerObjective",
    }, "InvalidContainerName"],
    ["container-upper", per({ containerName: "Bad_Name" }), "InvalidContainerName"],
    ["container-long", per({ containerName: "c".repeat(64) }), "InvalidContainerName"],
    ["container-ns", per({ containerName: "k8s:ns:x" }), "InvalidContainerName"],
    ["container-dot", per({ containerName: "a.b" }), "InvalidContainerName"],
    [
      "container-max",
      per({ containerName: "c".repeat(63), objectiveRef: { name: "o3" } }),
      "Reconciled",
    ],
    ["n".repeat(64), per({}), "InvalidBindingName"],
    [`${"n".repeat(100)}.x`, per({}), "InvalidBindingName"],
    ["a.b.c", per({ objectiveRef: { name: "o4" } }), "Reconciled"],
    ["m".repeat(63), per({ objectiveRef: { name: "o5" } }), "Reconciled"],
    ["UPPER", per({}), "Reconciled"], // metadata.name: refused at admission
    ["ünï", per({}), "Reconciled"], // refused at admission
  ];
  for (const [name, spec, intent] of cases) {
    set.bindings.push({ object: binding(ns, name, spec), intent });
  }
  // Self-collisions: groups of 2, 3 and 4 with the same pool, account and container.
  for (const size of [2, 3, 4]) {
    for (let i = 0; i < size; i++) {
      set.bindings.push({
        object: binding(ns, `coll${size}-${i}`, {
          poolRef: { name: "good" },
          objectiveRef: { name: `o${6 + i}` },
          serviceAccountName: sa,
          containerName: `shared-${size}`,
        }),
        intent: "IdentityCollision",
      });
    }
  }
  // Seeded fuzz of accounts and containers.
  for (let i = 0; i < fuzzCount; i++) {
    const s = fuzz(random, 16);
    set.bindings.push({
      object: binding(ns, `fuzz-sa-${i}`, {
        poolRef: { name: "good" },
        objectiveRef: { name: `fz-sa-${i}` },
        serviceAccountName: s,
        containerName: "main",
      }),
      intent: isDnsSubdomain(s) ? "Reconciled" : "InvalidServiceAccountName",
    });
    const c = fuzz(random, 16);
    set.bindings.push({
      object: binding(ns, `fuzz-c-${i}`, {
        poolRef: { name: "good" },
        objectiveRef: { name: `fz-c-${i}` },
        serviceAccountName: `fz-${i}`,
        containerName: c,
      }),
      intent: isDnsLabel(c) ? "Reconciled" : "InvalidContainerName",
    });
  }
}

/** `copies` namespaces of the catalogue (one of them 63 characters long) plus seeded fuzz. */
export function hostileSet(random: () => number, copies: number, fuzzCount: number): HostileSet {
  const set: HostileSet = { namespaces: [], pools: [], objectives: [], bindings: [] };
  for (let i = 0; i < copies; i++) {
    const ns = i === 0 ? `hostile-${"x".repeat(55)}` : `hostile-${i}`;
    set.namespaces.push(ns);
    forNamespace(ns, random, fuzzCount, set);
  }
  return set;
}
