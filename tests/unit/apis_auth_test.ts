import { deepEqual, equal, ok, rejects } from "node:assert/strict";
import { execCredentials, tokenFileCredentials } from "../../apis/auth.ts";
import { FakeClock } from "../../apis/clock.ts";
import { ConfigError } from "../../apis/errors.ts";

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "kleym-exec-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** A plugin that counts its runs, saves KUBERNETES_EXEC_INFO and prints `stdout`. */
async function plugin(dir: string, stdout: string, exit = 0, stderr = ""): Promise<string> {
  const path = `${dir}/plugin.sh`;
  await Deno.writeTextFile(`${dir}/out.json`, stdout);
  await Deno.writeTextFile(
    path,
    `#!/bin/sh
echo run >> "${dir}/runs"
printf '%s' "$KUBERNETES_EXEC_INFO" > "${dir}/info.json"
printf '%s' "$EXTRA" > "${dir}/extra"
cat "${dir}/out.json"
${stderr ? `echo "${stderr}" >&2` : ""}
exit ${exit}
`,
  );
  await Deno.chmod(path, 0o755);
  return path;
}

async function runs(dir: string): Promise<number> {
  try {
    return (await Deno.readTextFile(`${dir}/runs`)).trim().split("\n").length;
  } catch {
    return 0;
  }
}

function cred(apiVersion: string, status: Record<string, unknown>): string {
  return JSON.stringify({ apiVersion, kind: "ExecCredential", status });
}

Deno.test("an exec credential is cached until it expires and re-run after a 401", async () => {
  await withDir(async (dir) => {
    const now = Date.parse("2030-01-01T00:00:00Z");
    const clock = new FakeClock(now);
    const v1 = "client.authentication.k8s.io/v1";
    const command = await plugin(
      dir,
      cred(v1, { token: "t1", expirationTimestamp: "2030-01-01T00:10:00Z" }),
    );
    const p = execCredentials(
      { command, apiVersion: v1, env: [{ name: "EXTRA", value: "x1" }], provideClusterInfo: true },
      {
        owner: 'user "u" in /k',
        clock,
        cluster: { server: "https://s:1", "certificate-authority-data": "Q0E=" },
      },
    );
    deepEqual(await Promise.all([p.get(), p.get()]), [{ token: "t1" }, { token: "t1" }]);
    equal(await runs(dir), 1, "concurrent callers share one run");
    clock.advance(9 * 60_000);
    await p.get();
    equal(await runs(dir), 1, "cached before expiry");
    clock.advance(60_000);
    await p.get();
    equal(await runs(dir), 2, "re-run at expiry");
    p.invalidate();
    await p.get();
    equal(await runs(dir), 3, "re-run after invalidate (401)");
    deepEqual(JSON.parse(await Deno.readTextFile(`${dir}/info.json`)), {
      apiVersion: v1,
      kind: "ExecCredential",
      spec: {
        interactive: false,
        cluster: { server: "https://s:1", "certificate-authority-data": "Q0E=" },
      },
    });
    equal(await Deno.readTextFile(`${dir}/extra`), "x1");
  });
});

Deno.test("v1beta1 plugins may return a client certificate instead of a token", async () => {
  await withDir(async (dir) => {
    const v1beta1 = "client.authentication.k8s.io/v1beta1";
    const command = await plugin(
      dir,
      cred(v1beta1, { clientCertificateData: "CERT", clientKeyData: "KEY" }),
    );
    const p = execCredentials({ command, apiVersion: v1beta1 }, { owner: "u" });
    deepEqual(await p.get(), { certPem: "CERT", keyPem: "KEY" });
    deepEqual(JSON.parse(await Deno.readTextFile(`${dir}/info.json`)).spec, { interactive: false });
  });
});

