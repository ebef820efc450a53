/**
 * Fault injection in front of an in-process controller's transport (`Transport -> Transport`,
 * for `startController({ transport })` in tests/integration/reconcile_helpers.ts). The API server
 * behind it is real; only what the controller sees is bent, the way a flaky aggregated API, a
 * proxy or a half-open connection would bend it (docs/contract.md#fail-static,
 * docs/contract.md#dead-connections):
 *
 * - `legacyDiscovery`: `/api` and `/apis` are asked for with a plain `Accept: application/json`,
 *   so the API server answers with the legacy documents and the controller walks one document
 *   per group-version (as behind a proxy that does not pass aggregated discovery);
 * - `failGroupVersion`: the legacy document of that group-version answers 503;
 * - `aggregatedFault`: that group-version, in the aggregated `/apis` document, is marked
 *   `freshness: Stale` (how aggregated discovery reports an unavailable API), or the whole
 *   document answers 503, or the group-version is left out — in turn, one per request;
 * - `stallWatches(pathPrefix)`: every watch stream open on that path stops delivering without
 *   closing (a stalled proxy, a half-open connection); watches opened afterwards are untouched;
 * - `failRequests`: every LIST and watch under that path answers 503 and 429 in turn (an
 *   overloaded or failing API server).
 *
 * Counts what it injected, so a test can show the fault was really seen.
 */
import type { KubeRequest, Transport } from "../../apis/transport.ts";

export class Faults {
  legacyDiscovery = false;
  failGroupVersion: string | undefined;
  aggregatedFault: string | undefined;
  failRequests: string | undefined;
  /** Answers bent so far, by kind. */
  readonly injected = { gv503: 0, stale: 0, root503: 0, omitted: 0, stalled: 0, failed: 0 };
  #turn = 0;
  readonly #open = new Set<{ path: string; stall: () => void }>();

  readonly wrap = (inner: Transport): Transport => async (req) => {
    const discoveryRoot = req.method === "GET" && (req.path === "/api" || req.path === "/apis");
    if (discoveryRoot && this.legacyDiscovery) {
      req = { ...req, headers: { ...req.headers, Accept: "application/json" } };
    }
    if (
      this.failGroupVersion !== undefined && req.method === "GET" &&
      req.path === `/apis/${this.failGroupVersion}` && req.query?.watch === undefined
    ) {
      this.injected.gv503++;
      return unavailable();
    }
    if (
      this.failRequests !== undefined && req.method === "GET" &&
      req.path.startsWith(this.failRequests)
    ) {
      return this.injected.failed++ % 2 === 0 ? unavailable() : throttled();
    }
    if (this.aggregatedFault !== undefined && discoveryRoot && req.path === "/apis") {
      return await this.#bendAggregated(inner, req, this.aggregatedFault);
    }
    const res = await inner(req);
    if (!isWatch(req) || res.body === null || !res.ok) return res;
    return this.#tracked(req, res);
  };

  /** Every watch stream now open under `pathPrefix` stops delivering, without closing. */
  stallWatches(pathPrefix: string): number {
    let n = 0;
    for (const stream of this.#open) {
      if (!stream.path.startsWith(pathPrefix)) continue;
      stream.stall();
      n++;
    }
    this.injected.stalled += n;
    return n;
  }

  async #bendAggregated(inner: Transport, req: KubeRequest, gv: string): Promise<Response> {
    const turn = this.#turn++ % 3;
    if (turn === 0) {
      this.injected.root503++;
      return unavailable();
    }
    const res = await inner(req);
    const doc = await res.json() as { kind?: string; items?: Group[] };
    if (doc.kind !== "APIGroupDiscoveryList") return Response.json(doc, { status: res.status });
    const [group, version] = gv.split("/");
    for (const g of doc.items ?? []) {
      if (g.metadata?.name !== group) continue;
      if (turn === 1) {
        for (const v of g.versions ?? []) if (v.version === version) v.freshness = "Stale";
        this.injected.stale++;
      } else {
        g.versions = (g.versions ?? []).filter((v) => v.version !== version);
        this.injected.omitted++;
      }
    }
    return Response.json(doc, { status: res.status });
  }

  #tracked(req: KubeRequest, res: Response): Response {
    const reader = res.body!.getReader();
    let stalled = false;
    const entry = {
      path: req.path,
      stall: () => {
        stalled = true;
      },
    };
    this.#open.add(entry);
    const aborted = new Promise<void>((resolve) => {
      if (req.signal?.aborted) resolve();
      req.signal?.addEventListener("abort", () => resolve(), { once: true });
    });
    const body = new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        if (!stalled) {
          let chunk: ReadableStreamReadResult<Uint8Array>;
          try {
            chunk = await reader.read();
          } catch (error) {
            this.#open.delete(entry);
            controller.error(error);
            return;
          }
          if (!stalled) {
            if (chunk.done) {
              this.#open.delete(entry);
              controller.close();
            } else controller.enqueue(chunk.value);
            return;
          }
        }
        // Stalled: hold what came, deliver nothing, never close; only the reader giving up
        // (its signal) ends this stream.
        await aborted;
        this.#open.delete(entry);
        controller.error(req.signal?.reason ?? new Error("aborted"));
        await reader.cancel().catch(() => {});
      },
      cancel: (reason) => {
        this.#open.delete(entry);
        return reader.cancel(reason);
      },
    });
    return new Response(body, { status: res.status, headers: res.headers });
  }
}

interface Group {
  metadata?: { name?: string };
  versions?: { version?: string; freshness?: string }[];
}

function isWatch(req: KubeRequest): boolean {
  const w = req.query?.watch;
  return w === true || w === "true" || w === 1 || w === "1";
}

function unavailable(): Response {
  return Response.json({
    kind: "Status",
    apiVersion: "v1",
    status: "Failure",
    code: 503,
    reason: "ServiceUnavailable",
    message: "injected fault: the group-version is unavailable",
  }, { status: 503 });
}

function throttled(): Response {
  return Response.json({
    kind: "Status",
    apiVersion: "v1",
    status: "Failure",
    code: 429,
    reason: "TooManyRequests",
    message: "injected fault: too many requests",
  }, { status: 429, headers: { "Retry-After": "1" } });
}
