import assert from "node:assert/strict";
import { Metrics } from "../../observe/metrics.ts";
import {
  Counter,
  escapeHelp,
  escapeLabelValue,
  formatValue,
  Gauge,
  Histogram,
  Registry,
} from "../../observe/prometheus.ts";

Deno.test("counter and gauge render HELP, TYPE and sorted series in text format 0.0.4", () => {
  const r = new Registry();
  const c = r.register(new Counter("jobs_total", "Jobs done.", ["kind", "code"]));
  const g = r.register(new Gauge("depth", "Queue depth.", []));
  c.inc({ kind: "b", code: "200" });
  c.inc({ kind: "a", code: "500" }, 2);
  c.inc({ kind: "b", code: "200" });
  g.set({}, 3);
  g.dec({});
  assert.equal(
    r.expose(),
    [
      "# HELP jobs_total Jobs done.",
      "# TYPE jobs_total counter",
      'jobs_total{kind="a",code="500"} 2',
      'jobs_total{kind="b",code="200"} 2',
      "# HELP depth Queue depth.",
      "# TYPE depth gauge",
      "depth 2",
      "",
    ].join("\n"),
  );
});

Deno.test("histogram renders cumulative buckets, +Inf, sum and count", () => {
  const r = new Registry();
  const h = r.register(new Histogram("lat_seconds", "Latency.", ["op"], [0.1, 1]));
  for (const v of [0.05, 0.1, 0.5, 3]) h.observe({ op: "x" }, v);
  assert.equal(
    r.expose(),
    [
      "# HELP lat_seconds Latency.",
      "# TYPE lat_seconds histogram",
      'lat_seconds_bucket{op="x",le="0.1"} 2',
      'lat_seconds_bucket{op="x",le="1"} 3',
      'lat_seconds_bucket{op="x",le="+Inf"} 4',
      'lat_seconds_sum{op="x"} 3.65',
      'lat_seconds_count{op="x"} 4',
      "",
    ].join("\n"),
  );
});

