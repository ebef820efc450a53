/**
 * The transport contract: everything that talks to the API server goes through one function type,
 * `Transport = (req: KubeRequest) => Promise<Response>`.
 *
 * `httpTransport(conn)` turns a resolved `ConnectionConfig` (from `kubeconfig.ts` or
 * `incluster.ts`) into a transport that adds the server URL (keeping any path prefix), TLS (a
 * configured CA as the only root: `fetch` once the process's default roots are empty,
 * default_roots.ts, else `only_ca.ts`; a client certificate), credentials, impersonation headers
 * and `User-Agent: kleym/<VERSION>`. On a
 * 401 it asks the credential provider to drop its cached credentials and retries once (request
 * bodies are strings, so they replay).
 *
 * A transport resolves with every HTTP response, 2xx or not; turning a non-2xx answer into an
 * `ApiError` is the caller's job (`rest.ts`). It rejects only when there is no answer:
 * `ConnectionError` (names the server), `ConfigError` (e.g. TLS verification failed although the
 * kubeconfig asked to skip it, see below), or the signal's abort reason.
 *
 * insecure-skip-tls-verify: Deno has no per-client switch to skip certificate verification. The
 * only mechanism is the process-wide flag `--unsafely-ignore-certificate-errors=<host>` (also
 * accepted by `deno compile`). So a connection with `insecureSkipTlsVerify` sends no CA and relies
 * on that flag; if verification still fails, the error says exactly which flag to add.
 *
 * Wrappers (`Transport -> Transport`) live in `ratelimit.ts`, `hooks.ts` and `retry.ts`; `connect.ts`
 * stacks them.
 */
import type { ClientCertificateSource } from "./cert_files.ts";
import { ConfigError, ConnectionError } from "./errors.ts";
import { caOnlyByFetch, usingDefaultRoots } from "./default_roots.ts";
import { type OnlyCaClient, onlyCaClient } from "./only_ca.ts";
import { VERSION } from "./version.ts";

export interface KubeRequest {
  method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  /** Absolute API path, e.g. "/apis/kleym.sonda.red/v1alpha1/namespaces/a/inferenceidentitybindings". */
  path: string;
  query?: Record<string, string | number | boolean | undefined>;
  /** Already serialised. */
  body?: string;
  /** e.g. Content-Type for patches, Accept. */
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

export type Transport = (req: KubeRequest) => Promise<Response>;

/** What a credential provider hands out for one request. */
export interface Credentials {
  token?: string;
  /** PEM client certificate + key (exec plugins may return these). */
  certPem?: string;
  keyPem?: string;
  basic?: { username: string; password: string };
}

/** A source of credentials that may change over time (token files, exec plugins). */
export interface CredentialProvider {
  /** Current credentials; may read a file or run a plugin. */
  get(signal?: AbortSignal): Promise<Credentials>;
  /** The server rejected the credentials last returned (401): forget any cached copy. */
  invalidate(): void;
}

export interface Impersonation {
  user?: string;
  uid?: string;
  groups?: readonly string[];
  extra?: Readonly<Record<string, readonly string[]>>;
}

/** A resolved connection: everything needed to reach and authenticate to one API server. */
export interface ConnectionConfig {
  /** Base URL, may carry a path prefix ("https://h:6443/k8s"); no trailing slash needed. */
  server: string;
  /** Where this came from, for messages: `context "x" in /path/config` or `in-cluster service account`. */
  source: string;
  /** Default namespace of the context (or the pod's namespace in-cluster). */
  namespace: string;
  caPem?: string;
  clientCertPem?: string;
  clientKeyPem?: string;
  /** Client certificate files that may change (re-read by cert_files.ts); wins over the PEMs. */
  clientCertificate?: ClientCertificateSource;
  insecureSkipTlsVerify?: boolean;
  credentials?: CredentialProvider;
  impersonate?: Impersonation;
  /** For messages: the kubeconfig context and user names (absent in-cluster). */
  context?: string;
  user?: string;
  /** For messages: what kind of credential is sent, so a 401 can say what to renew. */
  auth?: AuthKind;
}

/** What a connection authenticates with (apis/diagnose.ts words its advice by it). */
export type AuthKind =
  | { kind: "none" }
  | { kind: "token" }
  | { kind: "token-file"; path: string }
  | { kind: "exec"; command: string }
  | { kind: "basic" }
  | { kind: "client-certificate" }
  | { kind: "service-account" };

/** A transport that owns TLS clients; `close()` releases them. */
export type HttpTransport = Transport & { close(): void };

export interface HttpTransportOptions {
  userAgent?: string;
}

/** Full URL for `req` against `server` (keeps a path prefix; drops undefined query values). */
export function requestUrl(server: string, req: Pick<KubeRequest, "path" | "query">): string {
  const base = server.replace(/\/+$/, "");
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(req.query ?? {})) {
    if (v !== undefined) params.append(k, String(v));
  }
  const qs = params.toString();
  return `${base}${req.path}${qs.length > 0 ? `?${qs}` : ""}`;
}

