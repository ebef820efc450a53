/**
 * The settle condition quiet-window tests rely on (tests/harness/settle.ts): pure logic, so it is
 * pinned here with scripted reads and a scripted transport.
 */
import { deepEqual, equal, rejects } from "node:assert/strict";
import type { KubeRequest, Transport } from "../../apis/transport.ts";
import {
  type Activity,
  activityFromMetrics,
  isEventWrite,
  trackTransport,
  waitSettled,
} from "../harness/settle.ts";

Deno.test("activityFromMetrics reads both queue gauges and sums only write requests", () => {
  const text = [
    "# TYPE kleym_workqueue_depth gauge",
    "kleym_workqueue_depth 2",
    "kleym_workqueue_in_flight 1",
    'kleym_api_requests_total{verb="create",resource="events.events.k8s.io",code="201"} 4',
    'kleym_api_requests_total{verb="patch",resource="inferenceidentitybindings.kleym.sonda.red",code="200"} 3',
    'kleym_api_requests_total{verb="list",resource="clusterspiffeids.spire.spiffe.io",code="200"} 9',
    'kleym_api_requests_total{verb="watch",resource="clusterspiffeids.spire.spiffe.io",code="200"} 2',
    // a secure scrape's own reviews are not writes of the operator's state
    'kleym_api_requests_total{verb="create",resource="tokenreviews.authentication.k8s.io",code="201"} 5',
    'kleym_api_requests_total{verb="create",resource="subjectaccessreviews.authorization.k8s.io",code="201"} 5',
    "",
  ].join("\n");
  deepEqual(activityFromMetrics(text), { depth: 2, inFlight: 1, pending: 0, writes: 7 });
  // A missing gauge can never look idle.
  equal(Number.isNaN(activityFromMetrics("").depth), true);
});

Deno.test("waitSettled needs consecutive idle reads with an unchanged write counter", async (t) => {
  const idle = (writes: number): Activity => ({ depth: 0, inFlight: 0, pending: 0, writes });
  const cases: { name: string; reads: Activity[]; settlesAt: number }[] = [
    { name: "idle from the start", reads: [idle(5), idle(5), idle(5)], settlesAt: 3 },
    {
      name: "a write between idle reads restarts the count",
      reads: [idle(5), idle(5), idle(6), idle(6), idle(6)],
      settlesAt: 5,
    },
    {
      name: "queue depth, in-flight and pending each break idleness",
      reads: [
        { ...idle(1), depth: 1 },
        idle(1),
        { ...idle(1), inFlight: 1 },
        idle(1),
        { ...idle(1), pending: 1 },
        idle(1),
        idle(1),
        idle(1),
      ],
      settlesAt: 8,
    },
  ];
  for (const c of cases) {
    await t.step(c.name, async () => {
      let n = 0;
      const last = await waitSettled("scripted", () => c.reads[Math.min(n++, c.reads.length - 1)], {
        intervalMs: 0,
      });
      equal(n, c.settlesAt);
      deepEqual(last, c.reads[c.settlesAt - 1]);
    });
  }
  await t.step("never idle: fails at the deadline", async () => {
    await rejects(
      waitSettled("busy", () => ({ depth: 1, inFlight: 0, writes: 0 }), {
        intervalMs: 0,
        deadlineMs: 50,
      }),
      /busy settled: not reached within 50 ms/,
    );
  });
});

Deno.test("trackTransport counts writes in flight and delays only matching requests", async () => {
  const sent: string[] = [];
  const release: (() => void)[] = [];
  const inner: Transport = (req) => {
    sent.push(`${req.method} ${req.path}`);
    return new Promise<Response>((resolve) =>
      release.push(() => resolve(new Response(null, { status: 200 })))
    );
  };
  const tracked = trackTransport(inner);
  const event: KubeRequest = { method: "POST", path: "/apis/events.k8s.io/v1/namespaces/a/events" };
  const status: KubeRequest = {
    method: "PUT",
    path: "/apis/kleym.sonda.red/v1alpha1/namespaces/a/inferenceidentitybindings/b/status",
  };
  const read: KubeRequest = { method: "GET", path: "/api/v1/namespaces/a/configmaps/x" };
  equal(isEventWrite(event), true);
  equal(isEventWrite(status), false);

  tracked.delayWhere(isEventWrite, 60_000);
  const ac = new AbortController();
  const delayed = tracked.transport({ ...event, signal: ac.signal });
  const plain = tracked.transport(status);
  const get = tracked.transport(read);
  // The status write and the read went out; the event waits in the injected delay, in flight.
  deepEqual(sent, [`PUT ${status.path}`, `GET ${read.path}`]);
  equal(tracked.writesInFlight(), 2);
  equal(tracked.writesStarted(), 2);
  release.forEach((r) => r());
  await Promise.all([plain, get]);
  equal(tracked.writesInFlight(), 1, "only the delayed event write is left");
  ac.abort(new Error("stop"));
  await rejects(delayed, /stop/);
  equal(tracked.writesInFlight(), 0);
});
