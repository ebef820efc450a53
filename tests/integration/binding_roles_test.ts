/**
 * The user roles (docs/operations.md, "Roles for the people who use bindings"): the user roles in
 * deploy.yaml, bound per namespace to real client-certificate users (RBAC on). The viewer can
 * get/list/watch bindings and nothing else (its SelfSubjectRulesReview adds exactly that to what
 * every authenticated user has); the editor can create, change and delete them; neither can write
 * the status subresource.
 */
import assert from "node:assert/strict";
import { runKubectl } from "../harness/controlplane.ts";
import { applyDeploy, testEnv } from "./operator_support.ts";

interface ResourceRule {
  apiGroups?: string[];
  resources?: string[];
  verbs: string[];
  resourceNames?: string[];
}

const binding = (ns: string, name: string) =>
  JSON.stringify({
    apiVersion: "kleym.sonda.red/v1alpha1",
    kind: "InferenceIdentityBinding",
    metadata: { name, namespace: ns },
    spec: { poolRef: { name: "pool-a" }, serviceAccountName: "sa", mode: "PoolOnly" },
  });

/** The API server's refusal of exactly this verb on this resource (not some other error). */
const forbidden = (verb: string, resource = "inferenceidentitybindings") =>
  new RegExp(`cannot ${verb} resource "${resource.replace("/", "\\/")}"`);

Deno.test("binding roles: viewer reads and nothing else, editor writes, neither touches status", async (t) => {
  const env = await testEnv();
  await applyDeploy(env);
  const ns = await env.newNamespace("roles");
  const suffix = ns.replace(/^roles-/, "");
  const users: Record<string, string> = {};
  for (const role of ["viewer", "editor", "nobody"]) {
    const user = `${role}-${suffix}`;
    users[role] = await env.userKubeconfig(user);
    if (role === "nobody") continue;
    await env.kubectl([
      "create",
      "rolebinding",
      `kleym-${role}`,
      "-n",
      ns,
      `--clusterrole=kleym-inferenceidentitybinding-${role}`,
      `--user=${user}`,
    ]);
  }
  const as = (role: string, args: string[], stdin?: string) =>
    runKubectl(users[role], args, stdin === undefined ? {} : { stdin });
  /** PUT and GET of the status subresource as `role` (kubectl patch would GET it first). */
  const touchStatus = async (role: string) => {
    const current = await env.kubectl(["get", "iib", "existing", "-n", ns, "-o", "json"]);
    await assert.rejects(
      as(role, ["replace", "--validate=false", "--subresource=status", "-f", "-"], current),
      forbidden("update", "inferenceidentitybindings/status"),
    );
    await assert.rejects(
      as(role, ["get", "iib", "existing", "-n", ns, "--subresource=status"]),
      forbidden("get", "inferenceidentitybindings/status"),
    );
  };
  await env.kubectl(["apply", "-f", "-"], { stdin: binding(ns, "existing") });

  await t.step("viewer: get, list and watch bindings", async () => {
    assert.match(
      await as("viewer", ["get", "iib", "existing", "-n", ns, "-o", "name"]),
      /existing/,
    );
    assert.match(await as("viewer", ["get", "iib", "-n", ns, "-o", "name"]), /existing/);
    const watched = await as("viewer", [
      "get",
      "--raw",
      `/apis/kleym.sonda.red/v1alpha1/namespaces/${ns}/inferenceidentitybindings?watch=1&timeoutSeconds=1`,
    ]);
    assert.match(watched, /"type":"ADDED"/);
  });
  await t.step("viewer: no create, update, delete, status read or write", async () => {
    await assert.rejects(
      as("viewer", ["create", "--validate=false", "-f", "-"], binding(ns, "v")),
      forbidden("create"),
    );
    await assert.rejects(
      as("viewer", ["label", "iib", "existing", "-n", ns, "x=y"]),
      forbidden("patch"),
    );
    await assert.rejects(
      as("viewer", ["delete", "iib", "existing", "-n", ns]),
      forbidden("delete"),
    );
    await touchStatus("viewer");
  });
  await t.step("viewer: nothing else than reading bindings (rules review)", async () => {
    const rules = async (role: string) => {
      const review = JSON.parse(
        await as(
          role,
          ["create", "--validate=false", "-o", "json", "-f", "-"],
          JSON.stringify({
            apiVersion: "authorization.k8s.io/v1",
            kind: "SelfSubjectRulesReview",
            spec: { namespace: ns },
          }),
        ),
      );
      return (review.status.resourceRules as ResourceRule[]).map((r) => JSON.stringify(r));
    };
    const baseline = new Set(await rules("nobody"));
    const extra = (await rules("viewer")).filter((r) => !baseline.has(r)).map((r) => JSON.parse(r));
    assert.deepEqual(extra, [{
      apiGroups: ["kleym.sonda.red"],
      resources: ["inferenceidentitybindings"],
      verbs: ["get", "list", "watch"],
    }]);
  });
  await t.step("editor: create, change and delete bindings", async () => {
    await as("editor", ["create", "--validate=false", "-f", "-"], binding(ns, "made-by-editor"));
    await as("editor", ["label", "iib", "made-by-editor", "-n", ns, "team=a"]);
    await as("editor", ["get", "iib", "-n", ns]);
    await as("editor", ["delete", "iib", "made-by-editor", "-n", ns, "--wait=false"]);
  });
  await t.step("editor: no status read or write", async () => {
    await touchStatus("editor");
  });
  // The namespace stays (as every test's does): a terminating namespace refuses the Events other
  // tests' operators record for the binding left in it.
});
