/**
 * Connection and credential failures (docs/contract.md#connection), as a user meets them. Each case
 * is a kubeconfig file; the operator (as a process, with its exact permissions) and the CLI are run
 * against it:
 *
 * - the operator prints the exact line (server, context, user, HTTP status, what to do) once, not
 *   per retry, then `gave up after 2s (--startup-timeout): <line>` and exits 1; kubeconfig
 *   problems are not retried: one `cannot configure the Kubernetes connection` line, exit 1;
 * - `kleym status` prints `kleym: <line>` as its only stderr line and exits 4;
 * - nothing prints a stack trace.
 *
 * The API server is the run's shared control plane (real TLS, real authentication).
 */
import assert from "node:assert/strict";
import { stringify } from "yaml";
import { REPO_ROOT } from "../harness/controlplane.ts";
import { cliPermissions } from "../harness/cli.ts";
import { testEnv } from "../harness/env.ts";
import { applyDeploy, operatorMainArgs } from "../harness/operator.ts";
import { pollUntil } from "../harness/poll.ts";
import { createPki } from "../harness/pki.ts";
import { type Collected, freePort, runCollecting, spawnCollecting } from "../harness/process.ts";

function run(args: string[]): Promise<Collected> {
  // No KUBECONFIG/HOME fallbacks: only the file under test.
  return runCollecting(Deno.execPath(), args, {
    cwd: REPO_ROOT,
    env: { HOME: "/nonexistent", KUBECONFIG: "" },
  });
}

function operator(kubeconfig: string): Promise<Collected> {
  return run(operatorMainArgs(kubeconfig, ["--startup-timeout=2s"]));
}

function cli(kubeconfig: string): Promise<Collected> {
  return run([
    "run",
    "--quiet",
    ...cliPermissions(),
    "cli/main.ts",
    "status",
    `--kubeconfig=${kubeconfig}`,
    "--timeout=20s",
  ]);
}

interface LogLine {
  level: string;
  msg: string;
  error?: string;
}

function logLines(stderr: string): LogLine[] {
  return stderr.split("\n").filter((l) => l !== "").map((l) => JSON.parse(l) as LogLine);
}

function kubeconfig(server: string, caPem: string, user: Record<string, unknown>): string {
  return stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [{
      name: "lab",
      cluster: { server, "certificate-authority-data": btoa(caPem) },
    }],
    users: [{ name: "alice", user }],
    contexts: [{ name: "lab-admin", context: { cluster: "lab", user: "alice" } }],
    "current-context": "lab-admin",
  });
}

interface Case {
  name: string;
  file: string;
  /** The one line both the operator and the CLI print. */
  line: string | RegExp;
  /** Configuration problem: the operator exits 1 at once instead of waiting. */
  config?: boolean;
}

