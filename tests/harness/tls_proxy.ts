/**
 * A loopback TLS proxy in front of the API server that presents a certificate of the test's
 * choosing: it terminates the client's TLS with `cert`/`key` and opens its own TLS connection to
 * the API server (trusting the API server's CA), passing the bytes through. Bearer tokens pass
 * through unchanged; client certificates cannot (the proxy is the API server's TLS client).
 * docs/contract.md#connection: with a certificate from a CA the client trusts by other means
 * (DENO_CERT), this is the man in the middle a configured CA must keep out.
 */

export interface TlsProxy {
  /** `https://127.0.0.1:<port>` */
  readonly url: string;
  close(): Promise<void>;
}

export function startTlsProxy(opts: {
  cert: string;
  key: string;
  upstream: { hostname: string; port: number; caPem: string };
}): TlsProxy {
  const listener = Deno.listenTls({
    hostname: "127.0.0.1",
    port: 0,
    cert: opts.cert,
    key: opts.key,
  });
  const port = (listener.addr as Deno.NetAddr).port;
  const open = new Set<Deno.Conn>();
  const tasks = new Set<Promise<void>>();
  const closeQuietly = (c: Deno.Conn | undefined) => {
    try {
      c?.close();
    } catch { /* already closed */ }
  };
  const pump = async (from: Deno.Conn, to: Deno.Conn) => {
    try {
      await from.readable.pipeTo(to.writable);
    } catch { /* the other side went away */ }
  };
  const serve = async (a: Deno.TlsConn) => {
    open.add(a);
    let b: Deno.TlsConn | undefined;
    try {
      await a.handshake();
      b = await Deno.connectTls({ ...opts.upstream, caCerts: [opts.upstream.caPem] });
      open.add(b);
      await Promise.race([pump(a, b), pump(b, a)]);
    } catch {
      /* the client refused our certificate, or the upstream is down */
    } finally {
      closeQuietly(a);
      closeQuietly(b);
      open.delete(a);
      if (b) open.delete(b);
    }
  };
  const acceptLoop = (async () => {
    try {
      for await (const conn of listener) {
        const t = serve(conn);
        tasks.add(t);
        t.finally(() => tasks.delete(t));
      }
    } catch { /* listener closed */ }
  })();
  return {
    url: `https://127.0.0.1:${port}`,
    async close() {
      try {
        listener.close();
      } catch { /* closed */ }
      await acceptLoop;
      for (const c of open) closeQuietly(c);
      await Promise.allSettled([...tasks]);
    },
  };
}
