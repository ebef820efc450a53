import assert from "node:assert/strict";
import { CLI_FLAG_LIST } from "../../flags/cli.ts";
import { OPERATOR_FLAG_LIST, OPERATOR_FLAGS } from "../../flags/operator.ts";
import { FlagError, given, readFlags, scanFlags } from "../../flags/parse.ts";
import { parseDuration } from "../../flags/values.ts";
import { decodeDeployment } from "../../cli/status.ts";

function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof FlagError) return err.message;
    throw err;
  }
  throw new Error("not refused");
}

Deno.test("every flag of both programs is refused when given twice", async (t) => {
  for (
    const [program, table] of [["operator", OPERATOR_FLAG_LIST], ["cli", CLI_FLAG_LIST]] as const
  ) {
    for (const flag of table) {
      await t.step(`${program} --${flag.name}`, () => {
        const arg = flag.type === "boolean" ? `--${flag.name}` : `--${flag.name}=x`;
        assert.equal(
          refusal(() => scanFlags(table, [arg, arg])),
          `--${flag.name} is given more than once`,
        );
      });
    }
  }
});

Deno.test("every duration default in the help reads back as the default itself", () => {
  for (const flag of [...OPERATOR_FLAG_LIST, ...CLI_FLAG_LIST]) {
    if (flag.value !== "duration") continue;
    assert.equal(parseDuration(flag.defaultHelp ?? ""), flag.default, flag.name);
  }
});

Deno.test("the operator's args are read with its own table: forms, variables, unknown flags", async (t) => {
  const td = OPERATOR_FLAGS.trustDomain;
  const cases: [string, string[], Record<string, string>, string | undefined][] = [
    ["--flag=value", ["/kleym-operator", "--trust-domain=a.org"], {}, "a.org"],
    ["--flag value", ["--leader-elect", "--trust-domain", "b.org"], {}, "b.org"],
    [
      "a flag this CLI does not know is skipped",
      ["--newer-flag=1", "--trust-domain=c.org"],
      {},
      "c.org",
    ],
    [
      "the variable when the flag is absent",
      ["--leader-elect"],
      { KLEYM_TRUST_DOMAIN: "d.org" },
      "d.org",
    ],
    [
      "the flag wins over the variable",
      ["--trust-domain=e.org"],
      { KLEYM_TRUST_DOMAIN: "d.org" },
      "e.org",
    ],
    ["neither", ["--leader-elect=false"], {}, undefined],
  ];
  for (const [name, args, env, want] of cases) {
    await t.step(name, () => {
      assert.equal(given(td, readFlags(OPERATOR_FLAG_LIST, args), (n) => env[n])?.text, want);
    });
  }
  await t.step("decodeDeployment reads command and args, and the container's literal env", () => {
    const deployment = {
      metadata: { namespace: "kleym-system", name: "kleym-operator" },
      spec: {
        template: {
          spec: {
            containers: [{
              name: "operator",
              command: ["/kleym-operator"],
              args: ["--clusterspiffeid-class-name", "spire-a"],
              env: [{ name: "KLEYM_TRUST_DOMAIN", value: "f.org" }],
            }],
          },
        },
      },
    };
    const d = decodeDeployment(deployment);
    assert.equal(d.trustDomain, "f.org");
    assert.equal(d.className, "spire-a");
  });
});

Deno.test("the CLI reads the operator's flags and Lease from shared modules, never operator/", () => {
  const dir = new URL("../../cli/", import.meta.url);
  for (const entry of Deno.readDirSync(dir)) {
    if (!entry.name.endsWith(".ts")) continue;
    const text = Deno.readTextFileSync(new URL(entry.name, dir));
    assert.doesNotMatch(text, /from "\.\.\/operator\//, `cli/${entry.name}`);
  }
});

Deno.test("docs/operations.md lists every operator flag with its variable and default", () => {
  const doc = Deno.readTextFileSync(new URL("../../docs/operations.md", import.meta.url));
  const rows = new Map<string, string[]>();
  for (const line of doc.split("\n")) {
    const m = /^\| `--([a-z-]+)` +\|(.*)\|(.*)\|$/.exec(line);
    if (m) rows.set(m[1], [m[2].trim(), m[3].trim()]);
  }
  for (const flag of OPERATOR_FLAG_LIST) {
    if (flag.name === "help" || flag.name === "version") continue;
    const row = rows.get(flag.name);
    assert.ok(row, `--${flag.name} has no row in docs/operations.md`);
    const [env, dflt] = row;
    if (flag.env) assert.equal(env, `\`${flag.env}\``, `--${flag.name}: variable`);
    // A value default (10m, 200, tls.crt) is written as the help writes it.
    const d = flag.defaultHelp;
    if (d !== undefined && !/[ ,]/.test(d) && d !== "none" && flag.type === "string") {
      assert.ok(dflt.includes(`\`${d.replace(/^"|"$/g, "")}\``), `--${flag.name}: ${dflt} vs ${d}`);
    }
  }
});

Deno.test("after -- everything is an argument, and a tool can tell what followed it", () => {
  const scanned = scanFlags([], ["run", "--", "deno", "test", "-A"]);
  assert.deepEqual(scanned.positionals, ["run", "deno", "test", "-A"]);
  assert.deepEqual(scanned.afterTerminator, ["deno", "test", "-A"]);
  assert.equal(scanFlags([], ["up"]).afterTerminator, undefined);
});
