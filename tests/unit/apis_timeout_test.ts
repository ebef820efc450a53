/**
 * Every request but a watch has a deadline (apis/timeout.ts, docs/contract.md#dead-connections):
 * no answer, or an answer whose body stalls, fails with a retriable `ConnectionError` once the
 * deadline passes; a finished request leaves no timer behind; watches are left alone.
 */
import { equal, ok, rejects } from "node:assert/strict";
import { FakeClock } from "../../apis/clock.ts";
import { ConnectionError } from "../../apis/errors.ts";
import { withTimeout } from "../../apis/timeout.ts";
import type { KubeRequest, Transport } from "../../apis/transport.ts";

/** Answers never; the promise rejects with the signal's reason when it aborts. */
const silent: Transport = (req) =>
  new Promise((_, reject) => {
    req.signal?.addEventListener("abort", () => reject(req.signal?.reason), { once: true });
  });

/** Answers at once with headers, then a body that stalls until the signal aborts. */
const stallingBody: Transport = (req) => {
  const body = new ReadableStream<Uint8Array>({
    start(ctl) {
      ctl.enqueue(new TextEncoder().encode('{"kind":'));
      req.signal?.addEventListener("abort", () => ctl.error(req.signal?.reason), { once: true });
    },
  });
  return Promise.resolve(new Response(body));
};

const get = (query?: KubeRequest["query"]): KubeRequest => ({ method: "GET", path: "/api", query });

Deno.test("request deadline", async (t) => {
  await t.step("no answer: a ConnectionError (TimeoutError) at the deadline", async () => {
    const clock = new FakeClock();
    const transport = withTimeout(silent, { timeoutMs: 5_000, server: "https://k", clock });
    const pending = transport(get());
    clock.advance(4_999);
    clock.advance(1);
    await rejects(pending, (error) => {
      ok(error instanceof ConnectionError, String(error));
      ok(error.cause instanceof DOMException && error.cause.name === "TimeoutError");
      ok(error.message.includes("https://k") && error.message.includes("5000 ms"), error.message);
      return true;
    });
  });

  await t.step("a body that stalls after the headers fails at the deadline", async () => {
    const clock = new FakeClock();
    const transport = withTimeout(stallingBody, { timeoutMs: 5_000, server: "https://k", clock });
    const res = await transport(get());
    const text = res.text();
    clock.advance(5_000);
    await rejects(text, ConnectionError);
  });

  await t.step("a finished request leaves no timer; the caller's abort still works", async () => {
    const clock = new FakeClock();
    const quick = withTimeout(() => Promise.resolve(new Response("{}")), {
      timeoutMs: 5_000,
      server: "https://k",
      clock,
    });
    equal(await (await quick(get())).text(), "{}");
    equal(clock.pending, 0);
    const cancelled = withTimeout(silent, { timeoutMs: 5_000, server: "https://k", clock });
    const ac = new AbortController();
    const pending = cancelled({ ...get(), signal: ac.signal });
    ac.abort(new Error("caller gave up"));
    await rejects(pending, /caller gave up/);
    equal(clock.pending, 0);
  });

  await t.step(
    "the body stays the transport's own stream (read natively, not re-piped)",
    async () => {
      const clock = new FakeClock();
      let original: Response | undefined;
      const transport = withTimeout(() => {
        original = new Response('{"kind":"List"}', { status: 200, headers: { "x-a": "b" } });
        return Promise.resolve(original);
      }, { timeoutMs: 5_000, server: "https://k", clock });
      const res = await transport(get());
      ok(original !== undefined && res.body === original.body);
      equal(res.headers.get("x-a"), "b");
      equal(clock.pending, 1);
      equal(await res.text(), '{"kind":"List"}');
      equal(clock.pending, 0);
    },
  );

  await t.step("watches have no deadline (their idle limit is the informer's)", async () => {
    const clock = new FakeClock();
    let seen: KubeRequest | undefined;
    const transport = withTimeout((req) => {
      seen = req;
      return Promise.resolve(new Response("{}"));
    }, { timeoutMs: 5_000, server: "https://k", clock });
    const watch = get({ watch: true });
    await transport(watch);
    equal(seen, watch, "passed through untouched");
    equal(clock.pending, 0);
  });
});
