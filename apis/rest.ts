/**
 * REST access to the API server on top of a `Transport`.
 *
 * - `RestClient(transport)`: `send` (non-2xx becomes `ApiError`, body consumed) and `json`.
 * - `ResourceClient<T>(rest, descriptor, decode?)`: typed verbs for one resource. `decode` turns an
 *   `unknown` JSON object into `T` (throwing on bad input); it runs once, here at the boundary, on
 *   every object read (get/list items/create/update/patch/delete results/watch events). Without
 *   it objects are trusted as `T`. List items lack `apiVersion`/`kind` on the wire; they are filled
 *   in from the descriptor before `decode` sees them.
 *
 * Namespaces: for a namespaced resource, `namespace` in the options selects one; list/watch without
 * it span all namespaces; create/update take it from `obj.metadata.namespace` unless given.
 * Cluster-scoped resources ignore it.
 *
 * Retries of 429/5xx/network failures happen in the transport stack (`retry.ts`), not here. The
 * request shapes (descriptor, paths, options) are apis/resource.ts, re-exported here for callers.
 */
import type { ListMeta } from "kubernetes-types/meta/v1.d.ts";
import { ApiError, decodeStatus } from "./errors.ts";
import {
  apiVersionOf,
  type DeleteOptions,
  type KubeObject,
  type ListOptions,
  type NamespacedOptions,
  type ObjectList,
  PATCH_CONTENT_TYPE,
  type PatchOptions,
  type PatchType,
  type ResourceDescriptor,
  resourcePath,
  type WatchEvent,
  type WatchOptions,
  type WriteOptions,
} from "./resource.ts";
import { watchEvents } from "./stream.ts";
import type { KubeRequest, Transport } from "./transport.ts";

export * from "./resource.ts";

/** Thin layer over a transport: errors become `ApiError`, bodies become JSON. */
export class RestClient {
  readonly transport: Transport;

  constructor(transport: Transport) {
    this.transport = transport;
  }

  /** Send `req`; resolves with the 2xx response (body unread), rejects with `ApiError` otherwise. */
  async send(req: KubeRequest): Promise<Response> {
    const res = await this.transport(req);
    if (res.ok) return res;
    throw await ApiError.fromResponse(res);
  }

  /**
   * Send `req` and parse the JSON body. The body is read with `text()`: natively, in one piece,
   * for `fetch`'s bodies, and the request deadline (timeout.ts, below every client that
   * connect.ts builds) ends with it (docs/contract.md#dead-connections).
   */
  async json(req: KubeRequest): Promise<unknown> {
    const res = await this.send(req);
    const text = await res.text();
    if (text.length === 0) return undefined;
    try {
      return JSON.parse(text);
    } catch (err) {
      throw new ApiError({
        status: 500,
        reason: "InvalidResponse",
        message: `${req.method} ${req.path}: response is not JSON: ${(err as Error).message}`,
      });
    }
  }
}

/** Typed verbs for one resource. */
export class ResourceClient<T extends KubeObject = KubeObject> {
  readonly rest: RestClient;
  readonly desc: ResourceDescriptor;
  readonly decode: (u: unknown) => T;
  readonly apiVersion: string;

  constructor(rest: RestClient, desc: ResourceDescriptor, decode?: (u: unknown) => T) {
    this.rest = rest;
    this.desc = desc;
    this.decode = decode ?? ((u: unknown) => u as T);
    this.apiVersion = apiVersionOf(desc);
  }

  async get(name: string, opts: NamespacedOptions = {}): Promise<T> {
    const u = await this.rest.json({
      method: "GET",
      path: resourcePath(this.desc, this.ns(opts.namespace), name),
      signal: opts.signal,
    });
    return this.decodeObject(u);
  }

  /** One page (or everything when `limit` is unset). */
  async list(opts: ListOptions = {}): Promise<ObjectList<T>> {
    const u = await this.rest.json({
      method: "GET",
      path: resourcePath(this.desc, opts.namespace),
      query: {
        labelSelector: opts.labelSelector,
        fieldSelector: opts.fieldSelector,
        limit: opts.limit,
        continue: opts.continue,
        resourceVersion: opts.resourceVersion,
        resourceVersionMatch: opts.resourceVersionMatch,
      },
      signal: opts.signal,
    });
    return this.decodeList(u);
  }

