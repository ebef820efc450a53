import { deepEqual, equal, rejects } from "node:assert/strict";
import { splitLines, watchEvents } from "../../apis/stream.ts";
import type { KubeObject, WatchEvent } from "../../apis/rest.ts";

const enc = new TextEncoder();

function streamOf(chunks: Uint8Array[]): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(c) {
      for (const ch of chunks) c.enqueue(ch);
      c.close();
    },
  });
}

function chunksOf(bytes: Uint8Array, size: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < bytes.length; i += size) out.push(bytes.slice(i, i + size));
  return out;
}

async function collect<T>(s: ReadableStream<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const v of s) out.push(v);
  return out;
}

const identity = (u: unknown) => u as KubeObject;

const frames = [
  {
    type: "ADDED",
    object: {
      metadata: { name: "grüße-😀", namespace: "ns", resourceVersion: "10" },
      data: { k: "日本語 ✓ €" },
    },
  },
  {
    type: "MODIFIED",
    object: { metadata: { name: "b", resourceVersion: "11" }, data: { x: "\u{1F680}" } },
  },
  { type: "BOOKMARK", object: { kind: "ConfigMap", metadata: { resourceVersion: "12" } } },
  { type: "DELETED", object: { metadata: { name: "b", resourceVersion: "13" } } },
  {
    type: "ERROR",
    object: { kind: "Status", apiVersion: "v1", code: 410, reason: "Expired", message: "too old" },
  },
];
const body = enc.encode(frames.map((f) => JSON.stringify(f)).join("\n") + "\n");

Deno.test("a watch body split into 1-byte chunks parses identically to the whole body", async () => {
  const whole = await collect(watchEvents(streamOf([body]), identity));
  const bytewise = await collect(watchEvents(streamOf(chunksOf(body, 1)), identity));
  equal(whole.length, frames.length);
  deepEqual(bytewise, whole);
  // the multi-byte characters survived byte-level splitting
  const first = whole[0].object as unknown as { metadata: { name: string }; data: { k: string } };
  equal(first.metadata.name, "grüße-😀");
  equal(first.data.k, "日本語 ✓ €");
});

Deno.test("every chunk size from 2 to 17 bytes yields the same events", async () => {
  const whole = await collect(watchEvents(streamOf([body]), identity));
  for (let size = 2; size <= 17; size++) {
    deepEqual(
      await collect(watchEvents(streamOf(chunksOf(body, size)), identity)),
      whole,
      `size ${size}`,
    );
  }
});

Deno.test("watch events are typed: bookmark keeps only the resourceVersion, ERROR carries a Status", async () => {
  const evs: WatchEvent<KubeObject>[] = await collect(watchEvents(streamOf([body]), identity));
  deepEqual(evs.map((e) => e.type), ["ADDED", "MODIFIED", "BOOKMARK", "DELETED", "ERROR"]);
  deepEqual(evs[2].object, { metadata: { resourceVersion: "12" } });
  const err = evs[4];
  equal(err.type, "ERROR");
  if (err.type === "ERROR") {
    equal(err.object.code, 410);
    equal(err.object.reason, "Expired");
  }
});

Deno.test("a final line without a newline is still delivered", async () => {
  const lines = await collect(
    streamOf([enc.encode('{"a":1}\n\n{"b":'), enc.encode("2}")]).pipeThrough(splitLines()),
  );
  deepEqual(lines, ['{"a":1}', '{"b":2}']);
});

Deno.test("the decoder runs on every object event", async () => {
  const decode = (u: unknown): KubeObject => {
    const o = u as KubeObject;
    return { ...o, metadata: { ...o.metadata, labels: { decoded: "yes" } } };
  };
  const evs = await collect(watchEvents(streamOf([body]), decode));
  for (const e of evs) {
    if (e.type === "ADDED" || e.type === "MODIFIED" || e.type === "DELETED") {
      deepEqual(e.object.metadata.labels, { decoded: "yes" });
    }
  }
});

Deno.test("malformed input errors the stream", async (t) => {
  const cases: [string, Uint8Array][] = [
    ["invalid JSON", enc.encode("{not json}\n")],
    ["invalid UTF-8", new Uint8Array([0x7b, 0xff, 0xfe, 0x7d, 0x0a])],
    ["unknown event type", enc.encode('{"type":"WHAT","object":{}}\n')],
    [
      "bookmark without resourceVersion",
      enc.encode('{"type":"BOOKMARK","object":{"metadata":{}}}\n'),
    ],
    ["frame that is not an object", enc.encode("[1,2]\n")],
  ];
  for (const [name, bytes] of cases) {
    await t.step(name, async () => {
      await rejects(collect(watchEvents(streamOf([bytes]), identity)));
    });
  }
});

Deno.test("aborting the signal ends a watch stream even while the body stays silent", async () => {
  let cancelled = false;
  // a body that never produces another byte and never ends on its own
  const body = new ReadableStream<Uint8Array>({
    start(c) {
      c.enqueue(enc.encode(JSON.stringify(frames[0]) + "\n"));
    },
    cancel() {
      cancelled = true;
    },
  });
  const ac = new AbortController();
  const seen: string[] = [];
  const reading = (async () => {
    for await (const ev of watchEvents(body, identity, ac.signal)) {
      seen.push(ev.type);
      ac.abort(new Error("stop"));
    }
  })();
  await rejects(reading, /stop/);
  deepEqual(seen, ["ADDED"]);
  equal(cancelled, true, "the body is cancelled");
});