Deno.test("exec plugin failures are one ConfigError naming the plugin and user", async (t) => {
  const v1 = "client.authentication.k8s.io/v1";
  const cases: {
    name: string;
    stdout: string;
    exit?: number;
    stderr?: string;
    command?: string;
    message: string;
  }[] = [
    {
      name: "non-zero exit",
      stdout: "",
      exit: 3,
      stderr: "login required",
      message: "failed with exit code 3: login required",
    },
    { name: "not JSON", stdout: "hello", message: "printed no valid JSON ExecCredential" },
    {
      name: "wrong apiVersion",
      stdout: cred("client.authentication.k8s.io/v1beta1", { token: "t" }),
      message:
        'printed apiVersion "client.authentication.k8s.io/v1beta1", want client.authentication.k8s.io/v1',
    },
    { name: "no credential", stdout: cred(v1, {}), message: "returned neither status.token nor" },
    {
      name: "bad expiry",
      stdout: cred(v1, { token: "t", expirationTimestamp: "soon" }),
      message: "invalid expirationTimestamp",
    },
    {
      name: "command not found",
      stdout: "",
      command: "/nonexistent/kleym-plugin",
      message: "command not found",
    },
  ];
  for (const c of cases) {
    await t.step(c.name, async () => {
      await withDir(async (dir) => {
        const command = c.command ?? await plugin(dir, c.stdout, c.exit ?? 0, c.stderr ?? "");
        const p = execCredentials({ command, apiVersion: v1 }, { owner: 'user "u" in /k' });
        await rejects(p.get(), (e: unknown) => {
          ok(e instanceof ConfigError, String(e));
          ok(e.message.startsWith(`exec plugin "${command}" of user "u" in /k`), e.message);
          ok(e.message.includes(c.message), e.message);
          return true;
        });
      });
    });
  }
});

Deno.test("an exec plugin that hangs is stopped after the timeout with one ConfigError line", async (t) => {
  const v1 = "client.authentication.k8s.io/v1";
  const cases = {
    "the plugin itself waits": "exec sleep 3600",
    // A child left behind holds stdout open: the deadline still ends the wait.
    "a child it started keeps stdout open":
      `sleep 3600 &\necho "$!" > "$(dirname "$0")/child"\nwait`,
  };
  for (const [name, body] of Object.entries(cases)) {
    await t.step(name, async () => {
      await withDir(async (dir) => {
        const command = `${dir}/hang.sh`;
        await Deno.writeTextFile(command, `#!/bin/sh\necho "$$" > "${dir}/pid"\n${body}\n`);
        await Deno.chmod(command, 0o755);
        const p = execCredentials({ command, apiVersion: v1 }, {
          owner: 'user "u" in /k',
          timeoutMs: 300,
        });
        await rejects(p.get(), (e: unknown) => {
          ok(e instanceof ConfigError, String(e));
          equal(
            e.message,
            `exec plugin "${command}" of user "u" in /k did not finish within 0.3s and was stopped: it must print its credential without waiting for input`,
          );
          ok(!e.message.includes("\n"));
          return true;
        });
        // The plugin process itself is gone (killed and awaited).
        const pid = Number((await Deno.readTextFile(`${dir}/pid`)).trim());
        let alive = true;
        try {
          alive = !(await Deno.readTextFile(`/proc/${pid}/stat`)).includes(") Z ");
        } catch {
          alive = false;
        }
        ok(!alive, `plugin ${pid} still runs`);
        // The left-behind child of the second case is ours to clean up, by its pid.
        const child = await Deno.readTextFile(`${dir}/child`).catch(() => "");
        if (child.trim() !== "") {
          try {
            Deno.kill(Number(child.trim()), "SIGKILL");
          } catch { /* gone */ }
        }
      });
    });
  }
});

Deno.test("a token file's age is measured on the monotonic clock, not the wall clock", async () => {
  await withDir(async (dir) => {
    const clock = new FakeClock(Date.parse("2030-01-01T00:00:00Z"));
    await Deno.writeTextFile(`${dir}/token`, "first\n");
    const p = tokenFileCredentials(`${dir}/token`, { clock, maxAgeMs: 60_000 });
    deepEqual(await p.get(), { token: "first" });
    await Deno.writeTextFile(`${dir}/token`, "rotated\n");
    // An hour back on the wall clock must not keep the old token for another hour.
    clock.stepWall(-3_600_000);
    clock.advance(60_000);
    deepEqual(await p.get(), { token: "rotated" });
  });
});
