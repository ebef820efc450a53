import assert from "node:assert/strict";
import { parseArgs } from "../../cli/args.ts";
import { CLI_FLAGS } from "../../flags/cli.ts";

function usage(args: string[]): string {
  const r = parseArgs(args);
  assert.equal(r.kind, "usage", JSON.stringify(r));
  return r.kind === "usage" ? r.message : "";
}

Deno.test("inspect binding: flags anywhere, short and long forms, defaults", () => {
  const r = parseArgs(["-ojson", "inspect", "binding", "b1", "--strict", "-n", "team-a"]);
  assert.deepEqual(r, {
    kind: "run",
    command: {
      command: "inspect-binding",
      output: "json",
      kubeconfig: undefined,
      context: undefined,
      timeoutMs: CLI_FLAGS.timeout.default,
      name: "b1",
      namespace: "team-a",
      strict: true,
      trustDomain: undefined,
      className: undefined,
      svidLimits: {},
    },
  });
  const d = parseArgs([
    "inspect",
    "binding",
    "b1",
    "--timeout=1m",
    "--clusterspiffeid-class-name=",
  ]);
  assert.ok(d.kind === "run" && d.command.command === "inspect-binding");
  assert.equal(d.command.namespace, "default");
  assert.equal(d.command.timeoutMs, 60_000);
  assert.equal(d.command.className, "", "explicitly classless");
  const s = parseArgs(["status", "--timeout", "2.5", "--context=kind"]);
  assert.ok(s.kind === "run" && s.command.command === "status");
  assert.equal(s.command.timeoutMs, 2500);
  assert.equal(s.command.context, "kind");
});

Deno.test("--version and --help need no command", () => {
  assert.deepEqual(parseArgs(["--version"]), { kind: "version" });
  assert.equal(parseArgs(["-h"]).kind, "help");
});

Deno.test("bad input is one precise line", () => {
  assert.equal(usage(["status", "--timeout=0s"]), "--timeout=0s: must be greater than zero");
  assert.equal(
    usage(["status", "--timeout", "-1s"]),
    "--timeout needs a value (--timeout duration)",
  );
  assert.match(usage(["status", "--timeout=soon"]), /^--timeout="soon": expected a duration/);
  assert.equal(usage(["status", "-o", "yaml"]), '--output="yaml": expected text or json');
  assert.equal(usage(["status", "--strict"]), '--strict applies to "inspect binding" only');
  assert.equal(usage(["inspect", "binding"]), '"inspect binding" needs the binding\'s name');
  assert.match(usage(["inspect", "pool", "x"]), /only "binding" is supported/);
  assert.match(usage(["inspect", "binding", "x", "-n", "Bad_NS"]), /not a valid namespace name/);
  assert.match(
    usage(["inspect", "binding", "x", "--trust-domain", "spiffe://a"]),
    /without "spiffe:\/\/"/,
  );
  assert.equal(usage(["status", "-o", "json", "-o", "text"]), "-o is given more than once");
  assert.equal(usage(["status", "--bogus"]), "unknown flag --bogus (see --help)");
  assert.match(usage([]), /^no command given/);
  assert.match(usage(["delete"]), /^unknown command "delete"/);
  for (const args of [["status", "--timeout=0s"], ["inspect", "binding"], []]) {
    assert.ok(!usage(args).includes("\n"));
  }
});

Deno.test("messages the flag table changed", async (t) => {
  await t.step("an empty namespace says so", () => {
    assert.equal(
      usage(["inspect", "binding", "x", "--namespace="]),
      "--namespace must not be empty",
    );
    assert.equal(usage(["inspect", "binding", "x", "-n", ""]), "--namespace must not be empty");
  });
  await t.step("booleans take 1 and 0 as the operator's do", () => {
    const r = parseArgs(["inspect", "binding", "x", "--strict=1"]);
    assert.ok(r.kind === "run" && r.command.command === "inspect-binding" && r.command.strict);
  });
  await t.step("-o=json is -o json", () => {
    const r = parseArgs(["status", "-o=json"]);
    assert.ok(r.kind === "run" && r.command.output === "json");
  });
  await t.step("an unknown short flag is quoted as given", () => {
    assert.equal(usage(["status", "-x"]), 'unknown flag "-x" (see --help)');
  });
});
