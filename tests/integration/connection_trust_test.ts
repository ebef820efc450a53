/**
 * The configured CA is the only trust root (docs/contract.md#connection). A loopback TLS proxy in
 * front of the API server presents a certificate from a second CA that the processes trust twice:
 * through `DENO_CERT` and through the system store (`DENO_TLS_CA_STORE=mozilla,system`, the store
 * read from `SSL_CERT_FILE`), as they would trust a public CA. With a kubeconfig naming the API
 * server's own CA, the operator and the CLI — each a process with exactly its permissions, which
 * empties Deno's default roots at start (apis/default_roots.ts) — refuse the proxy with one clear
 * line; with a kubeconfig naming the proxy's CA they connect through it; with a kubeconfig naming
 * no CA the process's own trust is used, as client-go uses the system's.
 */
import assert from "node:assert/strict";
import { REPO_ROOT } from "../harness/controlplane.ts";
import { cliPermissions } from "../harness/cli.ts";
import { testEnv } from "../harness/env.ts";
import { applyDeploy, operatorMainArgs, tokenKubeconfig } from "../harness/operator.ts";
import { pollUntil } from "../harness/poll.ts";
import { createPki } from "../harness/pki.ts";
import { type Collected, runCollecting, spawnCollecting } from "../harness/process.ts";
import { startTlsProxy } from "../harness/tls_proxy.ts";

// rustls says BadSignature when the configured CA has the proxy CA's subject name (both test CAs
// do), UnknownIssuer otherwise: either way, not signed by the configured CA.
const REFUSAL =
  /failed TLS verification \(invalid peer certificate: (UnknownIssuer|BadSignature)\): the kubeconfig's certificate-authority does not match the server's certificate/;