export function httpTransport(
  conn: ConnectionConfig,
  opts: HttpTransportOptions = {},
): HttpTransport {
  const userAgent = opts.userAgent ?? `kleym/${VERSION}`;
  const clients = new Map<string, Requester>();
  const server = conn.server.replace(/\/+$/, "");
  // A configured CA is the only trust root (docs/contract.md#connection): `fetch` adds it to the
  // default roots, so it may carry it only when they are empty (default_roots.ts); otherwise those
  // connections go through only_ca.ts. Without a CA the default roots are the trust, as client-go
  // uses the system's.
  const caPem = !conn.insecureSkipTlsVerify && server.startsWith("https:") ? conn.caPem : undefined;

  function clientFor(certPem: string | undefined, keyPem: string | undefined): Requester {
    const key = `${certPem ?? ""}\u0000${keyPem ?? ""}`;
    let c = clients.get(key);
    if (!c) {
      const pair = certPem && keyPem ? { certPem, keyPem } : {};
      if (caPem === undefined && server.startsWith("https:")) usingDefaultRoots();
      c = caPem === undefined || caOnlyByFetch()
        ? fetchClient(caPem, pair)
        : onlyCaClient({ caPem, ...pair });
      // A provider that rotates certificates would otherwise grow this map without bound.
      if (clients.size >= 4) {
        for (const old of clients.values()) old.close();
        clients.clear();
      }
      clients.set(key, c);
    }
    return c;
  }

  async function once(req: KubeRequest): Promise<Response> {
    const creds: Credentials = conn.credentials ? await conn.credentials.get(req.signal) : {};
    const headers = new Headers();
    headers.set("User-Agent", userAgent);
    headers.set("Accept", "application/json");
    if (creds.token) headers.set("Authorization", `Bearer ${creds.token}`);
    else if (creds.basic) {
      headers.set(
        "Authorization",
        `Basic ${btoa(`${creds.basic.username}:${creds.basic.password}`)}`,
      );
    }
    const imp = conn.impersonate;
    if (imp) {
      if (imp.user) headers.set("Impersonate-User", imp.user);
      if (imp.uid) headers.set("Impersonate-Uid", imp.uid);
      for (const g of imp.groups ?? []) headers.append("Impersonate-Group", g);
      for (const [k, vs] of Object.entries(imp.extra ?? {})) {
        for (const v of vs) headers.append(`Impersonate-Extra-${encodeURIComponent(k)}`, v);
      }
    }
    if (req.body !== undefined) headers.set("Content-Type", "application/json");
    for (const [k, v] of Object.entries(req.headers ?? {})) headers.set(k, v);

    const files = creds.certPem ? undefined : await conn.clientCertificate?.get();
    const client = clientFor(
      creds.certPem ?? files?.certPem ?? conn.clientCertPem,
      creds.keyPem ?? files?.keyPem ?? conn.clientKeyPem,
    );
    const url = requestUrl(server, req);
    try {
      return await client.fetch(url, {
        method: req.method,
        headers,
        body: req.body,
        signal: req.signal,
      });
    } catch (err) {
      if (req.signal?.aborted) throw req.signal.reason;
      throw connectionFailure(conn, err);
    }
  }

  const transport = async (req: KubeRequest): Promise<Response> => {
    const res = await once(req);
    if (res.status !== 401 || !(conn.credentials || conn.clientCertificate)) return res;
    // Credentials may have rotated (token file, exec plugin expiry, certificate files): refresh
    // and retry once.
    await res.body?.cancel();
    conn.credentials?.invalidate();
    conn.clientCertificate?.invalidate();
    return await once(req);
  };
  return Object.assign(transport, {
    close(): void {
      for (const c of clients.values()) c.close();
      clients.clear();
    },
  });
}

/** What sends one request: `fetch` on a Deno client, or only_ca.ts. */
type Requester = OnlyCaClient;

/**
 * `fetch` with the default roots plus `caPem`: the CA alone once the default roots are empty, the
 * default roots alone when no CA is configured (or insecure-skip-tls-verify). HTTP/1.1 only: over
 * HTTP/2 Deno's client leaves Nagle's algorithm on (no TCP_NODELAY) and a write's frames wait for
 * the server's delayed ACK, ~45 ms a request (docs/benchmarks.md "The response path": single
 * creates p50 63 -> 16 ms, memory unchanged).
 */
function fetchClient(
  caPem: string | undefined,
  pair: { certPem?: string; keyPem?: string },
): Requester {
  const client = Deno.createHttpClient({
    http2: false,
    ...(caPem === undefined ? {} : { caCerts: [caPem] }),
    ...(pair.certPem && pair.keyPem ? { cert: pair.certPem, key: pair.keyPem } : {}),
  });
  return {
    fetch: (url, init) => fetch(url, { ...init, client }),
    close: () => client.close(),
  };
}

function connectionFailure(conn: ConnectionConfig, err: unknown): Error {
  const text = err instanceof Error
    ? `${err.message} ${err.cause instanceof Error ? err.cause.message : ""}`
    : String(err);
  if (/certificate|tls|handshake/i.test(text) && conn.insecureSkipTlsVerify) {
    let host = conn.server;
    try {
      host = new URL(conn.server).hostname;
    } catch {
      // keep the raw server string
    }
    return new ConfigError(
      `${conn.source} sets insecure-skip-tls-verify for ${conn.server}, which Deno can only honour process-wide: start with --unsafely-ignore-certificate-errors=${host}`,
      { cause: err },
    );
  }
  return new ConnectionError(conn.server, err);
}
