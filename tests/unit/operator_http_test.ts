import assert from "node:assert/strict";
import { handle, routes, serveEndpoints } from "../../operator/http.ts";
import { Logger } from "../../observe/log.ts";
import { selfSignedCertificate } from "../../operator/x509.ts";
import { pollUntil } from "../harness/poll.ts";
import { EXPOSITION_CONTENT_TYPE } from "../../observe/prometheus.ts";

const quiet = new Logger({ level: "error", sink: () => {} });

Deno.test("routes: readyz follows cache sync, healthz always ok, unknown paths 404", async () => {
  let synced = false;
  const table = routes({ metrics: true, health: true }, {
    metrics: () => "m 1\n",
    ready: () => synced,
  });
  const get = (path: string, method = "GET") =>
    handle(table, new Request(`http://x${path}`, { method }));
  const status = async (path: string, method = "GET") => {
    const r = await get(path, method);
    await r.body?.cancel();
    return r.status;
  };
  assert.equal(await status("/readyz"), 503);
  synced = true;
  assert.equal(await status("/readyz"), 200);
  assert.equal(await status("/healthz"), 200);
  const m = await get("/metrics");
  assert.equal(m.status, 200);
  assert.equal(m.headers.get("content-type"), EXPOSITION_CONTENT_TYPE);
  assert.equal(await m.text(), "m 1\n");
  assert.equal(await status("/nope"), 404);
  assert.equal(await status("/healthz", "POST"), 405);
});

Deno.test("routes: a metrics-only listener does not answer probes and vice versa", () => {
  const opts = { metrics: () => "", ready: () => true };
  const metricsOnly = routes({ metrics: true, health: false }, opts);
  const healthOnly = routes({ metrics: false, health: true }, opts);
  assert.deepEqual([...metricsOnly.keys()], ["/metrics"]);
  assert.deepEqual([...healthOnly.keys()].sort(), ["/healthz", "/readyz"]);
});

Deno.test("serveEndpoints binds real listeners, reports their ports and shuts down", async () => {
  const ep = await serveEndpoints({
    metricsAddress: { text: "127.0.0.1:0", hostname: "127.0.0.1", port: 0 },
    healthAddress: { text: "127.0.0.1:0", hostname: "127.0.0.1", port: 0 },
    metrics: () => "up 1\n",
    ready: () => false,
    logger: quiet,
  });
  try {
    assert.ok(ep.metrics && ep.health && ep.metrics !== ep.health);
    const m = await fetch(`http://${ep.metrics}/metrics`);
    assert.equal(await m.text(), "up 1\n");
    const r = await fetch(`http://${ep.health}/readyz`);
    await r.body?.cancel();
    assert.equal(r.status, 503);
    const wrong = await fetch(`http://${ep.metrics}/healthz`);
    await wrong.body?.cancel();
    assert.equal(wrong.status, 404);
  } finally {
    await ep.shutdown();
  }
});

Deno.test("serveEndpoints starts nothing for disabled addresses", async () => {
  const ep = await serveEndpoints({ metrics: () => "", ready: () => true, logger: quiet });
  assert.equal(ep.metrics, undefined);
  assert.equal(ep.health, undefined);
  await ep.shutdown();
});

Deno.test("a taken port fails with one line naming the address and purpose", async () => {
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (taken.addr as Deno.NetAddr).port;
  try {
    await assert.rejects(
      serveEndpoints({
        metricsAddress: { text: `127.0.0.1:${port}`, hostname: "127.0.0.1", port },
        metrics: () => "",
        ready: () => true,
        logger: quiet,
      }),
      (err: Error) => {
        assert.match(
          err.message,
          new RegExp(`^cannot listen on 127\\.0\\.0\\.1:${port} for metrics: `),
        );
        assert.ok(!err.message.includes("\n"));
        return true;
      },
    );
  } finally {
    taken.close();
  }
});

Deno.test("a /metrics caller that hangs up over HTTPS aborts the signal its review was given", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kleym-hangup-" });
  const pair = await selfSignedCertificate({ commonName: "t", hosts: ["127.0.0.1"] });
  await Deno.writeTextFile(`${dir}/tls.crt`, pair.cert);
  await Deno.writeTextFile(`${dir}/tls.key`, pair.key);
  let reviewSignal: AbortSignal | undefined;
  const ep = await serveEndpoints({
    metricsAddress: { text: "127.0.0.1:0", hostname: "127.0.0.1", port: 0 },
    metrics: () => "up 1\n",
    ready: () => true,
    logger: quiet,
    metricsTls: { files: { dir, certName: "tls.crt", keyName: "tls.key" } },
    // A review that lasts until its caller goes away.
    authorizeMetrics: (_h, _p, signal) => {
      reviewSignal = signal;
      return new Promise((_, reject) =>
        signal.addEventListener("abort", () => reject(signal.reason), { once: true })
      );
    },
  });
  const client = Deno.createHttpClient({ caCerts: [pair.cert] });
  try {
    const caller = new AbortController();
    const request = fetch(`https://${ep.metrics}/metrics`, {
      client,
      headers: { Authorization: "Bearer x" },
      signal: caller.signal,
    }).catch(() => "hung up");
    await pollUntil("the review started", 10_000, () => reviewSignal);
    assert.equal(reviewSignal?.aborted, false);
    caller.abort();
    assert.equal(await request, "hung up");
    await pollUntil("the review's signal aborted", 10_000, () => reviewSignal?.aborted);
  } finally {
    client.close();
    await ep.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});
