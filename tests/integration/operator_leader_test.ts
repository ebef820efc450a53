/**
 * Lease leader election against a real API server (in-process electors, each with its own
 * transport): one leader at a time, release hands over at once, a silent leader is replaced
 * after the lease duration, a leader that cannot renew gives up.
 */
import assert from "node:assert/strict";
import { connect } from "../../apis/connect.ts";
import { ResourceClient } from "../../apis/rest.ts";
import type { KubeRequest, Transport } from "../../apis/transport.ts";
import { LEASE_DESCRIPTOR, RestClient } from "../../apis/rest.ts";
import { LEASE_NAME } from "../../flags/operator.ts";
import { Logger } from "../../observe/log.ts";
import { LeaderElector, type LeadershipEnd, type LeaseObject } from "../../operator/leader.ts";
import { testEnv } from "../harness/env.ts";
import { pollUntil } from "../harness/poll.ts";

const TIMING = { leaseDurationMs: 3_000, renewDeadlineMs: 2_000, retryPeriodMs: 250 };
/**
 * For the release test: a lease so long that a takeover before it ran out can only come from the
 * release (a standby may take an unreleased lease only after its full duration).
 */
const LONG = { leaseDurationMs: 30_000, renewDeadlineMs: 20_000, retryPeriodMs: 250 };
/** Failure bound of a wait (never part of what is asserted). */
const WAIT_MS = 60_000;
const quiet = new Logger({ level: "error", sink: () => {} });

/** A transport that can be cut off (every request then fails like a dead network). */
function cuttable(inner: Transport): { transport: Transport; cut(): void; requests(): number } {
  let dead = false;
  let requests = 0;
  return {
    transport: (req: KubeRequest) => {
      requests++;
      return dead ? Promise.reject(new Error("network cut by the test")) : inner(req);
    },
    cut: () => dead = true,
    requests: () => requests,
  };
}

interface Candidate {
  name: string;
  leading: boolean;
  becameLeaderAt?: number;
  stop: AbortController;
  done: Promise<LeadershipEnd>;
  cut(): void;
  /** Lease requests sent so far. */
  requests(): number;
  close(): void;
}

async function candidate(
  name: string,
  namespace: string,
  shared: { leaders: number; maxLeaders: number },
  timing = TIMING,
): Promise<Candidate> {
  const env = await testEnv();
  const conn = await connect({ kubeconfig: env.kubeconfigPath, retry: false });
  const net = cuttable(conn.transport);
  const leases = new ResourceClient<LeaseObject>(new RestClient(net.transport), LEASE_DESCRIPTOR);
  const stop = new AbortController();
  const c: Candidate = {
    name,
    leading: false,
    stop,
    done: Promise.resolve("stopped"),
    cut: net.cut,
    requests: net.requests,
    close: conn.close,
  };
  const elector = new LeaderElector({
    leases,
    namespace,
    identity: name,
    ...timing,
    logger: quiet,
  });
  c.done = elector.run(stop.signal, async (leaderSignal) => {
    c.leading = true;
    c.becameLeaderAt = Date.now();
    shared.leaders++;
    shared.maxLeaders = Math.max(shared.maxLeaders, shared.leaders);
    await new Promise<void>((resolve) => {
      if (leaderSignal.aborted) resolve();
      leaderSignal.addEventListener("abort", () => resolve(), { once: true });
    });
    shared.leaders--;
    c.leading = false;
  });
  return c;
}

async function readLease(namespace: string): Promise<LeaseObject> {
  const env = await testEnv();
  return JSON.parse(
    await env.kubectl(["get", "lease", LEASE_NAME, "-n", namespace, "-o", "json"]),
  );
}

