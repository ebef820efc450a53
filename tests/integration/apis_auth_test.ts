/**
 * Authentication paths against the real API server: admin client certificate, a service-account
 * token from the TokenRequest API read from a token file (and re-read after a 401), the same token
 * through an exec plugin, plus the one-line failures for an unknown context, an unreachable
 * server and insecure-skip-tls-verify without Deno's process-wide flag.
 */
import { equal, ok, rejects } from "node:assert/strict";
import { parse, stringify } from "yaml";
import { testEnv } from "../harness/env.ts";
import { pollUntil } from "../harness/poll.ts";
import { connect } from "../../apis/connect.ts";
import { ApiError, ConfigError, ConnectionError } from "../../apis/errors.ts";
import { type KubeObject, ResourceClient, type RestClient } from "../../apis/rest.ts";

const REPO = new URL("../../", import.meta.url).pathname;

const configMaps = {
  group: "",
  version: "v1",
  plural: "configmaps",
  kind: "ConfigMap",
  namespaced: true,
};

async function withDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "kleym-auth-" });
  try {
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function kubeconfig(
  server: string,
  caPem: string | undefined,
  user: Record<string, unknown>,
  extra: Record<string, unknown> = {},
): string {
  return stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [{
      name: "c",
      cluster: {
        server,
        ...(caPem ? { "certificate-authority-data": btoa(caPem) } : {}),
        ...extra,
      },
    }],
    users: [{ name: "u", user }],
    contexts: [{ name: "ctx", context: { cluster: "c", user: "u" } }],
    "current-context": "ctx",
  });
}

/** The admin kubeconfig with its cluster's CA replaced by `cluster` fields. */
async function adminWithCluster(path: string, cluster: Record<string, unknown>): Promise<string> {
  const doc = parse(await Deno.readTextFile(path)) as {
    clusters: { cluster: Record<string, unknown> }[];
  };
  const c = doc.clusters[0].cluster;
  delete c["certificate-authority-data"];
  Object.assign(c, cluster);
  return stringify(doc);
}

/** A ServiceAccount that may read ConfigMaps in `ns` only, and a fresh token for it. */
async function serviceAccountToken(rest: RestClient, ns: string): Promise<string> {
  const env = await testEnv();
  await env.kubectl(["-n", ns, "create", "serviceaccount", "reader"]);
  await env.kubectl([
    "-n",
    ns,
    "create",
    "role",
    "cm-reader",
    "--verb=get,list",
    "--resource=configmaps",
  ]);
  await env.kubectl([
    "-n",
    ns,
    "create",
    "rolebinding",
    "cm-reader",
    "--role=cm-reader",
    `--serviceaccount=${ns}:reader`,
  ]);
  const tr = await rest.json({
    method: "POST",
    path: `/api/v1/namespaces/${ns}/serviceaccounts/reader/token`,
    body: JSON.stringify({
      apiVersion: "authentication.k8s.io/v1",
      kind: "TokenRequest",
      spec: { expirationSeconds: 3600 },
    }),
  }) as { status?: { token?: string } };
  const token = tr.status?.token;
  ok(token, "TokenRequest returned a token");
  return token;
}

/** Proves the identity: reads in `ns` work, reads elsewhere are Forbidden for the service account. */
async function assertIsReader(rest: RestClient, ns: string): Promise<void> {
  const cms = new ResourceClient<KubeObject>(rest, configMaps);
  const list = await cms.list({ namespace: ns });
  ok(Array.isArray(list.items));
  await rejects(cms.list({ namespace: "default" }), (e: unknown) => {
    ok(e instanceof ApiError && e.isForbidden(), String(e));
    ok(e.message.includes(`system:serviceaccount:${ns}:reader`), e.message);
    return true;
  });
}

Deno.test("the admin client-certificate kubeconfig authenticates", async () => {
  const env = await testEnv();
  const c = await connect({ kubeconfig: env.kubeconfigPath });
  try {
    const namespaces = new ResourceClient<KubeObject>(c.rest, {
      group: "",
      version: "v1",
      plural: "namespaces",
      kind: "Namespace",
      namespaced: false,
    });
    const def = await namespaces.get("default");
    equal(def.metadata.name, "default");
    // cluster-scoped writes need admin rights: a dry-run create proves them without side effects
    const created = await namespaces.create({ metadata: { name: "apis-auth-dry-run" } }, {
      dryRun: true,
    });
    equal(created.metadata.name, "apis-auth-dry-run");
    equal(c.conn.source, `context "kleym-test" in ${env.kubeconfigPath}`);
  } finally {
    c.close();
  }
});

