/**
 * The operator process, wired from a parsed configuration (main.ts does flags, signals and exit):
 *
 *   connect (kubeconfig / in-cluster) -> REST client whose every request feeds
 *   kleym_api_requests_total -> wait for the API server -> HTTP endpoints ->
 *   controller.startCaches -> (leader election) -> controller.run(leader signal)
 *
 * The start-up wait (`awaitApiServer`) owns "is the server usable with these credentials": it
 * GETs `/api` until that answers 200, logging one line (apis/diagnose.ts: server, context, user,
 * HTTP status, what to do) when the failure starts and whenever its kind changes, never per
 * retry. After `--startup-timeout` it logs the last line as an error and the process exits 1, so
 * a crash-looping pod shows the reason in `kubectl logs --previous`.
 *
 * Client budgets (docs/contract.md#process): the reconciler spends `--kube-api-qps`/`-burst`;
 * the Lease (`LEASE_BUDGET`) and the metrics reviews (`REVIEW_BUDGET`) each have a token bucket of
 * their own on the same connection, so a flood of `/metrics` callers can neither delay a renewal
 * nor a reconcile.
 *
 * Events: one `EventRecorder` (apis/events.ts) per process, handed to the controller as its
 * event sink. It writes through the connection's `unthrottled` client with a budget of its own
 * (the same qps/burst as `--kube-api-qps`/`--kube-api-burst`, in a separate bucket), so events
 * never spend the reconciler's budget.
 *
 * Throttling: every 429 the API server answers is retried after its Retry-After (apis/retry.ts);
 * the operator logs it as one `warn` line, "API server is throttling requests; retrying after
 * Retry-After", at most every 10 s, with the number of throttled attempts since the last line.
 *
 * Shutdown (the `signal` argument aborts): the leader signal aborts, the controller stops taking
 * work and finishes in-flight reconciles, the event recorder flushes (at most
 * `EVENT_FLUSH_MS`), the Lease is released, the caches and the HTTP listeners stop, TLS clients
 * close. Exit code 0.
 *
 * A lost Lease aborts the leader signal too, but the result is exit code 1: the process ends and
 * Kubernetes restarts the pod, which then campaigns again as a fresh standby (no state from the
 * lost term can leak into the next one).
 *
 * The controller comes in through the small `OperatorController` interface so this module does
 * not depend on the reconciler's internals.
 */
import {
  buildTransport,
  type Connection,
  type ConnectionOptions,
  type TransportOptions,
} from "../apis/connect.ts";
import type { ConnectionConfig } from "../apis/transport.ts";
import { describeAccessFailure, serverIdentity } from "../apis/diagnose.ts";
import { ConfigError, ConnectionError } from "../apis/errors.ts";
import { apiEventWriter } from "../apis/event_writer.ts";
import { EventRecorder } from "../apis/events.ts";
import type { RequestInfo } from "../apis/hooks.ts";
import type { ThrottleInfo } from "../apis/retry.ts";
import { ResourceClient, RestClient } from "../apis/rest.ts";
import { type Clock, delay, realClock } from "../apis/clock.ts";
import { errorText, type Logger } from "../observe/log.ts";
import type { Metrics } from "../observe/metrics.ts";
import type { OperatorConfig } from "./config.ts";
import { CertificateError } from "./certs.ts";
import { BindError, serveEndpoints } from "./http.ts";
import { apiReviewer, DelegatedAuth } from "./metricsauth.ts";
import { LEASE_DESCRIPTOR } from "../apis/resource.ts";
import { LeaderElector, LEASE_BUDGET, type LeaseObject } from "./leader.ts";
import { REVIEW_BUDGET } from "./review_limit.ts";
import type { ControllerOptions } from "../reconcile/controller.ts";

/** What the operator needs of the controller (reconcile/controller.ts implements it). */
export interface OperatorController {
  /** Starts the informers; resolves when their caches have synced. Safe on non-leaders. */
  startCaches(signal: AbortSignal): Promise<void>;
  hasSynced(): boolean;
  /** Runs the work loop until `signal` aborts, then finishes in-flight reconciles. */
  run(signal: AbortSignal): Promise<void>;
}

