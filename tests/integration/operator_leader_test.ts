/**
 * Lease leader election against a real API server (in-process electors, each with its own
 * transport): one leader at a time, release hands over at once, a silent leader is replaced
 * after the lease duration, a leader that cannot renew gives up.
 */
import assert from "node:assert/strict";
import { connect } from "../../apis/connect.ts";
import { ResourceClient } from "../../apis/rest.ts";
import type { KubeRequest, Transport } from "../../apis/transport.ts";
import { RestClient } from "../../apis/rest.ts";
import { Logger } from "../../observe/log.ts";
import {
  LeaderElector,
  type LeadershipEnd,
  LEASE_DESCRIPTOR,
  LEASE_NAME,
  type LeaseObject,
} from "../../operator/leader.ts";
import { testEnv } from "../harness/env.ts";

const TIMING = { leaseDurationMs: 3_000, renewDeadlineMs: 2_000, retryPeriodMs: 250 };
const quiet = new Logger({ level: "error", sink: () => {} });

async function pollUntil(
  what: string,
  deadlineMs: number,
  check: () => boolean | Promise<boolean>,
) {
  const end = Date.now() + deadlineMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`${what}: not true after ${deadlineMs} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** A transport that can be cut off (every request then fails like a dead network). */
function cuttable(inner: Transport): { transport: Transport; cut(): void } {
  let dead = false;
  return {
    transport: (req: KubeRequest) =>
      dead ? Promise.reject(new Error("network cut by the test")) : inner(req),
    cut: () => dead = true,
  };
}

interface Candidate {
  name: string;
  leading: boolean;
  becameLeaderAt?: number;
  stop: AbortController;
  done: Promise<LeadershipEnd>;
  cut(): void;
  close(): void;
}

async function candidate(
  name: string,
  namespace: string,
  shared: { leaders: number; maxLeaders: number },
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
    close: conn.close,
  };
  const elector = new LeaderElector({
    leases,
    namespace,
    identity: name,
    ...TIMING,
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

Deno.test("two candidates: exactly one leads; stopping it releases the lease and the other takes over at once", async () => {
  const env = await testEnv();
  const ns = await env.newNamespace("leader-release");
  const shared = { leaders: 0, maxLeaders: 0 };
  const a = await candidate("a", ns, shared);
  const b = await candidate("b", ns, shared);
  try {
    await pollUntil("a leader", 10_000, () => a.leading || b.leading);
    // Several renew periods with both campaigning: still exactly one leader.
    const first = a.leading ? a : b;
    const second = first === a ? b : a;
    const until = Date.now() + 4 * TIMING.retryPeriodMs;
    await pollUntil("four retry periods", 10_000, () => {
      assert.equal(shared.leaders, 1);
      return Date.now() > until;
    });
    assert.equal((await readLease(ns)).spec?.holderIdentity, first.name);

    const stoppedAt = Date.now();
    first.stop.abort();
    assert.equal(await first.done, "stopped");
    const released = await readLease(ns);
    // Either still released, or already taken by the standby.
    assert.ok(
      released.spec?.holderIdentity === "" || released.spec?.holderIdentity === second.name,
      JSON.stringify(released.spec),
    );
    await pollUntil("standby leads", TIMING.leaseDurationMs, () => second.leading);
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
    await pollUntil("a leads", 10_000, () => a.leading);
    const b = await candidate("b", ns, shared);
    try {
      // Let b observe a's renewals for a while, then cut a off the network.
      await new Promise((r) => setTimeout(r, 3 * TIMING.retryPeriodMs));
      const cutAt = Date.now();
      a.cut();
      // a gives up after the renew deadline: its work is stopped and it reports "lost".
      assert.equal(await a.done, "lost");
      const lostAfter = Date.now() - cutAt;
      assert.equal(a.leading, false);
      await pollUntil(
        "b leads",
        TIMING.leaseDurationMs + 4 * TIMING.retryPeriodMs + 2_000,
        () => b.leading,
      );
      const takeover = (b.becameLeaderAt ?? 0) - cutAt;
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
    await pollUntil("a leads", 10_000, () => a.leading);
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
