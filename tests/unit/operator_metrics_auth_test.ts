/**
 * Delegated authentication/authorization of /metrics (operator/metricsauth.ts) with a scripted
 * reviewer and a FakeClock: the status for each kind of caller, the short cache, and that a
 * failed review is never cached. The real API server path is tests/integration/metrics_secure_test.ts.
 */
import assert from "node:assert/strict";
import { FakeClock } from "../../apis/clock.ts";
import { Logger } from "../../observe/log.ts";
import { routes } from "../../operator/http.ts";
import {
  bearerToken,
  DEFAULT_AUTH_TTL_MS,
  DelegatedAuth,
  type Reviewer,
  type UserInfo,
} from "../../operator/metricsauth.ts";

const quiet = new Logger({ level: "error", sink: () => {} });

/** Tokens "reader" (allowed), "other" (authenticated, not allowed); anything else is rejected. */
function scripted(opts: { fail?: () => boolean } = {}) {
  const calls: string[] = [];
  const reviewer: Reviewer = {
    authenticate(token) {
      calls.push(`tokenreview ${token}`);
      if (opts.fail?.()) return Promise.reject(new Error("connection refused"));
      const user: UserInfo | undefined = token === "reader" || token === "other"
        ? { username: `system:serviceaccount:m:${token}`, groups: ["system:serviceaccounts"] }
        : undefined;
      return Promise.resolve(user);
    },
    authorize(user, verb, path) {
      calls.push(`sar ${user.username} ${verb} ${path}`);
      return Promise.resolve(user.username.endsWith(":reader"));
    },
  };
  return { reviewer, calls };
}

Deno.test("bearer tokens are taken only from a well-formed Authorization header", () => {
  assert.equal(bearerToken("Bearer abc"), "abc");
  assert.equal(bearerToken("bearer abc"), "abc");
  assert.equal(bearerToken(null), undefined);
  assert.equal(bearerToken("Basic dXNlcjpwdw=="), undefined);
  assert.equal(bearerToken("Bearer "), undefined);
  assert.equal(bearerToken("Bearer a b"), undefined);
});

Deno.test("each caller gets its status: 401 without or with a bad token, 403 not allowed, 200 allowed", async (t) => {
  const { reviewer, calls } = scripted();
  const auth = new DelegatedAuth({ reviewer, logger: quiet, clock: new FakeClock(0) });
  await t.step("no Authorization header: 401 without asking the API server", async () => {
    assert.equal((await auth.check(null, "/metrics")).status, 401);
    assert.deepEqual(calls, []);
  });
  await t.step("a token the API server does not accept: 401, no access review", async () => {
    assert.equal((await auth.check("Bearer garbage", "/metrics")).status, 401);
    assert.deepEqual(calls, ["tokenreview garbage"]);
  });
  await t.step("authenticated but not allowed to get /metrics: 403 naming the user", async () => {
    const d = await auth.check("Bearer other", "/metrics");
    assert.equal(d.status, 403);
    assert.match("message" in d ? d.message : "", /system:serviceaccount:m:other may not get/);
  });
  await t.step(
    "allowed: 200, after a TokenReview and a SubjectAccessReview for get /metrics",
    async () => {
      calls.length = 0;
      assert.deepEqual(await auth.check("Bearer reader", "/metrics"), {
        status: 200,
        user: "system:serviceaccount:m:reader",
      });
      assert.deepEqual(calls, [
        "tokenreview reader",
        "sar system:serviceaccount:m:reader get /metrics",
      ]);
    },
  );
});