/**
 * What the operator passes to its controller: the controller's own options (one definition,
 * reconcile/controller.ts) but the ones only tests inject.
 */
export type ControllerParams = Omit<ControllerOptions, "crdRetryMs" | "watchIdleMs" | "clock">;

export interface OperatorDeps {
  config: OperatorConfig;
  logger: Logger;
  metrics: Metrics;
  connect: (opts: ConnectionOptions & TransportOptions) => Promise<Connection>;
  newController: (params: ControllerParams) => OperatorController;
  /** Leader election holder identity (hostname + random suffix). */
  identity: string;
  clock?: Clock;
}

/** `reportingController` of every event kleym records. */
export const EVENT_REPORTER = "kleym.sonda.red/kleym";

/** How long shutdown waits for buffered events to be written. */
export const EVENT_FLUSH_MS = 2_000;

/** Interval between two throttling log lines. */
export const THROTTLE_LOG_INTERVAL_MS = 10_000;

/** Exit codes of the operator process. */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/** Feeds one API request into `kleym_api_requests_total` (code "error" when nothing came back). */
export function countRequest(metrics: Metrics, info: RequestInfo): void {
  metrics.apiRequests.inc({
    verb: info.verb,
    resource: info.resource,
    code: info.code === 0 ? "error" : String(info.code),
  });
}

/**
 * The documented throttling log: one warn line per `THROTTLE_LOG_INTERVAL_MS` at most, counting
 * the 429s since the previous line (each one is retried after its Retry-After).
 */
export function throttleLogger(
  logger: Logger,
  now: () => number = Date.now,
): (info: ThrottleInfo) => void {
  let last = -Infinity;
  let since = 0;
  return (info) => {
    since++;
    const t = now();
    if (t - last < THROTTLE_LOG_INTERVAL_MS) return;
    logger.warn("API server is throttling requests; retrying after Retry-After", {
      throttled: since,
      method: info.method,
      path: info.path,
      retryAfterMs: info.retryAfterMs,
    });
    last = t;
    since = 0;
  };
}

/** Whether an error is a known, user-facing one-liner (no internal detail worth a stack). */
function describeFatal(err: unknown): string {
  if (
    err instanceof ConfigError || err instanceof ConnectionError || err instanceof BindError ||
    err instanceof CertificateError
  ) {
    return err.message;
  }
  return errorText(err);
}

/** Longest pause between start-up probes, and the longest one probe may take. */
const PROBE_MAX_DELAY_MS = 5_000;
const PROBE_TIMEOUT_MS = 10_000;

/**
 * Waits until the API server answers `GET /api` with 200. `rest` must not retry by itself (one
 * probe is one attempt, so the deadline and the logged state are this loop's). The deadline is
 * checked between probes; one probe may take up to PROBE_TIMEOUT_MS. "ready", or "stopped" when `signal`
 * aborts, or "timeout" after `timeoutMs` (already logged as an error).
 */
export async function awaitApiServer(
  conn: ConnectionConfig,
  rest: RestClient,
  logger: Logger,
  timeoutMs: number,
  signal: AbortSignal,
  clock: Clock = realClock,
): Promise<"ready" | "stopped" | "timeout"> {
  const deadline = clock.now() + timeoutMs;
  let lastKey: string | undefined;
  let lastLine = "";
  for (let attempt = 0;; attempt++) {
    if (signal.aborted) return "stopped";
    try {
      await rest.json({
        method: "GET",
        path: "/api",
        signal: AbortSignal.any([signal, AbortSignal.timeout(PROBE_TIMEOUT_MS)]),
      });
      if (lastKey !== undefined) logger.info(`${serverIdentity(conn)} answers now`);
      return "ready";
    } catch (err) {
      if (signal.aborted) return "stopped";
      const failure = describeAccessFailure(err, conn);
      if (failure === undefined) throw err;
      lastLine = failure.line;
      if (failure.key !== lastKey) {
        lastKey = failure.key;
        logger.warn(failure.line, { server: conn.server, context: conn.context, user: conn.user });
      }
    }
    const left = deadline - clock.now();
    if (left <= 0) {
      logger.error(
        `gave up after ${timeoutMs / 1000}s (--startup-timeout): ${lastLine}`,
        { server: conn.server, context: conn.context, user: conn.user },
      );
      return "timeout";
    }
    const wait = Math.min(left, PROBE_MAX_DELAY_MS, 250 * 2 ** Math.min(attempt, 5));
    if (!await delay(clock, wait, signal)) return "stopped";
  }
}

