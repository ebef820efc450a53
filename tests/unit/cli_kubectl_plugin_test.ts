/**
 * The kubectl plugin without a cluster: `make kubectl-plugin PREFIX=...` installs a
 * `kubectl-kleym` that, found on a PATH without deno and reached through symlinks (relative ones
 * too, as kubectl or a user may leave them), runs the CLI from this checkout: same output, same
 * exit code as `./kleym`. Through the real kubectl against a cluster:
 * tests/e2e_spire/kleym_kubectl_plugin_test.ts.
 */
import assert from "node:assert/strict";
import { VERSION } from "../../apis/version.ts";
import { installKubectlPlugin } from "../harness/cli.ts";
import { REPO_ROOT } from "../harness/controlplane.ts";
import { runCollecting } from "../harness/process.ts";

Deno.test("make kubectl-plugin: kubectl-kleym on a PATH without deno runs the CLI through symlinks", async (t) => {
  const root = await Deno.makeTempDir({ prefix: "kleym-plugin-" });
  try {
    const env = await installKubectlPlugin(`${root}/bin`);
    const installed = await Deno.lstat(`${root}/bin/kubectl-kleym`);
    assert.ok(installed.isSymlink);
    assert.equal(await Deno.realPath(`${root}/bin/kubectl-kleym`), `${REPO_ROOT}/kubectl-kleym`);
    // A relative link to the installed link: two hops back to the repository.
    await Deno.mkdir(`${root}/other`);
    await Deno.symlink("../bin/kubectl-kleym", `${root}/other/kubectl-kleym`);
    const sh = (line: string, path = env.PATH) =>
      runCollecting("sh", ["-c", line], { cwd: root, env: { ...env, PATH: path }, clearEnv: true });

    await t.step("no deno on that PATH", async () => {
      assert.notEqual((await sh("command -v deno")).code, 0);
    });
    await t.step("--version, found on PATH", async () => {
      const run = await sh("kubectl-kleym --version");
      assert.deepEqual(run, { code: 0, signal: null, stdout: `kleym ${VERSION}\n`, stderr: "" });
    });
    await t.step("through a relative symlink to the installed one", async () => {
      const run = await sh("kubectl-kleym --version", `${root}/other:/usr/bin:/bin`);
      assert.equal(run.stdout, `kleym ${VERSION}\n`);
    });
    await t.step("a usage error: the launcher's stderr line and exit 4", async () => {
      const args = "status --output yaml";
      const plugin = await sh(`kubectl-kleym ${args}`);
      const direct = await sh(`${REPO_ROOT}/kleym ${args}`);
      assert.equal(plugin.code, 4);
      assert.match(plugin.stderr, /^kleym: .*--output/);
      assert.deepEqual(plugin, direct);
    });
    await t.step("a copy outside the checkout says what to do, exit 4", async () => {
      await Deno.mkdir(`${root}/copy`);
      await Deno.copyFile(`${REPO_ROOT}/kubectl-kleym`, `${root}/copy/kubectl-kleym`);
      await Deno.chmod(`${root}/copy/kubectl-kleym`, 0o755);
      const run = await sh("kubectl-kleym status", `${root}/copy:/usr/bin:/bin`);
      assert.equal(run.code, 4);
      assert.equal(run.stdout, "");
      assert.equal(
        run.stderr,
        `kubectl-kleym: no kleym launcher next to ${root}/copy/kubectl-kleym: link this script ` +
          "from a kleym checkout (make kubectl-plugin PREFIX=dir), or install a built " +
          "dist/kleym as kubectl-kleym\n",
      );
    });
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
