/**
 * A loopback TCP proxy between the operator and the API server that the test controls. It works
 * at the TCP level, so TLS passes through untouched (the API server's certificate carries the IP
 * SAN 127.0.0.1, valid for the proxy's address too). `dropAll()` cuts every open connection at
 * once — watches, in-flight requests, idle keep-alive sockets — as a network blip would.
 */

export interface TcpProxy {
  /** `https://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  /** Connections currently open. */
  open(): number;
  /** Connections accepted so far. */
  accepted(): number;
  /** Closes every open connection (new ones are still accepted). Returns how many were cut. */
  dropAll(): number;
  close(): Promise<void>;
}

export function startTcpProxy(targetPort: number): TcpProxy {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  const pairs = new Set<{ a: Deno.Conn; b?: Deno.Conn; done: Promise<void> }>();
  let accepted = 0;
  const closeQuietly = (c: Deno.Conn | undefined) => {
    try {
      c?.close();
    } catch { /* already closed */ }
  };
  const pump = async (from: Deno.Conn, to: Deno.Conn) => {
    try {
      await from.readable.pipeTo(to.writable, { preventClose: false });
    } catch { /* the other side went away */ }
  };
  const serve = async (a: Deno.Conn) => {
    const entry: { a: Deno.Conn; b?: Deno.Conn; done: Promise<void> } = {
      a,
      done: Promise.resolve(),
    };
    pairs.add(entry);
    try {
      const b = await Deno.connect({ hostname: "127.0.0.1", port: targetPort });
      entry.b = b;
      // Either direction ending tears the pair down.
      await Promise.race([pump(a, b), pump(b, a)]);
    } catch {
      /* upstream down: the client sees a closed connection */
    } finally {
      closeQuietly(a);
      closeQuietly(entry.b);
      pairs.delete(entry);
    }
  };
  const tasks = new Set<Promise<void>>();
  const acceptLoop = (async () => {
    try {
      for await (const conn of listener) {
        accepted++;
        const t = serve(conn);
        tasks.add(t);
        t.finally(() => tasks.delete(t));
      }
    } catch { /* listener closed */ }
  })();
  return {
    url: `https://127.0.0.1:${port}`,
    port,
    open: () => pairs.size,
    accepted: () => accepted,
    dropAll() {
      const n = pairs.size;
      for (const p of pairs) {
        closeQuietly(p.a);
        closeQuietly(p.b);
      }
      return n;
    },
    async close() {
      try {
        listener.close();
      } catch { /* closed */ }
      await acceptLoop;
      for (const p of pairs) {
        closeQuietly(p.a);
        closeQuietly(p.b);
      }
      await Promise.allSettled([...tasks]);
    },
  };
}