/** Resolves when `signal` aborts (never rejects); `dispose` removes the listener. */
function aborted(signal: AbortSignal): { promise: Promise<void>; dispose(): void } {
  let onAbort = () => {};
  const promise = new Promise<void>((resolve) => {
    onAbort = () => resolve();
    if (signal.aborted) resolve();
    else signal.addEventListener("abort", onAbort, { once: true });
  });
  return { promise, dispose: () => signal.removeEventListener("abort", onAbort) };
}

/** Runs the operator until `signal` aborts or leadership is lost; returns the exit code. */
export async function runOperator(deps: OperatorDeps, signal: AbortSignal): Promise<number> {
  const { config, logger, metrics } = deps;
  let connection: Connection;
  try {
    connection = await deps.connect({
      kubeconfig: config.kubeconfig,
      context: config.context,
      qps: config.kubeApiQps,
      burst: config.kubeApiBurst,
      onRequest: (info) => countRequest(metrics, info),
      onThrottled: throttleLogger(logger),
      clock: deps.clock,
    });
  } catch (err) {
    logger.error("cannot configure the Kubernetes connection", { error: describeFatal(err) });
    return EXIT_FAILURE;
  }
  logger.info("starting", {
    server: connection.conn.server,
    source: connection.conn.source,
    trustDomain: config.trustDomain,
    className: config.className,
    svidLimits: config.svidLimits,
    leaderElection: config.leaderElection.enabled,
  });

  let controller: OperatorController | undefined;
  let endpoints: Awaited<ReturnType<typeof serveEndpoints>>;
  // Secure metrics (docs/contract.md#metrics-auth): HTTPS, callers authenticated and authorized by
  // the API server.
  const auth = config.metricsSecure
    ? new DelegatedAuth({
      // The reviews' own budget: a flood of callers never spends the reconciler's or the Lease's.
      reviewer: apiReviewer(connection.budgeted(REVIEW_BUDGET)),
      logger,
      clock: deps.clock,
      onDecision: (result) => metrics.metricsAuth.inc({ result }),
    })
    : undefined;
  try {
    endpoints = await serveEndpoints({
      metricsAddress: config.metricsAddress,
      healthAddress: config.healthAddress,
      metrics: () => metrics.scrape(),
      ready: () => controller?.hasSynced() ?? false,
      logger,
      metricsTls: config.metricsSecure ? { files: config.metricsCert } : undefined,
      authorizeMetrics: auth &&
        ((authorization, path, signal) => auth.check(authorization, path, signal)),
    });
  } catch (err) {
    logger.error("cannot start the HTTP endpoints", { error: describeFatal(err) });
    connection.close();
    return EXIT_FAILURE;
  }

  // Endpoints first: /healthz answers while we wait, so a liveness probe does not kill the pod
  // before the start-up timeout has logged why it cannot start.
  let reachable: Awaited<ReturnType<typeof awaitApiServer>>;
  const probe = buildTransport(connection.conn, {
    retry: false,
    onRequest: (info) => countRequest(metrics, info),
    clock: deps.clock,
  });
  try {
    reachable = await awaitApiServer(
      connection.conn,
      new RestClient(probe.transport),
      logger,
      config.startupTimeoutMs,
      signal,
      deps.clock,
    );
  } catch (err) {
    logger.error("operator failed", { error: describeFatal(err) });
    reachable = "timeout";
  } finally {
    probe.close();
  }
  if (reachable !== "ready") {
    await endpoints.shutdown();
    connection.close();
    logger.info(reachable === "stopped" ? "stopped before the API server answered" : "stopped");
    return reachable === "timeout" ? EXIT_FAILURE : EXIT_OK;
  }

  // The caches live until the work loop has finished its in-flight reconciles.
  const caches = new AbortController();
  // The event loop lives until the work loop has finished and the buffer is flushed.
  const eventsLoop = new AbortController();
  const recorder = new EventRecorder({
    writer: apiEventWriter(connection.unthrottled),
    reportingController: EVENT_REPORTER,
    reportingInstance: deps.identity,
    qps: config.kubeApiQps,
    burst: config.kubeApiBurst,
    clock: deps.clock,
    observer: metrics.eventObserver(),
    onError: (error, event) =>
      logger.warn("could not record event", {
        binding: `${event.regarding.namespace}/${event.regarding.name}`,
        reason: event.reason,
        error,
      }),
  });
  const recording = recorder.run(eventsLoop.signal);
  try {
    controller = deps.newController({
      rest: connection.rest,
      trustDomain: config.trustDomain,
      className: config.className,
      svidLimits: config.svidLimits,
      logger,
      metrics,
      concurrency: config.concurrency,
      syncPeriodMs: config.syncPeriodMs,
      spireStatsIntervalMs: config.spireStatsIntervalMs,
      identityOverlap: config.identityOverlap,
      events: recorder,
    });
    return await operate(deps, controller, connection, caches, signal);
  } catch (err) {
    logger.error("operator failed", { error: describeFatal(err) });
    return EXIT_FAILURE;
  } finally {
    await recorder.flush(EVENT_FLUSH_MS);
    eventsLoop.abort(new Error("shutting down"));
    await recording;
    caches.abort(new Error("shutting down"));
    metrics.leader.set({}, 0);
    await endpoints.shutdown();
    connection.close();
    logger.info("stopped");
  }
}