Deno.test("label values and help text are escaped", async (t) => {
  const cases: [string, string][] = [
    ["plain", "plain"],
    ['say "hi"', 'say \\"hi\\"'],
    ["back\\slash", "back\\\\slash"],
    ["two\nlines", "two\\nlines"],
  ];
  for (const [raw, want] of cases) {
    await t.step(raw, () => {
      assert.equal(escapeLabelValue(raw), want, raw);
    });
  }
  assert.equal(escapeHelp('a\\b\n"c"'), 'a\\\\b\\n"c"');

  const r = new Registry();
  r.register(new Counter("x_total", "Line one\nline two.", ["v"])).inc({ v: 'q"\n\\' });
  assert.match(r.expose(), /^# HELP x_total Line one\\nline two\.$/m);
  assert.match(r.expose(), /^x_total\{v="q\\"\\n\\\\"\} 1$/m);
});

Deno.test("special values use the text format's spelling", () => {
  assert.equal(formatValue(Infinity), "+Inf");
  assert.equal(formatValue(-Infinity), "-Inf");
  assert.equal(formatValue(NaN), "NaN");
  assert.equal(formatValue(0.25), "0.25");
});

Deno.test("invalid names, reserved labels, falling counters and duplicates are rejected", () => {
  assert.throws(() => new Counter("1bad", "x", []), /invalid metric name/);
  assert.throws(() => new Counter("ok", "x", ["__x"] as const), /invalid label name/);
  assert.throws(() => new Histogram("h", "x", ["le"] as const), /reserved/);
  assert.throws(() => new Histogram("h", "x", [], [1, 1]), /strictly increasing/);
  assert.throws(() => new Counter("c", "x", []).inc({}, -1), /cannot decrease/);
  const r = new Registry();
  r.register(new Gauge("g", "x", []));
  assert.throws(() => r.register(new Gauge("g", "x", [])), /registered twice/);
});

Deno.test("kleym's metrics are all exported with their label names", () => {
  const m = new Metrics();
  m.bindingOutcomes.inc({ condition: "Ready", reason: "Reconciled", mode: "PoolOnly" });
  m.apiRequests.inc({ verb: "list", resource: "leases.coordination.k8s.io", code: "200" });
  m.watchRestarts.inc({ resource: "inferencepools" });
  m.reconcileDuration.observe({}, 0.02);
  m.workqueueDepth.set({}, 1);
  m.workqueueInFlight.set({}, 2);
  m.workqueueRetries.inc({});
  m.leader.set({}, 1);
  const text = m.expose();
  for (
    const line of [
      "# TYPE kleym_identity_binding_outcomes_total counter",
      'kleym_identity_binding_outcomes_total{condition="Ready",reason="Reconciled",mode="PoolOnly"} 1',
      "# TYPE kleym_identity_bindings gauge",
      "# TYPE kleym_reconcile_duration_seconds histogram",
      "kleym_reconcile_duration_seconds_count 1",
      "kleym_workqueue_depth 1",
      "# TYPE kleym_workqueue_in_flight gauge",
      "kleym_workqueue_in_flight 2",
      "kleym_workqueue_retries_total 1",
      'kleym_api_requests_total{verb="list",resource="leases.coordination.k8s.io",code="200"} 1',
      'kleym_watch_restarts_total{resource="inferencepools"} 1',
      "kleym_leader 1",
    ]
  ) {
    assert.ok(text.split("\n").includes(line), `missing line: ${line}\n${text}`);
  }
});

Deno.test("the bindings gauge follows each binding's current outcome exactly", async (t) => {
  const m = new Metrics();
  const ready = { condition: "Ready", reason: "Reconciled", mode: "PerObjective" };
  const conflict = { condition: "Conflict", reason: "IdentityCollision", mode: "PerObjective" };
  const steps: [string, typeof ready | undefined, number, number][] = [
    // key, new outcome, expected ready count, expected conflict count
    ["ns/a", ready, 1, 0],
    ["ns/b", ready, 2, 0],
    ["ns/a", ready, 2, 0], // same outcome again: no change
    ["ns/a", conflict, 1, 1],
    ["ns/b", conflict, 0, 2],
    ["ns/a", undefined, 0, 1], // deleted
    ["ns/a", undefined, 0, 1], // deleting twice is harmless
  ];
  for (const [key, outcome, wantReady, wantConflict] of steps) {
    await t.step(`${JSON.stringify(key)}`, () => {
      m.setBindingState(key, outcome);
      assert.equal(m.bindings.get(ready), wantReady, `${key} -> ${outcome?.condition}`);
      assert.equal(m.bindings.get(conflict), wantConflict, `${key} -> ${outcome?.condition}`);
    });
  }
});

Deno.test("unlabelled kleym metrics are exported at zero before anything happens", () => {
  const text = new Metrics().expose().split("\n");
  for (
    const line of [
      "kleym_reconcile_duration_seconds_count 0",
      "kleym_workqueue_depth 0",
      "kleym_workqueue_in_flight 0",
      "kleym_workqueue_retries_total 0",
      "kleym_leader 0",
    ]
  ) {
    assert.ok(text.includes(line), line);
  }
});

Deno.test("process metrics are read at scrape time and agree with the runtime and /proc", async () => {
  const text = await new Metrics().scrape();
  const value = (name: string) => {
    const line = text.split("\n").find((l) => l.startsWith(`${name} `));
    assert.ok(line, `${name} missing:\n${text}`);
    return Number(line.slice(name.length + 1));
  };
  assert.match(text, /^# TYPE process_cpu_seconds_total counter$/m);
  assert.match(text, /^# TYPE process_resident_memory_bytes gauge$/m);
  assert.match(text, /^kleym_build_info\{version="[^"]+"\} 1$/m);
  const rss = value("process_resident_memory_bytes");
  const status = Deno.readTextFileSync("/proc/self/status");
  const procRss = Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1]) * 1024;
  // both read the same kernel counter moments apart: within 10 %
  assert.ok(Math.abs(rss - procRss) / procRss < 0.1, `metrics ${rss} vs /proc ${procRss}`);
  assert.ok(value("process_cpu_seconds_total") > 0);
  const start = value("process_start_time_seconds");
  assert.ok(start <= Date.now() / 1000 && start > Date.now() / 1000 - 3600, `start ${start}`);
  assert.ok(value("deno_heap_used_bytes") > 0);
  assert.ok(value("deno_heap_total_bytes") >= value("deno_heap_used_bytes"));
});

Deno.test("the event recorder's counters land in kleym_events_*", () => {
  const m = new Metrics();
  const o = m.eventObserver();
  o.recorded?.("Normal");
  o.aggregated?.();
  o.written?.("patch");
  o.dropped?.("buffer_full");
  o.buffered?.(3);
  const text = m.expose().split("\n");
  for (
    const line of [
      'kleym_events_recorded_total{type="Normal"} 1',
      "kleym_events_aggregated_total 1",
      'kleym_events_written_total{op="patch"} 1',
      'kleym_events_dropped_total{reason="buffer_full"} 1',
      "kleym_events_buffered 3",
    ]
  ) {
    assert.ok(text.includes(line), line);
  }
});
