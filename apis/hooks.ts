/**
 * Request observation: `withRequestHook(transport, onRequest)` reports every HTTP request as
 * `{verb, resource, code, durationMs}` once its response headers arrive (`code` 0 when there was
 * no response). `verb` is the Kubernetes verb derived from method, path and query (get, list,
 * watch, create, update, patch, delete, deletecollection); `resource` is `plural` for the core
 * group, `plural.group` otherwise, with `/subresource` appended; non-resource paths (discovery,
 * /version) report their path. `RequestCounter` is a ready-made hook that counts by all three.
 *
 * Put it inside the retry wrapper so every attempt is counted.
 */
import type { Clock } from "./clock.ts";
import { realClock } from "./clock.ts";
import { compareCodeUnits } from "./compare.ts";
import type { KubeRequest, Transport } from "./transport.ts";

export type Verb =
  | "get"
  | "list"
  | "watch"
  | "create"
  | "update"
  | "patch"
  | "delete"
  | "deletecollection";

export interface RequestInfo {
  verb: Verb;
  resource: string;
  /** HTTP status code; 0 when no response arrived. */
  code: number;
  durationMs: number;
}

export type RequestHook = (info: RequestInfo) => void;

/** Kubernetes verb and resource label of a request. */
export function describeRequest(req: Pick<KubeRequest, "method" | "path" | "query">): {
  verb: Verb;
  resource: string;
} {
  const parsed = parseResourcePath(req.path);
  const named = parsed?.name !== undefined;
  let verb: Verb;
  switch (req.method) {
    case "GET": {
      const w = req.query?.watch;
      verb = w === true || w === "true" || w === "1" || w === 1 ? "watch" : named ? "get" : "list";
      break;
    }
    case "POST":
      verb = "create";
      break;
    case "PUT":
      verb = "update";
      break;
    case "PATCH":
      verb = "patch";
      break;
    case "DELETE":
      verb = named ? "delete" : "deletecollection";
      break;
  }
  if (!parsed) return { verb, resource: req.path.split("?")[0] };
  let resource = parsed.group === "" ? parsed.plural : `${parsed.plural}.${parsed.group}`;
  if (parsed.subresource) resource += `/${parsed.subresource}`;
  return { verb, resource };
}

interface ParsedPath {
  group: string;
  version: string;
  namespace?: string;
  plural: string;
  name?: string;
  subresource?: string;
}

/** Split an API path into its parts; undefined for non-resource paths (e.g. "/apis", "/version"). */
export function parseResourcePath(path: string): ParsedPath | undefined {
  const segs = path.split("?")[0].split("/").filter((s) => s.length > 0).map(decodeURIComponent);
  let group: string;
  let version: string;
  let rest: string[];
  if (segs[0] === "api" && segs.length >= 3) {
    group = "";
    version = segs[1];
    rest = segs.slice(2);
  } else if (segs[0] === "apis" && segs.length >= 4) {
    group = segs[1];
    version = segs[2];
    rest = segs.slice(3);
  } else {
    return undefined;
  }
  let namespace: string | undefined;
  if (rest[0] === "namespaces" && rest.length >= 3) {
    namespace = rest[1];
    rest = rest.slice(2);
  }
  return { group, version, namespace, plural: rest[0], name: rest[1], subresource: rest[2] };
}

export function withRequestHook(
  inner: Transport,
  hook: RequestHook,
  clock: Clock = realClock,
): Transport {
  return async (req) => {
    const { verb, resource } = describeRequest(req);
    const start = clock.now();
    let code = 0;
    try {
      const res = await inner(req);
      code = res.status;
      return res;
    } finally {
      try {
        hook({ verb, resource, code, durationMs: clock.now() - start });
      } catch {
        // an observer must never break a request
      }
    }
  };
}

export interface RequestCount {
  verb: Verb;
  resource: string;
  code: number;
  count: number;
}

/** Counts requests by verb, resource and code. Pass `counter.onRequest` as the hook. */
export class RequestCounter {
  readonly #counts = new Map<string, RequestCount>();

  readonly onRequest: RequestHook = (info) => {
    const key = `${info.verb} ${info.resource} ${info.code}`;
    const c = this.#counts.get(key);
    if (c) c.count++;
    else {this.#counts.set(key, {
        verb: info.verb,
        resource: info.resource,
        code: info.code,
        count: 1,
      });}
  };

  /** Sum of counts matching every given field. */
  count(filter: Partial<Omit<RequestCount, "count">> = {}): number {
    let n = 0;
    for (const c of this.#counts.values()) {
      if (filter.verb !== undefined && c.verb !== filter.verb) continue;
      if (filter.resource !== undefined && c.resource !== filter.resource) continue;
      if (filter.code !== undefined && c.code !== filter.code) continue;
      n += c.count;
    }
    return n;
  }

  /** Every (verb, resource, code) seen, sorted. */
  snapshot(): RequestCount[] {
    return [...this.#counts.values()].map((c) => ({ ...c })).sort((a, b) =>
      compareCodeUnits(a.verb, b.verb) || compareCodeUnits(a.resource, b.resource) ||
      a.code - b.code
    );
  }

  reset(): void {
    this.#counts.clear();
  }
}