async function operate(
  deps: OperatorDeps,
  controller: OperatorController,
  connection: Connection,
  caches: AbortController,
  signal: AbortSignal,
): Promise<number> {
  const { config, logger, metrics } = deps;

  const synced = controller.startCaches(caches.signal).then(() => "synced" as const);
  const stop = aborted(signal);
  try {
    const first = await Promise.race([synced, stop.promise]);
    if (first !== "synced") {
      caches.abort(new Error("shutting down"));
      // The sync must settle before we return: nothing may outlive its owner.
      await synced.catch(() => {});
      logger.info("shutdown requested before the caches synced");
      return EXIT_OK;
    }
  } finally {
    stop.dispose();
  }
  logger.info("caches synced");

  if (!config.leaderElection.enabled) {
    metrics.leader.set({}, 1);
    await controller.run(signal);
    return EXIT_OK;
  }

  const le = config.leaderElection;
  const elector = new LeaderElector({
    // The Lease's own budget: neither reconciles nor metrics reviews can delay a renewal.
    leases: new ResourceClient<LeaseObject>(connection.budgeted(LEASE_BUDGET), LEASE_DESCRIPTOR),
    namespace: le.namespace,
    identity: deps.identity,
    leaseDurationMs: le.leaseDurationMs,
    renewDeadlineMs: le.renewDeadlineMs,
    retryPeriodMs: le.retryPeriodMs,
    logger,
    clock: deps.clock,
    onLeading: (leading) => metrics.leader.set({}, leading ? 1 : 0),
  });
  const end = await elector.run(signal, (leaderSignal) => controller.run(leaderSignal));
  if (end === "lost") {
    logger.error("exiting after losing leadership; the pod restarts as a standby");
    return EXIT_FAILURE;
  }
  return EXIT_OK;
}
