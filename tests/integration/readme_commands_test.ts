/**
 * README's commands, verbatim: the operator run as the README says, its clean stop, and the status
 * it leaves (docs/testing.md, "What a new user meets").
 *
 * The README's "Running against a real cluster" block (the `sh` block after the
 * `readme-commands` marker) is run verbatim, line by line through `sh -c`, in a clean-clone-like
 * environment:
 * - a directory holding exactly the repository's tracked files (`git ls-files`): no
 *   `node_modules`, so the first launcher run installs the pinned Deno with `npm ci` (from this
 *   machine's npm cache, preferring it to the registry: npm_config_cache/prefer_offline);
 * - PATH with the built kubectl and the system directories only: no `deno` on it (asserted);
 * - HOME with `~/.kube/config` = a private control plane's admin kubeconfig whose context is the
 *   README's `prod-east`; the control plane serves kleym's, upstream GAIE's and SPIRE's CRDs;
 * - DENO_DIR is this machine's Deno cache (the module cache, not the toolchain).
 *
 * The operator line runs in a session of its own, as a terminal runs a foreground job; the test
 * waits until it leads and the example binding is Ready, then runs the CLI lines (status must be
 * OK, exit 0, judged from the Lease). Then, as a terminal would, one SIGINT to the operator's process
 * group: exit 0, Lease released, no error line; the same for one SIGTERM. Finally a leader that
 * dies without releasing (SIGKILL) and whose Lease is then older than its duration makes
 * `kleym status` report `operator-unavailable` (LeaseExpired).
 */
import assert from "node:assert/strict";
import { parse, stringify } from "yaml";
import { UPSTREAM_GAIE_CRDS } from "../../hack/upstream.ts";
import { KUBECTL, REPO_ROOT, startControlPlane } from "../harness/controlplane.ts";
import { leaseHolder } from "../harness/operator.ts";
import { pollUntil } from "../harness/poll.ts";
import { type Collected, runCollecting, spawnCollecting } from "../harness/process.ts";

const MARKER = "<!-- readme-commands:";

