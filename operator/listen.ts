/**
 * Listening sockets for the operator's endpoints (docs/contract.md#metrics).
 *
 * Addresses: an explicit host (`127.0.0.1:8081`, `[::1]:8081`, `localhost:8081`) binds only that
 * host. An empty host (`:8081`) means every interface, IPv4 and IPv6, as in Go: one socket on
 * `::`, which Linux makes dual-stack unless `net.ipv6.bindv6only=1`. On such hosts (the IPv4 port
 * is then still free) a second listener on `0.0.0.0` is added; on hosts without IPv6 the listener
 * falls back to `0.0.0.0` alone.
 *
 * Servers: plain HTTP is `Deno.serve`. HTTPS is `node:https`, because its `setSecureContext`
 * swaps the certificate of a bound socket; `Deno.serve` can only take a new certificate by
 * re-binding, which would refuse connections meanwhile (SO_REUSEPORT, which would avoid that, is
 * unstable in Deno 2.9).
 */
import { createServer } from "node:https";
import type { AddressInfo } from "node:net";
import { errorText, type Logger } from "../observe/log.ts";
import type { BindAddress } from "./config.ts";
import type { CertificatePair } from "./x509.ts";

export class BindError extends Error {
  override readonly name = "BindError";
}

export type Handler = (req: Request) => Promise<Response>;

export interface Listener {
  /** "host:port" as bound (IPv6 in brackets). */
  bound: string;
  port: number;
  /** Serves `pair` to new connections (TLS listeners only). */
  setCertificate?(pair: CertificatePair): void;
  close(): Promise<void>;
}

/** Binds one socket on (host, port); rejects as the runtime does (AddrInUse etc.). */
export type ServerFactory = (hostname: string, port: number) => Promise<Listener>;

function hostPort(host: string, port: number): string {
  return `${host.includes(":") ? `[${host}]` : host}:${port}`;
}

function isAddrInUse(err: unknown): boolean {
  return err instanceof Deno.errors.AddrInUse ||
    (err as { code?: string } | null)?.code === "EADDRINUSE";
}

export function plainServer(handler: Handler, logger: Logger): ServerFactory {
  // deno-lint-ignore require-await -- Deno.serve throws synchronously; async turns it into a rejection
  return async (hostname, port) => {
    const server = Deno.serve({
      hostname,
      port,
      onListen: () => {},
      onError: (err) => {
        logger.error("http handler failed", { error: String(err) });
        return new Response("internal error\n", { status: 500 });
      },
    }, handler);
    return {
      bound: hostPort(server.addr.hostname, server.addr.port),
      port: server.addr.port,
      close: () => server.shutdown(),
    };
  };
}

export function tlsServer(pair: CertificatePair, handler: Handler, logger: Logger): ServerFactory {
  return async (hostname, port) => {
    const server = createServer({ cert: pair.cert, key: pair.key }, (req, res) => {
      const headers = new Headers();
      for (const [k, v] of Object.entries(req.headers)) {
        if (v !== undefined) headers.set(k, Array.isArray(v) ? v.join(", ") : v);
      }
      // Aborts when the client hangs up before its answer is written, as Deno.serve's does.
      const gone = new AbortController();
      res.once("close", () => {
        if (!res.writableFinished) gone.abort(new Error("the client closed the connection"));
      });
      const request = new Request(new URL(req.url ?? "/", "https://localhost"), {
        method: req.method,
        headers,
        signal: gone.signal,
      });
      handler(request).then(async (resp) => {
        const body = req.method === "HEAD" ? undefined : new Uint8Array(await resp.arrayBuffer());
        res.writeHead(resp.status, Object.fromEntries(resp.headers));
        res.end(body);
      }).catch((err) => {
        logger.error("http handler failed", { error: errorText(err) });
        res.writeHead(500, { "Content-Type": "text/plain; charset=utf-8" });
        res.end("internal error\n");
      });
    });
    // Plain HTTP or a client that rejects the certificate: the client's problem, not ours.
    server.on(
      "tlsClientError",
      (err) => logger.debug("TLS handshake failed", { error: String(err) }),
    );
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen({ host: hostname, port }, () => {
        server.off("error", reject);
        resolve();
      });
    });
    server.on("error", (err) => logger.error("metrics listener failed", { error: String(err) }));
    const a = server.address() as AddressInfo;
    return {
      bound: hostPort(a.address, a.port),
      port: a.port,
      setCertificate: (p) => server.setSecureContext({ cert: p.cert, key: p.key }),
      close: () =>
        new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        }),
    };
  };
}

/** Binds `addr` as described in the module comment; a failure is one line naming it. */
export async function listenAll(
  addr: BindAddress,
  what: string,
  start: ServerFactory,
): Promise<Listener[]> {
  const fail = (err: unknown): never => {
    const why = err instanceof Error ? err.message.split("\n")[0] : String(err);
    throw new BindError(`cannot listen on ${addr.text} for ${what}: ${why}`, { cause: err });
  };
  if (addr.hostname !== "") return [await start(addr.hostname, addr.port).catch(fail)];
  let first: Listener;
  try {
    first = await start("::", addr.port);
  } catch (err) {
    if (isAddrInUse(err)) fail(err);
    // No IPv6 on this host: IPv4 only, as Go does.
    return [await start("0.0.0.0", addr.port).catch(fail)];
  }
  try {
    // Still free on IPv4? Then `::` is IPv6-only here (bindv6only=1): add an IPv4 listener.
    const probe = Deno.listen({ hostname: "0.0.0.0", port: first.port });
    probe.close();
  } catch (err) {
    if (isAddrInUse(err)) return [first];
    await first.close();
    fail(err);
  }
  try {
    return [first, await start("0.0.0.0", first.port)];
  } catch (err) {
    await first.close();
    return fail(err);
  }
}
