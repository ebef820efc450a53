/**
 * Shared steps of the exclusivity tests (docs/contract.md#exclusivity), not a test file itself:
 * the operator as a process (deploy.yaml's ServiceAccount), the admin clients, and the checks
 * every rule's test makes — a binding's Conflict, a binding back to Ready with exactly its
 * ClusterSPIFFEID, an event.
 */
import assert from "node:assert/strict";
import { jsonEqual } from "../../reconcile/json.ts";
import { testEnv } from "../harness/env.ts";
import {
  applyDeploy,
  type OperatorProcess,
  serviceAccountKubeconfig,
  startOperator,
  tempDir,
} from "./operator_support.ts";
import {
  adminClients,
  type Clients,
  conditionOf,
  eventsOf,
  getBinding,
  managedOf,
  pollUntil,
  TRUST_DOMAIN,
} from "./reconcile_helpers.ts";

export interface Rig {
  c: Clients;
  op: OperatorProcess;
  kubectl: (args: string[], opts?: { stdin?: string }) => Promise<string>;
  newNamespace(prefix: string): Promise<string>;
  stop(): Promise<void>;
}

/** The operator as a process with `args`, once its controller has started. */
export async function operatorRig(name: string, args: string[] = []): Promise<Rig> {
  const env = await testEnv();
  await applyDeploy(env);
  const kubeconfig = await serviceAccountKubeconfig(env, await tempDir());
  const c = await adminClients(env.kubeconfigPath);
  const op = startOperator({ name, kubeconfig, args });
  await op.waitForLog((l) => l.msg === "controller started", 60_000, "controller started");
  return {
    c,
    op,
    kubectl: env.kubectl,
    newNamespace: (prefix) => env.newNamespace(prefix),
    async stop() {
      assert.equal(await op.stop(), 0);
      c.close();
    },
  };
}

export const idOf = (ns: string, kind: "objective" | "pool", name: string) =>
  `spiffe://${TRUST_DOMAIN}/ns/${ns}/${kind}/${name}`;

/** Polls until `name`'s Conflict is True with `reason` and exactly `message`. */
export async function waitConflict(
  r: Rig,
  ns: string,
  name: string,
  reason: string,
  message: string,
): Promise<void> {
  let last: unknown;
  try {
    await pollUntil(`${ns}/${name} Conflict ${reason}`, 60_000, async () => {
      const b = await getBinding(r.c, ns, name);
      const conflict = conditionOf(b, "Conflict");
      const ready = conditionOf(b, "Ready");
      last = { conflict, ready };
      return conflict?.status === "True" && conflict.reason === reason &&
        conflict.message === message && ready?.status === "False" && ready.reason === reason &&
        b?.status?.computedSpiffeIDs === undefined && b?.status?.renderedSelectors === undefined;
    });
  } catch (error) {
    throw new Error(`${error}; last: ${JSON.stringify(last)}`);
  }
  await pollUntil(
    `${ns}/${name} holds no ClusterSPIFFEID`,
    60_000,
    async () => (await managedOf(r.c, ns, name)).length === 0,
  );
}

export interface Selection {
  id: string;
  labels: Record<string, string>;
  serviceAccount: string;
  container?: string;
}

/**
 * Polls until `name` is Ready, Conflict=False, and holds exactly one ClusterSPIFFEID, rendered
 * exactly as docs/contract.md#rendering says for `selection`.
 */
export async function waitRecovered(
  r: Rig,
  ns: string,
  name: string,
  selection: Selection,
): Promise<void> {
  const selectors = [
    ...(selection.container === undefined ? [] : [`k8s:container-name:${selection.container}`]),
    `k8s:ns:${ns}`,
    ...Object.entries(selection.labels).map(([k, v]) => `k8s:pod-label:${k}:${v}`).sort(),
    `k8s:sa:${selection.serviceAccount}`,
  ];
  const spec = {
    spiffeIDTemplate: selection.id,
    podSelector: { matchLabels: selection.labels },
    namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": ns } },
    workloadSelectorTemplates: selectors,
    fallback: false,
    hint: `${ns}/${name}`,
  };
  let last: unknown;
  try {
    await pollUntil(`${ns}/${name} recovered`, 60_000, async () => {
      const b = await getBinding(r.c, ns, name);
      const objects = await managedOf(r.c, ns, name);
      last = { conditions: b?.status?.conditions, objects: objects.map((o) => o.spec) };
      return conditionOf(b, "Ready")?.status === "True" &&
        conditionOf(b, "Conflict")?.status === "False" &&
        conditionOf(b, "Conflict")?.reason === "Resolved" &&
        b?.status?.computedSpiffeIDs?.[0]?.spiffeID === selection.id &&
        objects.length === 1 && jsonEqual(objects[0].spec, spec);
    });
  } catch (error) {
    throw new Error(`${error}; last: ${JSON.stringify(last)}`);
  }
}

/** Polls until an event with `reason` (and, when given, a note containing `text`) is on `name`. */
export async function waitEvent(
  r: Rig,
  ns: string,
  name: string,
  reason: string,
  text?: string,
): Promise<string> {
  return await pollUntil(`${reason} event on ${ns}/${name}`, 60_000, async () => {
    const found = (await eventsOf(r.c, ns, name)).find((e) =>
      e.reason === reason && (text === undefined || (e.note ?? "").includes(text))
    );
    return found?.note ?? undefined;
  });
}
