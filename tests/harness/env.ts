/**
 * The test run's shared control plane, started once per run by `tools/testenv.ts run` (which
 * sets KLEYM_TEST_DIR). Tests isolate themselves with a fresh namespace each; tests that must
 * restart or break the API server start a private one with `startControlPlane` instead.
 */
import { parse } from "yaml";
import { kubeconfigYaml, runKubectl } from "./controlplane.ts";
import { issueClientCert, type Pki } from "./pki.ts";

export interface TestEnv {
  /** Admin client-certificate kubeconfig. */
  kubeconfigPath: string;
  server: string;
  caPem: string;
  kubectl(args: string[], opts?: { stdin?: string }): Promise<string>;
  /** Creates a uniquely named namespace and returns its name. */
  newNamespace(prefix: string): Promise<string>;
  /** A client-certificate kubeconfig for another user (RBAC applies to it). */
  userKubeconfig(user: string, groups?: string[]): Promise<string>;
}

let cached: Promise<TestEnv> | undefined;

export function testEnv(): Promise<TestEnv> {
  cached ??= load();
  return cached;
}

async function load(): Promise<TestEnv> {
  const dir = Deno.env.get("KLEYM_TEST_DIR");
  if (!dir) {
    throw new Error(
      "KLEYM_TEST_DIR is not set: run integration tests through 'make test' or " +
        "'deno run -A tools/testenv.ts run -- deno test -A tests/integration'",
    );
  }
  const kubeconfigPath = `${dir}/kubeconfig`;
  const kc = parse(await Deno.readTextFile(kubeconfigPath)) as {
    clusters: { cluster: { server: string; "certificate-authority-data": string } }[];
  };
  const server = kc.clusters[0].cluster.server;
  const caPem = atob(kc.clusters[0].cluster["certificate-authority-data"]);
  const pki: Pki = {
    dir: `${dir}/pki`,
    caCert: `${dir}/pki/ca.crt`,
    caKey: `${dir}/pki/ca.key`,
    serverCert: `${dir}/pki/server.crt`,
    serverKey: `${dir}/pki/server.key`,
    saPublicKey: `${dir}/pki/sa.pub`,
    saPrivateKey: `${dir}/pki/sa.key`,
  };
  let seq = 0;
  const kubectl = (args: string[], opts?: { stdin?: string }) =>
    runKubectl(kubeconfigPath, args, opts);
  return {
    kubeconfigPath,
    server,
    caPem,
    kubectl,
    async newNamespace(prefix) {
      const rand = crypto.getRandomValues(new Uint32Array(1))[0].toString(36);
      const name = `${prefix}-${++seq}-${rand}`.toLowerCase().replace(/[^a-z0-9-]/g, "-")
        .slice(0, 63).replace(/-+$/, "");
      await kubectl(["create", "namespace", name]);
      return name;
    },
    async userKubeconfig(user, groups = []) {
      const cred = await issueClientCert(pki, user, groups);
      const path = `${dir}/kubeconfig-${user.replace(/[^a-zA-Z0-9]/g, "_")}`;
      await Deno.writeTextFile(path, kubeconfigYaml(server, caPem, cred));
      return path;
    },
  };
}
