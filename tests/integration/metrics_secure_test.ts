/**
 * Secure metrics (docs/contract.md#metrics-auth): the operator as a process with exactly its
 * permissions, as deploy.yaml's ServiceAccount, serving /metrics as in production (HTTPS from a
 * cert dir, every request reviewed by the real API server), bound to ":0" (every interface).
 */
import assert from "node:assert/strict";
import { getTrusting, servedCertificate } from "../harness/tls.ts";
import { selfSignedCertificate } from "../../operator/x509.ts";
import {
  applyDeploy,
  metricsScraper,
  pollUntil,
  serviceAccountKubeconfig,
  startOperator,
  tempDir,
  testEnv,
} from "./operator_support.ts";

const port = (address: string) => address.slice(address.lastIndexOf(":") + 1);

Deno.test("secure /metrics: 200 for a metrics reader, 403 without the role, 401 without a valid token; the cert dir's certificate is served and replaced live; IPv4 and IPv6", async (t) => {
  const env = await testEnv();
  await applyDeploy(env);
  const dir = await tempDir();
  const kubeconfig = await serviceAccountKubeconfig(env, dir);
  const ns = await env.newNamespace("metrics");
  const scraper = await metricsScraper(env, ns, dir);
  await env.kubectl(["create", "serviceaccount", "outsider", "-n", ns]);
  const outsider = (await env.kubectl(["create", "token", "outsider", "-n", ns])).trim();
  const op = startOperator({
    name: "metrics",
    kubeconfig,
    secureMetrics: scraper,
    everyInterface: true,
  });
  try {
    const mport = port(await op.metricsAddress());
    const hport = port(await op.healthAddress());
    const url = `https://127.0.0.1:${mport}/metrics`;
    let trusted = scraper.caPem;
    const get = (headers: Record<string, string> = {}) => getTrusting(url, scraper.caPem, headers);

    await t.step("a token bound to kleym-metrics-reader gets 200 and the metrics", async () => {
      const r = await get({ Authorization: `Bearer ${scraper.token}` });
      assert.equal(r.status, 200, r.body);
      assert.match(r.body, /^# TYPE kleym_api_requests_total counter$/m);
    });
    await t.step("a ServiceAccount without the role gets 403", async () => {
      const r = await get({ Authorization: `Bearer ${outsider}` });
      assert.equal(r.status, 403, r.body);
      assert.ok(!r.body.includes("kleym_"), "metrics leaked in a 403");
    });
    await t.step("no token and a garbage token get 401", async () => {
      const cases: Record<string, string>[] = [{}, { Authorization: "Bearer not-a-token" }];
      for (const headers of cases) {
        const r = await get(headers);
        assert.equal(r.status, 401, `${JSON.stringify(headers)}: ${r.body}`);
        assert.ok(!r.body.includes("kleym_"), "metrics leaked in a 401");
      }
    });
    await t.step("plain HTTP to the metrics port fails", async () => {
      await assert.rejects(async () => {
        const r = await fetch(`http://127.0.0.1:${mport}/metrics`, {
          signal: AbortSignal.timeout(30_000),
        });
        await r.body?.cancel();
      });
    });
    await t.step("the served certificate is the cert dir's", async () => {
      assert.equal(await servedCertificate(`127.0.0.1:${mport}`), scraper.caPem);
    });
    await t.step(
      "after the files are replaced the new certificate is served, no restart",
      async () => {
        const next = await selfSignedCertificate({
          commonName: "kleym-test-rotated",
          hosts: ["localhost", "127.0.0.1", "::1"],
        });
        // As a mounted Secret changes: both files replaced by renames.
        for (const [name, text] of [["tls.key", next.key], ["tls.crt", next.cert]]) {
          await Deno.writeTextFile(`${scraper.certDir}/${name}.tmp`, text);
          await Deno.rename(`${scraper.certDir}/${name}.tmp`, `${scraper.certDir}/${name}`);
        }
        await pollUntil(
          "rotated certificate served",
          60_000,
          async () => (await servedCertificate(`127.0.0.1:${mport}`)) === next.cert,
        );
        const r = await getTrusting(url, next.cert, { Authorization: `Bearer ${scraper.token}` });
        assert.equal(r.status, 200);
        await assert.rejects(get({ Authorization: `Bearer ${scraper.token}` }));
        assert.equal(op.exitCode, undefined, "the operator restarted");
        // Read from a pipe: the line may arrive after the new certificate is served.
        await op.waitForLog((l) => l.msg === "reloaded the metrics certificate", 60_000, "reload");
        trusted = next.cert;
      },
    );
    await t.step("bound to ':port', health and metrics answer on 127.0.0.1 and [::1]", async () => {
      for (const host of ["127.0.0.1", "[::1]"]) {
        const h = await fetch(`http://${host}:${hport}/healthz`);
        assert.equal(h.status, 200, host);
        await h.body?.cancel();
        const m = await getTrusting(`https://${host}:${mport}/metrics`, trusted, {
          Authorization: `Bearer ${scraper.token}`,
        });
        assert.equal(m.status, 200, host);
      }
    });
  } finally {
    await op.stop();
    await env.kubectl(["delete", "clusterrolebinding", `kleym-metrics-reader-${ns}`]);
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});
