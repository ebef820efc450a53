/**
 * Authentication and authorization of `/metrics` delegated to the API server
 * (docs/contract.md#metrics-auth), as the Go operators' secure metrics filter does:
 *
 * 1. the request's `Authorization: Bearer <token>` is checked with a TokenReview (no token, a
 *    token the API server does not accept -> 401);
 * 2. the user it names is checked with a SubjectAccessReview for `get` on the non-resource URL
 *    (`/metrics`) -> 403 when not allowed (ClusterRole `kleym-metrics-reader` allows it).
 *
 * Decisions are cached per (token, path) for `ttlMs` (default 10 s) so a scraper costs at most two
 * API requests per interval, not two per scrape; tokens are keyed by their SHA-256, never stored.
 * Concurrent requests with the same token share one review. A review that fails (API server
 * unreachable, 5xx) answers 503 and is not cached. The operator's ServiceAccount needs `create` on
 * `tokenreviews` and `subjectaccessreviews` (ClusterRole `kleym-metrics-auth`).
 *
 * Strangers have no lever (docs/contract.md#metrics-auth, `review_limit.ts`): at most
 * `maxConcurrentReviews` reviews run at once and a caller that finds none free gets 429 at once
 * (not cached); a review is cancelled when every caller waiting for it has hung up; every decision
 * is reported to `onDecision` (the `kleym_metrics_auth_total` counter), so a flood shows.
 */
import { createHash } from "node:crypto";
import { type Clock, realClock } from "../apis/clock.ts";
import { ResourceClient, type RestClient } from "../apis/rest.ts";
import { errorText, type Logger } from "../observe/log.ts";
import { MAX_CONCURRENT_REVIEWS, ReviewSlots, SharedReview } from "./review_limit.ts";

export interface UserInfo {
  username: string;
  uid?: string;
  groups?: string[];
  extra?: Record<string, string[]>;
}

/** The two questions asked of the API server; `RestClient`-backed in production. */
export interface Reviewer {
  /** The user a token belongs to, or undefined when the API server does not accept it. */
  authenticate(token: string, signal?: AbortSignal): Promise<UserInfo | undefined>;
  /** Whether `user` may `verb` the non-resource URL `path`. */
  authorize(user: UserInfo, verb: string, path: string, signal?: AbortSignal): Promise<boolean>;
}

interface TokenReview {
  apiVersion?: string;
  kind?: string;
  metadata: Record<string, never>;
  spec: { token: string };
  status?: { authenticated?: boolean; user?: UserInfo; error?: string };
}

interface SubjectAccessReview {
  apiVersion?: string;
  kind?: string;
  metadata: Record<string, never>;
  spec: {
    user: string;
    uid?: string;
    groups?: string[];
    extra?: Record<string, string[]>;
    nonResourceAttributes: { path: string; verb: string };
  };
  status?: { allowed?: boolean; denied?: boolean; reason?: string };
}

export function apiReviewer(rest: RestClient): Reviewer {
  const tokenReviews = new ResourceClient<TokenReview>(rest, {
    group: "authentication.k8s.io",
    version: "v1",
    plural: "tokenreviews",
    kind: "TokenReview",
    namespaced: false,
  });
  const accessReviews = new ResourceClient<SubjectAccessReview>(rest, {
    group: "authorization.k8s.io",
    version: "v1",
    plural: "subjectaccessreviews",
    kind: "SubjectAccessReview",
    namespaced: false,
  });
  return {
    async authenticate(token, signal) {
      const r = await tokenReviews.create({ metadata: {}, spec: { token } }, { signal });
      return r.status?.authenticated && r.status.user?.username ? r.status.user : undefined;
    },
    async authorize(user, verb, path, signal) {
      const r = await accessReviews.create({
        metadata: {},
        spec: {
          user: user.username,
          uid: user.uid,
          groups: user.groups,
          extra: user.extra,
          nonResourceAttributes: { path, verb },
        },
      }, { signal });
      return r.status?.allowed === true;
    },
  };
}

export type Decision =
  | { status: 200; user: string }
  | { status: 401 | 403 | 429 | 503; message: string };

/** What `kleym_metrics_auth_total{result}` calls each decision. */
export const DECISION_RESULT = {
  200: "allowed",
  401: "unauthenticated",
  403: "forbidden",
  429: "throttled",
  503: "unavailable",
} as const satisfies Record<Decision["status"], string>;

export type DecisionResult = (typeof DECISION_RESULT)[Decision["status"]];