Deno.test("a CA the process trusts (DENO_CERT, the system store) but the kubeconfig does not name is refused by the operator and the CLI; the named CA connects", async (t) => {
  const env = await testEnv();
  await applyDeploy(env.kubectl);
  const dir = await Deno.makeTempDir({ prefix: "kleym-trust-" });
  const other = await createPki(`${dir}/other-ca`);
  const otherCa = await Deno.readTextFile(other.caCert);
  const api = new URL(env.server);
  const proxy = startTlsProxy({
    cert: await Deno.readTextFile(other.serverCert),
    key: await Deno.readTextFile(other.serverKey),
    upstream: { hostname: api.hostname, port: Number(api.port), caPem: env.caPem },
  });
  // The operator's token for the operator; a cluster-wide reader's for the CLI.
  await env.kubectl(["create", "serviceaccount", "trust-reader", "-n", "kleym-system"]);
  await env.kubectl([
    "create",
    "clusterrolebinding",
    "kleym-trust-reader",
    "--clusterrole=view",
    "--serviceaccount=kleym-system:trust-reader",
  ]);
  const token = async (sa: string) =>
    (await env.kubectl(["create", "token", sa, "-n", "kleym-system"])).trim();
  // The Deployment's start-up: the HTTPS metrics server is up before the first API client, so it
  // must not build Deno's root store before the transport empties it (apis/default_roots.ts).
  const withSecureMetrics = (args: string[]) =>
    args.map((a) => a === "--metrics-bind-address=0" ? "--metrics-bind-address=127.0.0.1:0" : a);
  const write = async (name: string, text: string) => {
    await Deno.writeTextFile(`${dir}/${name}`, text);
    return `${dir}/${name}`;
  };
  const operatorToken = await token("kleym");
  const readerToken = await token("trust-reader");
  // The proxy's CA is trusted process-wide, as a public CA would be, in both ways Deno offers.
  const byDenoCert = { DENO_CERT: other.caCert };
  const bySystemStore = { DENO_TLS_CA_STORE: "mozilla,system", SSL_CERT_FILE: other.caCert };
  const processEnv = { ...byDenoCert, ...bySystemStore, HOME: "/nonexistent", KUBECONFIG: "" };
  const run = (args: string[], env: Record<string, string> = processEnv): Promise<Collected> =>
    runCollecting(Deno.execPath(), args, { cwd: REPO_ROOT, env });
  // Without the grant to empty the default roots, the CLI falls back to only_ca.ts.
  const withoutRootsGrant = cliPermissions().map((f) =>
    f.startsWith("--allow-env=")
      ? f.replace(/,?\b(DENO_TLS_CA_STORE|DENO_CERT)\b/g, "").replace("=,", "=")
      : f
  );
  const cli = (kubeconfig: string, permissions = cliPermissions()) =>
    run([
      "run",
      "--quiet",
      ...permissions,
      "cli/main.ts",
      "status",
      `--kubeconfig=${kubeconfig}`,
      "--timeout=20s",
    ]);
  try {
    for (
      const [way, trust] of Object.entries({
        DENO_CERT: byDenoCert,
        "the system store": bySystemStore,
      })
    ) {
      await t.step(
        `premise: trusted through ${way}, fetch's caCerts would accept the proxy`,
        async () => {
          const probe = await run([
            "eval",
            `const c = Deno.createHttpClient({ caCerts: [${JSON.stringify(env.caPem)}] });` +
            `const r = await fetch("${proxy.url}/version", { client: c }); console.log(r.status);`,
          ], { ...trust, HOME: "/nonexistent" });
          assert.equal(probe.code, 0, probe.stderr);
          assert.equal(probe.stdout.trim(), "200");
        },
      );
    }

    const wrong = {
      operator: await write("wrong-operator", tokenKubeconfig(proxy.url, operatorToken, env.caPem)),
      cli: await write("wrong-cli", tokenKubeconfig(proxy.url, readerToken, env.caPem)),
    };
    await t.step("the operator refuses with one line and exits 1", async () => {
      const op = await run(
        withSecureMetrics(operatorMainArgs(wrong.operator, ["--startup-timeout=2s"])),
      );
      assert.equal(op.code, 1, op.stderr);
      assert.doesNotMatch(op.stderr, /\n\s+at /, "no stack trace");
      const errors = op.stderr.split("\n").filter((l) => l.includes('"level":"error"'));
      assert.equal(errors.length, 1, op.stderr);
      assert.match(JSON.parse(errors[0]).msg, REFUSAL);
      assert.doesNotMatch(op.stderr, /caches synced/);
      // The HTTPS metrics server was up before the refused connection.
      const serving = op.stderr.indexOf('"msg":"serving metrics"');
      assert.ok(serving >= 0 && serving < op.stderr.indexOf(errors[0]), op.stderr);
      assert.match(op.stderr, /"msg":"serving metrics".*"secure":true/);
    });
    await t.step("the CLI refuses with one line and exits 4", async () => {
      const r = await cli(wrong.cli);
      assert.equal(r.code, 4, r.stderr);
      assert.equal(r.stdout, "");
      const lines = r.stderr.split("\n").filter((l) => l !== "");
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0], /^kleym: /);
      assert.match(lines[0], REFUSAL);
    });

    await t.step(
      "without the grant to empty the roots (only_ca.ts) the CLI refuses the same",
      async () => {
        assert.ok(
          withoutRootsGrant.every((f) => !f.includes("DENO_CERT")),
          withoutRootsGrant.join(" "),
        );
        const r = await cli(wrong.cli, withoutRootsGrant);
        assert.equal(r.code, 4, r.stderr);
        const lines = r.stderr.split("\n").filter((l) => l !== "");
        assert.equal(lines.length, 1, r.stderr);
        assert.match(lines[0], REFUSAL);
      },
    );

    const right = {
      operator: await write("right-operator", tokenKubeconfig(proxy.url, operatorToken, otherCa)),
      cli: await write("right-cli", tokenKubeconfig(proxy.url, readerToken, otherCa)),
    };
    await t.step(
      "without a CA in the kubeconfig, the process's own trust (DENO_CERT) is used",
      async () => {
        // As client-go falls back to the system roots: the default roots are not emptied then.
        const r = await cli(await write("no-ca-cli", tokenKubeconfig(proxy.url, readerToken)));
        assert.ok(r.code === 0 || r.code === 2, `exit ${r.code}: ${r.stderr}`);
        assert.notEqual(r.stdout, "");
      },
    );
    await t.step("with the proxy's CA in the kubeconfig, the CLI reports", async () => {
      const r = await cli(right.cli);
      assert.ok(r.code === 0 || r.code === 2, `exit ${r.code}: ${r.stderr}`);
      assert.notEqual(r.stdout, "");
    });
    await t.step("with the proxy's CA in the kubeconfig, the operator syncs", async () => {
      const op = spawnCollecting(
        Deno.execPath(),
        withSecureMetrics(operatorMainArgs(right.operator)),
        {
          cwd: REPO_ROOT,
          env: processEnv,
        },
      );
      try {
        await pollUntil(
          "caches synced through the proxy",
          60_000,
          () => op.stderr().includes('"msg":"caches synced"'),
          { exited: op.done },
        );
      } finally {
        op.child.kill("SIGTERM");
        const end = await op.done;
        assert.equal(end.code, 0, end.stderr);
      }
    });
  } finally {
    await proxy.close();
    await env.kubectl(["delete", "clusterrolebinding", "kleym-trust-reader"]);
    await env.kubectl(["delete", "serviceaccount", "trust-reader", "-n", "kleym-system"]);
    await Deno.remove(dir, { recursive: true });
  }
});
