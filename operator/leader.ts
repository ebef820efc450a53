/**
 * Leader election on a `coordination.k8s.io/v1` Lease, with client-go's semantics:
 *
 * - A candidate reads the Lease every retry period (with jitter). It takes the Lease when nobody
 *   holds it (no Lease, or `holderIdentity` empty after a release) or when the holder has let it
 *   expire. Expiry is judged on OUR clock only: the Lease counts as expired `leaseDurationSeconds`
 *   after we last saw its record change, whatever its `renewTime` says (remote clocks may be
 *   skewed), and measured on the monotonic clock, like every deadline here: a wall-clock step never
 *   extends leadership (renewTime/acquireTime written to the Lease are wall-clock). Every write
 *   carries the `resourceVersion` it was based on, so two candidates can never both win: the
 *   loser gets 409 Conflict and tries again later.
 * - The leader renews every retry period. If renewal keeps failing until the renew deadline has
 *   passed since the last successful renewal, or someone else is seen holding the Lease,
 *   leadership is lost: the leader signal aborts (with `LeadershipLostError`) and
 *   `LeaderElector.run` resolves `"lost"` once the work under it has stopped.
 * - On shutdown (the outer signal aborts) the work under the leader signal is stopped and awaited
 *   first, then the Lease is released (`holderIdentity: ""`, `leaseDurationSeconds: 1`) so a
 *   standby takes over at once instead of waiting out the lease.
 */
import type { Lease } from "kubernetes-types/coordination/v1.d.ts";
import type { ObjectMeta } from "kubernetes-types/meta/v1.d.ts";
import { type Clock, delay, realClock } from "../apis/clock.ts";
import { ApiError } from "../apis/errors.ts";
import type { ResourceClient } from "../apis/rest.ts";
import { LEASE_NAME } from "../flags/operator.ts";
import { errorText, type Logger } from "../observe/log.ts";

export type LeaseObject = Lease & { metadata: ObjectMeta };

/**
 * The Lease's own client budget (operator/run.ts): a renewal every retry period, plus a read after
 * a conflict, needs well under this; nothing else spends it.
 */
export const LEASE_BUDGET = { qps: 5, burst: 10 } as const;

export class LeadershipLostError extends Error {
  override readonly name = "LeadershipLostError";
}

/** The Lease calls the elector makes (a `ResourceClient<LeaseObject>` in production). */
export type LeaseClient = Pick<ResourceClient<LeaseObject>, "get" | "create" | "update">;

export interface LeaderElectionOptions {
  leases: LeaseClient;
  namespace: string;
  name?: string;
  identity: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  logger: Logger;
  clock?: Clock;
  /** Called with true when this replica starts leading, false when it stops. */
  onLeading?: (leading: boolean) => void;
  /** 0..1 extra random delay on acquire attempts (default 0.2, like client-go's 1.2 factor). */
  jitter?: number;
  random?: () => number;
}

export type LeadershipEnd = "stopped" | "lost";

/** What a candidate should do with the Lease it just read (pure; unit-tested). */
export type LeaseDecision = "take" | "renew" | "wait";

/**
 * Decide from the Lease as read and when we last saw its record change (our monotonic clock:
 * `observedAt` and `now` are both `Clock.monotonic()`). `observedAt` must be updated by the caller
 * whenever the record differs from the previous read.
 */
export function decideLease(
  spec: Lease["spec"],
  identity: string,
  observedAt: number,
  now: number,
): LeaseDecision {
  const holder = spec?.holderIdentity ?? "";
  if (holder === identity) return "renew";
  if (holder === "") return "take";
  const durationMs = (spec?.leaseDurationSeconds ?? 0) * 1000;
  return now >= observedAt + durationMs ? "take" : "wait";
}

/** `MicroTime` as the API server writes it (RFC 3339 with microseconds, UTC). */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
}

/** The parts of a Lease record whose change means the holder is alive (or the holder changed). */
function recordKey(lease: LeaseObject): string {
  const s = lease.spec ?? {};
  return JSON.stringify([
    s.holderIdentity ?? "",
    s.renewTime ?? "",
    s.acquireTime ?? "",
    s.leaseDurationSeconds ?? 0,
    s.leaseTransitions ?? 0,
  ]);
}

/** Random suffix for a holder identity. */
export function holderIdentity(host: string): string {
  const rand = crypto.getRandomValues(new Uint8Array(6));
  const suffix = [...rand].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `${host || "kleym"}_${suffix}`;
}

export class LeaderElector {
  readonly #o: LeaderElectionOptions;
  readonly #clock: Clock;
  readonly #name: string;
  readonly #log: Logger;
  /** The Lease as last read or written. */
  #lease: LeaseObject | undefined;
  #observedKey = "";
  #observedAt = 0;

