/**
 * The operator's permissions have one definition, deno.json's "operator" task; `make build`
 * (deno compile) derives its flags from it and docs/permissions.md states the same line.
 */
import assert from "node:assert/strict";

const ROOT = new URL("../../", import.meta.url).pathname;

function taskFlags(): string {
  const task: string = JSON.parse(Deno.readTextFileSync(`${ROOT}deno.json`)).tasks.operator;
  const m = /^node_modules\/\.bin\/deno run (.+) main\.ts$/.exec(task);
  assert.ok(m, `deno.json "operator" task has an unexpected shape: ${task}`);
  return m[1];
}

Deno.test("make build compiles with exactly the flags of the operator task", async () => {
  const out = await new Deno.Command("make", {
    args: ["-s", "--no-print-directory", "operator-perms"],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(out.stdout).trim();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  assert.equal(stdout, taskFlags());
  const makefile = Deno.readTextFileSync(`${ROOT}Makefile`);
  assert.match(makefile, /\$\(DENO\) compile \$\(OPERATOR_PERMS\) .*main\.ts/);
});

Deno.test("docs/permissions.md states the operator's flags as they are", () => {
  const doc = Deno.readTextFileSync(`${ROOT}docs/permissions.md`);
  assert.ok(doc.includes(`\`${taskFlags()}\``), "docs/permissions.md does not quote the flags");
});