  /**
   * Every page, following `continue` (page size `limit`, default 500). The result carries the
   * first page's resourceVersion (pages are one consistent snapshot). If a continue token expires
   * (410) the whole list restarts unpaginated. `transform` runs on each page's items as it
   * arrives, so only one page of full objects is held at a time (the informer's small cache).
   *
   * Pipelined: the next page is requested before this page's items are transformed, so the API
   * server encodes page k+1 while this process transforms page k (docs/benchmarks.md "Restart at
   * 10,000": a 10,000-binding restart is bound by the two taking turns on a small machine).
   */
  async listAll(
    opts: Omit<ListOptions, "continue"> = {},
    transform: (item: T) => T = (item) => item,
  ): Promise<ObjectList<T>> {
    const limit = opts.limit ?? 500;
    const next = (cont: string | undefined) => {
      if (!cont) return undefined;
      const p = this.list({
        ...opts,
        limit,
        continue: cont,
        resourceVersion: undefined,
        resourceVersionMatch: undefined,
      });
      p.catch(() => {}); // awaited below; a transform that throws first must not leave it unhandled
      return p;
    };
    const first = await this.list({ ...opts, limit });
    let pending = next(first.metadata.continue);
    const items = first.items.map((i) => transform(i));
    while (pending) {
      let page: ObjectList<T>;
      try {
        page = await pending;
      } catch (err) {
        if (err instanceof ApiError && err.isGone()) {
          const whole = await this.list({ ...opts, limit: undefined });
          return { ...whole, items: whole.items.map((i) => transform(i)) };
        }
        throw err;
      }
      pending = next(page.metadata.continue);
      for (const i of page.items) items.push(transform(i));
    }
    return {
      ...first,
      metadata: { resourceVersion: first.metadata.resourceVersion },
      items,
    };
  }

  async create(obj: T, opts: WriteOptions = {}): Promise<T> {
    const u = await this.rest.json({
      method: "POST",
      path: resourcePath(this.desc, this.ns(opts.namespace ?? obj.metadata.namespace)),
      query: this.writeQuery(opts),
      body: JSON.stringify(this.withTypeMeta(obj)),
      signal: opts.signal,
    });
    return this.decodeObject(u);
  }

  /** PUT; `obj.metadata.resourceVersion` makes it conditional (409 Conflict when stale). */
  async update(obj: T, opts: WriteOptions = {}): Promise<T> {
    return await this.put(obj, undefined, opts);
  }

  /** PUT on the status subresource. */
  async updateStatus(obj: T, opts: WriteOptions = {}): Promise<T> {
    return await this.put(obj, "status", opts);
  }

  /**
   * PATCH with the given type. `body` is the patch document: an object for merge/strategic/apply,
   * `JsonPatchOp[]` for json. Apply needs `fieldManager`; `force` takes conflicting fields.
   */
  async patch(name: string, type: PatchType, body: unknown, opts: PatchOptions = {}): Promise<T> {
    if (type === "apply" && !opts.fieldManager) {
      throw new TypeError("server-side apply needs a fieldManager");
    }
    const u = await this.rest.json({
      method: "PATCH",
      path: resourcePath(this.desc, this.ns(opts.namespace), name, opts.subresource),
      query: { ...this.writeQuery(opts), force: type === "apply" && opts.force ? true : undefined },
      headers: { "Content-Type": PATCH_CONTENT_TYPE[type] },
      body: JSON.stringify(body),
      signal: opts.signal,
    });
    return this.decodeObject(u);
  }

  /** Server-side apply of a whole (partial) object; name and namespace come from `obj.metadata`. */
  async apply(
    obj: T,
    opts: PatchOptions & { fieldManager: string },
  ): Promise<T> {
    const name = obj.metadata.name;
    if (!name) throw new TypeError(`apply: ${this.desc.kind} without metadata.name`);
    return await this.patch(name, "apply", this.withTypeMeta(obj), {
      ...opts,
      namespace: opts.namespace ?? obj.metadata.namespace,
    });
  }

