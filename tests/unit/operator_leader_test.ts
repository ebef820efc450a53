import assert from "node:assert/strict";
import { FakeClock } from "../../apis/clock.ts";
import { ApiError } from "../../apis/errors.ts";
import { Logger } from "../../observe/log.ts";
import {
  decideLease,
  holderIdentity,
  LeaderElector,
  LeadershipLostError,
  type LeaseClient,
  type LeaseObject,
  microTime,
} from "../../operator/leader.ts";

Deno.test("lease decisions judge expiry on our clock from when we saw the record change", () => {
  const me = "me_1";
  const cases: {
    name: string;
    spec: Parameters<typeof decideLease>[0];
    observedAt: number;
    now: number;
    want: ReturnType<typeof decideLease>;
  }[] = [
    {
      name: "ours: renew",
      spec: { holderIdentity: me, leaseDurationSeconds: 15 },
      observedAt: 0,
      now: 99_000,
      want: "renew",
    },
    {
      name: "released (empty holder): take",
      spec: { holderIdentity: "", leaseDurationSeconds: 1 },
      observedAt: 0,
      now: 0,
      want: "take",
    },
    { name: "no spec: take", spec: undefined, observedAt: 0, now: 0, want: "take" },
    {
      name: "other, fresh: wait",
      spec: { holderIdentity: "other", leaseDurationSeconds: 15 },
      observedAt: 1_000,
      now: 15_999,
      want: "wait",
    },
    {
      name: "other, expired by our clock: take",
      spec: { holderIdentity: "other", leaseDurationSeconds: 15 },
      observedAt: 1_000,
      now: 16_000,
      want: "take",
    },
    {
      // renewTime says long ago, but we only just saw it: a remote clock is not trusted
      name: "other with an old renewTime just observed: wait",
      spec: {
        holderIdentity: "other",
        leaseDurationSeconds: 15,
        renewTime: "2000-01-01T00:00:00.000000Z",
      },
      observedAt: 50_000,
      now: 50_001,
      want: "wait",
    },
  ];
  for (const c of cases) assert.equal(decideLease(c.spec, me, c.observedAt, c.now), c.want, c.name);
});

Deno.test("MicroTime has exactly six fractional digits in UTC", () => {
  assert.equal(microTime(Date.UTC(2025, 4, 6, 7, 8, 9, 12)), "2025-05-06T07:08:09.012000Z");
});

Deno.test("holder identities keep the host and differ per process", () => {
  const a = holderIdentity("pod-1");
  const b = holderIdentity("pod-1");
  assert.match(a, /^pod-1_[0-9a-f]{12}$/);
  assert.notEqual(a, b);
  assert.match(holderIdentity(""), /^kleym_/);
});

/**
 * Leases held in memory: the Lease calls the elector makes, with an answer delay we can turn into
 * "never" (an API server that stopped answering) to watch the renew deadline.
 */
class LeaseStandIn implements LeaseClient {
  lease: LeaseObject | undefined;
  #rv = 0;
  /** While true, every call waits until its signal aborts (nothing answers). */
  hang = false;

  async #answer<T>(signal: AbortSignal | undefined, value: () => T): Promise<T> {
    if (this.hang) {
      await new Promise<never>((_, reject) => {
        signal?.addEventListener("abort", () => reject(signal.reason), { once: true });
      });
    }
    return value();
  }

  get(_name: string, o: { signal?: AbortSignal } = {}): Promise<LeaseObject> {
    return this.#answer(o.signal, () => {
      if (!this.lease) {
        throw new ApiError({ status: 404, reason: "NotFound", message: "not found" });
      }
      return structuredClone(this.lease);
    });
  }

  create(obj: LeaseObject, o: { signal?: AbortSignal } = {}): Promise<LeaseObject> {
    return this.#answer(o.signal, () => this.#store(obj));
  }

  update(obj: LeaseObject, o: { signal?: AbortSignal } = {}): Promise<LeaseObject> {
    return this.#answer(o.signal, () => {
      if (obj.metadata.resourceVersion !== this.lease?.metadata.resourceVersion) {
        throw new ApiError({ status: 409, reason: "Conflict", message: "conflict" });
      }
      return this.#store(obj);
    });
  }

  #store(obj: LeaseObject): LeaseObject {
    this.lease = structuredClone({
      ...obj,
      metadata: { ...obj.metadata, resourceVersion: String(++this.#rv) },
    });
    return structuredClone(this.lease);
  }
}

