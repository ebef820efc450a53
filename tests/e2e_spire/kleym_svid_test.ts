/**
 * SVID options end to end (docs/contract.md#svid): what a binding asks for in `spec.svid` reaches
 * the registration entries SPIRE Server holds — kleym as a process, a real SPIRE Server and SPIRE
 * Controller Manager, the entries read back with `spire-server entry show`.
 *
 * - X.509 TTL, JWT TTL, DNS names and a federated trust domain on one binding. SPIRE Server only
 *   registers an entry federating with a trust domain whose bundle it holds, so the test first
 *   gives it one (`spire-server bundle set`, a throw-away CA made with openssl).
 * - `autoPopulateDNSNames` with a Service selecting the pod: SPIRE Controller Manager v0.7 reads
 *   the pod's core/v1 Endpoints (indexed by `subsets[].addresses[].targetRef.uid`), which the
 *   cluster's endpoints controller would write; no controller manager of Kubernetes runs in the
 *   harness, so the test writes the Service and its Endpoints as that controller would.
 */
import assert from "node:assert/strict";
import { testEnv } from "../harness/env.ts";
import { bindingManifest, poolV1Manifest } from "../harness/manifests.ts";
import { runCollecting } from "../harness/process.ts";
import { type SpireEntry, startSpire } from "../harness/spire.ts";
import {
  cleanUp,
  createNode,
  createPod,
  type NodeRef,
  startedTogether,
  startKleym,
  suffix,
  TRUST_DOMAIN,
  waitForEntries,
  waitReady,
} from "./support.ts";

const PEER = "peer.example";

/** A self-signed CA certificate for `td`, as PEM (the federated bundle SPIRE Server is given). */
async function peerBundle(dir: string, td: string): Promise<string> {
  const out = await runCollecting("openssl", [
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
    "-keyout",
    `${dir}/peer.key`,
    "-out",
    `${dir}/peer.pem`,
    "-days",
    "1",
    "-subj",
    `/CN=${td}`,
    "-addext",
    `subjectAltName=URI:spiffe://${td}`,
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  ]);
  assert.equal(out.code, 0, out.stderr);
  return `${dir}/peer.pem`;
}

/** A PoolOnly binding `name` on its own pool `name` (pods labelled `app: <name>`). */
function binding(ns: string, name: string, svid: Record<string, unknown>) {
  return [
    poolV1Manifest(ns, name, { matchLabels: { app: name } }),
    bindingManifest(ns, name, {
      poolRef: { name },
      mode: "PoolOnly",
      serviceAccountName: "inference-sa",
      svid,
    }),
  ];
}

const idOf = (ns: string, pool: string) => `spiffe://${TRUST_DOMAIN}/ns/${ns}/pool/${pool}`;

function onlyEntry(entries: SpireEntry[], spiffeId: string): SpireEntry | undefined {
  const mine = entries.filter((e) => e.spiffeId === spiffeId);
  return mine.length === 1 ? mine[0] : undefined;
}

Deno.test("kleym + SPIRE: spec.svid's TTLs, DNS names, federation and auto-populated Service names reach SPIRE Server's entries", async (t) => {
  const env = await testEnv();
  const [stack, kleym] = await startedTogether(
    startSpire(env, { trustDomain: TRUST_DOMAIN }),
    startKleym("e2e-svid", [`--allowed-federated-trust-domains=${PEER}`]),
  );
  const namespaces: string[] = [];
  const nodes: NodeRef[] = [];
  let failed = false;
  try {
    const ns = await env.newNamespace("e2e-svid");
    namespaces.push(ns);
    const node = await createNode(env, `e2e-${suffix()}-svid`);
    nodes.push(node);
    await stack.spireServer([
      "bundle",
      "set",
      "-id",
      `spiffe://${PEER}`,
      "-path",
      await peerBundle(stack.dir, PEER),
    ]);

    const ok1 = await t.step(
      "x509TTL, jwtTTL, dnsNames and federatesWith land on the entry",
      async () => {
        await createPod(env, {
          namespace: ns,
          name: "options-0",
          labels: { app: "options" },
          node,
        });
        const dns = [`options.${ns}.svc`, `options.${ns}.svc.cluster.local`];
        await env.kubectl(["apply", "-f", "-"], {
          stdin: JSON.stringify({
            apiVersion: "v1",
            kind: "List",
            items: binding(ns, "options", {
              x509TTL: "15m",
              jwtTTL: "5m",
              dnsNames: [...dns].reverse(),
              federatesWith: [PEER],
            }),
          }),
        });
        await waitReady(env, ns, "options");
        const entries = await waitForEntries(
          stack,
          "the options entry",
          (es) => onlyEntry(es, idOf(ns, "options")) !== undefined,
        );
        const entry = onlyEntry(entries, idOf(ns, "options"));
        assert.ok(entry);
        assert.equal(entry.raw.x509_svid_ttl, 900);
        assert.equal(entry.raw.jwt_svid_ttl, 300);
        assert.deepEqual([...entry.dnsNames].sort(), dns);
        assert.deepEqual(entry.federatesWith, [PEER]);
        assert.equal(entry.admin, false);
        assert.equal(entry.downstream, false);
      },
    );

    const ok2 = await t.step(
      "autoPopulateDNSNames: the entry carries the names of the Service selecting the pod",
      async () => {
        const pod = await createPod(env, {
          namespace: ns,
          name: "auto-0",
          labels: { app: "auto" },
          node,
        });
        await env.kubectl(["apply", "-f", "-"], {
          stdin: JSON.stringify({
            apiVersion: "v1",
            kind: "List",
            items: [
              ...binding(ns, "auto", { autoPopulateDNSNames: true }),
              {
                apiVersion: "v1",
                kind: "Service",
                metadata: { name: "model", namespace: ns },
                spec: { selector: { app: "auto" }, ports: [{ port: 8000 }] },
              },
              // What the endpoints controller would write for that Service and pod.
              {
                apiVersion: "v1",
                kind: "Endpoints",
                metadata: { name: "model", namespace: ns },
                subsets: [{
                  addresses: [{
                    ip: "10.0.0.7",
                    targetRef: { kind: "Pod", name: pod.name, namespace: ns, uid: pod.uid },
                  }],
                  ports: [{ port: 8000 }],
                }],
              },
            ],
          }),
        });
        await waitReady(env, ns, "auto");
        const want = ["model", `model.${ns}`, `model.${ns}.svc`, `model.${ns}.svc.cluster.local`];
        const entries = await waitForEntries(
          stack,
          "the auto entry with the Service's names",
          (es) => {
            const e = onlyEntry(es, idOf(ns, "auto"));
            return e !== undefined &&
              JSON.stringify([...e.dnsNames].sort()) === JSON.stringify(want);
          },
          (es) => es.filter((e) => e.spiffeId === idOf(ns, "auto")).map((e) => e.dnsNames),
        );
        assert.ok(onlyEntry(entries, idOf(ns, "auto")));
      },
    );
    failed = !ok1 || !ok2;
  } catch (e) {
    failed = true;
    throw e;
  } finally {
    const errors = await cleanUp(env, namespaces, nodes);
    if (failed) console.log(kleym.logTail());
    await kleym.stop();
    await stack.stop();
    assert.deepEqual(errors, []);
  }
});
