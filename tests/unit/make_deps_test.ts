// `make deps` (the first step of every make target) prints no Deno warning box. It came
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

Deno.test("package.json approves the deno package's postinstall: .bin/deno is the native binary", () => {
  const pkg = JSON.parse(Deno.readTextFileSync(`${ROOT}package.json`));
  assert.deepEqual(pkg.allowScripts, { deno: true });
  // Without the postinstall, .bin/deno is a Node.js wrapper (bin.cjs) that re-spawns deno: an
  // extra process in every signal path (exit 130 instead of the operator's 0 on Ctrl-C).
  const head = new TextDecoder().decode(
    Deno.readFileSync(`${ROOT}node_modules/.bin/deno`).subarray(0, 2),
  );
  assert.notEqual(head, "#!", "node_modules/.bin/deno is a script, not the native binary");
});