  constructor(opts: LeaderElectionOptions) {
    this.#o = opts;
    this.#clock = opts.clock ?? realClock;
    this.#name = opts.name ?? LEASE_NAME;
    this.#log = opts.logger.child({
      lease: `${opts.namespace}/${this.#name}`,
      identity: opts.identity,
    });
  }

  /**
   * Campaign until elected, run `lead(leaderSignal)` while leading, and return how leadership
   * ended. `lead` must return once `leaderSignal` aborts; an error from it is rethrown after the
   * Lease has been released. Resolves "stopped" right away if `signal` aborts before election.
   */
  async run(
    signal: AbortSignal,
    lead: (leaderSignal: AbortSignal) => Promise<void>,
  ): Promise<LeadershipEnd> {
    if (!await this.#acquire(signal)) return "stopped";
    this.#log.info("became leader");
    this.#o.onLeading?.(true);

    const leaderCtl = new AbortController();
    const loopCtl = new AbortController();
    const stopLoop = () => loopCtl.abort();
    signal.addEventListener("abort", stopLoop, { once: true });
    let leadFailure: { error: unknown } | undefined;
    let leadEndedEarly = false;
    const leading = (async () => {
      try {
        await lead(leaderCtl.signal);
      } catch (error) {
        leadFailure = { error };
      } finally {
        leadEndedEarly = !leaderCtl.signal.aborted;
        loopCtl.abort();
      }
    })();

    let lost: string | undefined;
    try {
      lost = await this.#renewLoop(loopCtl.signal);
    } finally {
      signal.removeEventListener("abort", stopLoop);
      leaderCtl.abort(
        lost !== undefined ? new LeadershipLostError(lost) : new Error("shutting down"),
      );
      if (lost !== undefined) {
        this.#o.onLeading?.(false);
        this.#log.error("lost leadership", { reason: lost });
      }
      await leading;
    }

    if (lost === undefined) {
      this.#o.onLeading?.(false);
      await this.release();
    }
    if (leadFailure) throw leadFailure.error;
    if (lost !== undefined) return "lost";
    if (leadEndedEarly) throw new Error("the work loop stopped while this replica was leading");
    return "stopped";
  }

  /** Try every retry period (jittered) until elected (true) or `signal` aborts (false). */
  async #acquire(signal: AbortSignal): Promise<boolean> {
    let waitingLogged = false;
    for (;;) {
      if (signal.aborted) return false;
      try {
        const outcome = await this.tryAcquireOrRenew(signal);
        if (outcome === "leading") return true;
        if (!waitingLogged) {
          this.#log.info("waiting for the leader lease", {
            holder: this.#lease?.spec?.holderIdentity,
          });
          waitingLogged = true;
        }
      } catch (err) {
        if (signal.aborted) return false;
        this.#log.warn("leader lease attempt failed", { error: errorText(err) });
      }
      const jitter = (this.#o.jitter ?? 0.2) * (this.#o.random ?? Math.random)();
      if (!await delay(this.#clock, this.#o.retryPeriodMs * (1 + jitter), signal)) return false;
    }
  }

  /** Renew until `stop` aborts (returns undefined) or leadership is lost (returns why). */
  async #renewLoop(stop: AbortSignal): Promise<string | undefined> {
    // Deadlines on the monotonic clock: a wall-clock step back must never extend leadership
    // (docs/contract.md#leader-election).
    let lastRenew = this.#clock.monotonic();
    for (;;) {
      if (!await delay(this.#clock, this.#o.retryPeriodMs, stop)) return undefined;
      const deadline = lastRenew + this.#o.renewDeadlineMs;
      const attempt = this.#timeoutSignal(stop, deadline - this.#clock.monotonic());
      try {
        const outcome = await this.tryAcquireOrRenew(attempt.signal);
        if (outcome === "leading") {
          lastRenew = this.#clock.monotonic();
          continue;
        }
        return `the lease is held by ${this.#lease?.spec?.holderIdentity ?? "another replica"}`;
      } catch (err) {
        if (stop.aborted) return undefined;
        if (this.#clock.monotonic() >= deadline) {
          return `could not renew the lease within the renew deadline (${this.#o.renewDeadlineMs} ms): ${
            errorText(err)
          }`;
        }
        this.#log.warn("leader lease renewal failed; retrying", { error: errorText(err) });
      } finally {
        attempt.dispose();
      }
    }
  }

  /**
   * One round: read (or, while leading, reuse) the Lease, decide, write. "leading" when the Lease
   * is ours after this call, "follower" when someone else holds a valid Lease. API errors
   * (including 409 from a lost race) are thrown.
   */
  async tryAcquireOrRenew(signal: AbortSignal): Promise<"leading" | "follower"> {
    const { leases, namespace, identity } = this.#o;
    const now = this.#clock.now();
    const cached = this.#lease;
    if (cached && cached.spec?.holderIdentity === identity) {
      // Fast path while leading: write straight from our copy; a 409 means it changed under us.
      try {
        this.#store(await leases.update(this.#held(cached, now, "renew"), { namespace, signal }));
        return "leading";
      } catch (err) {
        if (!(err instanceof ApiError && err.isConflict())) throw err;
      }
    }

    let current: LeaseObject | undefined;
    try {
      current = await leases.get(this.#name, { namespace, signal });
    } catch (err) {
      if (!(err instanceof ApiError && err.isNotFound())) throw err;
    }
    if (!current) {
      const created = await leases.create({
        apiVersion: "coordination.k8s.io/v1",
        kind: "Lease",
        metadata: { name: this.#name, namespace },
        spec: {
          holderIdentity: identity,
          leaseDurationSeconds: this.#leaseSeconds(),
          acquireTime: microTime(now),
          renewTime: microTime(now),
          leaseTransitions: 0,
        },
      }, { namespace, signal });
      this.#store(created);
      return "leading";
    }
    this.#store(current);
    const decision = decideLease(current.spec, identity, this.#observedAt, this.#clock.monotonic());
    if (decision === "wait") return "follower";
    const next = this.#held(current, now, decision);
    this.#store(await leases.update(next, { namespace, signal }));
    return "leading";
  }

  /** Give the Lease up if we hold it. Never throws; logs what happened. */
  async release(): Promise<void> {
    const { leases, namespace, identity } = this.#o;
    // Shutdown has a grace period: never spend more than a few seconds on the release.
    const attempt = this.#timeoutSignal(undefined, Math.min(this.#o.renewDeadlineMs, 5000));
    try {
      for (let round = 0; round < 2; round++) {
        const lease = round === 0 && this.#lease
          ? this.#lease
          : await leases.get(this.#name, { namespace, signal: attempt.signal });
        if (lease.spec?.holderIdentity !== identity) {
          this.#log.info("leader lease not released: no longer ours");
          return;
        }
        const now = this.#clock.now();
        try {
          this.#store(
            await leases.update({
              ...lease,
              spec: {
                ...lease.spec,
                holderIdentity: "",
                leaseDurationSeconds: 1,
                acquireTime: microTime(now),
                renewTime: microTime(now),
              },
            }, { namespace, signal: attempt.signal }),
          );
          this.#log.info("released the leader lease");
          return;
        } catch (err) {
          if (!(err instanceof ApiError && err.isConflict()) || round === 1) throw err;
        }
      }
    } catch (err) {
      this.#log.warn("could not release the leader lease; it will expire", {
        error: errorText(err),
      });
    } finally {
      attempt.dispose();
    }
  }

  #leaseSeconds(): number {
    return Math.max(1, Math.ceil(this.#o.leaseDurationMs / 1000));
  }

  /**
   * The Lease with us as holder at `now`. Renewing keeps acquireTime and the transition count;
   * taking it over from another holder (or an empty Lease) starts both afresh, as client-go does.
   */
  #held(lease: LeaseObject, now: number, how: Exclude<LeaseDecision, "wait">): LeaseObject {
    const transitions = lease.spec?.leaseTransitions ?? 0;
    return {
      ...lease,
      spec: {
        ...lease.spec,
        holderIdentity: this.#o.identity,
        leaseDurationSeconds: this.#leaseSeconds(),
        acquireTime: how === "renew" ? lease.spec?.acquireTime ?? microTime(now) : microTime(now),
        renewTime: microTime(now),
        leaseTransitions: how === "renew" ? transitions : transitions + 1,
      },
    };
  }

  /**
   * Remember the Lease; restart the expiry clock (monotonic) when its record changed since the
   * last read.
   */
  #store(lease: LeaseObject): void {
    const key = recordKey(lease);
    if (key !== this.#observedKey) {
      this.#observedKey = key;
      this.#observedAt = this.#clock.monotonic();
    }
    this.#lease = lease;
  }

  /** A signal that aborts with `parent` or after `ms` on our clock; dispose() clears the timer. */
  #timeoutSignal(
    parent: AbortSignal | undefined,
    ms: number,
  ): { signal: AbortSignal; dispose(): void } {
    const ctl = new AbortController();
    const timer = this.#clock.setTimeout(
      () => ctl.abort(new Error(`timed out after ${Math.max(0, Math.round(ms))} ms`)),
      Math.max(0, ms),
    );
    const onParent = () => ctl.abort(parent?.reason);
    parent?.addEventListener("abort", onParent, { once: true });
    if (parent?.aborted) ctl.abort(parent.reason);
    return {
      signal: ctl.signal,
      dispose: () => {
        this.#clock.clearTimeout(timer);
        parent?.removeEventListener("abort", onParent);
      },
    };
  }
}
