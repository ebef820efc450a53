/**
 * REST verbs, error mapping, pagination, request counting and discovery against the run's real
 * kube-apiserver.
 */
import { deepEqual, equal, ok, rejects } from "node:assert/strict";
import { testEnv } from "../harness/env.ts";
import { connect } from "../../apis/connect.ts";
import { Discovery } from "../../apis/discovery.ts";
import { ApiError } from "../../apis/errors.ts";
import { RequestCounter } from "../../apis/hooks.ts";
import { type KubeObject, ResourceClient } from "../../apis/rest.ts";
import { pollUntil } from "../harness/poll.ts";

interface ConfigMap extends KubeObject {
  data?: Record<string, string>;
}

const configMaps = {
  group: "",
  version: "v1",
  plural: "configmaps",
  kind: "ConfigMap",
  namespaced: true,
} as const;

async function admin(counter?: RequestCounter) {
  const env = await testEnv();
  return await connect({ kubeconfig: env.kubeconfigPath, onRequest: counter?.onRequest });
}

function apiError(pred: (e: ApiError) => boolean) {
  return (e: unknown) => e instanceof ApiError && pred(e);
}

Deno.test("create, get, update, patch (merge, json, apply) and delete a ConfigMap", async () => {
  const env = await testEnv();
  const ns = await env.newNamespace("apis-rest");
  const counter = new RequestCounter();
  const c = await admin(counter);
  try {
    const cms = new ResourceClient<ConfigMap>(c.rest, configMaps);
    const created = await cms.create({
      metadata: { name: "one", namespace: ns },
      data: { a: "1" },
    });
    equal(created.kind, "ConfigMap");
    ok(created.metadata.uid);
    await rejects(
      cms.create({ metadata: { name: "one", namespace: ns } }),
      apiError((e) => e.isAlreadyExists() && e.status === 409),
    );

    const got = await cms.get("one", { namespace: ns });
    deepEqual(got.data, { a: "1" });

    const updated = await cms.update({ ...got, data: { a: "2" } });
    deepEqual(updated.data, { a: "2" });
    // the old resourceVersion is stale now
    await rejects(cms.update({ ...got, data: { a: "3" } }), apiError((e) => e.isConflict()));

    const merged = await cms.patch("one", "merge", { data: { b: "x" } }, { namespace: ns });
    deepEqual(merged.data, { a: "2", b: "x" });
    const jsonPatched = await cms.patch("one", "json", [
      { op: "test", path: "/data/a", value: "2" },
      { op: "remove", path: "/data/b" },
    ], { namespace: ns });
    deepEqual(jsonPatched.data, { a: "2" });
    await rejects(
      cms.patch("one", "json", [{ op: "test", path: "/data/a", value: "nope" }], { namespace: ns }),
      apiError((e) => e.isInvalid() || e.status === 422),
    );

    // server-side apply: a second manager conflicts on a field it does not own, unless forced
    const applied = await cms.apply(
      { metadata: { name: "two", namespace: ns }, data: { owned: "by-kleym" } },
      { fieldManager: "kleym-test" },
    );
    deepEqual(applied.data, { owned: "by-kleym" });
    await rejects(
      cms.apply({ metadata: { name: "two", namespace: ns }, data: { owned: "other" } }, {
        fieldManager: "someone-else",
      }),
      apiError((e) => e.isConflict()),
    );
    const forced = await cms.apply(
      { metadata: { name: "two", namespace: ns }, data: { owned: "other" } },
      { fieldManager: "someone-else", force: true },
    );
    deepEqual(forced.data, { owned: "other" });

    // delete preconditions
    await rejects(
      cms.delete("one", {
        namespace: ns,
        preconditions: { uid: "00000000-0000-0000-0000-000000000000" },
      }),
      apiError((e) => e.isConflict()),
    );
    await rejects(
      cms.delete("one", {
        namespace: ns,
        preconditions: { resourceVersion: got.metadata.resourceVersion },
      }),
      apiError((e) => e.isConflict()),
    );
    equal(
      await cms.delete("one", {
        namespace: ns,
        preconditions: { uid: created.metadata.uid },
        propagationPolicy: "Background",
      }),
      undefined,
      "a completed delete answers with a Status",
    );
    // Foreground deletion leaves the object behind with a finalizer (this control plane runs no
    // garbage collector), so the server answers with the object itself.
    const pending = await cms.delete("two", { namespace: ns, propagationPolicy: "Foreground" });
    ok(pending?.metadata.deletionTimestamp);
    ok(pending?.metadata.finalizers?.includes("foregroundDeletion"));
    await rejects(
      cms.get("one", { namespace: ns }),
      apiError((e) => e.isNotFound() && e.message.includes("one")),
    );
    await rejects(cms.delete("one", { namespace: ns }), apiError((e) => e.isNotFound()));
    await rejects(
      cms.create({ metadata: { name: "Not_Valid", namespace: ns } }),
      apiError((e) => e.isInvalid()),
    );

    equal(counter.count({ verb: "create", resource: "configmaps", code: 201 }), 1);
    equal(counter.count({ verb: "create", resource: "configmaps", code: 409 }), 1);
    equal(counter.count({ verb: "create", resource: "configmaps", code: 422 }), 1);
    equal(counter.count({ verb: "patch", resource: "configmaps" }), 6);
    equal(counter.count({ verb: "delete", resource: "configmaps", code: 404 }), 1);
    equal(counter.count({ verb: "delete", resource: "configmaps", code: 409 }), 2);
    ok(counter.count({ verb: "get", code: 404 }) >= 1);
  } finally {
    c.close();
  }
});

