/**
 * The entry points run with a narrowed `--allow-env` (docs/permissions.md). An `exec` credential
 * plugin must still receive the whole environment, as kubectl gives it: the child inherits it from
 * the OS, so kleym never reads variables it was not granted. Proven with the CLI started exactly as
 * its compiled binary would be (the `kleym` task's flags).
 */
import assert from "node:assert/strict";
import { stringify } from "yaml";
import { REPO_ROOT } from "../harness/controlplane.ts";
import { testEnv } from "../harness/env.ts";
import { taskFlagsOf } from "../../tools/task_flags.ts";

const taskFlags = (task: string) => taskFlagsOf(`${REPO_ROOT}/deno.json`, task);

Deno.test("an exec plugin gets the inherited environment while kleym runs with its narrowed --allow-env", async () => {
  const env = await testEnv();
  const ns = await env.newNamespace("perms-exec");
  const flags = taskFlags("kleym");
  assert.ok(flags.some((f) => f.startsWith("--allow-env=")), "the CLI's env access is a list");
  await env.kubectl(["create", "serviceaccount", "reader", "-n", ns]);
  await env.kubectl([
    "create",
    "clusterrolebinding",
    `${ns}-reader`,
    "--clusterrole=cluster-admin",
    `--serviceaccount=${ns}:reader`,
  ]);
  const token = (await env.kubectl(["create", "token", "reader", "-n", ns])).trim();
  const dir = await Deno.makeTempDir({ prefix: "kleym-perms-exec-" });
  try {
    await Deno.writeTextFile(`${dir}/token`, token);
    await Deno.writeTextFile(
      `${dir}/plugin.sh`,
      `#!/bin/sh
printf '%s' "$KLEYM_TEST_MARKER" > "${dir}/marker"
printf '%s' "$KUBERNETES_EXEC_INFO" > "${dir}/info.json"
printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"%s"}}' "$(cat "${dir}/token")"
`,
    );
    await Deno.chmod(`${dir}/plugin.sh`, 0o755);
    await Deno.writeTextFile(
      `${dir}/config`,
      stringify({
        apiVersion: "v1",
        kind: "Config",
        clusters: [{
          name: "c",
          cluster: { server: env.server, "certificate-authority-data": btoa(env.caPem) },
        }],
        users: [{
          name: "u",
          user: {
            exec: {
              apiVersion: "client.authentication.k8s.io/v1",
              command: `${dir}/plugin.sh`,
              interactiveMode: "Never",
            },
          },
        }],
        contexts: [{ name: "ctx", context: { cluster: "c", user: "u" } }],
        "current-context": "ctx",
      }),
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        ...flags,
        `${REPO_ROOT}/cli/main.ts`,
        "inspect",
        "binding",
        "no-such-binding",
        "-n",
        ns,
        "-o",
        "json",
        "--kubeconfig",
        `${dir}/config`,
      ],
      env: { KLEYM_TEST_MARKER: "inherited-not-read" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    // 3 = binding not found: the request was authenticated and authorised through the plugin.
    assert.equal(out.code, 3, stderr);
    assert.doesNotMatch(stderr, /NotCapable|Requires env access/);
    const report = JSON.parse(new TextDecoder().decode(out.stdout));
    assert.equal(report.kind, "BindingInspectionReport");
    assert.equal(await Deno.readTextFile(`${dir}/marker`), "inherited-not-read");
    assert.equal(JSON.parse(await Deno.readTextFile(`${dir}/info.json`)).kind, "ExecCredential");
  } finally {
    await env.kubectl(["delete", "clusterrolebinding", `${ns}-reader`]);
    await Deno.remove(dir, { recursive: true });
  }
});
