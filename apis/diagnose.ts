/**
 * One actionable line for a failure to use the API server: which server, through which context
 * and user, what came back (HTTP status, or no answer and why) and what to do about it. The
 * operator's start-up wait (operator/run.ts) and the CLI (cli/run.ts) print exactly these lines.
 *
 * `key` names the kind of failure (`http-401`, `unreachable`, `tls`, ...): callers log a line
 * when the key changes, not on every retry.
 *
 * Only access failures are described: a non-`ApiError`/`ConnectionError`/`ConfigError` (a bug)
 * yields `undefined`, so it is never dressed up as a connection problem.
 */
import { ApiError, ConfigError, ConnectionError } from "./errors.ts";
import type { AuthKind, ConnectionConfig } from "./transport.ts";

export interface AccessFailure {
  key: string;
  line: string;
  /** The HTTP status when the server answered. */
  status?: number;
}

/** `Kubernetes API server URL (context "c", user "u")`, or the in-cluster source. */
export function serverIdentity(conn: ConnectionConfig): string {
  const who = conn.context !== undefined
    ? `context "${conn.context}", ${conn.user ? `user "${conn.user}"` : "no user"}`
    : conn.source;
  return `Kubernetes API server ${conn.server} (${who})`;
}

/** What to do about a 401, by what the connection authenticates with. */
function unauthorizedAdvice(auth: AuthKind | undefined): string {
  switch (auth?.kind) {
    case "token":
      return "the token is invalid or expired; refresh the kubeconfig credentials";
    case "token-file":
      return `the token in ${auth.path} is invalid or expired; write a fresh token to that file`;
    case "exec":
      return `the credential from exec plugin ${auth.command} is invalid or expired; log in again so the plugin returns a fresh one`;
    case "basic":
      return "the username or password is wrong; fix the kubeconfig credentials";
    case "client-certificate":
      return "the client certificate is not trusted by the server or has expired; renew it in the kubeconfig";
    case "service-account":
      return "the pod's service-account token was refused; check that its ServiceAccount exists and the token is mounted";
    default:
      return "the request carried no credentials; give the kubeconfig context a user";
  }
}

function noAnswer(cause: unknown): { key: string; what: string; advice: string } {
  const text = cause instanceof Error
    ? `${cause.message} ${cause.cause instanceof Error ? cause.cause.message : ""}`
    : String(cause);
  const short = text.replace(/\s+/g, " ").trim();
  if (/certificate|UnknownIssuer|tls|handshake|x509/i.test(text)) {
    // rustls says e.g. "invalid peer certificate: UnknownIssuer" inside a long fetch error.
    const peer = /invalid peer certificate: [\w]+/.exec(text)?.[0];
    return {
      key: "tls",
      what: `failed TLS verification (${peer ?? short})`,
      advice:
        "the kubeconfig's certificate-authority does not match the server's certificate; update certificate-authority-data for this cluster",
    };
  }
  if (/dns|lookup|resolve|Name or service not known|nodename nor servname/i.test(text)) {
    return {
      key: "dns",
      what: `has a host name that does not resolve (${short})`,
      advice: "check the server address in the kubeconfig",
    };
  }
  if (/refused/i.test(text)) {
    return {
      key: "unreachable",
      what: "is unreachable (connection refused)",
      advice: "check the server address in the kubeconfig and that the API server is running",
    };
  }
  return {
    key: "unreachable",
    what: `is unreachable (${short})`,
    advice: "check the server address in the kubeconfig and the network path to it",
  };
}

/** The line for `err`, or undefined when `err` is not an access failure. */
export function describeAccessFailure(
  err: unknown,
  conn: ConnectionConfig,
): AccessFailure | undefined {
  const who = serverIdentity(conn);
  if (err instanceof DOMException && err.name === "TimeoutError") {
    return {
      key: "timeout",
      line: `${who} did not answer in time: check that the API server is healthy`,
    };
  }
  if (err instanceof ConnectionError) {
    const n = noAnswer(err.cause);
    return { key: n.key, line: `${who} ${n.what}: ${n.advice}` };
  }
  if (err instanceof ConfigError) {
    // Credentials that cannot even be produced (exec plugin failed, token file missing, ...).
    return { key: `config:${err.message}`, line: `${who}: ${err.message}` };
  }
  if (!(err instanceof ApiError)) return undefined;
  const status = `HTTP ${err.status} ${err.reason}`;
  if (err.status === 401) {
    return {
      key: "http-401",
      status: 401,
      line: `${who} answered ${status}: ${unauthorizedAdvice(conn.auth)}`,
    };
  }
  if (err.status === 403) {
    return {
      key: "http-403",
      status: 403,
      line:
        `${who} answered ${status} (${err.message}): grant this user the RBAC in docs/permissions.md`,
    };
  }
  const advice = err.status >= 500
    ? "the API server is unhealthy; check its logs"
    : "the server is not a Kubernetes API server, or the server URL has a wrong path";
  return {
    key: `http-${err.status}`,
    status: err.status,
    line: `${who} answered ${status} (${err.message}): ${advice}`,
  };
}
