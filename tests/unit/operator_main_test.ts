/**
 * main.ts as a process, started exactly as `deno task operator` starts it (the permission flags
 * are read from that task): exit codes, the one-line error, no stack traces.
 */
import assert from "node:assert/strict";
// The operator's permission flags: the one definition, deno.json's "operator" task.
import { operatorPermissions } from "../harness/operator.ts";
import { runCollecting } from "../harness/process.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const DENO = Deno.execPath();

function runMain(args: string[], env: Record<string, string> = {}) {
  return runCollecting(DENO, [
    "run",
    "--quiet",
    ...operatorPermissions(),
    `${ROOT}main.ts`,
    ...args,
  ], {
    cwd: ROOT,
    env: { KLEYM_TRUST_DOMAIN: "", NO_COLOR: "1", ...env },
    clearEnv: true,
  });
}

function assertNoStack(text: string): void {
  assert.doesNotMatch(text, /^\s+at /m, "stack frame in output");
  assert.doesNotMatch(text, /error: Uncaught/i);
}

Deno.test("usage errors exit 2 with exactly one line on stderr and no stack trace", async () => {
  const cases: { args: string[]; env?: Record<string, string>; line: string }[] = [
    { args: [], line: "trustDomain must be configured before Kleym can render SPIFFE IDs" },
    {
      args: ["--trust-domain="],
      env: { KLEYM_TRUST_DOMAIN: "example.org" },
      line: "trustDomain must be configured before Kleym can render SPIFFE IDs",
    },
    {
      args: ["--trust-domain=spiffe://example.org"],
      line:
        '--trust-domain="spiffe://example.org": trust domain must be the bare name, without "spiffe://"',
    },
    { args: ["--trust-domain=a", "--bogus"], line: "unknown flag --bogus (see --help)" },
    {
      args: ["--trust-domain=a", "--log-level=loud"],
      line: '--log-level="loud": expected one of debug, info, warn, error',
    },
  ];
  for (const c of cases) {
    const r = await runMain(c.args, c.env);
    assert.equal(r.code, 2, `${c.args.join(" ")}: ${r.stderr}`);
    assert.equal(r.stderr, `${c.line}\n`);
    assert.equal(r.stdout, "");
  }
});

Deno.test("--help prints every flag on stdout and exits 0", async () => {
  const r = await runMain(["--help"]);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /--trust-domain/);
  assert.match(r.stdout, /--leader-elect-retry-period/);
  assert.equal(r.stderr, "");
});

Deno.test("--version prints the program and version and exits 0", async () => {
  const r = await runMain(["--version"]);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /^kleym-operator \d+\.\d+\.\d+\n$/);
});

Deno.test("a connection problem exits 1 with one JSON log line naming it", async () => {
  const missing = `${await Deno.makeTempDir()}/no-such-kubeconfig`;
  const r = await runMain([
    "--trust-domain=example.org",
    `--kubeconfig=${missing}`,
    "--metrics-bind-address=0",
    "--health-probe-bind-address=0",
  ]);
  assert.equal(r.code, 1, r.stderr);
  assertNoStack(r.stderr);
  const lines = r.stderr.trimEnd().split("\n");
  assert.equal(lines.length, 1, r.stderr);
  const rec = JSON.parse(lines[0]);
  assert.equal(rec.level, "error");
  assert.ok(String(rec.error).includes(missing), rec.error);
});

Deno.test("a port that is already taken exits 1 with one line naming the address", async () => {
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const port = (taken.addr as Deno.NetAddr).port;
    const dir = await Deno.makeTempDir();
    // A syntactically valid kubeconfig; nothing connects before the listeners start.
    await Deno.writeTextFile(
      `${dir}/kc`,
      [
        "apiVersion: v1",
        "kind: Config",
        "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]",
        "users: [{name: u, user: {token: t}}]",
        "contexts: [{name: x, context: {cluster: c, user: u}}]",
        "current-context: x",
      ].join("\n"),
    );
    const r = await runMain([
      "--trust-domain=example.org",
      `--kubeconfig=${dir}/kc`,
      `--metrics-bind-address=127.0.0.1:${port}`,
      "--health-probe-bind-address=0",
    ]);
    assert.equal(r.code, 1, r.stderr);
    assertNoStack(r.stderr);
    const errors = r.stderr.trimEnd().split("\n").map((l) => JSON.parse(l)).filter((l) =>
      l.level === "error"
    );
    assert.equal(errors.length, 1, r.stderr);
    assert.match(
      errors[0].error,
      new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port} for metrics`),
    );
  } finally {
    taken.close();
  }
});
