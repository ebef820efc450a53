/**
 * The CLI works as a kubectl plugin. `make kubectl-plugin` installs
 * `kubectl-kleym` into a temporary PREFIX; on a PATH of that PREFIX and the system directories
 * only (no deno: asserted), the built kubectl (`.cache/testenv/bin/kubectl`) runs
 * `kubectl kleym status` and `kubectl kleym inspect binding <name> -n <ns>`, text and `-o json`,
 * and each prints byte for byte what `./kleym` prints with the same arguments and environment
 * (KUBECONFIG is all either is told), with the same exit code and stderr.
 *
 * The cluster is live (kleym and SPIRE Controller Manager run, the Lease is renewed), so one
 * comparison is made inside a steady window: kleym, then the plugin, then kleym again; only when
 * the two kleym runs agree is the plugin's output compared with them (a cluster change in between
 * retries the window; a difference of the plugin's own always fails). Before comparing, only
 * fields that differ between any two runs are blanked: `generatedAt` (both reports) and, when
 * the operator holds a leader Lease, its `renewTime`/`ageSeconds` and the text's "renewed Ns ago".
 */
import assert from "node:assert/strict";
import { installKubectlPlugin } from "../harness/cli.ts";
import { KUBECTL, REPO_ROOT } from "../harness/controlplane.ts";
import { testEnv } from "../harness/env.ts";
import { type Collected, runCollecting } from "../harness/process.ts";
import { startSpire } from "../harness/spire.ts";
import {
  cleanUp,
  createNode,
  createPod,
  fixtureIdentity,
  fixtureIn,
  type NodeRef,
  pollUntil,
  startedTogether,
  startKleym,
  suffix,
  TRUST_DOMAIN,
  waitForIdentityEntries,
  waitReady,
} from "./support.ts";

/**
 * The run with only the legitimately varying values blanked, in the text as printed (the JSON is
 * not re-serialised, so every other byte, whitespace and newlines included, is compared).
 */
function comparable(run: Collected): Collected {
  const stdout = run.stdout
    .replace(/^( *"generatedAt": )"[^"]*"/m, '$1"<time>"')
    .replace(/^( *"renewTime": )"[^"]*"/m, '$1"<time>"')
    .replace(/^( *"ageSeconds": )[\d.]+/m, "$1<age>")
    .replace(/, renewed [\d.]+s ago\)$/m, ", renewed <age> ago)");
  return { ...run, stdout };
}

Deno.test("kubectl kleym status and inspect binding, through the built kubectl and on a PATH without deno, print what kleym prints, with its exit code", async (t) => {
  const env = await testEnv();
  const [stack, kleym] = await startedTogether(
    startSpire(env, { trustDomain: TRUST_DOMAIN }),
    startKleym("e2e-plugin"),
  );
  const namespaces: string[] = [];
  const nodes: NodeRef[] = [];
  const root = await Deno.makeTempDir({ prefix: "kleym-kubectl-plugin-" });
  try {
    const ns = await env.newNamespace("e2e-plugin");
    namespaces.push(ns);
    const node = await createNode(env, `e2e-${suffix()}-a`);
    nodes.push(node);
    const pods = await Promise.all(
      ["model-server-0", "model-server-1"].map((name) =>
        createPod(env, { namespace: ns, name, labels: { app: "model-server" }, node })
      ),
    );
    await env.kubectl(["apply", "-f", "-"], { stdin: fixtureIn("per-objective", ns) });
    await waitReady(env, ns, "objective-a");
    // SPIRE registered the pods: SCM has reported on the ClusterSPIFFEID.
    await waitForIdentityEntries(stack, fixtureIdentity("per-objective", ns), pods);

    const pluginEnv = await installKubectlPlugin(`${root}/bin`, { KUBECONFIG: env.kubeconfigPath });
    const opts = { cwd: root, env: pluginEnv, clearEnv: true };
    const plugin = (args: string[]) => runCollecting(KUBECTL, ["kleym", ...args], opts);
    const direct = (args: string[]) => runCollecting(`${REPO_ROOT}/kleym`, args, opts);

    await t.step(
      "the plugin is what make kubectl-plugin installed; no deno on that PATH",
      async () => {
        assert.equal(
          await Deno.realPath(`${root}/bin/kubectl-kleym`),
          `${REPO_ROOT}/kubectl-kleym`,
        );
        assert.notEqual((await runCollecting("sh", ["-c", "command -v deno"], opts)).code, 0);
      },
    );

    await t.step(
      "kleym inspect shows SPIRE's figures copied onto the binding: 2 pods",
      async () => {
        // The operator copies SCM's status.stats onto status.spire; inspect reads them from there.
        const report = await pollUntil("inspect reports podsSelected 2", 60_000, async () => {
          const out = await direct(["inspect", "binding", "objective-a", "-n", ns, "-o", "json"]);
          const r = JSON.parse(out.stdout) as {
            spire: { state: string; figures: { podsSelected: number } | null } | null;
          };
          return r.spire?.state === "reported" && r.spire.figures?.podsSelected === 2 && r;
        });
        assert.equal(report.spire?.figures?.podsSelected, 2);
      },
    );

    const cases: [string, string[]][] = [
      ["status", ["status"]],
      ["status -o json", ["status", "-o", "json"]],
      ["inspect binding (text)", ["inspect", "binding", "objective-a", "-n", ns]],
      ["inspect binding -o json", ["inspect", "binding", "objective-a", "-n", ns, "-o", "json"]],
      // Exit 3 (the report still printed) must come through kubectl unchanged too.
      ["inspect binding (not found)", ["inspect", "binding", "absent", "-n", ns]],
    ];
    for (const [name, args] of cases) {
      await t.step(`kubectl kleym ${name} = kleym ${name}`, async () => {
        let windows = 0;
        const { before, viaKubectl } = await pollUntil(
          `a steady window for ${name}`,
          60_000,
          async () => {
            windows++;
            const before = comparable(await direct(args));
            const viaKubectl = comparable(await plugin(args));
            const after = comparable(await direct(args));
            return JSON.stringify(before) === JSON.stringify(after) && { before, viaKubectl };
          },
        );
        assert.deepEqual(viaKubectl, before);
        assert.equal(before.stderr, "");
        // A real report about this binding, not an error line.
        if (name.endsWith("(not found)")) {
          assert.equal(before.code, 3);
          assert.match(before.stdout, /^Binding \S+\/absent \(not found\)$/m);
        } else {
          assert.ok(before.code === 0 || before.code === 2, `exit ${before.code}`);
          if (name.startsWith("inspect")) assert.match(before.stdout, /objective-a/);
        }
        console.log(`  ${name}: equal, exit ${before.code}, ${windows} window(s)`);
      });
    }
  } finally {
    const errors = await cleanUp(env, namespaces, nodes);
    await kleym.stop();
    await stack.stop();
    await Deno.remove(root, { recursive: true });
    assert.deepEqual(errors, [], "clean-up failed");
  }
});
