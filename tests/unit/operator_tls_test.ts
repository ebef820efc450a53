/**
 * The metrics endpoint's TLS (operator/x509.ts, certs.ts, listen.ts, http.ts) in process: the
 * hand-written self-signed certificate is one openssl accepts for a TLS server, files from a
 * certificate directory are served and replaced without restart, plain HTTP to the TLS port fails,
 * and `:port` listens on IPv4 and IPv6 loopback while an explicit host binds only itself.
 */
import assert from "node:assert/strict";
import { Logger } from "../../observe/log.ts";
import { checkPair, readPair } from "../../operator/certs.ts";
import { parseBindAddress } from "../../flags/values.ts";
import { type EndpointOptions, serveEndpoints } from "../../operator/http.ts";
import { listenAll, type ServerFactory } from "../../operator/listen.ts";
import { integer, ipBytes, oid, selfSignedCertificate } from "../../operator/x509.ts";
import { pollUntil } from "../harness/poll.ts";
import { runCollecting } from "../harness/process.ts";
import { getTrusting, servedCertificate as servedCert } from "../harness/tls.ts";

const quiet = new Logger({ level: "error", sink: () => {} });
const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");

async function openssl(args: string[], stdin?: string): Promise<{ ok: boolean; out: string }> {
  const o = await runCollecting("openssl", args, { stdin });
  return { ok: o.code === 0, out: o.stdout + o.stderr };
}

async function getWith(url: string, caPem: string): Promise<number> {
  return (await getTrusting(url, caPem)).status;
}

const base = (o: Partial<EndpointOptions>): EndpointOptions => ({
  metrics: () => "up 1\n",
  ready: () => true,
  logger: quiet,
  ...o,
});

Deno.test("DER building blocks encode the known vectors", () => {
  assert.equal(hex(oid("1.2.840.10045.4.3.2")), "06082a8648ce3d040302");
  assert.equal(hex(integer(Uint8Array.of(0, 0, 0x7f))), "02017f");
  assert.equal(hex(integer(Uint8Array.of(0x80))), "02020080");
  assert.equal(hex(ipBytes("127.0.0.1")!), "7f000001");
  assert.equal(hex(ipBytes("::1")!), "00000000000000000000000000000001");
  assert.equal(hex(ipBytes("fd00::2:3")!), "fd000000000000000000000000020003");
  for (const bad of ["256.0.0.1", "1::2::3", "localhost", "1:2:3"]) {
    assert.equal(ipBytes(bad), undefined, bad);
  }
});

Deno.test("the self-signed certificate is a valid TLS server certificate for its names", async () => {
  const pair = await selfSignedCertificate({
    commonName: "kleym-operator",
    hosts: ["localhost", "127.0.0.1", "::1"],
  });
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/c.pem`, pair.cert);
    const verify = await openssl([
      "verify",
      "-CAfile",
      `${dir}/c.pem`,
      "-purpose",
      "sslserver",
      `${dir}/c.pem`,
    ]);
    assert.ok(verify.ok, verify.out);
    const text = (await openssl(["x509", "-in", `${dir}/c.pem`, "-noout", "-text"])).out;
    assert.match(text, /DNS:localhost, IP Address:127\.0\.0\.1, IP Address:0:0:0:0:0:0:0:1/);
    assert.match(text, /CA:FALSE/);
    assert.match(text, /TLS Web Server Authentication/);
    checkPair(pair, { cert: "c", key: "k" });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a key that is not the certificate's is refused with one line naming the files", async () => {
  const a = await selfSignedCertificate({ commonName: "a", hosts: ["localhost"] });
  const b = await selfSignedCertificate({ commonName: "b", hosts: ["localhost"] });
  assert.throws(
    () => checkPair({ cert: a.cert, key: b.key }, { cert: "/d/tls.crt", key: "/d/tls.key" }),
    /^CertificateError: \/d\/tls\.key is not the private key of \/d\/tls\.crt$/,
  );
  await assert.rejects(
    readPair({ dir: "/nonexistent", certName: "tls.crt", keyName: "tls.key" }),
    /^CertificateError: cannot read \/nonexistent\/tls\.crt: /,
  );
});

Deno.test("without a cert dir, HTTPS is served with a self-signed certificate; plain HTTP fails", async () => {
  const ep = await serveEndpoints(base({
    metricsAddress: parseBindAddress("127.0.0.1:0", "m"),
    metricsTls: {},
  }));
  try {
    const cert = await servedCert(ep.metrics!);
    assert.equal(
      await getWith(`https://localhost:${ep.metrics!.split(":")[1]}/metrics`, cert),
      200,
    );
    await assert.rejects(
      fetch(`http://${ep.metrics}/metrics`, { signal: AbortSignal.timeout(20_000) })
        .then((r) => r.body?.cancel()),
    );
  } finally {
    await ep.shutdown();
  }
});

