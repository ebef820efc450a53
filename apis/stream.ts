/**
 * Newline-delimited JSON as chained Web Streams, used for watch responses:
 *
 *   bytes --splitLines()--> lines --parseJson()--> unknown --decodeWatchEvents(decode)--> WatchEvent<T>
 *
 * `splitLines` works on bytes: it cuts at 0x0A (which never occurs inside a multi-byte UTF-8
 * sequence) and only then decodes, so a chunk boundary may fall anywhere, including inside a
 * character. Invalid UTF-8, invalid JSON or an undecodable object errors the stream; the watch
 * owner (Informer) treats that like any other stream end and resumes from the last applied
 * resourceVersion, so nothing is lost.
 */
import type { Status } from "kubernetes-types/meta/v1.d.ts";
import { decodeStatus } from "./errors.ts";
import type { KubeObject, WatchEvent } from "./rest.ts";

/** Bytes to text lines (without the newline; blank lines dropped). */
export function splitLines(): TransformStream<Uint8Array, string> {
  const decoder = new TextDecoder("utf-8", { fatal: true });
  let pending: Uint8Array[] = [];
  let pendingLength = 0;
  const take = (tail: Uint8Array): string => {
    let bytes = tail;
    if (pendingLength > 0) {
      bytes = new Uint8Array(pendingLength + tail.length);
      let at = 0;
      for (const p of pending) {
        bytes.set(p, at);
        at += p.length;
      }
      bytes.set(tail, at);
      pending = [];
      pendingLength = 0;
    }
    return decoder.decode(bytes);
  };
  return new TransformStream<Uint8Array, string>({
    transform(chunk, controller) {
      let start = 0;
      for (let nl = chunk.indexOf(10, start); nl !== -1; nl = chunk.indexOf(10, start)) {
        const line = take(chunk.subarray(start, nl));
        start = nl + 1;
        if (line.trim().length > 0) controller.enqueue(line);
      }
      if (start < chunk.length) {
        // copy: the producer may reuse its buffer
        const rest = chunk.slice(start);
        pending.push(rest);
        pendingLength += rest.length;
      }
    },
    flush(controller) {
      if (pendingLength === 0) return;
      const line = take(new Uint8Array(0));
      if (line.trim().length > 0) controller.enqueue(line);
    },
  });
}

/** Text lines to parsed JSON values. */
export function parseJson(): TransformStream<string, unknown> {
  return new TransformStream<string, unknown>({
    transform(line, controller) {
      controller.enqueue(JSON.parse(line));
    },
  });
}

/** Raw watch frames `{type, object}` to typed events; objects of ADDED/MODIFIED/DELETED go through `decode`. */
export function decodeWatchEvents<T extends KubeObject>(
  decode: (u: unknown) => T,
): TransformStream<unknown, WatchEvent<T>> {
  return new TransformStream<unknown, WatchEvent<T>>({
    transform(frame, controller) {
      controller.enqueue(decodeWatchEvent(frame, decode));
    },
  });
}

/** One raw watch frame to a typed event; throws on anything malformed. */
export function decodeWatchEvent<T extends KubeObject>(
  frame: unknown,
  decode: (u: unknown) => T,
): WatchEvent<T> {
  if (typeof frame !== "object" || frame === null || Array.isArray(frame)) {
    throw new TypeError("watch frame is not a JSON object");
  }
  const { type, object } = frame as { type?: unknown; object?: unknown };
  switch (type) {
    case "ADDED":
    case "MODIFIED":
    case "DELETED":
      return { type, object: decode(object) };
    case "BOOKMARK": {
      const rv = (object as { metadata?: { resourceVersion?: unknown } } | undefined)?.metadata
        ?.resourceVersion;
      if (typeof rv !== "string") {
        throw new TypeError("BOOKMARK event without metadata.resourceVersion");
      }
      return { type, object: { metadata: { resourceVersion: rv } } };
    }
    case "ERROR": {
      const status: Status = decodeStatus(object) ??
        { kind: "Status", code: 500, message: "watch ERROR event without a Status object" };
      return { type, object: status };
    }
    default:
      throw new TypeError(`unknown watch event type ${JSON.stringify(type)}`);
  }
}

/**
 * The whole chain: a watch response body to typed events. Aborting `signal` errors the returned
 * stream and cancels `body`, at the Web Streams level: Deno's fetch does not reliably error a
 * response body that is already streaming when its request signal aborts, and a watch must stop
 * on abort even while no event is arriving.
 */
export function watchEvents<T extends KubeObject>(
  body: ReadableStream<Uint8Array>,
  decode: (u: unknown) => T,
  signal?: AbortSignal,
): ReadableStream<WatchEvent<T>> {
  return body
    .pipeThrough(splitLines(), { signal })
    .pipeThrough(parseJson())
    .pipeThrough(decodeWatchEvents(decode));
}