Deno.test("decisions are cached for the TTL, then reviewed again", async () => {
  const clock = new FakeClock(0);
  const { reviewer, calls } = scripted();
  const auth = new DelegatedAuth({ reviewer, logger: quiet, clock });
  for (const token of ["reader", "other", "garbage"]) {
    await auth.check(`Bearer ${token}`, "/metrics");
  }
  const first = calls.length;
  clock.advance(DEFAULT_AUTH_TTL_MS - 1);
  assert.equal((await auth.check("Bearer reader", "/metrics")).status, 200);
  assert.equal((await auth.check("Bearer other", "/metrics")).status, 403);
  assert.equal((await auth.check("Bearer garbage", "/metrics")).status, 401);
  assert.equal(calls.length, first, "a cached decision asked the API server again");
  clock.advance(1);
  assert.equal((await auth.check("Bearer reader", "/metrics")).status, 200);
  assert.equal(calls.length, first + 2, "an expired decision was not reviewed again");
});

Deno.test("concurrent requests with one token share one review", async () => {
  const { reviewer, calls } = scripted();
  const auth = new DelegatedAuth({ reviewer, logger: quiet, clock: new FakeClock(0) });
  const all = await Promise.all(
    Array.from({ length: 5 }, () => auth.check("Bearer reader", "/metrics")),
  );
  assert.ok(all.every((d) => d.status === 200));
  assert.equal(calls.filter((c) => c.startsWith("tokenreview")).length, 1);
});

Deno.test("a failed review answers 503 and is not cached", async () => {
  let failing = true;
  const { reviewer, calls } = scripted({ fail: () => failing });
  const auth = new DelegatedAuth({ reviewer, logger: quiet, clock: new FakeClock(0) });
  assert.equal((await auth.check("Bearer reader", "/metrics")).status, 503);
  failing = false;
  assert.equal((await auth.check("Bearer reader", "/metrics")).status, 200);
  assert.equal(calls.filter((c) => c.startsWith("tokenreview")).length, 2);
});

Deno.test("the /metrics route serves the exposition only to an allowed caller", async () => {
  const { reviewer } = scripted();
  const auth = new DelegatedAuth({ reviewer, logger: quiet, clock: new FakeClock(0) });
  const table = routes({ metrics: true, health: true }, {
    metrics: () => "secret_metric 1\n",
    ready: () => true,
    authorizeMetrics: (h, p) => auth.check(h, p),
  });
  const get = async (path: string, token?: string) => {
    const headers: Record<string, string> = token ? { Authorization: `Bearer ${token}` } : {};
    const r = await table.get(path)!(new Request(`https://x${path}`, { headers }));
    return { status: r.status, body: await r.text(), challenge: r.headers.get("www-authenticate") };
  };
  const anonymous = await get("/metrics");
  assert.equal(anonymous.status, 401);
  assert.match(anonymous.challenge ?? "", /^Bearer /);
  assert.ok(!anonymous.body.includes("secret_metric"));
  const denied = await get("/metrics", "other");
  assert.equal(denied.status, 403);
  assert.ok(!denied.body.includes("secret_metric"));
  assert.deepEqual(await get("/metrics", "reader"), {
    status: 200,
    body: "secret_metric 1\n",
    challenge: null,
  });
  // Probes stay open: kubelets send no token.
  assert.equal((await get("/healthz")).status, 200);
});

/** A reviewer whose TokenReviews wait until released (or until their signal aborts). */
/**
 * A reviewer whose answers the test gives by hand. `reviewing(n)` resolves once n reviews have
 * reached it: the token's hash is computed off the JavaScript thread (crypto.subtle), so how many
 * timer turns that takes depends on the machine's load, and only the reviewer can tell.
 */
function held() {
  const pending: { token: string; signal?: AbortSignal; answer: () => void }[] = [];
  const waiters: { n: number; resolve: () => void }[] = [];
  const reviewer: Reviewer = {
    authenticate(token, signal) {
      return new Promise((resolve, reject) => {
        signal?.addEventListener("abort", () => reject(signal.reason), { once: true });
        pending.push({ token, signal, answer: () => resolve(undefined) });
        for (const w of waiters.filter((w) => pending.length >= w.n)) w.resolve();
      });
    },
    authorize: () => Promise.resolve(false),
  };
  const reviewing = (n: number) =>
    pending.length >= n ? Promise.resolve() : new Promise<void>((resolve) => {
      waiters.push({ n, resolve });
    });
  return { reviewer, pending, reviewing };
}