  /**
   * DELETE. Resolves with the object when the server returns it (e.g. finalizers pending, or
   * custom resources), `undefined` when it returns a Status.
   */
  async delete(name: string, opts: DeleteOptions = {}): Promise<T | undefined> {
    const body: Record<string, unknown> = { apiVersion: "v1", kind: "DeleteOptions" };
    if (opts.preconditions) body.preconditions = opts.preconditions;
    if (opts.propagationPolicy) body.propagationPolicy = opts.propagationPolicy;
    if (opts.gracePeriodSeconds !== undefined) body.gracePeriodSeconds = opts.gracePeriodSeconds;
    if (opts.dryRun) body.dryRun = ["All"];
    const u = await this.rest.json({
      method: "DELETE",
      path: resourcePath(this.desc, this.ns(opts.namespace), name),
      body: JSON.stringify(body),
      signal: opts.signal,
    });
    if (u === undefined || decodeStatus(u)) return undefined;
    return this.decodeObject(u);
  }

  /**
   * Open a watch. Rejects with `ApiError` if the server refuses (e.g. 410 for a too-old
   * resourceVersion, 404 when the resource is not served). The stream ends when the server closes
   * it; cancel it (or abort `signal`) to stop early.
   */
  async watch(opts: WatchOptions = {}): Promise<ReadableStream<WatchEvent<T>>> {
    const res = await this.rest.send({
      method: "GET",
      path: resourcePath(this.desc, opts.namespace),
      query: {
        watch: true,
        labelSelector: opts.labelSelector,
        fieldSelector: opts.fieldSelector,
        resourceVersion: opts.resourceVersion,
        allowWatchBookmarks: opts.allowWatchBookmarks ?? true,
        timeoutSeconds: opts.timeoutSeconds,
      },
      signal: opts.signal,
    });
    if (!res.body) throw new ApiError({ status: 500, message: "watch response has no body" });
    return watchEvents(res.body, (u) => this.decodeObject(u), opts.signal);
  }

  /** `obj` with apiVersion/kind set from the descriptor when missing. */
  withTypeMeta(obj: T): T {
    if (obj.apiVersion && obj.kind) return obj;
    return {
      ...obj,
      apiVersion: obj.apiVersion ?? this.apiVersion,
      kind: obj.kind ?? this.desc.kind,
    };
  }

  private async put(obj: T, subresource: "status" | undefined, opts: WriteOptions): Promise<T> {
    const name = obj.metadata.name;
    if (!name) throw new TypeError(`update: ${this.desc.kind} without metadata.name`);
    const u = await this.rest.json({
      method: "PUT",
      path: resourcePath(
        this.desc,
        this.ns(opts.namespace ?? obj.metadata.namespace),
        name,
        subresource,
      ),
      query: this.writeQuery(opts),
      body: JSON.stringify(this.withTypeMeta(obj)),
      signal: opts.signal,
    });
    return this.decodeObject(u);
  }

  private writeQuery(opts: WriteOptions): Record<string, string | undefined> {
    return { fieldManager: opts.fieldManager, dryRun: opts.dryRun ? "All" : undefined };
  }

  private ns(namespace: string | undefined): string | undefined {
    if (this.desc.namespaced && !namespace) {
      throw new TypeError(`${this.desc.kind} is namespaced: a namespace is required`);
    }
    return namespace;
  }

  private decodeObject(u: unknown): T {
    if (typeof u === "object" && u !== null && !Array.isArray(u)) {
      const o = u as Record<string, unknown>;
      if (o.apiVersion === undefined || o.kind === undefined) {
        return this.decode({ apiVersion: this.apiVersion, kind: this.desc.kind, ...o });
      }
    }
    return this.decode(u);
  }

  private decodeList(u: unknown): ObjectList<T> {
    if (typeof u !== "object" || u === null || !Array.isArray((u as { items?: unknown }).items)) {
      throw new ApiError({
        status: 500,
        reason: "InvalidResponse",
        message: `list ${this.desc.plural}: response is not a list`,
      });
    }
    const l = u as { apiVersion?: unknown; kind?: unknown; metadata?: ListMeta; items: unknown[] };
    return {
      apiVersion: typeof l.apiVersion === "string" ? l.apiVersion : undefined,
      kind: typeof l.kind === "string" ? l.kind : undefined,
      metadata: l.metadata ?? {},
      items: l.items.map((i) => this.decodeObject(i)),
    };
  }
}
