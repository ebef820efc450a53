/**
 * The operator's two permission sets have one definition each in deno.json: "operator-incluster"
 * (what `make build` and the Dockerfile compile with, the Deployment's) and "operator" (local use
 * with a kubeconfig). docs/permissions.md states both lines as they are.
 */
import assert from "node:assert/strict";

const ROOT = new URL("../../", import.meta.url).pathname;

function taskFlags(task: "operator" | "operator-incluster"): string {
  const line: string = JSON.parse(Deno.readTextFileSync(`${ROOT}deno.json`)).tasks[task];
  const m = /^node_modules\/\.bin\/deno run (.+) main\.ts$/.exec(line);
  assert.ok(m, `deno.json "${task}" task has an unexpected shape: ${line}`);
  return m[1];
}

Deno.test("make build and the Dockerfile compile with exactly the flags of the operator-incluster task", async () => {
  const out = await new Deno.Command("make", {
    args: ["-s", "--no-print-directory", "operator-perms"],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(out.stdout).trim();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  assert.equal(stdout, taskFlags("operator-incluster"));
  const makefile = Deno.readTextFileSync(`${ROOT}Makefile`);
  assert.match(makefile, /\$\(DENO\) compile \$\(OPERATOR_PERMS\) .*main\.ts/);
  assert.match(makefile, /^OPERATOR_PERMS = .*tools\/task_flags\.ts operator-incluster\)$/m);
  const dockerfile = Deno.readTextFileSync(`${ROOT}Dockerfile`);
  assert.match(dockerfile, /tools\/task_flags\.ts operator-incluster\)"/);
  assert.match(dockerfile, /deno compile \$PERMS .*main\.ts/);
});

Deno.test("the compiled operator may not spawn, and reads only the pod's two directories", () => {
  const flags = taskFlags("operator-incluster").split(" ");
  assert.ok(!flags.some((f) => f.startsWith("--allow-run")), "no --allow-run in the cluster");
  assert.ok(!flags.some((f) => /^(--allow-all|-A|--allow-write|--allow-sys|--allow-ffi)/.test(f)));
  assert.deepEqual(
    flags.filter((f) => f.startsWith("--allow-read")),
    ["--allow-read=/var/run/secrets/kubernetes.io/serviceaccount,/var/run/kleym/metrics-certs"],
  );
  // Every variable the local set reads, except the kubeconfig-only ones, is read in the cluster
  // too (a flag's environment fallback added to one set only would crash the other).
  const envOf = (fs: string[]) =>
    fs.find((f) => f.startsWith("--allow-env="))?.split("=")[1].split(",") ?? [];
  const local = taskFlags("operator").split(" ");
  assert.deepEqual(
    envOf(flags),
    envOf(local).filter((v) => !["HOME", "LOG_TOKENS", "LOG_STREAM"].includes(v)),
  );
  // The V8 settings and code-cache choice are the same in both sets.
  assert.deepEqual(
    flags.filter((f) => !f.startsWith("--allow-")),
    local.filter((f) => !f.startsWith("--allow-")),
  );
});

Deno.test("docs/permissions.md states both of the operator's flag sets as they are", () => {
  const doc = Deno.readTextFileSync(`${ROOT}docs/permissions.md`);
  for (const task of ["operator", "operator-incluster"] as const) {
    assert.ok(doc.includes(`\`${taskFlags(task)}\``), `docs/permissions.md does not quote ${task}`);
  }
});