Deno.test("a token file authenticates as the service account and is re-read after a 401", async () => {
  const env = await testEnv();
  const ns = await env.newNamespace("apis-tokenfile");
  const adminConn = await connect({ kubeconfig: env.kubeconfigPath });
  try {
    const token = await serviceAccountToken(adminConn.rest, ns);
    await withDir(async (dir) => {
      await Deno.writeTextFile(`${dir}/token`, "not-a-valid-token");
      await Deno.writeTextFile(
        `${dir}/config`,
        kubeconfig(env.server, env.caPem, { tokenFile: "token" }),
      );
      const c = await connect({ kubeconfig: `${dir}/config` });
      try {
        const cms = new ResourceClient<KubeObject>(c.rest, configMaps);
        await rejects(
          cms.list({ namespace: ns }),
          (e: unknown) => e instanceof ApiError && e.isUnauthorized(),
        );
        // the token rotates on disk; the cached (fresh) copy is rejected, re-read, and accepted
        await Deno.writeTextFile(`${dir}/token`, token);
        await assertIsReader(c.rest, ns);
      } finally {
        c.close();
      }
    });
  } finally {
    adminConn.close();
  }
});

Deno.test("an exec plugin's token authenticates and the plugin runs again after a 401", async () => {
  const env = await testEnv();
  const ns = await env.newNamespace("apis-exec");
  const adminConn = await connect({ kubeconfig: env.kubeconfigPath });
  try {
    const token = await serviceAccountToken(adminConn.rest, ns);
    await withDir(async (dir) => {
      // first run hands out a bad token (no expiry, so it is cached); later runs the real one
      await Deno.writeTextFile(
        `${dir}/plugin.sh`,
        `#!/bin/sh
echo run >> "${dir}/runs"
printf '%s' "$KUBERNETES_EXEC_INFO" > "${dir}/info.json"
if [ "$(wc -l < "${dir}/runs")" -eq 1 ]; then t=stale-token; else t="$(cat "${dir}/token")"; fi
printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"%s"}}' "$t"
`,
      );
      await Deno.chmod(`${dir}/plugin.sh`, 0o755);
      await Deno.writeTextFile(`${dir}/token`, token);
      await Deno.writeTextFile(
        `${dir}/config`,
        kubeconfig(env.server, env.caPem, {
          exec: {
            apiVersion: "client.authentication.k8s.io/v1",
            command: "./plugin.sh",
            interactiveMode: "Never",
            provideClusterInfo: true,
          },
        }),
      );
      const c = await connect({ kubeconfig: `${dir}/config` });
      try {
        await assertIsReader(c.rest, ns);
        const runs = (await Deno.readTextFile(`${dir}/runs`)).trim().split("\n").length;
        equal(runs, 2, "one run for the stale token, one after the 401");
        const info = JSON.parse(await Deno.readTextFile(`${dir}/info.json`));
        equal(info.kind, "ExecCredential");
        equal(info.spec.interactive, false);
        equal(info.spec.cluster.server, env.server);
        equal(atob(info.spec.cluster["certificate-authority-data"]), env.caPem);
      } finally {
        c.close();
      }
    });
  } finally {
    adminConn.close();
  }
});

Deno.test("an unknown context fails with one line naming the context and the file", async () => {
  const env = await testEnv();
  await rejects(
    connect({ kubeconfig: env.kubeconfigPath, context: "no-such-context" }),
    (e: unknown) => {
      ok(e instanceof ConfigError);
      equal(e.message, `context "no-such-context" not found in kubeconfig ${env.kubeconfigPath}`);
      return true;
    },
  );
});

Deno.test("an unreachable server fails with one line naming the server", async () => {
  const env = await testEnv();
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  const server = `https://127.0.0.1:${port}`;
  await withDir(async (dir) => {
    const admin = (await Deno.readTextFile(env.kubeconfigPath)).replace(env.server, server);
    await Deno.writeTextFile(`${dir}/config`, admin);
    const c = await connect({
      kubeconfig: `${dir}/config`,
      retry: { maxAttempts: 2, baseDelayMs: 10 },
    });
    try {
      await rejects(c.rest.json({ method: "GET", path: "/version" }), (e: unknown) => {
        ok(e instanceof ConnectionError, String(e));
        ok(e.message.startsWith(`cannot reach Kubernetes API server ${server}: `), e.message);
        ok(!e.message.includes("\n"));
        return true;
      });
    } finally {
      c.close();
    }
  });
});

