/**
 * The operator's HTTP endpoints:
 *
 * - metrics address: `GET /metrics` (Prometheus text format 0.0.4);
 * - health-probe address: `GET /healthz` (200 while the process serves requests) and `GET /readyz`
 *   (200 once the caches have synced, 503 before; standby replicas that are not leading are ready
 *   too, so a rollout does not wait for an election).
 *
 * When both addresses are the same, one listener serves all three paths. A disabled address
 * (`undefined`) starts nothing. `serveEndpoints` resolves once every listener is bound (a bind
 * failure rejects with a one-line error) and returns the bound addresses and a `shutdown()`.
 */
import type { BindAddress } from "./config.ts";
import type { Logger } from "../observe/log.ts";
import { EXPOSITION_CONTENT_TYPE } from "../observe/metrics.ts";

export interface EndpointOptions {
  metricsAddress?: BindAddress;
  healthAddress?: BindAddress;
  /** Text exposition of every metric. */
  metrics: () => string;
  /** True once the caches have synced. */
  ready: () => boolean;
  logger: Logger;
}

export interface Endpoints {
  /** "host:port" actually bound, per endpoint kind (port 0 resolved). */
  metrics?: string;
  health?: string;
  shutdown(): Promise<void>;
}

type Route = (req: Request) => Response;

function text(status: number, body: string, contentType = "text/plain; charset=utf-8"): Response {
  return new Response(body, { status, headers: { "Content-Type": contentType } });
}

/** The routes one listener serves. Pure; exported for tests. */
export function routes(
  serve: { metrics: boolean; health: boolean },
  opts: Pick<EndpointOptions, "metrics" | "ready">,
): Map<string, Route> {
  const r = new Map<string, Route>();
  if (serve.metrics) r.set("/metrics", () => text(200, opts.metrics(), EXPOSITION_CONTENT_TYPE));
  if (serve.health) {
    r.set("/healthz", () => text(200, "ok\n"));
    r.set("/readyz", () => opts.ready() ? text(200, "ok\n") : text(503, "caches not synced\n"));
  }
  return r;
}

export function handle(table: Map<string, Route>, req: Request): Response {
  const route = table.get(new URL(req.url).pathname);
  if (!route) return text(404, "not found\n");
  if (req.method !== "GET" && req.method !== "HEAD") {
    return new Response("method not allowed\n", { status: 405, headers: { Allow: "GET, HEAD" } });
  }
  return route(req);
}

export class BindError extends Error {
  override readonly name = "BindError";
}

function listen(
  addr: BindAddress,
  what: string,
  table: Map<string, Route>,
  logger: Logger,
): { bound: string; server: Deno.HttpServer<Deno.NetAddr> } {
  let server: Deno.HttpServer<Deno.NetAddr>;
  try {
    server = Deno.serve({
      hostname: addr.hostname,
      port: addr.port,
      onListen: () => {},
      onError: (err) => {
        logger.error("http handler failed", { error: String(err) });
        return text(500, "internal error\n");
      },
    }, (req) => handle(table, req));
  } catch (err) {
    const why = err instanceof Error ? err.message.split("\n")[0] : String(err);
    throw new BindError(`cannot listen on ${addr.text} for ${what}: ${why}`, { cause: err });
  }
  const a = server.addr;
  const host = a.hostname.includes(":") ? `[${a.hostname}]` : a.hostname;
  return { bound: `${host}:${a.port}`, server };
}

export async function serveEndpoints(opts: EndpointOptions): Promise<Endpoints> {
  const { metricsAddress: m, healthAddress: h } = opts;
  const servers: Deno.HttpServer<Deno.NetAddr>[] = [];
  const result: Omit<Endpoints, "shutdown"> = {};
  const shutdown = async () => {
    await Promise.all(servers.map((s) => s.shutdown()));
  };
  try {
    if (m && h && m.hostname === h.hostname && m.port === h.port && m.port !== 0) {
      const l = listen(
        m,
        "metrics and health probes",
        routes({ metrics: true, health: true }, opts),
        opts.logger,
      );
      servers.push(l.server);
      result.metrics = result.health = l.bound;
    } else {
      if (m) {
        const l = listen(m, "metrics", routes({ metrics: true, health: false }, opts), opts.logger);
        servers.push(l.server);
        result.metrics = l.bound;
      }
      if (h) {
        const l = listen(
          h,
          "health probes",
          routes({ metrics: false, health: true }, opts),
          opts.logger,
        );
        servers.push(l.server);
        result.health = l.bound;
      }
    }
  } catch (err) {
    // Do not leave a half-started set of listeners behind.
    await shutdown().catch(() => {});
    throw err;
  }
  if (result.metrics) opts.logger.info("serving metrics", { address: result.metrics });
  if (result.health) opts.logger.info("serving health probes", { address: result.health });
  return { ...result, shutdown };
}
