/**
 * The operator process, wired from a parsed configuration (main.ts does flags, signals and exit):
 *
 *   connect (kubeconfig / in-cluster) -> REST client whose every request feeds
 *   kleym_api_requests_total -> HTTP endpoints -> controller.startCaches -> (leader election) ->
 *   controller.run(leader signal)
 *
 * Shutdown (the `signal` argument aborts): the leader signal aborts, the controller stops taking
 * work and finishes in-flight reconciles, the Lease is released, the caches and the HTTP listeners
 * stop, TLS clients close. Exit code 0.
 *
 * A lost Lease aborts the leader signal too, but the result is exit code 1: the process ends and
 * Kubernetes restarts the pod, which then campaigns again as a fresh standby (no state from the
 * lost term can leak into the next one).
 *
 * The controller comes in through the small `OperatorController` interface so this module does
 * not depend on the reconciler's internals.
 */
import type { Connection, ConnectionOptions, TransportOptions } from "../apis/connect.ts";
import { ConfigError, ConnectionError } from "../apis/errors.ts";
import type { RequestInfo } from "../apis/hooks.ts";
import { ResourceClient, type RestClient } from "../apis/rest.ts";
import type { Clock } from "../apis/clock.ts";
import { errorText, type Logger } from "../observe/log.ts";
import type { Metrics } from "../observe/metrics.ts";
import type { OperatorConfig } from "./config.ts";
import { CertificateError } from "./certs.ts";
import { BindError, serveEndpoints } from "./http.ts";
import { apiReviewer, DelegatedAuth } from "./metricsauth.ts";
import { LeaderElector, LEASE_DESCRIPTOR, type LeaseObject } from "./leader.ts";

/** What the operator needs of the controller (reconcile/controller.ts implements it). */
export interface OperatorController {
  /** Starts the informers; resolves when their caches have synced. Safe on non-leaders. */
  startCaches(signal: AbortSignal): Promise<void>;
  hasSynced(): boolean;
  /** Runs the work loop until `signal` aborts, then finishes in-flight reconciles. */
  run(signal: AbortSignal): Promise<void>;
}

export interface ControllerParams {
  rest: RestClient;
  trustDomain: string;
  className?: string;
  logger: Logger;
  metrics: Metrics;
  concurrency?: number;
  syncPeriodMs?: number;
}

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
      onRequest: (info) => countRequest(metrics, info),
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
    leaderElection: config.leaderElection.enabled,
  });

  let controller: OperatorController | undefined;
  let endpoints: Awaited<ReturnType<typeof serveEndpoints>>;
  // Secure metrics (issue 13): HTTPS, callers authenticated and authorized by the API server.
  const auth = config.metricsSecure
    ? new DelegatedAuth({ reviewer: apiReviewer(connection.rest), logger, clock: deps.clock })
    : undefined;
  try {
    endpoints = await serveEndpoints({
      metricsAddress: config.metricsAddress,
      healthAddress: config.healthAddress,
      metrics: () => metrics.expose(),
      ready: () => controller?.hasSynced() ?? false,
      logger,
      metricsTls: config.metricsSecure ? { files: config.metricsCert } : undefined,
      authorizeMetrics: auth && ((authorization, path) => auth.check(authorization, path)),
    });
  } catch (err) {
    logger.error("cannot start the HTTP endpoints", { error: describeFatal(err) });
    connection.close();
    return EXIT_FAILURE;
  }

  // The caches live until the work loop has finished its in-flight reconciles.
  const caches = new AbortController();
  try {
    controller = deps.newController({
      rest: connection.rest,
      trustDomain: config.trustDomain,
      className: config.className,
      logger,
      metrics,
      concurrency: config.concurrency,
      syncPeriodMs: config.syncPeriodMs,
    });
    return await operate(deps, controller, connection, caches, signal);
  } catch (err) {
    logger.error("operator failed", { error: describeFatal(err) });
    return EXIT_FAILURE;
  } finally {
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
    leases: new ResourceClient<LeaseObject>(connection.rest, LEASE_DESCRIPTOR),
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