Deno.test("a server certificate from an unknown CA is refused", async () => {
  const env = await testEnv();
  await withDir(async (dir) => {
    // drop the CA: the server's certificate is then not trusted
    await Deno.writeTextFile(`${dir}/config`, await adminWithCluster(env.kubeconfigPath, {}));
    const c = await connect({ kubeconfig: `${dir}/config`, retry: false });
    try {
      await rejects(c.rest.json({ method: "GET", path: "/version" }), (e: unknown) => {
        ok(e instanceof ConnectionError, String(e));
        ok(/certificate/i.test(e.message), e.message);
        return true;
      });
    } finally {
      c.close();
    }
  });
});

Deno.test("insecure-skip-tls-verify needs --unsafely-ignore-certificate-errors, and works with it", async () => {
  const env = await testEnv();
  await withDir(async (dir) => {
    const adminCfg = await Deno.readTextFile(env.kubeconfigPath);
    const insecure = adminCfg.replace(
      /certificate-authority-data: .*\n/,
      "insecure-skip-tls-verify: true\n",
    );
    ok(insecure.includes("insecure-skip-tls-verify: true"));
    await Deno.writeTextFile(`${dir}/config`, insecure);
    const c = await connect({ kubeconfig: `${dir}/config`, retry: false });
    try {
      await rejects(c.rest.json({ method: "GET", path: "/version" }), (e: unknown) => {
        ok(e instanceof ConfigError, String(e));
        equal(
          e.message,
          `context "kleym-test" in ${dir}/config sets insecure-skip-tls-verify for ${env.server}, which Deno can only honour process-wide: start with --unsafely-ignore-certificate-errors=127.0.0.1`,
        );
        return true;
      });
    } finally {
      c.close();
    }
    // the same config in a process started with the flag connects
    await Deno.writeTextFile(
      `${dir}/child.ts`,
      `import { connect } from "${REPO}apis/connect.ts";
const c = await connect({ kubeconfig: ${JSON.stringify(`${dir}/config`)}, retry: false });
const v = await c.rest.json({ method: "GET", path: "/version" }) as { gitVersion: string };
c.close();
console.log("connected " + v.gitVersion);
`,
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--quiet",
        `--config=${REPO}deno.json`,
        "--unsafely-ignore-certificate-errors=127.0.0.1",
        "--allow-all",
        `${dir}/child.ts`,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stdout = new TextDecoder().decode(out.stdout);
    ok(
      out.success && stdout.startsWith("connected v"),
      `${stdout}${new TextDecoder().decode(out.stderr)}`,
    );
  });
});

/** Who the API server says `rest` is (SelfSubjectReview). */
async function whoAmI(rest: RestClient): Promise<string> {
  const r = await rest.json({
    method: "POST",
    path: "/apis/authentication.k8s.io/v1/selfsubjectreviews",
    body: JSON.stringify({
      apiVersion: "authentication.k8s.io/v1",
      kind: "SelfSubjectReview",
      metadata: {},
    }),
  }) as { status?: { userInfo?: { username?: string } } };
  return r.status?.userInfo?.username ?? "";
}

Deno.test("client-certificate files are re-read when they change, without a new connection config", async () => {
  const env = await testEnv();
  /** PEMs of a client certificate for `user`, from the run's CA. */
  const pemsOf = async (user: string) => {
    const doc = parse(await Deno.readTextFile(await env.userKubeconfig(user))) as {
      users: { user: Record<string, string> }[];
    };
    const u = doc.users[0].user;
    return { cert: atob(u["client-certificate-data"]), key: atob(u["client-key-data"]) };
  };
  await withDir(async (dir) => {
    const first = await pemsOf("kleym-rotating-first");
    const second = await pemsOf("kleym-rotating-second");
    await Deno.writeTextFile(`${dir}/tls.crt`, first.cert);
    await Deno.writeTextFile(`${dir}/tls.key`, first.key);
    const path = `${dir}/kubeconfig`;
    await Deno.writeTextFile(
      path,
      kubeconfig(env.server, env.caPem, {
        "client-certificate": "tls.crt",
        "client-key": "tls.key",
      }),
    );
    const c = await connect({ kubeconfig: path, env: () => undefined });
    try {
      equal(await whoAmI(c.rest), "kleym-rotating-first");
      // Renewed on disk as a tool would: each file replaced by a rename.
      for (const [name, text] of [["tls.key", second.key], ["tls.crt", second.cert]]) {
        await Deno.writeTextFile(`${dir}/${name}.tmp`, text);
        await Deno.rename(`${dir}/${name}.tmp`, `${dir}/${name}`);
      }
      await pollUntil(
        "the renewed certificate is used",
        60_000,
        async () => (await whoAmI(c.rest)) === "kleym-rotating-second",
      );
    } finally {
      c.close();
    }
  });
});
