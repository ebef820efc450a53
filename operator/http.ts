/**
 * The operator's HTTP endpoints:
 *
 * - metrics address: `GET /metrics` (Prometheus text format 0.0.4). Secure by default
 *   (docs/contract.md#metrics-auth): HTTPS, and every request authenticated and authorized by the
 *   API server (`metricsauth.ts`; 401 / 403). The certificate comes from a directory that is
 *   watched for rotation, or is a self-signed pair made at start (`certs.ts`).
 *   `--metrics-secure=false` serves plain HTTP without authentication.
 * - health-probe address: `GET /healthz` (200 while the process serves requests) and `GET /readyz`
 *   (200 once the caches have synced, 503 before; standby replicas that are not leading are ready
 *   too, so a rollout does not wait for an election). Never authenticated: kubelets probe it.
 *
 * When both addresses are the same, one listener serves all three paths (over TLS when metrics
 * are secure). A disabled address (`undefined`) starts nothing. `serveEndpoints` resolves once
 * every listener is bound (a bind failure rejects with a one-line error) and returns the bound
 * addresses and a `shutdown()` that also joins the certificate watcher.
 *
 * Listening (`listen.ts`): an empty host (`:8443`) is every interface, IPv4 and IPv6, as in Go.
 */
import type { BindAddress } from "./config.ts";
import { errorText, type Logger } from "../observe/log.ts";
import { EXPOSITION_CONTENT_TYPE } from "../observe/prometheus.ts";
import { type CertFiles, certPaths, readPair, selfSigned, watchCertificates } from "./certs.ts";
import {
  BindError,
  type Handler,
  listenAll,
  type Listener,
  plainServer,
  tlsServer,
} from "./listen.ts";
import type { Decision } from "./metricsauth.ts";
import type { CertificatePair } from "./x509.ts";

export { BindError };

export interface MetricsTlsOptions {
  /** The certificate files (watched); undefined: a self-signed pair made at start. */
  files?: CertFiles;
  /** Host name for the self-signed certificate's subjectAltName (besides localhost, loopback). */
  hostName?: string;
  /** Fallback re-read interval of the files (default 10 s; file-system events act at once). */
  pollMs?: number;
}

export interface EndpointOptions {
  metricsAddress?: BindAddress;
  healthAddress?: BindAddress;
  /** Text exposition of every metric. */
  metrics: () => string | Promise<string>;
  /** True once the caches have synced. */
  ready: () => boolean;
  logger: Logger;
  /** HTTPS for the metrics listener; undefined: plain HTTP. */
  metricsTls?: MetricsTlsOptions;
  /**
   * Decides each `/metrics` request from its Authorization header; undefined: no checks. `signal`
   * aborts when the caller hangs up (its review is then cancelled, operator/review_limit.ts).
   */
  authorizeMetrics?: (
    authorization: string | null,
    path: string,
    signal: AbortSignal,
  ) => Promise<Decision>;
}

export interface Endpoints {
  /** "host:port" actually bound, per endpoint kind (port 0 resolved). */
  metrics?: string;
  health?: string;
  shutdown(): Promise<void>;
}

type Route = (req: Request) => Response | Promise<Response>;

function text(
  status: number,
  body: string,
  contentType = "text/plain; charset=utf-8",
  extra: Record<string, string> = {},
): Response {
  return new Response(body, { status, headers: { "Content-Type": contentType, ...extra } });
}