/** The command lines of README's marked block (comments and blank lines dropped). */
function readmeCommands(): string[] {
  const readme = Deno.readTextFileSync(`${REPO_ROOT}/README.md`);
  const at = readme.indexOf(MARKER);
  assert.ok(at >= 0, "README has the readme-commands marker");
  const m = /```sh\n([\s\S]*?)```/.exec(readme.slice(at));
  assert.ok(m, "an sh block follows the marker");
  return m[1].split("\n").map((l) => l.replace(/\s+#.*$/, "").trim())
    .filter((l) => l !== "" && !l.startsWith("#"));
}

async function cloneLike(dir: string): Promise<void> {
  const out = await new Deno.Command("git", {
    args: ["ls-files", "-z"],
    cwd: REPO_ROOT,
    stdout: "piped",
  }).output();
  const files = new TextDecoder().decode(out.stdout).split("\0").filter((f) => f !== "");
  for (const f of files) {
    const target = `${dir}/${f}`;
    await Deno.mkdir(target.slice(0, target.lastIndexOf("/")), { recursive: true });
    await Deno.copyFile(`${REPO_ROOT}/${f}`, target);
  }
}

Deno.test("README's commands work verbatim without a global deno; the operator stops cleanly on one signal; status follows the Lease", async (t) => {
  const cp = await startControlPlane({
    crds: ["kleym", ...UPSTREAM_GAIE_CRDS, "clusterspiffeids"],
  });
  const root = await Deno.makeTempDir({ prefix: "kleym-readme-" });
  const started: number[] = [];
  let readmeOperator: { pid: number; done: Promise<Collected> } | undefined;
  try {
    const clone = `${root}/kleym`;
    const home = `${root}/home`;
    const bin = `${root}/bin`;
    await cloneLike(clone);
    await Deno.mkdir(`${home}/.kube`, { recursive: true });
    await Deno.mkdir(bin);
    await Deno.symlink(KUBECTL, `${bin}/kubectl`);
    const kc = parse(await Deno.readTextFile(cp.kubeconfigPath)) as {
      contexts: { name: string }[];
      "current-context": string;
    };
    kc.contexts[0].name = "prod-east";
    kc["current-context"] = "prod-east";
    await Deno.writeTextFile(`${home}/.kube/config`, stringify(kc), { mode: 0o600 });
    const denoDir = (JSON.parse(
      new TextDecoder().decode(
        (await new Deno.Command(Deno.execPath(), { args: ["info", "--json"], stdout: "piped" })
          .output()).stdout,
      ),
    ) as { denoDir: string }).denoDir;
    const npmCache = new TextDecoder().decode(
      (await new Deno.Command("npm", { args: ["config", "get", "cache"], stdout: "piped" })
        .output()).stdout,
    ).trim();
    const env = {
      HOME: home,
      PATH: `${bin}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`,
      DENO_DIR: denoDir,
      npm_config_cache: npmCache,
      npm_config_prefer_offline: "true",
    };
    const shell = { cwd: clone, env, clearEnv: true };
    const sh = (line: string): Promise<Collected> => runCollecting("sh", ["-c", line], shell);
    const holder = () => leaseHolder(cp.kubectl).catch(() => "");
    const ready = async () =>
      (await cp.kubectl([
        "get",
        "iib",
        "objective-a",
        "-n",
        "default",
        "-o",
        'jsonpath={.status.conditions[?(@.type=="Ready")].status}',
      ]).catch(() => "")).trim() === "True";

    const lines = readmeCommands();
    const operatorLine = lines.find((l) => l.startsWith("./kleym-operator "));
    assert.ok(operatorLine, `no ./kleym-operator line in ${lines}`);
    assert.deepEqual(
      lines.filter((l) => !l.startsWith("kubectl ") && !l.startsWith("./kleym")),
      [],
      "every README line is a kubectl or launcher command",
    );

    /** Starts the README's operator line in its own session; resolves once it leads. */
    const startOperator = async (previousHolder: string) => {
      // In a session the line is exec'd, as an interactive shell forks and execs a foreground
      // job: the process (and its exit code) is the command's, not a waiting shell's.
      const op = spawnCollecting("sh", ["-c", `exec ${operatorLine}`], {
        ...shell,
        setsid: true,
      });
      const { child, done } = op;
      started.push(child.pid);
      await pollUntil("the README's operator leads", 60_000, async () => {
        if (op.exited()) throw new Error(`operator exited early:\n${(await done).stderr}`);
        const h = await holder();
        return h !== "" && h !== previousHolder ? h : undefined;
      });
      return { pid: child.pid, done };
    };

    await t.step("no deno on this PATH, none in the clone", async () => {
      assert.notEqual((await sh("command -v deno")).code, 0);
      await assert.rejects(Deno.stat(`${clone}/node_modules`));
    });

    let lastHolder = "";
    await t.step("the README's lines, in order: all succeed", async () => {
      for (const line of lines) {
        if (line === operatorLine) {
          const op = await startOperator(lastHolder);
          lastHolder = await holder();
          await pollUntil("objective-a Ready", 60_000, ready);
          readmeOperator = op; // stopped by the next step, as a terminal's Ctrl-C would
          continue;
        }
        const r = await sh(line);
        assert.equal(r.code, 0, `${line}\n${r.stdout}\n${r.stderr}`);
        if (line.startsWith("./kleym status")) {
          assert.match(r.stdout, /^\s*Status:\s+OK$/m, r.stdout);
          assert.match(
            r.stdout,
            /Operator:\s+available \(leader Lease kleym-system\/kleym-operator/,
          );
        }
        if (line.includes("-o json")) JSON.parse(r.stdout);
      }
    });

    const stopCleanly = async (op: { pid: number; done: Promise<Collected> }, sig: Deno.Signal) => {
      Deno.kill(-op.pid, sig);
      const r = await op.done;
      assert.equal(r.code, 0, r.stderr);
      const logs = r.stderr.split("\n").filter((l) => l.startsWith("{")).map((l) =>
        JSON.parse(l) as { level: string; msg: string }
      );
      assert.deepEqual(logs.filter((l) => l.level === "error"), [], "no error line");
      assert.ok(logs.some((l) => l.msg === `received ${sig}; shutting down`), r.stderr);
      assert.ok(logs.some((l) => l.msg === "released the leader lease"), r.stderr);
      assert.equal(await holder(), "", "Lease released");
    };

    await t.step("the launcher installed the pinned Deno on first use", async () => {
      const version = await sh("node_modules/.bin/deno --version");
      assert.match(version.stdout, /^deno 2\.9\.6 /);
    });

    await t.step("one SIGINT to the operator's process group: exit 0, Lease released", async () => {
      assert.ok(readmeOperator);
      await stopCleanly(readmeOperator, "SIGINT");
    });

    await t.step("one SIGTERM: the same", async () => {
      const op = await startOperator(lastHolder);
      lastHolder = await holder();
      await stopCleanly(op, "SIGTERM");
    });

    await t.step("a leader gone without releasing, Lease stale: operator-unavailable", async () => {
      const op = await startOperator(lastHolder);
      Deno.kill(-op.pid, "SIGKILL");
      await op.done;
      const dead = await holder();
      assert.notEqual(dead, "", "SIGKILL leaves the Lease held");
      // Older than its 15 s duration, without waiting 15 s.
      await cp.kubectl([
        "patch",
        "lease",
        "kleym-operator",
        "-n",
        "kleym-system",
        "--type=merge",
        "-p",
        JSON.stringify({ spec: { renewTime: "2020-01-01T00:00:00.000000Z" } }),
      ]);
      const r = await sh("./kleym status -o json");
      assert.equal(r.code, 2, r.stderr);
      const report = JSON.parse(r.stdout) as {
        components: { operator: { state: string; evidence: string } };
        findings: { id: string; reason: string; message: string }[];
      };
      assert.equal(report.components.operator.state, "unavailable");
      assert.equal(report.components.operator.evidence, "lease");
      const f = report.findings.filter((x) => x.id === "operator-unavailable");
      assert.equal(f.length, 1, r.stdout);
      assert.equal(f[0].reason, "LeaseExpired");
      assert.ok(f[0].message.includes(`last renewed by ${dead}`), f[0].message);
    });
  } finally {
    // Nothing outlives the test, whatever failed above.
    for (const pid of started) {
      try {
        Deno.kill(-pid, "SIGKILL");
      } catch { /* already gone */ }
    }
    await cp.stop();
    await Deno.remove(root, { recursive: true });
  }
});