Deno.test("certificates from the cert dir are served and replaced without restart", async () => {
  const dir = await Deno.makeTempDir();
  const one = await selfSignedCertificate({ commonName: "one", hosts: ["127.0.0.1"] });
  const two = await selfSignedCertificate({ commonName: "two", hosts: ["127.0.0.1"] });
  await Deno.writeTextFile(`${dir}/tls.crt`, one.cert);
  await Deno.writeTextFile(`${dir}/tls.key`, one.key);
  const ep = await serveEndpoints(base({
    metricsAddress: parseBindAddress("127.0.0.1:0", "m"),
    metricsTls: { files: { dir, certName: "tls.crt", keyName: "tls.key" } },
  }));
  try {
    const url = `https://${ep.metrics}/metrics`;
    assert.equal(await servedCert(ep.metrics!), one.cert);
    assert.equal(await getWith(url, one.cert), 200);
    // cert-manager style: new files moved into place (key first, then the certificate).
    await Deno.writeTextFile(`${dir}/tls.key.new`, two.key);
    await Deno.rename(`${dir}/tls.key.new`, `${dir}/tls.key`);
    await Deno.writeTextFile(`${dir}/tls.crt.new`, two.cert);
    await Deno.rename(`${dir}/tls.crt.new`, `${dir}/tls.crt`);
    await pollUntil(
      "new certificate served",
      30_000,
      async () => (await servedCert(ep.metrics!)) === two.cert,
    );
    assert.equal(await getWith(url, two.cert), 200);
    await assert.rejects(getWith(url, one.cert));
  } finally {
    await ep.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a half-replaced pair is skipped: the previous certificate stays served", async () => {
  const dir = await Deno.makeTempDir();
  const one = await selfSignedCertificate({ commonName: "one", hosts: ["127.0.0.1"] });
  const two = await selfSignedCertificate({ commonName: "two", hosts: ["127.0.0.1"] });
  await Deno.writeTextFile(`${dir}/tls.crt`, one.cert);
  await Deno.writeTextFile(`${dir}/tls.key`, one.key);
  const logs: string[] = [];
  const logger = new Logger({ level: "debug", sink: (l) => logs.push(l) });
  const ep = await serveEndpoints(base({
    logger,
    metricsAddress: parseBindAddress("127.0.0.1:0", "m"),
    metricsTls: { files: { dir, certName: "tls.crt", keyName: "tls.key" } },
  }));
  try {
    await Deno.writeTextFile(`${dir}/tls.crt`, two.cert); // the key is still one's
    await pollUntil(
      "mismatch noticed",
      30_000,
      () => logs.some((l) => l.includes("metrics certificate not reloaded")),
    );
    assert.equal(await servedCert(ep.metrics!), one.cert);
  } finally {
    await ep.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("listeners: ':port' answers on 127.0.0.1 and [::1]; an explicit host binds only itself", async (t) => {
  const cases: { addr: string; v4: boolean; v6: boolean }[] = [
    { addr: ":0", v4: true, v6: true },
    { addr: "127.0.0.1:0", v4: true, v6: false },
    { addr: "[::1]:0", v4: false, v6: true },
  ];
  for (const c of cases) {
    await t.step(`${c.addr}: IPv4 ${c.v4}, IPv6 ${c.v6}`, async () => {
      const pair = await selfSignedCertificate({ commonName: "x", hosts: ["127.0.0.1", "::1"] });
      const dir = await Deno.makeTempDir();
      await Deno.writeTextFile(`${dir}/tls.crt`, pair.cert);
      await Deno.writeTextFile(`${dir}/tls.key`, pair.key);
      const ep = await serveEndpoints(base({
        metricsAddress: parseBindAddress(c.addr, "m"),
        healthAddress: parseBindAddress(c.addr, "h"),
        metricsTls: { files: { dir, certName: "tls.crt", keyName: "tls.key" } },
      }));
      try {
        const port = (a: string) => a.slice(a.lastIndexOf(":") + 1);
        const answers = async (url: string) => {
          try {
            return await getWith(url, pair.cert) === 200;
          } catch {
            return false;
          }
        };
        for (const [host, want] of [["127.0.0.1", c.v4], ["[::1]", c.v6]] as const) {
          assert.equal(await answers(`http://${host}:${port(ep.health!)}/healthz`), want, host);
          assert.equal(await answers(`https://${host}:${port(ep.metrics!)}/metrics`), want, host);
        }
      } finally {
        await ep.shutdown();
        await Deno.remove(dir, { recursive: true });
      }
    });
  }
});

Deno.test("':port' without a dual-stack socket: IPv4 fallback, an extra IPv4 listener, or one clear error", async (t) => {
  const free = () => {
    const l = Deno.listen({ hostname: "0.0.0.0", port: 0 });
    const port = (l.addr as Deno.NetAddr).port;
    l.close();
    return port;
  };
  /** A factory that records the hosts it was asked for; "::" behaves as `v6` says. */
  const fake = (v6: "no-ipv6" | "in-use" | "v6only") => {
    const hosts: string[] = [];
    const factory: ServerFactory = (hostname, port) => {
      hosts.push(hostname);
      if (hostname === "::" && v6 === "no-ipv6") {
        return Promise.reject(Object.assign(new Error("Address family not supported"), {
          code: "EAFNOSUPPORT",
        }));
      }
      if (hostname === "::" && v6 === "in-use") {
        return Promise.reject(new Deno.errors.AddrInUse("Address already in use"));
      }
      // "v6only": nothing really binds, so the IPv4 probe finds the port free.
      const p = port === 0 ? free() : port;
      return Promise.resolve({
        bound: `${hostname}:${p}`,
        port: p,
        close: () => Promise.resolve(),
      });
    };
    return { hosts, factory };
  };
  const addr = parseBindAddress(":0", "--metrics-bind-address")!;
  await t.step("no IPv6 on the host: IPv4 only", async () => {
    const f = fake("no-ipv6");
    const ls = await listenAll(addr, "metrics", f.factory);
    assert.deepEqual(f.hosts, ["::", "0.0.0.0"]);
    assert.equal(ls.length, 1);
  });
  await t.step(
    "'::' is IPv6-only (bindv6only=1): a second listener on 0.0.0.0, same port",
    async () => {
      const f = fake("v6only");
      const ls = await listenAll(addr, "metrics", f.factory);
      assert.deepEqual(f.hosts, ["::", "0.0.0.0"]);
      assert.equal(ls[0].port, ls[1].port);
    },
  );
  await t.step("the port is taken: one line naming the address, no IPv4 retry", async () => {
    const f = fake("in-use");
    await assert.rejects(
      listenAll(parseBindAddress(":8443", "x")!, "metrics", f.factory),
      /^BindError: cannot listen on :8443 for metrics: Address already in use$/,
    );
    assert.deepEqual(f.hosts, ["::"]);
  });
});