/** The routes one listener serves. Pure; exported for tests. */
export function routes(
  serve: { metrics: boolean; health: boolean },
  opts: Pick<EndpointOptions, "metrics" | "ready" | "authorizeMetrics">,
): Map<string, Route> {
  const r = new Map<string, Route>();
  if (serve.metrics) {
    const expose = async () => text(200, await opts.metrics(), EXPOSITION_CONTENT_TYPE);
    const authorize = opts.authorizeMetrics;
    r.set(
      "/metrics",
      !authorize ? expose : async (req) => {
        let d: Decision;
        try {
          d = await authorize(req.headers.get("authorization"), "/metrics", req.signal);
        } catch (err) {
          // The caller hung up while its request was under review: nobody reads this answer.
          if (req.signal.aborted) return text(503, "the caller went away\n");
          throw err;
        }
        if (d.status === 200) return expose();
        const extra: Record<string, string> = d.status === 401
          ? { "WWW-Authenticate": 'Bearer realm="kleym-metrics"' }
          : d.status === 429
          ? { "Retry-After": "1" }
          : {};
        return text(d.status, `${d.message}\n`, undefined, extra);
      },
    );
  }
  if (serve.health) {
    r.set("/healthz", () => text(200, "ok\n"));
    r.set("/readyz", () => opts.ready() ? text(200, "ok\n") : text(503, "caches not synced\n"));
  }
  return r;
}

export async function handle(table: Map<string, Route>, req: Request): Promise<Response> {
  const route = table.get(new URL(req.url).pathname);
  if (!route) return text(404, "not found\n");
  if (req.method !== "GET" && req.method !== "HEAD") {
    return new Response("method not allowed\n", { status: 405, headers: { Allow: "GET, HEAD" } });
  }
  return await route(req);
}

export async function serveEndpoints(opts: EndpointOptions): Promise<Endpoints> {
  const { metricsAddress: m, healthAddress: h, logger } = opts;
  const listeners: Listener[] = [];
  const result: Omit<Endpoints, "shutdown"> = {};
  const stopWatch = new AbortController();
  let watcher: Promise<void> | undefined;
  const shutdown = async () => {
    stopWatch.abort();
    await watcher;
    await Promise.all(listeners.map((l) => l.close()));
  };
  const tls = m ? opts.metricsTls : undefined;
  let pair: CertificatePair | undefined;
  if (tls) {
    pair = tls.files ? await readPair(tls.files) : await selfSigned(tls.hostName ?? "");
  }
  const server = (table: Map<string, Route>, secure: boolean) => {
    const handler: Handler = (req) => handle(table, req);
    return secure && pair ? tlsServer(pair, handler, logger) : plainServer(handler, logger);
  };
  const start = async (
    addr: BindAddress,
    what: string,
    serve: { metrics: boolean; health: boolean },
  ) => {
    const ls = await listenAll(addr, what, server(routes(serve, opts), serve.metrics && !!tls));
    listeners.push(...ls);
    return ls[0].bound;
  };
  try {
    if (m && h && m.hostname === h.hostname && m.port === h.port && m.port !== 0) {
      result.metrics = result.health = await start(m, "metrics and health probes", {
        metrics: true,
        health: true,
      });
    } else {
      if (m) result.metrics = await start(m, "metrics", { metrics: true, health: false });
      if (h) result.health = await start(h, "health probes", { metrics: false, health: true });
    }
  } catch (err) {
    // Do not leave a half-started set of listeners behind.
    await shutdown().catch(() => {});
    throw err;
  }
  if (tls?.files && pair) {
    watcher = watchCertificates({
      ...tls.files,
      initial: pair,
      pollMs: tls.pollMs,
      logger,
      onChange: (p) => {
        for (const l of listeners) {
          try {
            l.setCertificate?.(p);
          } catch (err) {
            logger.error("cannot use the new metrics certificate", { error: errorText(err) });
          }
        }
      },
    }, stopWatch.signal);
  }
  if (result.metrics) {
    logger.info("serving metrics", {
      address: result.metrics,
      secure: !!tls,
      authorization: opts.authorizeMetrics ? "delegated" : "none",
      certificate: tls ? (tls.files ? certPaths(tls.files).cert : "self-signed") : undefined,
    });
  }
  if (result.health) logger.info("serving health probes", { address: result.health });
  return { ...result, shutdown };
}