Deno.test("list filters by label and field selector and pages with limit/continue", async () => {
  const env = await testEnv();
  const ns = await env.newNamespace("apis-list");
  const c = await admin();
  try {
    const cms = new ResourceClient<ConfigMap>(c.rest, configMaps);
    for (let i = 0; i < 7; i++) {
      await cms.create({
        metadata: {
          name: `cm-${i}`,
          namespace: ns,
          labels: { parity: i % 2 === 0 ? "even" : "odd" },
        },
      });
    }
    const even = await cms.list({ namespace: ns, labelSelector: "parity=even" });
    deepEqual(even.items.map((o) => o.metadata.name).sort(), ["cm-0", "cm-2", "cm-4", "cm-6"]);
    ok(
      even.items.every((o) => o.kind === "ConfigMap" && o.apiVersion === "v1"),
      "items carry type meta",
    );
    const byName = await cms.list({ namespace: ns, fieldSelector: "metadata.name=cm-3" });
    deepEqual(byName.items.map((o) => o.metadata.name), ["cm-3"]);

    const page1 = await cms.list({ namespace: ns, labelSelector: "parity", limit: 3 });
    equal(page1.items.length, 3);
    ok(page1.metadata.continue);
    const page2 = await cms.list({
      namespace: ns,
      labelSelector: "parity",
      limit: 3,
      continue: page1.metadata.continue,
    });
    equal(page2.items.length, 3);
    const all = await cms.listAll({ namespace: ns, labelSelector: "parity", limit: 2 });
    equal(all.items.length, 7);
    equal(new Set(all.items.map((o) => o.metadata.name)).size, 7);
    ok(all.metadata.resourceVersion);
    // Pipelined pages (the next requested before this one is transformed): every item still
    // goes through the transform exactly once, in the server's order.
    const seen: string[] = [];
    const marked = await cms.listAll(
      { namespace: ns, labelSelector: "parity", limit: 2 },
      (o) => {
        seen.push(o.metadata.name ?? "");
        return { ...o, metadata: { ...o.metadata, labels: { transformed: "yes" } } };
      },
    );
    deepEqual(seen, all.items.map((o) => o.metadata.name));
    deepEqual(marked.items.map((o) => o.metadata.name), seen);
    ok(marked.items.every((o) => o.metadata.labels?.transformed === "yes"));
  } finally {
    c.close();
  }
});

