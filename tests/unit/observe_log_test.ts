import assert from "node:assert/strict";
import { errorText, formatLine, Logger, type LogLevel } from "../../observe/log.ts";

function capture(level: LogLevel) {
  const lines: string[] = [];
  const logger = new Logger({ level, sink: (l) => lines.push(l), now: () => 0 });
  return { logger, records: () => lines.map((l) => JSON.parse(l)) };
}

Deno.test("each level keeps its own and higher levels only", async (t) => {
  const table: [LogLevel, string[]][] = [
    ["debug", ["debug", "info", "warn", "error"]],
    ["info", ["info", "warn", "error"]],
    ["warn", ["warn", "error"]],
    ["error", ["error"]],
  ];
  for (const [level, kept] of table) {
    await t.step(`${JSON.stringify(level)}`, () => {
      const { logger, records } = capture(level);
      logger.debug("d");
      logger.info("i");
      logger.warn("w");
      logger.error("e");
      assert.deepEqual(records().map((r) => r.level), kept, level);
    });
  }
});

Deno.test("a line is one JSON object: time, level, msg first, then fields", () => {
  const { logger } = capture("info");
  const lines: string[] = [];
  new Logger({ sink: (l) => lines.push(l), now: () => Date.UTC(2025, 0, 2, 3, 4, 5, 6) })
    .info("reconciled", { binding: "ns/a", reason: "Reconciled" });
  assert.equal(
    lines[0],
    '{"time":"2025-01-02T03:04:05.006Z","level":"info","msg":"reconciled","binding":"ns/a","reason":"Reconciled"}',
  );
  assert.ok(!lines[0].includes("\n"));
  assert.ok(logger.enabled("error") && !logger.enabled("debug"));
});

Deno.test("child loggers bind fields; call fields win; reserved keys cannot be replaced", () => {
  const { logger, records } = capture("info");
  const child = logger.child({ binding: "ns/a", component: "controller" });
  child.info("x", { binding: "ns/b", msg: "sneaky", level: "error" });
  child.child({ reason: "R" }).warn("y");
  assert.deepEqual(records(), [
    {
      time: "1970-01-01T00:00:00.000Z",
      level: "info",
      msg: "x",
      binding: "ns/b",
      component: "controller",
      "field.msg": "sneaky",
      "field.level": "error",
    },
    {
      time: "1970-01-01T00:00:00.000Z",
      level: "warn",
      msg: "y",
      binding: "ns/a",
      component: "controller",
      reason: "R",
    },
  ]);
});

Deno.test("awkward field values still make one valid line, errors without stacks", () => {
  const circular: Record<string, unknown> = {};
  circular.self = circular;
  const err = new Error("outer\nsecond line", { cause: new Error("inner") });
  const line = formatLine("t", "error", "m", {
    err,
    big: 10n,
    gone: undefined,
    circular,
  });
  const rec = JSON.parse(line);
  assert.equal(rec.err, "outer second line: inner");
  assert.equal(rec.big, "10");
  assert.ok(!("gone" in rec));
  assert.equal(rec.circular, "[object Object]");
  assert.ok(!line.includes("\n") && !line.includes("    at "));
  assert.equal(errorText("plain"), "plain");
});
