// Issue 14: `make deps` (the first step of every make target) prints no Deno warning box. It came
// from `deno install` seeing npm:deno (package.json's toolchain pin) and its lifecycle script;
// deno.json's allowScripts now denies that script, so there is nothing to warn about.
import assert from "node:assert/strict";

const ROOT = new URL("../../", import.meta.url).pathname;

Deno.test("make deps prints no warning box", async () => {
  const out = await new Deno.Command("make", {
    args: ["-s", "--no-print-directory", "deps"],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  assert.ok(out.success, text);
  assert.doesNotMatch(text, /Warning|Ignored build scripts/, text);
});

Deno.test("deno.json denies npm:deno's lifecycle script (the reason the box is gone)", () => {
  const config = JSON.parse(Deno.readTextFileSync(`${ROOT}deno.json`));
  assert.deepEqual(config.allowScripts, { deny: ["npm:deno"] });
});

Deno.test("package.json denies the deno package's postinstall (npm ci prints no script warning)", () => {
  const pkg = JSON.parse(Deno.readTextFileSync(`${ROOT}package.json`));
  assert.deepEqual(pkg.allowScripts, { deno: false });
});
