import { deepEqual, equal } from "node:assert/strict";
import { Logger } from "../../observe/log.ts";
import { THROTTLE_LOG_INTERVAL_MS, throttleLogger } from "../../operator/run.ts";

Deno.test("throttling is logged as one warn line per interval, counting the 429s between", () => {
  const lines: Record<string, unknown>[] = [];
  let now = 0;
  const log = throttleLogger(new Logger({ sink: (l) => lines.push(JSON.parse(l)) }), () => now);
  const info = { method: "POST" as const, path: "/apis/x", retryAfterMs: 1_000, attempt: 1 };
  log(info);
  for (let i = 0; i < 5; i++) log(info);
  equal(lines.length, 1, "the repeats within the interval are only counted");
  now += THROTTLE_LOG_INTERVAL_MS;
  log(info);
  equal(lines.length, 2);
  deepEqual(
    lines.map((l) => [l.level, l.msg, l.throttled]),
    [
      ["warn", "API server is throttling requests; retrying after Retry-After", 1],
      ["warn", "API server is throttling requests; retrying after Retry-After", 6],
    ],
  );
});
