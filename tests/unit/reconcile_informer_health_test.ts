/**
 * List/watch failures are logged at warn the first time each kind happens, at debug while they
 * repeat, with an info line on recovery; `kleym_informer_synced{resource}` follows the cache
 * (reconcile/informer_health.ts, docs/contract.md#metrics). A real Informer on a FakeClock
 * against a scripted transport: each LIST answers with the next scripted status.
 */
import { deepEqual, equal } from "node:assert/strict";
import { FakeClock } from "../../apis/clock.ts";
import { ConnectionError } from "../../apis/errors.ts";
import { WatchIdleError } from "../../apis/idle.ts";
import { type KubeObject, ResourceClient, RestClient } from "../../apis/rest.ts";
import type { Transport } from "../../apis/transport.ts";
import { Informer } from "../../apis/watch.ts";
import { Logger } from "../../observe/log.ts";
import { Metrics } from "../../observe/metrics.ts";
import { failureKind, InformerHealth } from "../../reconcile/informer_health.ts";
import { pollUntil } from "../harness/poll.ts";

const until = (cond: () => boolean, what: string) =>
  pollUntil(what, 30_000, cond, { intervalMs: 0 });

/** LIST answers in order (a status code, or 200 with an empty list); watches stay open. */
function scripted(answers: number[]): Transport {
  return (req) => {
    if (req.query?.watch) {
      return Promise.resolve(
        new Response(
          new ReadableStream({
            start: (ctl) =>
              req.signal?.addEventListener("abort", () => ctl.error(new Error("aborted"))),
          }),
        ),
      );
    }
    const code = answers.shift() ?? 200;
    const body = code === 200
      ? { kind: "List", metadata: { resourceVersion: "1" }, items: [] }
      : { kind: "Status", code, reason: code === 403 ? "Forbidden" : "InternalError" };
    return Promise.resolve(new Response(JSON.stringify(body), { status: code }));
  };
}

Deno.test("informer failures: warn once per kind, debug on repeats, info on recovery; synced gauge", async () => {
  const clock = new FakeClock();
  const lines: { level: string; msg: string; kind?: string }[] = [];
  const logger = new Logger({ level: "debug", sink: (l) => lines.push(JSON.parse(l)) });
  const metrics = new Metrics();
  const health = new InformerHealth(logger, metrics);
  const client = new ResourceClient<KubeObject>(
    new RestClient(scripted([403, 403, 403, 503, 403, 200])),
    { group: "", version: "v1", plural: "configmaps", kind: "ConfigMap", namespaced: true },
  );
  let informer: Informer<KubeObject> | undefined = undefined;
  informer = new Informer(client, {
    clock,
    random: () => 0.5,
    idleTimeoutMs: 0,
    onError: (e) => health.failed("configmaps", e),
    onStatus: (s) => health.status("configmaps", s, informer?.hasSynced() ?? false),
  });
  const ac = new AbortController();
  const done = informer.run(ac.signal);
  const synced = () => metrics.informerSynced.get({ resource: "configmaps" });
  for (let attempt = 1; attempt <= 6; attempt++) {
    await until(() => clock.pending === 1 || informer.hasSynced(), `attempt ${attempt}`);
    if (informer.hasSynced()) break;
    equal(synced(), 0);
    clock.advance(clock.nextTimerAt()! - clock.now());
  }
  await until(() => informer.hasSynced(), "synced");
  const seen = lines.filter((l) => l.level !== "debug" || l.msg.includes("failed"))
    .map((l) => `${l.level} ${l.kind ?? l.msg}`);
  deepEqual(seen, [
    "warn HTTP 403 Forbidden",
    "debug HTTP 403 Forbidden",
    "debug HTTP 403 Forbidden",
    "warn HTTP 503 InternalError",
    "debug HTTP 403 Forbidden",
    "info list/watch recovered",
  ]);
  equal(synced(), 1);
  // A new episode warns afresh.
  health.failed("configmaps", new WatchIdleError(10));
  equal(lines.at(-1)?.level, "warn");
  ac.abort();
  await done;
  equal(synced(), 0, "a stopped informer is not synced");
});

Deno.test("failure kinds name the HTTP status, a timeout, no answer, an idle watch", () => {
  equal(failureKind(new WatchIdleError(1)), "watch idle");
  equal(
    failureKind(new ConnectionError("https://k", new DOMException("x", "TimeoutError"))),
    "request timeout",
  );
  equal(failureKind(new ConnectionError("https://k", new Error("refused"))), "no answer");
});
