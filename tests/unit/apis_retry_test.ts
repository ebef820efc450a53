import { equal, ok, rejects } from "node:assert/strict";
import { FakeClock } from "../../apis/clock.ts";
import { ConnectionError } from "../../apis/errors.ts";
import { withRetry } from "../../apis/retry.ts";
import type { KubeRequest, Transport } from "../../apis/transport.ts";
import { pollUntil } from "../harness/poll.ts";

/** In-process state: poll every macrotask; the deadline only bounds a failure. */
const until = (cond: () => boolean, what: string) =>
  pollUntil(what, 30_000, cond, { intervalMs: 0 });

type Outcome = number | "refused";

/** A transport that answers from a script and records attempts. */
function scripted(outcomes: Outcome[], headers: Record<string, string> = {}) {
  const calls: KubeRequest[] = [];
  const t: Transport = (req) => {
    calls.push(req);
    const o = outcomes[Math.min(calls.length - 1, outcomes.length - 1)];
    if (o === "refused") {
      return Promise.reject(new ConnectionError("https://x", new Error("refused")));
    }
    return Promise.resolve(new Response("{}", { status: o, headers }));
  };
  return { t, calls };
}

/** Run `req` through `withRetry`, advancing the fake clock whenever a retry waits. */
async function drive(inner: Transport, req: KubeRequest, clock: FakeClock) {
  const t = withRetry(inner, { clock, random: () => 0.5, maxAttempts: 4 });
  let settled = false;
  const p = t(req);
  p.then(() => settled = true, () => settled = true);
  const waits: number[] = [];
  while (!settled) {
    await until(() => settled || clock.pending > 0, "a retry wait or the result");
    if (settled) break;
    const next = clock.nextTimerAt() ?? clock.now();
    waits.push(next - clock.now());
    clock.advance(next - clock.now());
  }
  return { p, waits };
}

const get: KubeRequest = { method: "GET", path: "/api/v1/namespaces/a/configmaps/x" };
const post: KubeRequest = { method: "POST", path: "/api/v1/namespaces/a/configmaps", body: "{}" };
const apply: KubeRequest = {
  method: "PATCH",
  path: "/api/v1/namespaces/a/configmaps/x",
  headers: { "Content-Type": "application/apply-patch+yaml" },
  body: "{}",
};

Deno.test("which failures are retried for which verbs", async (t) => {
  const cases: {
    name: string;
    req: KubeRequest;
    outcomes: Outcome[];
    attempts: number;
    final: Outcome;
  }[] = [
    { name: "GET 503 then 200", req: get, outcomes: [503, 200], attempts: 2, final: 200 },
    { name: "GET gives up after maxAttempts", req: get, outcomes: [500], attempts: 4, final: 500 },
    { name: "POST 429 is retried", req: post, outcomes: [429, 201], attempts: 2, final: 201 },
    { name: "POST 500 is not retried", req: post, outcomes: [500, 201], attempts: 1, final: 500 },
    {
      name: "apply PATCH 500 is retried",
      req: apply,
      outcomes: [500, 200],
      attempts: 2,
      final: 200,
    },
    { name: "501 is never retried", req: get, outcomes: [501, 200], attempts: 1, final: 501 },
    { name: "409 is not retried", req: get, outcomes: [409, 200], attempts: 1, final: 409 },
    {
      name: "GET connection refused then 200",
      req: get,
      outcomes: ["refused", 200],
      attempts: 2,
      final: 200,
    },
    {
      name: "POST connection refused is not retried",
      req: post,
      outcomes: ["refused", 201],
      attempts: 1,
      final: "refused",
    },
    {
      name: "watch is left to the informer",
      req: { ...get, query: { watch: true } },
      outcomes: [503, 200],
      attempts: 1,
      final: 503,
    },
  ];
  for (const c of cases) {
    await t.step(c.name, async () => {
      const clock = new FakeClock();
      const { t: inner, calls } = scripted(c.outcomes);
      const { p } = await drive(inner, c.req, clock);
      if (c.final === "refused") await rejects(p, ConnectionError);
      else equal((await p).status, c.final);
      equal(calls.length, c.attempts);
    });
  }
});

Deno.test("retry waits grow and Retry-After is honoured when longer", async () => {
  const clock = new FakeClock();
  const { t: inner } = scripted([503, 503, 503, 200]);
  const { p, waits } = await drive(inner, get, clock);
  equal((await p).status, 200);
  ok(waits.length === 3 && waits[0] < waits[1] && waits[1] < waits[2], `waits ${waits}`);

  const clock2 = new FakeClock();
  const { t: inner2 } = scripted([429, 200], { "Retry-After": "7" });
  const r2 = await drive(inner2, post, clock2);
  equal((await r2.p).status, 200);
  equal(r2.waits[0], 7_000);
});

Deno.test("429 is retried for every verb up to maxThrottledAttempts, each retry reported", async (t) => {
  for (const req of [get, post, apply, { ...post, method: "DELETE" as const }]) {
    await t.step(`${req.method}${req.headers ? " (apply)" : ""}`, async () => {
      const clock = new FakeClock();
      const seen: { attempt: number; retryAfterMs: number; method: string }[] = [];
      const { t: inner, calls } = scripted([429, 429, 429, 429, 429, 429, 201], {
        "Retry-After": "2",
      });
      const rt = withRetry(inner, {
        clock,
        random: () => 0.5,
        maxAttempts: 4,
        onThrottled: (i) => seen.push(i),
      });
      let settled = false;
      const p = rt(req);
      p.then(() => settled = true, () => settled = true);
      while (!settled) {
        await until(() => settled || clock.pending > 0, "a retry wait or the result");
        if (!settled) clock.advance((clock.nextTimerAt() ?? clock.now()) - clock.now());
      }
      equal((await p).status, 201, "retried beyond maxAttempts (4): the server processed nothing");
      equal(calls.length, 7);
      equal(seen.length, 6);
      ok(
        seen.every((s, i) =>
          s.attempt === i + 1 && s.retryAfterMs >= 2_000 && s.method === req.method
        ),
      );
    });
  }
  await t.step("gives up after maxThrottledAttempts", async () => {
    const clock = new FakeClock();
    const { t: inner, calls } = scripted([429]);
    const rt = withRetry(inner, { clock, random: () => 0.5, maxThrottledAttempts: 3 });
    let settled = false;
    const p = rt(post);
    p.then(() => settled = true, () => settled = true);
    while (!settled) {
      await until(() => settled || clock.pending > 0, "a retry wait or the result");
      if (!settled) clock.advance((clock.nextTimerAt() ?? clock.now()) - clock.now());
    }
    equal((await p).status, 429);
    equal(calls.length, 5, "never fewer attempts than maxAttempts (default 5)");
  });
});
