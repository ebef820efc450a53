import { deepEqual, equal, ok, rejects } from "node:assert/strict";
import { stringify } from "yaml";
import { ConfigError } from "../../apis/errors.ts";
import { kubeconfigConnection, kubeconfigPaths } from "../../apis/kubeconfig.ts";
import { inClusterConnection } from "../../apis/incluster.ts";
import { loadConnection } from "../../apis/connect.ts";
import { FakeClock } from "../../apis/clock.ts";

const CA = "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n";
const CERT = "-----BEGIN CERTIFICATE-----\nCLIENT\n-----END CERTIFICATE-----\n";
const KEY = "-----BEGIN PRIVATE KEY-----\nKEY\n-----END PRIVATE KEY-----\n";

interface Doc {
  clusters?: { name: string; cluster: Record<string, unknown> }[];
  users?: { name: string; user: Record<string, unknown> }[];
  contexts?: { name: string; context: Record<string, unknown> }[];
  "current-context"?: string;
}

function kc(doc: Doc): string {
  return stringify({ apiVersion: "v1", kind: "Config", ...doc });
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "kleym-kc-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const envOf = (vars: Record<string, string>) => (n: string) => vars[n];

const fileA = kc({
  clusters: [
    {
      name: "shared",
      cluster: { server: "https://a.example:6443", "certificate-authority-data": btoa(CA) },
    },
    {
      name: "only-a",
      cluster: { server: "https://only-a.example/prefix/", "insecure-skip-tls-verify": true },
    },
  ],
  users: [{
    name: "admin",
    user: { "client-certificate-data": btoa(CERT), "client-key-data": btoa(KEY) },
  }],
  contexts: [
    { name: "ctx-a", context: { cluster: "shared", user: "admin", namespace: "team-a" } },
    { name: "ctx-prefix", context: { cluster: "only-a", user: "admin" } },
  ],
});

const fileB = kc({
  clusters: [{ name: "shared", cluster: { server: "https://b-loses.example" } }],
  users: [{ name: "tok", user: { token: "secret-token" } }],
  contexts: [
    { name: "ctx-b", context: { cluster: "shared", user: "tok" } },
    { name: "ctx-a", context: { cluster: "shared", user: "tok", namespace: "b-loses" } },
  ],
  "current-context": "ctx-b",
});

Deno.test("kubeconfig resolution follows kubectl's merge and selection rules", async (t) => {
  await withDir(async (dir) => {
    const a = `${dir}/a.yaml`;
    const b = `${dir}/b.yaml`;
    await Deno.writeTextFile(a, fileA);
    await Deno.writeTextFile(b, fileB);
    const cases: {
      name: string;
      env?: Record<string, string>;
      kubeconfig?: string;
      context?: string;
      want: {
        server: string;
        namespace: string;
        source: string;
        ca?: string;
        cert?: string;
        token?: string;
        insecure?: boolean;
      };
    }[] = [
      {
        name: "current-context comes from the first file that sets it",
        env: { KUBECONFIG: `${a}:${b}` },
        want: {
          server: "https://a.example:6443",
          namespace: "default",
          source: `context "ctx-b" in ${b}`,
          ca: CA,
          token: "secret-token",
        },
      },
      {
        name: "first file wins for a context name defined twice",
        env: { KUBECONFIG: `${a}:${b}` },
        context: "ctx-a",
        want: {
          server: "https://a.example:6443",
          namespace: "team-a",
          source: `context "ctx-a" in ${a}`,
          ca: CA,
          cert: CERT,
        },
      },
      {
        name: "file order decides: b first makes b's cluster and context win",
        env: { KUBECONFIG: `${b}:${a}` },
        context: "ctx-a",
        want: {
          server: "https://b-loses.example",
          namespace: "b-loses",
          source: `context "ctx-a" in ${b}`,
          token: "secret-token",
        },
      },
      {
        name: "missing files and duplicates in KUBECONFIG are skipped",
        env: { KUBECONFIG: `${dir}/missing.yaml::${b}:${b}:${a}` },
        want: {
          server: "https://b-loses.example",
          namespace: "default",
          source: `context "ctx-b" in ${b}`,
          token: "secret-token",
        },
      },
      {
        name: "--kubeconfig wins over KUBECONFIG and is not merged",
        env: { KUBECONFIG: b },
        kubeconfig: a,
        context: "ctx-prefix",
        want: {
          server: "https://only-a.example/prefix",
          namespace: "default",
          source: `context "ctx-prefix" in ${a}`,
          cert: CERT,
          insecure: true,
        },
      },
      {
        name: "$HOME/.kube/config when nothing else is set",
        env: { HOME: dir },
        context: "ctx-b",
        want: {
          server: "https://b-loses.example",
          namespace: "default",
          source: `context "ctx-b" in ${dir}/.kube/config`,
          token: "secret-token",
        },
      },
    ];
    await Deno.mkdir(`${dir}/.kube`);
    await Deno.writeTextFile(`${dir}/.kube/config`, fileB);
    for (const c of cases) {
      await t.step(c.name, async () => {
        const conn = await kubeconfigConnection({
          env: envOf(c.env ?? {}),
          kubeconfig: c.kubeconfig,
          context: c.context,
        });
        equal(conn.server, c.want.server);
        equal(conn.namespace, c.want.namespace);
        equal(conn.source, c.want.source);
        equal(conn.caPem, c.want.ca);
        equal(conn.clientCertPem, c.want.cert);
        equal(conn.clientKeyPem, c.want.cert ? KEY : undefined);
        equal(conn.insecureSkipTlsVerify ?? false, c.want.insecure ?? false);
        const creds = conn.credentials ? await conn.credentials.get() : {};
        equal(creds.token, c.want.token);
      });
    }
  });
});

Deno.test("kubeconfig problems are one clear ConfigError naming the file or context", async (t) => {
  await withDir(async (dir) => {
    const a = `${dir}/a.yaml`;
    const b = `${dir}/b.yaml`;
    await Deno.writeTextFile(a, fileA);
    await Deno.writeTextFile(b, fileB);
    const write = async (name: string, text: string) => {
      await Deno.writeTextFile(`${dir}/${name}`, text);
      return `${dir}/${name}`;
    };
    const cases: {
      name: string;
      make: () => Promise<{ env?: Record<string, string>; kubeconfig?: string; context?: string }>;
      message: string;
    }[] = [
      {
        name: "unknown context",
        make: () => Promise.resolve({ env: { KUBECONFIG: `${a}:${b}` }, context: "nope" }),
        message: `context "nope" not found in kubeconfig ${a}:${b}`,
      },
      {
        name: "missing --kubeconfig file",
        make: () => Promise.resolve({ kubeconfig: `${dir}/absent.yaml` }),
        message: `kubeconfig ${dir}/absent.yaml does not exist`,
      },
      {
        name: "every KUBECONFIG file missing",
        make: () => Promise.resolve({ env: { KUBECONFIG: `${dir}/x:${dir}/y` } }),
        message: `no kubeconfig found: none of KUBECONFIG=${dir}/x:${dir}/y exists`,
      },
      {
        name: "no current-context and no --context",
        make: () => Promise.resolve({ kubeconfig: a }),
        message: `kubeconfig ${a} has no current-context; choose one with --context`,
      },
      {
        name: "context naming an absent cluster",
        make: async () => ({
          kubeconfig: await write(
            "c.yaml",
            kc({
              contexts: [{ name: "c", context: { cluster: "ghost", user: "" } }],
              "current-context": "c",
            }),
          ),
        }),
        message:
          `context "c" in ${dir}/c.yaml refers to cluster "ghost", which is not in kubeconfig ${dir}/c.yaml`,
      },
      {
        name: "cluster without server",
        make: async () => ({
          kubeconfig: await write(
            "d.yaml",
            kc({
              clusters: [{ name: "s", cluster: {} }],
              contexts: [{ name: "c", context: { cluster: "s" } }],
              "current-context": "c",
            }),
          ),
        }),
        message: `cluster "s" in ${dir}/d.yaml has no server`,
      },
      {
        name: "invalid YAML",
        make: async () => ({ kubeconfig: await write("e.yaml", "clusters: [\n") }),
        message: `kubeconfig ${dir}/e.yaml is not valid YAML (`,
      },
      {
        name: "wrong field type",
        make: async () => ({
          kubeconfig: await write(
            "f.yaml",
            kc({ clusters: [{ name: "s", cluster: { server: 42 } }] }),
          ),
        }),
        message: `kubeconfig ${dir}/f.yaml: clusters[0].cluster.server must be a string`,
      },
      {
        name: "unreadable certificate-authority file",
        make: async () => ({
          kubeconfig: await write(
            "g.yaml",
            kc({
              clusters: [{
                name: "s",
                cluster: { server: "https://x", "certificate-authority": "nope/ca.crt" },
              }],
              contexts: [{ name: "c", context: { cluster: "s" } }],
              "current-context": "c",
            }),
          ),
        }),
        message:
          `cannot read certificate-authority of cluster "s" in ${dir}/g.yaml (${dir}/nope/ca.crt)`,
      },
      {
        name: "invalid base64",
        make: async () => ({
          kubeconfig: await write(
            "h.yaml",
            kc({
              clusters: [{
                name: "s",
                cluster: { server: "https://x", "certificate-authority-data": "%%%" },
              }],
              contexts: [{ name: "c", context: { cluster: "s" } }],
              "current-context": "c",
            }),
          ),
        }),
        message: `cluster "s" in ${dir}/h.yaml: certificate-authority-data is not valid base64`,
      },
      {
        name: "auth-provider is refused",
        make: async () => ({
          kubeconfig: await write(
            "i.yaml",
            kc({
              clusters: [{ name: "s", cluster: { server: "https://x" } }],
              users: [{ name: "u", user: { "auth-provider": { name: "gcp" } } }],
              contexts: [{ name: "c", context: { cluster: "s", user: "u" } }],
              "current-context": "c",
            }),
          ),
        }),
        message:
          `user "u" in ${dir}/i.yaml uses auth-provider "gcp", which kleym does not support; use an exec plugin`,
      },
      {
        name: "missing token file",
        make: async () => ({
          kubeconfig: await write(
            "j.yaml",
            kc({
              clusters: [{ name: "s", cluster: { server: "https://x" } }],
              users: [{ name: "u", user: { tokenFile: "tok" } }],
              contexts: [{ name: "c", context: { cluster: "s", user: "u" } }],
              "current-context": "c",
            }),
          ),
        }),
        message: `cannot read token file ${dir}/tok (user "u" in ${dir}/j.yaml)`,
      },
    ];
    for (const c of cases) {
      await t.step(c.name, async () => {
        const o = await c.make();
        const err = await kubeconfigConnection({
          env: envOf(o.env ?? {}),
          kubeconfig: o.kubeconfig,
          context: o.context,
        })
          .then(async (conn) => {
            await conn.credentials?.get();
            return undefined;
          }, (e: unknown) => e)
          .catch((e: unknown) => e);
        ok(err instanceof ConfigError, `want ConfigError, got ${err}`);
        ok(err.message.startsWith(c.message), `message ${JSON.stringify(err.message)}`);
        ok(!err.message.includes("\n"));
      });
    }
  });
});

Deno.test("relative paths resolve against the kubeconfig's own directory", async () => {
  await withDir(async (dir) => {
    await Deno.mkdir(`${dir}/sub/certs`, { recursive: true });
    await Deno.writeTextFile(`${dir}/sub/certs/ca.crt`, CA);
    await Deno.writeTextFile(`${dir}/sub/certs/c.crt`, CERT);
    await Deno.writeTextFile(`${dir}/sub/certs/c.key`, KEY);
    await Deno.writeTextFile(`${dir}/sub/token`, "  file-token\n");
    await Deno.writeTextFile(
      `${dir}/sub/config`,
      kc({
        clusters: [{
          name: "s",
          cluster: { server: "https://x:1/", "certificate-authority": "certs/ca.crt" },
        }],
        users: [{
          name: "u",
          user: {
            "client-certificate": "certs/c.crt",
            "client-key": "certs/c.key",
            tokenFile: "token",
          },
        }],
        contexts: [{ name: "c", context: { cluster: "s", user: "u", namespace: "ns1" } }],
        "current-context": "c",
      }),
    );
    // KUBECONFIG given relative to another working directory still reads paths next to the file
    const conn = await kubeconfigConnection({ env: envOf({ KUBECONFIG: `${dir}/sub/config` }) });
    equal(conn.caPem, CA);
    equal(conn.clientCertPem, CERT);
    equal(conn.clientKeyPem, KEY);
    equal(conn.server, "https://x:1");
    equal(conn.namespace, "ns1");
    deepEqual(await conn.credentials?.get(), { token: "file-token" });
  });
});

Deno.test("token wins over tokenFile, which wins over exec", async () => {
  await withDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/t`, "from-file");
    const path = `${dir}/config`;
    const users = [
      {
        name: "all",
        user: {
          token: "inline",
          tokenFile: "t",
          exec: { command: "false", apiVersion: "client.authentication.k8s.io/v1" },
        },
      },
      {
        name: "file-exec",
        user: {
          tokenFile: "t",
          exec: { command: "false", apiVersion: "client.authentication.k8s.io/v1" },
        },
      },
    ];
    await Deno.writeTextFile(
      path,
      kc({
        clusters: [{ name: "s", cluster: { server: "https://x" } }],
        users,
        contexts: users.map((u) => ({ name: u.name, context: { cluster: "s", user: u.name } })),
      }),
    );
    const tok = async (context: string) =>
      (await (await kubeconfigConnection({ kubeconfig: path, context })).credentials?.get())?.token;
    equal(await tok("all"), "inline");
    equal(await tok("file-exec"), "from-file");
  });
});

Deno.test("kubeconfigPaths: explicit flag, KUBECONFIG list, then $HOME", () => {
  deepEqual(kubeconfigPaths({ kubeconfig: "/k", env: envOf({ KUBECONFIG: "/a" }) }), {
    paths: ["/k"],
    explicit: true,
  });
  deepEqual(kubeconfigPaths({ env: envOf({ KUBECONFIG: "/a::/b:/a" }) }), {
    paths: ["/a", "/b"],
    explicit: false,
  });
  deepEqual(kubeconfigPaths({ env: envOf({ HOME: "/home/u" }) }), {
    paths: ["/home/u/.kube/config"],
    explicit: true,
  });
});

Deno.test("in-cluster config reads the service-account directory and re-reads a rotated token", async () => {
  await withDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/ca.crt`, CA);
    await Deno.writeTextFile(`${dir}/token`, "tok-1");
    await Deno.writeTextFile(`${dir}/namespace`, "kleym-system\n");
    const clock = new FakeClock(1_000_000);
    const env = envOf({ KUBERNETES_SERVICE_HOST: "10.0.0.1", KUBERNETES_SERVICE_PORT: "443" });
    const conn = await inClusterConnection({ env, dir, clock });
    equal(conn.server, "https://10.0.0.1:443");
    equal(conn.namespace, "kleym-system");
    equal(conn.caPem, CA);
    equal((await conn.credentials?.get())?.token, "tok-1");
    await Deno.writeTextFile(`${dir}/token`, "tok-2");
    clock.advance(59_000);
    equal((await conn.credentials?.get())?.token, "tok-1", "cached within a minute");
    clock.advance(1_000);
    equal((await conn.credentials?.get())?.token, "tok-2", "re-read after a minute");
    await Deno.writeTextFile(`${dir}/token`, "tok-3");
    conn.credentials?.invalidate(); // what a 401 does
    equal((await conn.credentials?.get())?.token, "tok-3", "re-read after a 401");

    const v6 = await inClusterConnection({
      env: envOf({ KUBERNETES_SERVICE_HOST: "fd00::1", KUBERNETES_SERVICE_PORT: "6443" }),
      dir,
      clock,
    });
    equal(v6.server, "https://[fd00::1]:6443");
    await rejects(
      inClusterConnection({ env, dir: `${dir}/none`, clock }),
      (e: unknown) =>
        e instanceof ConfigError &&
        e.message.startsWith(`cannot read in-cluster CA ${dir}/none/ca.crt`),
    );
  });
});

Deno.test("loadConnection prefers kubeconfig flags and KUBECONFIG over in-cluster", async () => {
  await withDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/b.yaml`, fileB);
    const conn = await loadConnection({
      env: envOf({
        KUBECONFIG: `${dir}/b.yaml`,
        KUBERNETES_SERVICE_HOST: "10.0.0.1",
        KUBERNETES_SERVICE_PORT: "443",
      }),
    });
    equal(conn.source, `context "ctx-b" in ${dir}/b.yaml`);
    // without kubeconfig hints, in-cluster is chosen (and fails here on the missing CA, naming it)
    await rejects(
      loadConnection({
        env: envOf({ KUBERNETES_SERVICE_HOST: "10.0.0.1", KUBERNETES_SERVICE_PORT: "443" }),
      }),
      (e: unknown) =>
        e instanceof ConfigError &&
        e.message.includes("/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"),
    );
  });
});