Deno.test("two candidates: exactly one leads; stopping it releases the lease and the other takes over before the lease would have expired", async () => {
  const env = await testEnv();
  const ns = await env.newNamespace("leader-release");
  const shared = { leaders: 0, maxLeaders: 0 };
  const a = await candidate("a", ns, shared, LONG);
  const b = await candidate("b", ns, shared, LONG);
  try {
    await pollUntil("a leader", WAIT_MS, () => a.leading || b.leading);
    const first = a.leading ? a : b;
    const second = first === a ? b : a;
    // The standby keeps campaigning: it has read the held lease several times, still one leader.
    const seen = second.requests();
    await pollUntil("the standby retried four times", WAIT_MS, () => second.requests() >= seen + 4);
    assert.equal(shared.leaders, 1);
    const held = await readLease(ns);
    assert.equal(held.spec?.holderIdentity, first.name);
    // The last renewal the standby can have seen is at or after this one.
    const renewedAt = Date.parse(held.spec?.renewTime ?? "");
    assert.ok(Number.isFinite(renewedAt), `renewTime ${held.spec?.renewTime}`);

    const stoppedAt = Date.now();
    first.stop.abort();
    assert.equal(await first.done, "stopped");
    const released = await readLease(ns);
    // Either still released, or already taken by the standby.
    assert.ok(
      released.spec?.holderIdentity === "" || released.spec?.holderIdentity === second.name,
      JSON.stringify(released.spec),
    );
    await pollUntil("standby leads", WAIT_MS, () => second.leading);
    // Bound from the configuration: without the release the standby could not lead before the
    // held lease ran out (renewedAt + 30 s); both clocks are this process's.
    assert.ok(
      (second.becameLeaderAt ?? Infinity) < renewedAt + LONG.leaseDurationMs,
      `standby led at ${second.becameLeaderAt}, lease ran out at ${
        renewedAt + LONG.leaseDurationMs
      }`,
    );
    const handover = (second.becameLeaderAt ?? 0) - stoppedAt;
    console.log(`handover after release: ${handover} ms`);
    assert.equal(shared.maxLeaders, 1);
    assert.equal((await readLease(ns)).spec?.leaseTransitions, 1);
  } finally {
    a.stop.abort();
    b.stop.abort();
    await Promise.allSettled([a.done, b.done]);
    a.close();
    b.close();
  }
});

Deno.test("a leader that goes silent loses the lease to the standby after the lease duration, and gives up itself", async () => {
  const env = await testEnv();
  const ns = await env.newNamespace("leader-silent");
  const shared = { leaders: 0, maxLeaders: 0 };
  const a = await candidate("a", ns, shared);
  try {
    await pollUntil("a leads", WAIT_MS, () => a.leading);
    const b = await candidate("b", ns, shared);
    try {
      // Let b observe a's lease a few times, then cut a off the network.
      await pollUntil("b campaigned three times", WAIT_MS, () => b.requests() >= 3);
      const cutAt = Date.now();
      a.cut();
      // a's last successful renewal is this one or a later one (one may still be in flight).
      const renewedAt = Date.parse((await readLease(ns)).spec?.renewTime ?? "");
      assert.ok(Number.isFinite(renewedAt));
      // a gives up after the renew deadline: its work is stopped and it reports "lost".
      assert.equal(await a.done, "lost");
      const lostAfter = Date.now() - cutAt;
      assert.equal(a.leading, false);
      await pollUntil("b leads", WAIT_MS, () => b.leading);
      const takeover = (b.becameLeaderAt ?? 0) - cutAt;
      // Bound from the configuration: b waited the lease duration out after a's last renewal.
      assert.ok(
        (b.becameLeaderAt ?? 0) >= renewedAt + TIMING.leaseDurationMs,
        `b led ${(b.becameLeaderAt ?? 0) - renewedAt} ms after a's last renewal`,
      );
      console.log(
        `old leader stopped after ${lostAfter} ms; standby took over after ${takeover} ms`,
      );
      // Never two leaders: a stopped (renew deadline) before b could take over (lease duration).
      assert.equal(shared.maxLeaders, 1);
      const lease = await readLease(ns);
      assert.equal(lease.spec?.holderIdentity, "b");
      assert.equal(lease.spec?.leaseDurationSeconds, 3);
    } finally {
      b.stop.abort();
      await b.done.catch(() => {});
      b.close();
    }
  } finally {
    a.stop.abort();
    await a.done.catch(() => {});
    a.close();
  }
});

Deno.test("a released lease has no holder and a one-second duration", async () => {
  const env = await testEnv();
  const ns = await env.newNamespace("leader-released");
  const shared = { leaders: 0, maxLeaders: 0 };
  const a = await candidate("a", ns, shared);
  try {
    await pollUntil("a leads", WAIT_MS, () => a.leading);
    const held = await readLease(ns);
    assert.equal(held.spec?.holderIdentity, "a");
    assert.equal(held.spec?.leaseDurationSeconds, 3);
    assert.match(held.spec?.renewTime ?? "", /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    a.stop.abort();
    assert.equal(await a.done, "stopped");
    const released = await readLease(ns);
    assert.equal(released.spec?.holderIdentity ?? "", "");
    assert.equal(released.spec?.leaseDurationSeconds, 1);
  } finally {
    a.stop.abort();
    await a.done.catch(() => {});
    a.close();
  }
});