Deno.test("reviews beyond the concurrency cap are refused at once with 429, not queued", async () => {
  const { reviewer, pending, reviewing } = held();
  const results: string[] = [];
  const auth = new DelegatedAuth({
    reviewer,
    logger: quiet,
    clock: new FakeClock(0),
    maxConcurrentReviews: 3,
    onDecision: (r) => results.push(r),
  });
  const first = Array.from({ length: 3 }, (_, i) => auth.check(`Bearer t${i}`, "/metrics"));
  await reviewing(3);
  assert.equal(auth.reviewsInFlight, 3);
  const excess = await auth.check("Bearer t3", "/metrics");
  assert.equal(excess.status, 429);
  assert.equal(pending.length, 3, "the refused caller cost a review");
  for (const p of pending) p.answer();
  assert.deepEqual((await Promise.all(first)).map((d) => d.status), [401, 401, 401]);
  assert.equal(auth.reviewsInFlight, 0);
  // The refusal is not cached: with a slot free the same caller is reviewed.
  const again = auth.check("Bearer t3", "/metrics");
  await reviewing(4);
  pending[3].answer();
  assert.equal((await again).status, 401);
  assert.deepEqual(results, [
    "throttled",
    "unauthenticated",
    "unauthenticated",
    "unauthenticated",
    "unauthenticated",
  ]);
});

Deno.test("a caller that hangs up cancels its review unless another caller still waits", async (t) => {
  await t.step(
    "the only caller hangs up: the review's signal aborts and its slot frees",
    async () => {
      const { reviewer, pending, reviewing } = held();
      const auth = new DelegatedAuth({ reviewer, logger: quiet, clock: new FakeClock(0) });
      const caller = new AbortController();
      const check = auth.check("Bearer x", "/metrics", caller.signal);
      await reviewing(1);
      assert.equal(pending.length, 1);
      caller.abort(new Error("hung up"));
      await assert.rejects(check, /hung up/);
      assert.equal(pending[0].signal?.aborted, true);
      await new Promise((r) => setTimeout(r, 0));
      assert.equal(auth.reviewsInFlight, 0);
    },
  );
  await t.step("one of two callers hangs up: the review goes on for the other", async () => {
    const { reviewer, pending } = held();
    const auth = new DelegatedAuth({ reviewer, logger: quiet, clock: new FakeClock(0) });
    const a = new AbortController();
    const b = new AbortController();
    const first = auth.check("Bearer x", "/metrics", a.signal);
    const second = auth.check("Bearer x", "/metrics", b.signal);
    await new Promise((r) => setTimeout(r, 0));
    assert.equal(pending.length, 1, "two callers with one token share one review");
    a.abort(new Error("hung up"));
    await assert.rejects(first, /hung up/);
    assert.equal(pending[0].signal?.aborted, false);
    pending[0].answer();
    assert.equal((await second).status, 401);
  });
});

Deno.test("the /metrics route answers 429 with Retry-After and passes the caller's signal", async () => {
  const seen: AbortSignal[] = [];
  const table = routes({ metrics: true, health: false }, {
    metrics: () => "m 1\n",
    ready: () => true,
    authorizeMetrics: (_h, _p, signal) => {
      seen.push(signal);
      return Promise.resolve({ status: 429, message: "too many" });
    },
  });
  const req = new Request("https://x/metrics", { headers: { Authorization: "Bearer a" } });
  const r = await table.get("/metrics")!(req);
  assert.equal(r.status, 429);
  assert.equal(r.headers.get("retry-after"), "1");
  await r.body?.cancel();
  assert.equal(seen[0], req.signal);
});