Deno.test("connection failures: one exact line, no stack, operator exit 1 after --startup-timeout, CLI exit 4", async (t) => {
  const env = await testEnv();
  const dir = await Deno.makeTempDir({ prefix: "kleym-connfail-" });
  try {
    const write = async (name: string, text: string) => {
      const path = `${dir}/${name}`;
      await Deno.writeTextFile(path, text);
      return path;
    };
    const plugin = await write(
      "expired-credential.sh",
      `#!/bin/sh\necho '${
        JSON.stringify({
          apiVersion: "client.authentication.k8s.io/v1",
          kind: "ExecCredential",
          status: { token: "long-expired-token", expirationTimestamp: "2020-01-01T00:00:00Z" },
        })
      }'\n`,
    );
    await Deno.chmod(plugin, 0o755);
    const otherCa = await Deno.readTextFile((await createPki(`${dir}/other-pki`)).caCert);
    const closed = `https://127.0.0.1:${freePort()}`;
    const who = (server: string) =>
      `Kubernetes API server ${server} (context "lab-admin", user "alice")`;

    const cases: Case[] = [
      {
        name: "bad token",
        file: await write("bad-token", kubeconfig(env.server, env.caPem, { token: "not-a-token" })),
        line: `${
          who(env.server)
        } answered HTTP 401 Unauthorized: the token is invalid or expired; refresh the kubeconfig credentials`,
      },
      {
        name: "expired exec credential",
        file: await write(
          "expired-exec",
          kubeconfig(env.server, env.caPem, {
            exec: { apiVersion: "client.authentication.k8s.io/v1", command: plugin },
          }),
        ),
        line: `${
          who(env.server)
        } answered HTTP 401 Unauthorized: the credential from exec plugin ${plugin} is invalid or expired; log in again so the plugin returns a fresh one`,
      },
      {
        name: "unreachable server",
        file: await write("unreachable", kubeconfig(closed, env.caPem, { token: "t" })),
        line: `${
          who(closed)
        } is unreachable (connection refused): check the server address in the kubeconfig and that the API server is running`,
      },
      {
        name: "TLS mismatch (another CA)",
        file: await write("tls-mismatch", kubeconfig(env.server, otherCa, { token: "t" })),
        line: new RegExp(
          `^${
            RegExp.escape(who(env.server))
          } failed TLS verification \\(invalid peer certificate: \\w+\\): the kubeconfig's certificate-authority does not match the server's certificate; update certificate-authority-data for this cluster$`,
        ),
      },
      {
        name: "empty kubeconfig",
        file: await write("empty", ""),
        config: true,
        line: `kubeconfig ${dir}/empty defines no contexts (empty, or not a kubeconfig): ` +
          "point --kubeconfig or KUBECONFIG at a kubeconfig with a cluster, a user and a context",
      },
      {
        name: "garbage kubeconfig (not a mapping)",
        file: await write("garbage", "this is not a kubeconfig\n"),
        config: true,
        line: `kubeconfig ${dir}/garbage is not a kubeconfig (its top level is not a mapping): ` +
          "point --kubeconfig or KUBECONFIG at a kubeconfig file",
      },
      {
        name: "garbage kubeconfig (not YAML)",
        file: await write("not-yaml", "clusters: [\n  {{{\n"),
        config: true,
        line: new RegExp(
          `^kubeconfig ${
            RegExp.escape(`${dir}/not-yaml`)
          } is not valid YAML \\([^\\n]+\\): point --kubeconfig or KUBECONFIG at a kubeconfig file$`,
        ),
      },
    ];

    const matches = (got: string | undefined, want: string | RegExp, what: string) => {
      if (typeof want === "string") assert.equal(got, want, what);
      else assert.match(got ?? "", want, `${what}: ${got}`);
    };

    for (const c of cases) {
      await t.step(c.name, async () => {
        const [op, status] = await Promise.all([operator(c.file), cli(c.file)]);
        for (const r of [op, status]) {
          assert.doesNotMatch(r.stderr + r.stdout, /\n\s+at /, "no stack trace");
        }

        assert.equal(op.code, 1, op.stderr);
        const lines = logLines(op.stderr);
        const errors = lines.filter((l) => l.level === "error");
        assert.equal(errors.length, 1, `exactly one error line:\n${op.stderr}`);
        if (c.config) {
          assert.equal(errors[0].msg, "cannot configure the Kubernetes connection");
          matches(errors[0].error, c.line, "operator");
        } else {
          // Retries happen every 250 ms-1 s for 2 s; the line is printed once, when it starts.
          const warns = lines.filter((l) => l.level === "warn");
          assert.equal(warns.length, 1, `one line per state, not per retry:\n${op.stderr}`);
          matches(warns[0].msg, c.line, "operator");
          const prefix = "gave up after 2s (--startup-timeout): ";
          assert.ok(errors[0].msg.startsWith(prefix), errors[0].msg);
          matches(errors[0].msg.slice(prefix.length), c.line, "operator give-up");
        }

        assert.equal(status.code, 4, status.stderr);
        assert.equal(status.stdout, "");
        const cliLines = status.stderr.split("\n").filter((l) => l !== "");
        assert.equal(cliLines.length, 1, status.stderr);
        assert.ok(cliLines[0].startsWith("kleym: "), cliLines[0]);
        matches(cliLines[0].slice("kleym: ".length), c.line, "CLI");
      });
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the start-up wait logs each state change once and goes on when the credentials are fixed", async () => {
  const env = await testEnv();
  await applyDeploy(env.kubectl);
  const dir = await Deno.makeTempDir({ prefix: "kleym-connfix-" });
  const tokenFile = `${dir}/token`;
  await Deno.writeTextFile(tokenFile, "not-a-token\n");
  const kc = `${dir}/kubeconfig`;
  await Deno.writeTextFile(kc, kubeconfig(env.server, env.caPem, { tokenFile }));
  const op = spawnCollecting(Deno.execPath(), operatorMainArgs(kc, ["--startup-timeout=120s"]), {
    cwd: REPO_ROOT,
    env: { HOME: "/nonexistent", KUBECONFIG: "" },
  });
  const who = `Kubernetes API server ${env.server} (context "lab-admin", user "alice")`;
  try {
    await pollUntil("the 401 line", 60_000, () => op.stderr().includes("answered HTTP 401"));
    // Fixed while it waits: the next probe re-reads the token file (after the 401) and passes.
    const token = (await env.kubectl(["create", "token", "kleym", "-n", "kleym-system"])).trim();
    await Deno.writeTextFile(tokenFile, `${token}\n`);
    await pollUntil("caches synced", 60_000, () => op.stderr().includes('"msg":"caches synced"'));
  } finally {
    op.child.kill("SIGTERM");
    await op.done;
    await Deno.remove(dir, { recursive: true });
  }
  const lines = logLines(op.stderr());
  // Only the start-up wait's own lines: once synced, this operator also reconciles whatever
  // bindings earlier tests left in the shared cluster, and their warnings are not under test.
  assert.deepEqual(
    lines.filter((l) =>
      l.msg.startsWith(who) && (l.level === "warn" || l.msg.endsWith("answers now"))
    ).map((l) => l.msg),
    [
      `${who} answered HTTP 401 Unauthorized: the token in ${tokenFile} is invalid or expired; write a fresh token to that file`,
      `${who} answers now`,
    ],
    "one line when the failure starts, one when it ends, none per retry",
  );
  assert.deepEqual(lines.filter((l) => l.level === "error"), []);
});
