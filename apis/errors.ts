/**
 * Error types of the access layer.
 *
 * - `ApiError`: the API server answered with a non-2xx status. Built from the `metav1.Status` body
 *   when there is one, otherwise from the bare HTTP status. `reason` is normalised: when the server
 *   sent none, it is derived from the HTTP code, so the predicates work on either.
 * - `ConnectionError`: no HTTP answer at all (refused, reset, DNS, TLS). Names the server.
 * - `ConfigError`: a one-line, user-facing connection/configuration problem that retrying will not
 *   fix (names the file, context or server). Printed as-is by the entry points.
 */
import type { Status, StatusDetails } from "kubernetes-types/meta/v1.d.ts";

/** Canonical `metav1.StatusReason` for each HTTP code the API server uses. */
const reasonByCode: Readonly<Record<number, string>> = {
  400: "BadRequest",
  401: "Unauthorized",
  403: "Forbidden",
  404: "NotFound",
  405: "MethodNotAllowed",
  406: "NotAcceptable",
  409: "Conflict",
  410: "Gone",
  413: "RequestEntityTooLarge",
  415: "UnsupportedMediaType",
  422: "Invalid",
  429: "TooManyRequests",
  500: "InternalError",
  503: "ServiceUnavailable",
  504: "Timeout",
};

/** The reason to use when a Status carries none. */
export function reasonForCode(code: number): string {
  return reasonByCode[code] ?? (code >= 500 ? "InternalError" : "Unknown");
}

export interface ApiErrorInit {
  status: number;
  reason?: string;
  message?: string;
  details?: StatusDetails;
  retryAfterSeconds?: number;
}

/** A failed API call (non-2xx). `status` is the HTTP code. */
export class ApiError extends Error {
  override readonly name = "ApiError";
  readonly status: number;
  readonly reason: string;
  readonly details?: StatusDetails;
  readonly retryAfterSeconds?: number;

  constructor(init: ApiErrorInit) {
    const reason = init.reason && init.reason.length > 0 ? init.reason : reasonForCode(init.status);
    super(
      oneLine(
        init.message && init.message.length > 0 ? init.message : `${reason} (HTTP ${init.status})`,
      ),
    );
    this.status = init.status;
    this.reason = reason;
    this.details = init.details;
    this.retryAfterSeconds = init.retryAfterSeconds;
  }

  /**
   * Build from a decoded `metav1.Status` (e.g. a watch ERROR event's object). `httpStatus` wins over
   * `status.code` when given; `retryAfterHeader` (seconds) wins over `details.retryAfterSeconds`.
   */
  static fromStatus(
    status: Status,
    httpStatus?: number,
    retryAfterHeader?: string | null,
  ): ApiError {
    const code = httpStatus ??
      (typeof status.code === "number" && status.code > 0 ? status.code : 500);
    return new ApiError({
      status: code,
      reason: status.reason,
      message: status.message,
      details: status.details,
      retryAfterSeconds: parseRetryAfter(retryAfterHeader) ??
        positive(status.details?.retryAfterSeconds),
    });
  }

  /** Build from a non-2xx response; consumes the body. */
  static async fromResponse(res: Response): Promise<ApiError> {
    let text = "";
    try {
      text = await res.text();
    } catch {
      // body unreadable (connection dropped): fall back to the HTTP status alone
    }
    const status = asStatus(text);
    if (status) return ApiError.fromStatus(status, res.status, res.headers.get("Retry-After"));
    return new ApiError({
      status: res.status,
      message: text.trim().length > 0 ? text.trim() : undefined,
      retryAfterSeconds: parseRetryAfter(res.headers.get("Retry-After")),
    });
  }

  isNotFound(): boolean {
    return this.reason === "NotFound";
  }
  isAlreadyExists(): boolean {
    return this.reason === "AlreadyExists";
  }
  isConflict(): boolean {
    return this.reason === "Conflict";
  }
  /** 410: the requested resourceVersion is too old (reasons `Gone` and `Expired`). */
  isGone(): boolean {
    return this.status === 410 || this.reason === "Gone" || this.reason === "Expired";
  }
  isInvalid(): boolean {
    return this.reason === "Invalid";
  }
  isForbidden(): boolean {
    return this.reason === "Forbidden";
  }
  isUnauthorized(): boolean {
    return this.reason === "Unauthorized";
  }
  isTooManyRequests(): boolean {
    return this.reason === "TooManyRequests" || this.status === 429;
  }
  isServerError(): boolean {
    return this.status >= 500;
  }
  /** Worth retrying the same request later: 429, 5xx except 501, and server-side timeouts. */
  isRetriable(): boolean {
    return this.isTooManyRequests() ||
      (this.isServerError() && this.status !== 501) ||
      this.reason === "ServerTimeout" || this.reason === "Timeout";
  }
}

/** No HTTP answer from the server (connection refused/reset, DNS, TLS handshake). Retriable. */
export class ConnectionError extends Error {
  override readonly name = "ConnectionError";
  readonly server: string;
  constructor(server: string, cause: unknown) {
    super(`cannot reach Kubernetes API server ${server}: ${describeCause(cause)}`, { cause });
    this.server = server;
  }
}

/** A configuration problem; the message is one clear, user-facing line. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
  constructor(message: string, options?: ErrorOptions) {
    super(oneLine(message), options);
  }
}

/** Whether `err` is worth retrying for an idempotent request. */
export function isRetriableError(err: unknown): boolean {
  if (err instanceof ApiError) return err.isRetriable();
  return err instanceof ConnectionError;
}

/** Decode `text` as a `metav1.Status` if it is one. */
export function asStatus(text: string): Status | undefined {
  if (!text.trimStart().startsWith("{")) return undefined;
  let u: unknown;
  try {
    u = JSON.parse(text);
  } catch {
    return undefined;
  }
  return decodeStatus(u);
}

/** `u` as a `metav1.Status` when it has that shape (kind Status), else undefined. */
export function decodeStatus(u: unknown): Status | undefined {
  if (typeof u !== "object" || u === null || Array.isArray(u)) return undefined;
  const o = u as Record<string, unknown>;
  if (o.kind !== "Status") return undefined;
  const details = typeof o.details === "object" && o.details !== null && !Array.isArray(o.details)
    ? o.details as StatusDetails
    : undefined;
  return {
    kind: "Status",
    apiVersion: typeof o.apiVersion === "string" ? o.apiVersion : "v1",
    status: typeof o.status === "string" ? o.status : undefined,
    message: typeof o.message === "string" ? o.message : undefined,
    reason: typeof o.reason === "string" ? o.reason : undefined,
    code: typeof o.code === "number" ? o.code : undefined,
    details,
  };
}

/** Retry-After as whole seconds (delta-seconds form; HTTP dates are converted too). */
export function parseRetryAfter(v: string | null | undefined): number | undefined {
  if (v === null || v === undefined) return undefined;
  const t = v.trim();
  if (/^\d+$/.test(t)) return Number(t);
  const at = Date.parse(t);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, Math.ceil((at - Date.now()) / 1000));
}

function positive(n: number | undefined): number | undefined {
  return typeof n === "number" && n > 0 ? n : undefined;
}

function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, " ").trim();
}

/** A short reason for a low-level failure, without stack or nested noise. */
export function describeCause(cause: unknown): string {
  if (cause instanceof Error) {
    const inner = cause.cause instanceof Error ? `: ${cause.cause.message}` : "";
    return oneLine(`${cause.message}${inner}`);
  }
  return oneLine(String(cause));
}
