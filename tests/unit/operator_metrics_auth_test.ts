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
