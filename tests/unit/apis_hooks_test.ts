import { deepEqual, equal } from "node:assert/strict";
import { describeRequest, RequestCounter, withRequestHook } from "../../apis/hooks.ts";
import type { KubeRequest } from "../../apis/transport.ts";

Deno.test("requests are described by Kubernetes verb and resource", async (t) => {
  const cases: [KubeRequest, string, string][] = [
    [{ method: "GET", path: "/api/v1/namespaces/a/configmaps/x" }, "get", "configmaps"],
    [{ method: "GET", path: "/api/v1/namespaces/a/configmaps" }, "list", "configmaps"],
    [{ method: "GET", path: "/api/v1/configmaps", query: { watch: true } }, "watch", "configmaps"],
    [{ method: "GET", path: "/api/v1/namespaces" }, "list", "namespaces"],
    [{ method: "GET", path: "/api/v1/namespaces/kube-system" }, "get", "namespaces"],
    [
      { method: "POST", path: "/apis/spire.spiffe.io/v1alpha1/clusterspiffeids" },
      "create",
      "clusterspiffeids.spire.spiffe.io",
    ],
    [
      {
        method: "PUT",
        path: "/apis/kleym.sonda.red/v1alpha1/namespaces/a/inferenceidentitybindings/b/status",
      },
      "update",
      "inferenceidentitybindings.kleym.sonda.red/status",
    ],
    [
      { method: "PATCH", path: "/apis/coordination.k8s.io/v1/namespaces/a/leases/l" },
      "patch",
      "leases.coordination.k8s.io",
    ],
    [{ method: "DELETE", path: "/api/v1/namespaces/a/configmaps/x" }, "delete", "configmaps"],
    [
      { method: "DELETE", path: "/api/v1/namespaces/a/configmaps" },
      "deletecollection",
      "configmaps",
    ],
    [{ method: "GET", path: "/apis" }, "list", "/apis"],
    [{ method: "GET", path: "/version" }, "list", "/version"],
  ];
  for (const [req, verb, resource] of cases) {
    await t.step(`${req.method} ${req.path}`, () => {
      deepEqual(describeRequest(req), { verb, resource });
    });
  }
});

Deno.test("the request hook reports every request with its code, also when no response came", async () => {
  const counter = new RequestCounter();
  let fail = false;
  const t = withRequestHook((req) => {
    if (fail) return Promise.reject(new TypeError("refused"));
    return Promise.resolve(new Response(null, { status: req.method === "POST" ? 201 : 404 }));
  }, counter.onRequest);
  await t({ method: "POST", path: "/api/v1/namespaces/a/configmaps" });
  await t({ method: "GET", path: "/api/v1/namespaces/a/configmaps/x" });
  await t({ method: "GET", path: "/api/v1/namespaces/a/configmaps/y" });
  fail = true;
  await t({ method: "GET", path: "/api/v1/namespaces/a/configmaps/z" }).catch(() => {});
  equal(counter.count(), 4);
  equal(counter.count({ verb: "get" }), 3);
  equal(counter.count({ verb: "get", code: 404 }), 2);
  deepEqual(counter.snapshot(), [
    { verb: "create", resource: "configmaps", code: 201, count: 1 },
    { verb: "get", resource: "configmaps", code: 0, count: 1 },
    { verb: "get", resource: "configmaps", code: 404, count: 2 },
  ]);
});
