/**
 * Applying a plan, failing closed on a refusal (docs/contract.md#fail-closed; the rules are in
 * refusal.ts). `applyFailClosed` carries out a plan (apply.ts); when the API server refuses a
 * ClusterSPIFFEID write for good, it asks for a new plan with the refusals (the pure plan turns
 * them into `RenderFailure/ClusterSPIFFEIDRejected`: failure status, owned objects deleted) and
 * carries that out — at most three rounds: the write, the failure plan, and the failure plan
 * again when a delete was refused too. A refused write of the binding itself ends the rounds: it
 * becomes a Warning event and a warn line (`reportBindingRefused`), as its status cannot say so.
 *
 * `RefusalBackoff`: per binding, the wait before the next attempt while writes are refused
 * (1 s doubling, capped at the retry period); `clear(key)` once a reconcile is not refused.
 *
 * Data only flows down: apply reports, the reconciler records and decides.
 */
import type { EventSink } from "../apis/events.ts";
import type { Logger } from "../observe/log.ts";
import { type ApplyContext, applyPlan, type ApplyResult } from "./apply.ts";
import type { Plan } from "./plan.ts";
import {
  DELETE_REJECTED_EVENT,
  type Refusal,
  refusalBackoffMs,
  STATUS_REJECTED_EVENT,
} from "./refusal.ts";
import type { InferenceIdentityBinding } from "../generated/kleym.sonda.red/v1alpha1.ts";

export interface FailClosedOutcome {
  /** The last plan carried out (the failure plan after a refusal). */
  readonly plan: Plan;
  /** The last round's result; `refused` is set only for a refused write of the binding. */
  readonly result: ApplyResult;
  /** Writes made over all rounds. */
  readonly writes: number;
}

export async function applyFailClosed(
  plan: Plan,
  binding: InferenceIdentityBinding,
  ctx: ApplyContext,
  opts: {
    /** Plan again from `binding` (after this reconcile's writes) with the refusals so far. */
    readonly replan: (binding: InferenceIdentityBinding, refusals: readonly Refusal[]) => Plan;
    /** Record a round's answers in the views before the next plan reads them. */
    readonly record: (before: InferenceIdentityBinding, result: ApplyResult) => void;
  },
): Promise<FailClosedOutcome> {
  let result = await applyPlan(plan, binding, ctx);
  opts.record(binding, result);
  let writes = result.writes;
  const refusals: Refusal[] = [];
  while (result.refused !== undefined && result.refused.verb !== "binding") {
    refusals.push(result.refused);
    ctx.logger.warn("the API server refused a ClusterSPIFFEID write; reporting it on the binding", {
      refused: result.refused,
    });
    if (refusals.length > 2) break;
    const current = result.binding;
    plan = opts.replan(current, refusals);
    result = await applyPlan(plan, current, ctx);
    opts.record(current, result);
    writes += result.writes;
  }
  return { plan, result, writes };
}

/** A refused write of the binding itself: a Warning event on it and a warn line. */
export function reportBindingRefused(
  binding: InferenceIdentityBinding,
  refused: Refusal,
  events: EventSink,
  logger: Logger,
): void {
  logger.warn("the API server refused a write of the binding; retrying with backoff", {
    refused,
  });
  events.record(
    eventObjectOf(binding),
    "Warning",
    STATUS_REJECTED_EVENT,
    `the API server refused kleym's write of this binding (HTTP ${refused.code}): ` +
      refused.message,
  );
}

function eventObjectOf(binding: InferenceIdentityBinding) {
  return {
    apiVersion: binding.apiVersion ?? "kleym.sonda.red/v1alpha1",
    kind: binding.kind ?? "InferenceIdentityBinding",
    name: binding.metadata.name ?? "",
    namespace: binding.metadata.namespace,
    uid: binding.metadata.uid,
  };
}

/**
 * A write of finalization refused for good (finalize.ts): a warn line and a Warning event for each,
 * `DELETE_REJECTED_EVENT` for a ClusterSPIFFEID that cannot be deleted (it keeps its identity
 * registered meanwhile, so the message says so), the binding's own for its finalizer.
 */
export function reportFinalizeRefused(
  binding: InferenceIdentityBinding,
  refused: readonly Refusal[],
  events: EventSink,
  logger: Logger,
): void {
  for (const r of refused) {
    if (r.verb === "binding") {
      reportBindingRefused(binding, r, events, logger);
      continue;
    }
    logger.warn("the API server refused to delete a ClusterSPIFFEID of a deleted binding", {
      refused: r,
    });
    events.record(
      eventObjectOf(binding),
      "Warning",
      DELETE_REJECTED_EVENT,
      `the API server refused to delete ClusterSPIFFEID ${r.name} (HTTP ${r.code}), so it still ` +
        `registers its workloads and the binding keeps its finalizer: ${r.message}`,
    );
  }
}

/** Per-key backoff while writes are refused. */
export class RefusalBackoff {
  readonly #attempts = new Map<string, number>();
  readonly #capMs: number;

  constructor(capMs: number) {
    this.#capMs = capMs;
  }

  /** The wait before the next attempt for `key` (and count this one). */
  next(key: string): number {
    const attempt = this.#attempts.get(key) ?? 0;
    this.#attempts.set(key, attempt + 1);
    return refusalBackoffMs(attempt, this.#capMs);
  }

  clear(key: string): void {
    this.#attempts.delete(key);
  }
}