/** Lets every settled promise run its continuations (FakeClock timers fire synchronously). */
async function flush(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
}

Deno.test("a wall-clock step back during leadership does not extend it", async () => {
  const clock = new FakeClock(Date.UTC(2026, 0, 1));
  const leases = new LeaseStandIn();
  const events: string[] = [];
  const elector = new LeaderElector({
    leases,
    namespace: "kleym-system",
    identity: "me_1",
    leaseDurationMs: 15_000,
    renewDeadlineMs: 10_000,
    retryPeriodMs: 2_000,
    logger: new Logger({ level: "error", sink: () => {} }),
    clock,
    onLeading: (leading) => events.push(leading ? "leading" : "not leading"),
  });
  const stop = new AbortController();
  let leaderSignal: AbortSignal | undefined;
  let ended: string | undefined;
  const run = elector.run(stop.signal, (signal) => {
    leaderSignal = signal;
    return new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve()));
  }).then((end) => ended = end);
  await flush();
  assert.deepEqual(events, ["leading"]);

  // Two good renewals, then the API server stops answering.
  for (let i = 0; i < 2; i++) {
    clock.advance(2_000);
    await flush();
  }
  leases.hang = true;
  const lastGoodRenew = clock.monotonic();
  // An hour back on the wall clock while renewals hang: on the wall clock the renew deadline is now
  // an hour away; on the monotonic clock it is not.
  clock.stepWall(-3_600_000);
  for (let t = 0; t < 10_000 + 2_000; t += 500) {
    clock.advance(500);
    await flush();
    if (ended) break;
  }
  assert.equal(ended, "lost", "leadership must end within the renew deadline plus one period");
  assert.ok(clock.monotonic() - lastGoodRenew <= 10_000 + 2_000);
  assert.ok(leaderSignal?.aborted);
  assert.ok(leaderSignal?.reason instanceof LeadershipLostError);
  assert.deepEqual(events, ["leading", "not leading"]);
  stop.abort();
  await run;
});

Deno.test("a wall-clock step back does not delay taking over an expired lease", async () => {
  const clock = new FakeClock(Date.UTC(2026, 0, 1));
  const leases = new LeaseStandIn();
  await leases.create({
    apiVersion: "coordination.k8s.io/v1",
    kind: "Lease",
    metadata: { name: "kleym-operator", namespace: "kleym-system" },
    spec: { holderIdentity: "gone_1", leaseDurationSeconds: 15, renewTime: microTime(clock.now()) },
  });
  const elector = new LeaderElector({
    leases,
    namespace: "kleym-system",
    identity: "me_1",
    leaseDurationMs: 15_000,
    renewDeadlineMs: 10_000,
    retryPeriodMs: 2_000,
    logger: new Logger({ level: "error", sink: () => {} }),
    clock,
    jitter: 0,
  });
  const signal = new AbortController().signal;
  assert.equal(await elector.tryAcquireOrRenew(signal), "follower");
  clock.advance(10_000);
  clock.stepWall(-3_600_000);
  assert.equal(await elector.tryAcquireOrRenew(signal), "follower");
  clock.advance(5_000);
  // 15 s of monotonic time since the record last changed: expired, whatever the wall clock says.
  assert.equal(await elector.tryAcquireOrRenew(signal), "leading");
  assert.equal(leases.lease?.spec?.holderIdentity, "me_1");
});
