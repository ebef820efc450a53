/**
 * The CLI's permissions have one definition, deno.json's "kleym" task; `make build` compiles
 * dist/kleym with flags read from it, and docs/permissions.md states the same line.
 */
import assert from "node:assert/strict";

const ROOT = new URL("../../", import.meta.url).pathname;

function taskFlags(): string {
  const task: string = JSON.parse(Deno.readTextFileSync(`${ROOT}deno.json`)).tasks.kleym;
  const m = /^node_modules\/\.bin\/deno run (.+) cli\/main\.ts$/.exec(task);
  assert.ok(m, `deno.json "kleym" task has an unexpected shape: ${task}`);
  return m[1];
}

Deno.test("make build compiles the CLI with exactly the flags of the kleym task", async () => {
  const out = await new Deno.Command("make", {
    args: ["-s", "--no-print-directory", "cli-perms"],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  assert.equal(new TextDecoder().decode(out.stdout).trim(), taskFlags());
  assert.doesNotMatch(taskFlags(), /--allow-write|--allow-all|-A\b/, "the CLI never writes");
  const makefile = Deno.readTextFileSync(`${ROOT}Makefile`);
  assert.match(makefile, /\$\(DENO\) compile \$\(CLI_PERMS\) .*cli\/main\.ts/);
  assert.match(makefile, /^CLI_PERMS = .*tools\/task_flags\.ts kleym\)$/m);
});

Deno.test("docs/permissions.md and docs/cli.md state the CLI's flags as they are", () => {
  for (const doc of ["docs/permissions.md", "docs/cli.md"]) {
    const text = Deno.readTextFileSync(`${ROOT}${doc}`);
    assert.ok(text.includes(`\`${taskFlags()}\``), `${doc} does not quote the flags`);
  }
});