interface Binding extends KubeObject {
  spec: Record<string, unknown>;
  status?: { trustDomain?: string };
}

Deno.test("the status subresource changes status only, and spec writes ignore status", async () => {
  const env = await testEnv();
  const ns = await env.newNamespace("apis-status");
  const c = await admin();
  try {
    const bindings = new ResourceClient<Binding>(c.rest, {
      group: "kleym.sonda.red",
      version: "v1alpha1",
      plural: "inferenceidentitybindings",
      kind: "InferenceIdentityBinding",
      namespaced: true,
    });
    const b = await bindings.create({
      metadata: { name: "b", namespace: ns },
      spec: { poolRef: { name: "p" }, serviceAccountName: "sa", mode: "PoolOnly" },
      status: { trustDomain: "ignored.example" },
    });
    equal(b.status?.trustDomain, undefined, "status is dropped on create");
    const withStatus = await bindings.updateStatus({ ...b, status: { trustDomain: "td.example" } });
    equal(withStatus.status?.trustDomain, "td.example");
    equal(
      withStatus.metadata.generation,
      b.metadata.generation,
      "status writes do not bump generation",
    );
    const patched = await bindings.patch("b", "merge", { status: { trustDomain: "td2.example" } }, {
      namespace: ns,
      subresource: "status",
    });
    equal(patched.status?.trustDomain, "td2.example");
    const specWrite = await bindings.patch("b", "merge", { status: { trustDomain: "nope" } }, {
      namespace: ns,
    });
    equal(specWrite.status?.trustDomain, "td2.example", "the main resource ignores status");
  } finally {
    c.close();
  }
});

function crdManifest(group: string): string {
  return JSON.stringify({
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name: `widgets.${group}` },
    spec: {
      group,
      scope: "Namespaced",
      names: { plural: "widgets", singular: "widget", kind: "Widget", listKind: "WidgetList" },
      versions: [{
        name: "v1",
        served: true,
        storage: true,
        schema: {
          openAPIV3Schema: { type: "object", "x-kubernetes-preserve-unknown-fields": true },
        },
      }],
    },
  });
}

Deno.test("discovery lists served resources and notices a CRD that comes and goes", async () => {
  const env = await testEnv();
  const c = await admin();
  const group = `d${crypto.randomUUID().slice(0, 8)}.apis-test.kleym.example`;
  try {
    for (const aggregated of [true, false]) {
      const d = new Discovery(c.rest, { aggregated });
      await d.refresh();
      ok(d.serves("", "v1", "configmaps"), `aggregated=${aggregated}`);
      ok(d.serves("kleym.sonda.red", "v1alpha1", "inferenceidentitybindings"));
      ok(d.serves("inference.networking.k8s.io", "v1", "inferencepools"));
      const iib = d.resource("kleym.sonda.red", "v1alpha1", "inferenceidentitybindings");
      equal(iib?.kind, "InferenceIdentityBinding");
      equal(iib?.namespaced, true);
      ok(iib?.subresources.includes("status"));
      ok(iib?.verbs.includes("watch"));
      equal(d.resource("", "v1", "namespaces")?.namespaced, false);
      ok(d.servesGroupVersion("apps", "v1"));
      ok(!d.serves("", "v1", "configmaps/status"));
      ok(!d.serves(group, "v1", "widgets"));
    }
    const d = new Discovery(c.rest);

    await env.kubectl(["apply", "-f", "-"], { stdin: crdManifest(group) });
    await pollUntil("the CRD to be discovered", 60_000, async () => {
      await d.refresh();
      return d.serves(group, "v1", "widgets");
    });
    await env.kubectl(["delete", "crd", `widgets.${group}`, "--wait=true"]);
    await pollUntil("the CRD to disappear from discovery", 60_000, async () => {
      await d.refresh();
      return !d.serves(group, "v1", "widgets");
    });
  } finally {
    await env.kubectl(["delete", "crd", `widgets.${group}`, "--ignore-not-found"]).catch(() => {});
    c.close();
  }
});
