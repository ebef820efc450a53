import { deepEqual } from "node:assert/strict";
import { dropFields, keepFields } from "../../apis/slim.ts";
import type { KubeObject } from "../../apis/rest.ts";

const object = {
  apiVersion: "example.org/v1",
  kind: "Thing",
  metadata: {
    name: "t",
    namespace: "ns",
    resourceVersion: "7",
    uid: "u",
    generation: 3,
    finalizers: ["a/b", "c/d"],
    labels: { l: "1" },
    annotations: { "kubectl.kubernetes.io/last-applied-configuration": "{...}" },
    managedFields: [{ manager: "kubectl", operation: "Apply" }],
    ownerReferences: [{ apiVersion: "v1", kind: "X", name: "x", uid: "x" }],
  },
  spec: { a: 1 },
  status: { b: 2 },
} as KubeObject;

Deno.test("keepFields keeps type, identity, the named fields and nothing else", () => {
  deepEqual(keepFields(["spec"], ["uid", "finalizers"])(object), {
    apiVersion: "example.org/v1",
    kind: "Thing",
    metadata: {
      name: "t",
      namespace: "ns",
      resourceVersion: "7",
      uid: "u",
      finalizers: ["a/b", "c/d"],
    },
    spec: { a: 1 },
  });
});

Deno.test("dropFields removes only the named fields and never the identity", () => {
  const slim = dropFields(["status"], ["managedFields", "name", "resourceVersion"])(object);
  const { managedFields: _, ...metadata } = object.metadata;
  deepEqual(slim, { apiVersion: "example.org/v1", kind: "Thing", metadata, spec: { a: 1 } });
});
