/**
 * Reading an operator's `/metrics` text (Prometheus exposition 0.0.4) in tests, the resilience
 * suite and the benchmarks: one parser for all of them.
 */

export interface ApiRequestSeries {
  verb: string;
  resource: string;
  code: string;
  count: number;
}

/** One sample value, or undefined when no series of `name` carries all of `labels`. */
export function sample(
  text: string,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  for (const line of text.split("\n")) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const got: Record<string, string> = {};
    for (const p of (m[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      got[p[1]] = p[2];
    }
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) return Number(m[3]);
  }
  return undefined;
}

/** Every `kleym_api_requests_total` series: verb, resource, code, count. */
export function apiRequests(text: string): ApiRequestSeries[] {
  const out: ApiRequestSeries[] = [];
  for (const line of text.split("\n")) {
    const m = /^kleym_api_requests_total\{verb="([^"]*)",resource="([^"]*)",code="([^"]*)"\} (\S+)$/
      .exec(line);
    if (m) out.push({ verb: m[1], resource: m[2], code: m[3], count: Number(m[4]) });
  }
  return out;
}

/**
 * Reviews a secure /metrics endpoint creates to authenticate and authorise each scrape: requests
 * the scrape itself causes, not writes of the operator's state.
 */
const SCRAPE_REVIEWS =
  /^(tokenreviews\.authentication|subjectaccessreviews\.authorization)\.k8s\.io$/;

/** `kleym_api_requests_total` summed by verb, without the scrape reviews (`scrapeReviews`). */
export function requestsByVerb(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of apiRequests(text)) {
    if (!SCRAPE_REVIEWS.test(r.resource)) out[r.verb] = (out[r.verb] ?? 0) + r.count;
  }
  return out;
}

/**
 * Requests the secure endpoint made to review scrapes (TokenReview + SubjectAccessReview).
 * `answered`: only those the API server answered. The operator labels a request without an
 * answer `code="error"` (observe/metrics.ts), e.g. a review whose caller hung up while it waited
 * for its budget's token, which was never sent.
 */
export function scrapeReviews(text: string, opts: { answered?: boolean } = {}): number {
  return apiRequests(text).filter((r) =>
    SCRAPE_REVIEWS.test(r.resource) && !(opts.answered && r.code === NO_ANSWER)
  ).reduce((n, r) => n + r.count, 0);
}

/** The `code` label of a request that got no answer (observe/metrics.ts). */
export const NO_ANSWER = "error";

export const WRITE_VERBS: readonly string[] = [
  "create",
  "update",
  "patch",
  "delete",
  "deletecollection",
];

/** Write requests in a `requestsByVerb` result. */
export const writesOf = (byVerb: Record<string, number>): number =>
  WRITE_VERBS.reduce((n, v) => n + (byVerb[v] ?? 0), 0);