export interface DelegatedAuthOptions {
  reviewer: Reviewer;
  logger: Logger;
  clock?: Clock;
  ttlMs?: number;
  /** Most cached decisions kept (oldest dropped first); default 1024. */
  maxEntries?: number;
  /** Reviews in flight at once (default `MAX_CONCURRENT_REVIEWS`); excess callers get 429. */
  maxConcurrentReviews?: number;
  /** Told of every decision (cached or not), e.g. to count them. */
  onDecision?: (result: DecisionResult) => void;
}

export const DEFAULT_AUTH_TTL_MS = 10_000;

/**
 * Synchronous on purpose: crypto.subtle's digest completes on another thread, so a flood's callers
 * would reach the review cap in an order set by the machine's load rather than by arrival.
 */
function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

/** The bearer token of an `Authorization` header, or undefined. */
export function bearerToken(header: string | null): string | undefined {
  const m = /^Bearer +(\S+) *$/i.exec(header ?? "");
  return m?.[1];
}

export class DelegatedAuth {
  readonly #o: Required<Omit<DelegatedAuthOptions, "clock" | "onDecision">> & { clock: Clock };
  readonly #onDecision: (result: DecisionResult) => void;
  readonly #slots: ReviewSlots;
  readonly #cache = new Map<string, { expires: number; review: SharedReview<Decision> }>();

  constructor(o: DelegatedAuthOptions) {
    this.#o = {
      clock: o.clock ?? realClock,
      ttlMs: o.ttlMs ?? DEFAULT_AUTH_TTL_MS,
      maxEntries: o.maxEntries ?? 1024,
      maxConcurrentReviews: o.maxConcurrentReviews ?? MAX_CONCURRENT_REVIEWS,
      reviewer: o.reviewer,
      logger: o.logger,
    };
    this.#onDecision = o.onDecision ?? (() => {});
    this.#slots = new ReviewSlots(this.#o.maxConcurrentReviews);
  }

  /** Reviews running now. */
  get reviewsInFlight(): number {
    return this.#slots.inFlight;
  }

  /**
   * Decides one request for `path` (GET) with the given `Authorization` header. `signal` is the
   * caller's connection: when it aborts, this rejects with its reason, and the review is cancelled
   * once nobody else waits for it.
   */
  async check(authorization: string | null, path: string, signal?: AbortSignal): Promise<Decision> {
    const d = await this.#decide(authorization, path, signal);
    this.#onDecision(DECISION_RESULT[d.status]);
    return d;
  }

  async #decide(authorization: string | null, path: string, signal?: AbortSignal) {
    const token = bearerToken(authorization);
    if (!token) return { status: 401, message: "a bearer token is required" } as const;
    const key = `${sha256(token)} ${path}`;
    // Monotonic: a wall-clock step must neither keep decisions forever nor expire them early.
    const now = this.#o.clock.monotonic();
    const hit = this.#cache.get(key);
    if (hit && hit.expires > now) return await hit.review.join(signal);
    const release = this.#slots.tryAcquire();
    if (!release) {
      return {
        status: 429,
        message: "too many metrics requests under review; retry later",
      } as const;
    }
    const review = new SharedReview((reviewSignal) => this.#review(token, path, reviewSignal));
    review.result.then(release, release);
    this.#cache.delete(key);
    this.#cache.set(key, { expires: now + this.#o.ttlMs, review });
    while (this.#cache.size > this.#o.maxEntries) {
      this.#cache.delete(this.#cache.keys().next().value!);
    }
    review.result.then((d) => {
      // Failed or cancelled reviews are not decisions: the next request asks again.
      if (d.status === 503 && this.#cache.get(key)?.review === review) this.#cache.delete(key);
    });
    return await review.join(signal);
  }

  async #review(token: string, path: string, signal: AbortSignal): Promise<Decision> {
    const { reviewer, logger } = this.#o;
    try {
      const user = await reviewer.authenticate(token, signal);
      if (!user) return { status: 401, message: "the token was not accepted" };
      if (!await reviewer.authorize(user, "get", path, signal)) {
        return { status: 403, message: `${user.username} may not get ${path}` };
      }
      return { status: 200, user: user.username };
    } catch (err) {
      // Everyone waiting hung up: not a failure worth a line.
      if (signal.aborted) return { status: 503, message: "the caller went away" };
      logger.warn("cannot review a metrics request with the API server", {
        error: errorText(err),
      });
      return { status: 503, message: "cannot verify the request with the API server" };
    }
  }
}
