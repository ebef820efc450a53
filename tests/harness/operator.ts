/**
 * What every test that runs the operator as a process needs: its exact Deno permissions (the
 * deno.json "operator" task, their one definition), deploy.yaml applied without the Deployment (no
 * kubelet here), and a kubeconfig that authenticates as deploy.yaml's ServiceAccount with a token
 * from the TokenRequest API.
 */
import { parseAllDocuments, stringify } from "yaml";
import { REPO_ROOT } from "./controlplane.ts";

export const TRUST_DOMAIN = "kleym.sonda.red";

export type Kubectl = (args: string[], opts?: { stdin?: string }) => Promise<string>;

export function operatorPermissions(): string[] {
  const task: string = JSON.parse(Deno.readTextFileSync(`${REPO_ROOT}/deno.json`)).tasks.operator;
  // the V8 flags (memory, docs/benchmarks.md) are part of how the operator runs
  return task.match(/--(allow-|deny-|v8-flags=)\S+/g) ?? [];
}

/** deploy.yaml's documents. */
export function deployDocs(): Record<string, unknown>[] {
  return parseAllDocuments(Deno.readTextFileSync(`${REPO_ROOT}/deploy.yaml`)).map((d) =>
    d.toJS() as Record<string, unknown>
  );
}

/** Applies deploy.yaml but the Deployment, optionally transformed (e.g. one RBAC rule removed). */
export async function applyDeploy(
  kubectl: Kubectl,
  transform: (docs: Record<string, unknown>[]) => Record<string, unknown>[] = (d) => d,
): Promise<void> {
  const docs = transform(deployDocs()).filter((d) => d.kind !== "Deployment");
  await kubectl(["apply", "--server-side", "--force-conflicts", "-f", "-"], {
    stdin: docs.map((d) => stringify(d)).join("---\n"),
  });
}

/** Writes a kubeconfig for system:serviceaccount:kleym-system:kleym at `path`. */
export async function serviceAccountKubeconfig(
  kubectl: Kubectl,
  server: string,
  caPem: string,
  path: string,
): Promise<string> {
  const token = (await kubectl([
    "create",
    "token",
    "kleym",
    "-n",
    "kleym-system",
    "--duration=4h",
  ])).trim();
  await Deno.writeTextFile(
    path,
    stringify({
      apiVersion: "v1",
      kind: "Config",
      clusters: [{ name: "t", cluster: { server, "certificate-authority-data": btoa(caPem) } }],
      users: [{ name: "kleym", user: { token } }],
      contexts: [{ name: "kleym", context: { cluster: "t", user: "kleym" } }],
      "current-context": "kleym",
    }),
    { mode: 0o600 },
  );
  return path;
}
