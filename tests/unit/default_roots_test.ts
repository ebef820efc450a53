/**
 * apis/default_roots.ts, in child processes (the store and the environment are process-wide):
 * with each entry point's own permissions the default root store is emptied for the first CA
 * client, an `exec` plugin still sees the trust settings the process was started with; without
 * the entry point's consent, after a client on the default roots, or without the grant nothing is
 * changed (transport.ts then keeps only_ca.ts). That the emptied store refuses a CA trusted through
 * `DENO_CERT` or the system store is tests/integration/connection_trust_test.ts.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { runCollecting } from "../harness/process.ts";
import { taskFlagsOf } from "../../tools/task_flags.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/**
 * Prints what the module did, and what an exec plugin (a shell) was given, as one JSON line.
 * Arguments: `allow` (an entry point's call), `defaults-first` (a client on the default roots
 * before the CA client), `plugin` (run one exec plugin afterwards).
 */
const PROBE = `
import { allowEmptyingDefaultRoots, caOnlyByFetch, inheritedTlsEnv, usingDefaultRoots } from "${ROOT}apis/default_roots.ts";
import { execCredentials } from "${ROOT}apis/auth.ts";
if (Deno.args.includes("allow")) allowEmptyingDefaultRoots();
if (Deno.args.includes("defaults-first")) usingDefaultRoots();
const read = (name) => { try { return Deno.env.get(name) ?? null; } catch { return "not granted"; } };
const out = {
  caOnly: caOnlyByFetch(),
  again: caOnlyByFetch(),
  store: read("DENO_TLS_CA_STORE"),
  cert: read("DENO_CERT"),
  inherited: inheritedTlsEnv(),
  plugin: null,
};
if (Deno.args.includes("plugin")) {
  const creds = await execCredentials({
    command: "sh",
    args: ["-c", 'printf \\'{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"%s|%s"}}\\' "\${DENO_TLS_CA_STORE-unset}" "\${DENO_CERT-unset}"'],
    apiVersion: "client.authentication.k8s.io/v1",
  }, { owner: "test" }).get();
  out.plugin = creds.token;
}
console.log(JSON.stringify(out));
`;

async function probe(flags: string[], env: Record<string, string>, args: string[]) {
  const dir = await Deno.makeTempDir({ prefix: "kleym-roots-" });
  try {
    await Deno.writeTextFile(`${dir}/probe.ts`, PROBE);
    const r = await runCollecting(
      Deno.execPath(),
      ["run", "--quiet", ...flags, `${dir}/probe.ts`, ...args],
      { cwd: ROOT, env },
    );
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout.trim());
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const flagsOf = (task: string) =>
  taskFlagsOf(`${ROOT}deno.json`, task).filter((f) => !f.startsWith("--v8-flags"));

Deno.test("default roots: emptied for an entry point's first CA client; plugins keep the original trust", async (t) => {
  await t.step("the compiled operator's permissions empty the store", async () => {
    const out = await probe(flagsOf("operator-incluster"), {
      DENO_CERT: "/etc/extra-ca.pem",
      DENO_TLS_CA_STORE: "mozilla,system",
    }, ["allow"]);
    assert.deepEqual(out, {
      caOnly: true,
      again: true,
      store: "",
      cert: null,
      inherited: { DENO_TLS_CA_STORE: "mozilla,system", DENO_CERT: "/etc/extra-ca.pem" },
      plugin: null,
    });
  });

  await t.step(
    "the CLI's permissions empty the store; an unset store is passed on as mozilla",
    async () => {
      const out = await probe(flagsOf("kleym"), {}, ["allow"]);
      assert.equal(out.caOnly, true);
      assert.equal(out.store, "");
      assert.deepEqual(out.inherited, { DENO_TLS_CA_STORE: "mozilla" });
    },
  );

  await t.step(
    "an exec plugin of the local operator gets the settings it was started with",
    async () => {
      const out = await probe(flagsOf("operator"), { DENO_CERT: "/etc/extra-ca.pem" }, [
        "allow",
        "plugin",
      ]);
      assert.equal(out.caOnly, true);
      assert.equal(out.cert, null);
      assert.equal(out.plugin, "mozilla|/etc/extra-ca.pem");
    },
  );

  const untouched = (cert: string) => ({
    caOnly: false,
    again: false,
    store: null,
    cert,
    inherited: {},
    plugin: null,
  });

  await t.step("not allowed (not an entry point): nothing changes", async () => {
    const out = await probe(flagsOf("operator"), { DENO_CERT: "/etc/extra-ca.pem" }, []);
    assert.deepEqual(out, untouched("/etc/extra-ca.pem"));
  });

  await t.step("a client on the default roots came first: they are kept", async () => {
    const out = await probe(flagsOf("operator"), { DENO_CERT: "/etc/extra-ca.pem" }, [
      "allow",
      "defaults-first",
    ]);
    assert.deepEqual(out, untouched("/etc/extra-ca.pem"));
  });

  await t.step("with half the grant nothing changes and nothing is claimed", async () => {
    const out = await probe(["--allow-env=DENO_TLS_CA_STORE"], {
      DENO_CERT: "/etc/extra-ca.pem",
    }, ["allow"]);
    assert.deepEqual(out, untouched("not granted"));
  });
});
