/**
 * What the operator says about its list/watch loops (docs/contract.md#metrics,
 * docs/contract.md#logs): a failing LIST or watch — a 403 after an RBAC change, a 5xx, a
 * connection that dies, a watch quiet past its idle limit — is logged at `warn` the first time
 * each kind of failure happens for a resource, and at `debug` while it repeats (an informer
 * retries with backoff; a line per attempt would drown the log). When the resource is healthy
 * again (listed and watching without an error) an `info` line says so, and the next failure
 * warns afresh. Gauge `kleym_informer_synced{resource}`: 1 while the resource's cache is synced.
 *
 * Resource names: `inferenceidentitybindings`, and the optional ids of optional.ts (`pools.v1`,
 * `pools.v1alpha2`, `objectives.v1alpha2`, `objectives.v1`, `clusterspiffeids`).
 *
 * API: `InformerHealth` (`failed`, `status`, `stopped`), `failureKind`.
 */
import { ApiError, ConfigError, ConnectionError } from "../apis/errors.ts";
import { WatchIdleError } from "../apis/idle.ts";
import type { InformerStatus } from "../apis/watch.ts";
import type { Logger } from "../observe/log.ts";
import type { Metrics } from "../observe/metrics.ts";

/** The kind of a list/watch failure: what a warn line is kept per. */
export function failureKind(error: unknown): string {
  if (error instanceof ApiError) return `HTTP ${error.status} ${error.reason}`;
  if (error instanceof WatchIdleError) return "watch idle";
  if (error instanceof ConnectionError) {
    const cause = error.cause;
    return cause instanceof DOMException && cause.name === "TimeoutError"
      ? "request timeout"
      : "no answer";
  }
  if (error instanceof ConfigError) return "configuration";
  return error instanceof Error ? error.name : "unknown";
}

export class InformerHealth {
  readonly #logger: Logger;
  readonly #metrics: Pick<Metrics, "informerSynced">;
  /** Resource -> kinds warned about in the current failure episode. */
  readonly #warned = new Map<string, Set<string>>();

  constructor(logger: Logger, metrics: Pick<Metrics, "informerSynced">) {
    this.#logger = logger;
    this.#metrics = metrics;
  }

  /** A list or watch of `resource` failed (the informer retries by itself). */
  failed(resource: string, error: unknown): void {
    const kind = failureKind(error);
    let kinds = this.#warned.get(resource);
    if (kinds === undefined) this.#warned.set(resource, kinds = new Set());
    const fields = { resource, kind, error };
    if (kinds.has(kind)) {
      this.#logger.debug("list/watch failed again; retrying", fields);
      return;
    }
    kinds.add(kind);
    this.#logger.warn("list/watch failed; retrying with backoff (logged once per kind)", fields);
  }

  /** The informer's state changed; `synced`: its cache is synced now. */
  status(resource: string, status: InformerStatus, synced: boolean): void {
    this.#metrics.informerSynced.set({ resource }, synced && status.state !== "stopped" ? 1 : 0);
    if (status.state !== "watching" || status.lastError !== undefined) return;
    const kinds = this.#warned.get(resource);
    if (kinds === undefined) return;
    this.#warned.delete(resource);
    this.#logger.info("list/watch recovered", { resource, after: [...kinds] });
  }
}
