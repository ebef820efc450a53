/**
 * HTTPS requests that trust exactly one configured certificate authority (docs/contract.md#connection):
 * a certificate from any other authority — the bundled public roots, the system store, `DENO_CERT`
 * or `--cert` — is refused, as client-go does with a kubeconfig's `certificate-authority`.
 *
 * Why not `fetch`: `Deno.createHttpClient({ caCerts })` adds the given roots to the default ones
 * (and to `DENO_CERT`), so any publicly trusted certificate for the server's name would be accepted.
 * `node:https` with `ca` replaces the default roots (Node's semantics, which Deno implements), so
 * these requests go through an `https.Agent` built with `ca` (plus the client certificate, if any)
 * and come back as a web `Response` with a streaming body, like `fetch`'s.
 * `tests/integration/connection_trust_test.ts` shows the refusal with a CA that the process trusts
 * through `DENO_CERT`.
 *
 * The operator and the CLI empty Deno's default roots before their first CA client
 * (default_roots.ts) and use `fetch` instead, whose bodies are read natively; this client serves
 * the processes that did not: library users, the tests' own clients, a process without the grant.
 */
import { Agent, request } from "node:https";
import type { IncomingMessage } from "node:http";

export interface OnlyCaOptions {
  /** PEM: the only root trusted for the server. */
  caPem: string;
  /** PEM client certificate (chain) and key, for mutual TLS. */
  certPem?: string;
  keyPem?: string;
}

export interface OnlyCaClient {
  fetch(
    url: string,
    init: { method: string; headers: Headers; body?: string; signal?: AbortSignal },
  ): Promise<Response>;
  close(): void;
}

/** Statuses whose response never has a body (a `Response` with one would throw). */
const NO_BODY = new Set([101, 204, 205, 304]);

/** A keep-alive client whose every connection trusts `caPem` only. */
export function onlyCaClient(opts: OnlyCaOptions): OnlyCaClient {
  const agent = new Agent({
    keepAlive: true,
    ca: opts.caPem,
    cert: opts.certPem,
    key: opts.keyPem,
  });
  return {
    fetch: (url, init) => send(agent, url, init),
    close: () => agent.destroy(),
  };
}

function send(
  agent: Agent,
  url: string,
  init: { method: string; headers: Headers; body?: string; signal?: AbortSignal },
): Promise<Response> {
  const u = new URL(url);
  if (u.protocol !== "https:") {
    return Promise.reject(new TypeError(`${url}: only https is possible with a configured CA`));
  }
  const signal = init.signal;
  if (signal?.aborted) return Promise.reject(signal.reason);
  const headers = Object.fromEntries(init.headers);
  // Node frames a DELETE body only when told its length (it never chunks DELETE).
  if (init.body !== undefined) {
    headers["content-length"] = String(new TextEncoder().encode(init.body).byteLength);
  }
  return new Promise<Response>((resolve, reject) => {
    // Cancellation is ours, not node's `signal` option: node would destroy the streams with an
    // error that nobody may be listening for any more. Here every error has a listener, and an
    // abort fails whatever waits (the answer, or the body's reader) with the signal's reason.
    let fail: (err: unknown) => void = reject;
    const onAbort = () => {
      fail(signal?.reason);
      req.destroy();
    };
    const done = () => signal?.removeEventListener("abort", onAbort);
    const req = request({
      hostname: u.hostname.replace(/^\[(.*)\]$/, "$1"),
      port: u.port === "" ? 443 : Number(u.port),
      path: `${u.pathname}${u.search}`,
      method: init.method,
      headers,
      agent,
    }, (res: IncomingMessage) => {
      const headers = new Headers();
      const raw = res.rawHeaders;
      for (let i = 0; i + 1 < raw.length; i += 2) headers.append(raw[i], raw[i + 1]);
      const status = res.statusCode ?? 0;
      res.on("error", (err) => fail(err));
      if (NO_BODY.has(status) || init.method === "HEAD") {
        res.resume();
        res.once("end", done);
        resolve(new Response(null, { status, statusText: res.statusMessage, headers }));
        return;
      }
      const body = bodyStream(res, (f) => fail = f, done);
      resolve(new Response(body, { status, statusText: res.statusMessage, headers }));
    });
    // Every error, also those after the answer came: an "error" event without a listener would
    // end the process.
    req.on("error", (err) => {
      done();
      fail(peerCertificateError(err) ?? err);
    });
    signal?.addEventListener("abort", onAbort, { once: true });
    req.end(init.body);
  });
}

/**
 * The answer's body as a web stream with backpressure (`res` pauses while the reader is behind);
 * `setFail` routes later failures (an abort, a reset) into it; `done` runs once it has ended.
 */
function bodyStream(
  res: IncomingMessage,
  setFail: (fail: (err: unknown) => void) => void,
  done: () => void,
): ReadableStream<Uint8Array> {
  let settled = false;
  return new ReadableStream<Uint8Array>({
    start(controller) {
      const settle = (f: () => void) => {
        if (settled) return;
        settled = true;
        done();
        f();
      };
      setFail((err) => settle(() => controller.error(err)));
      res.on("data", (chunk: Uint8Array) => {
        if (settled) return;
        // Node hands each chunk to its consumer for good (never reused), so no copy is needed.
        controller.enqueue(chunk);
        if ((controller.desiredSize ?? 1) <= 0) res.pause();
      });
      res.once("end", () => settle(() => controller.close()));
      res.once("close", () => {
        if (!res.complete) {
          settle(() =>
            controller.error(new Error("the connection closed before the answer ended"))
          );
        }
      });
    },
    pull() {
      res.resume();
    },
    cancel() {
      settled = true;
      done();
      res.destroy();
    },
  });
}

/**
 * Node's certificate verification codes, worded as rustls words them for `fetch` ("invalid peer
 * certificate: UnknownIssuer"), so both paths give the same one line (apis/diagnose.ts).
 */
const PEER_CERTIFICATE_FAILURES: Record<string, string> = {
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: "UnknownIssuer",
  UNABLE_TO_GET_ISSUER_CERT: "UnknownIssuer",
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: "UnknownIssuer",
  SELF_SIGNED_CERT_IN_CHAIN: "UnknownIssuer",
  DEPTH_ZERO_SELF_SIGNED_CERT: "UnknownIssuer",
  CERT_UNTRUSTED: "UnknownIssuer",
  CERT_SIGNATURE_FAILURE: "BadSignature",
  CERT_HAS_EXPIRED: "Expired",
  CERT_NOT_YET_VALID: "NotValidYet",
  ERR_TLS_CERT_ALTNAME_INVALID: "NotValidForName",
};

function peerCertificateError(err: unknown): Error | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  const kind = typeof code === "string" ? PEER_CERTIFICATE_FAILURES[code] : undefined;
  return kind === undefined
    ? undefined
    : new Error(`invalid peer certificate: ${kind}`, { cause: err });
}
