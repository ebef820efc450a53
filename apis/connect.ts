/**
 * One call from flags to a working client:
 *
 *   const { rest, conn, close } = await connect({ kubeconfig, context, onRequest });
 *
 * Connection choice (controller-runtime's order): `--kubeconfig`; else `KUBECONFIG`; else
 * in-cluster (when KUBERNETES_SERVICE_HOST/PORT are set and no `--context` was asked for); else
 * `$HOME/.kube/config`.
 *
 * Transport stack, outermost first: retry -> request hook (sees every attempt) -> rate limit
 * (token bucket at `qps` / `burst`: the operator passes `--kube-api-qps` / `--kube-api-burst`,
 * 200 / 400 unless set; a caller that passes neither, the CLI, gets ratelimit.ts's 50 / 100;
 * qps <= 0 turns it off) -> request deadline (timeout.ts, not for watches; a wait for a token
 * does not count) -> HTTP (TLS, credentials, User-Agent). `unthrottled` is the same stack on the
 * same HTTP client without the rate limit,
 * for callers with a budget of their own (the event recorder: events must not spend the
 * reconciler's budget). `budgeted({qps, burst})` is the same stack with a token bucket of its own:
 * the Lease and the metrics reviews each get one, so neither can spend, or be starved by, the
 * reconciler's budget (docs/contract.md#process).
 */
import type { Clock } from "./clock.ts";
import { type RequestHook, withRequestHook } from "./hooks.ts";
import { inClusterAvailable, inClusterConnection } from "./incluster.ts";
import { kubeconfigConnection } from "./kubeconfig.ts";
import { withRateLimit } from "./ratelimit.ts";
import { RestClient } from "./rest.ts";
import { type RetryOptions, withRetry } from "./retry.ts";
import { withTimeout } from "./timeout.ts";
import { type ConnectionConfig, httpTransport, type Transport } from "./transport.ts";

export interface ConnectionOptions {
  /** `--kubeconfig` */
  kubeconfig?: string;
  /** `--context` */
  context?: string;
  env?: (name: string) => string | undefined;
  clock?: Clock;
}

export interface TransportOptions {
  qps?: number;
  burst?: number;
  onRequest?: RequestHook;
  /** Told of every 429 about to be retried (apis/retry.ts). */
  onThrottled?: RetryOptions["onThrottled"];
  /** `false` disables retries. */
  retry?: RetryOptions | false;
  clock?: Clock;
  userAgent?: string;
  /** Deadline of every non-watch request (apis/timeout.ts; default 60 s; 0 turns it off). */
  requestTimeoutMs?: number;
}

/** A client budget: a token bucket's sustained rate and burst. */
export interface Budget {
  qps: number;
  burst: number;
}

export interface Connection {
  conn: ConnectionConfig;
  transport: Transport;
  rest: RestClient;
  /** Like `rest`, without the client-side rate limit (the caller paces itself). */
  unthrottled: RestClient;
  /** Like `rest`, with a token bucket of its own (not shared with `rest` or any other). */
  budgeted(budget: Budget): RestClient;
  /** Release TLS clients. */
  close(): void;
}

/** Find and resolve the connection config (no network traffic). */
export async function loadConnection(opts: ConnectionOptions = {}): Promise<ConnectionConfig> {
  const env = opts.env ?? ((n: string) => Deno.env.get(n));
  const explicitKubeconfig = opts.kubeconfig !== undefined && opts.kubeconfig !== "";
  const kubeconfigEnv = (env("KUBECONFIG") ?? "").trim() !== "";
  if (!explicitKubeconfig && !kubeconfigEnv && !opts.context && inClusterAvailable(env)) {
    return await inClusterConnection({ env, clock: opts.clock });
  }
  return await kubeconfigConnection({
    kubeconfig: opts.kubeconfig,
    context: opts.context,
    env,
    clock: opts.clock,
  });
}

/** The standard transport stack over a resolved connection. */
export function buildTransport(
  conn: ConnectionConfig,
  opts: TransportOptions = {},
): {
  transport: Transport;
  unthrottled: Transport;
  budgeted(budget: Budget): Transport;
  close(): void;
} {
  const raw = httpTransport(conn, { userAgent: opts.userAgent });
  // docs/contract.md#dead-connections: every request but a watch has a deadline (timeout.ts).
  const http = withTimeout(raw, {
    timeoutMs: opts.requestTimeoutMs,
    server: conn.server,
    clock: opts.clock,
  });
  const stack = (inner: Transport): Transport => {
    let t = inner;
    if (opts.onRequest) t = withRequestHook(t, opts.onRequest, opts.clock);
    if (opts.retry !== false) {
      t = withRetry(t, { clock: opts.clock, onThrottled: opts.onThrottled, ...(opts.retry ?? {}) });
    }
    return t;
  };
  const limited = (b: Partial<Budget>) =>
    withRateLimit(http, { qps: b.qps, burst: b.burst, clock: opts.clock });
  return {
    transport: stack(limited(opts)),
    unthrottled: stack(http),
    budgeted: (budget) => stack(limited(budget)),
    close: () => raw.close(),
  };
}

export async function connect(
  opts: ConnectionOptions & TransportOptions = {},
): Promise<Connection> {
  const conn = await loadConnection(opts);
  const { transport, unthrottled, budgeted, close } = buildTransport(conn, opts);
  return {
    conn,
    transport,
    rest: new RestClient(transport),
    unthrottled: new RestClient(unthrottled),
    budgeted: (budget) => new RestClient(budgeted(budget)),
    close,
  };
}
