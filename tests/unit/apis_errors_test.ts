import { deepEqual, equal, ok } from "node:assert/strict";
import type { Status } from "kubernetes-types/meta/v1.d.ts";
import { ApiError, ConfigError, ConnectionError, isRetriableError } from "../../apis/errors.ts";

type Predicate =
  | "isNotFound"
  | "isAlreadyExists"
  | "isConflict"
  | "isGone"
  | "isInvalid"
  | "isForbidden"
  | "isUnauthorized"
  | "isTooManyRequests"
  | "isServerError"
  | "isRetriable";

const all: Predicate[] = [
  "isNotFound",
  "isAlreadyExists",
  "isConflict",
  "isGone",
  "isInvalid",
  "isForbidden",
  "isUnauthorized",
  "isTooManyRequests",
  "isServerError",
  "isRetriable",
];

function status(code: number, reason: string, message = `${reason} happened`): Status {
  return { kind: "Status", apiVersion: "v1", status: "Failure", code, reason, message };
}

const table: { name: string; status: Status; reason: string; truthy: Predicate[] }[] = [
  { name: "NotFound", status: status(404, "NotFound"), reason: "NotFound", truthy: ["isNotFound"] },
  {
    name: "AlreadyExists",
    status: status(409, "AlreadyExists"),
    reason: "AlreadyExists",
    truthy: ["isAlreadyExists"],
  },
  { name: "Conflict", status: status(409, "Conflict"), reason: "Conflict", truthy: ["isConflict"] },
  { name: "Gone", status: status(410, "Gone"), reason: "Gone", truthy: ["isGone"] },
  { name: "Expired (410)", status: status(410, "Expired"), reason: "Expired", truthy: ["isGone"] },
  { name: "Invalid", status: status(422, "Invalid"), reason: "Invalid", truthy: ["isInvalid"] },
  {
    name: "Forbidden",
    status: status(403, "Forbidden"),
    reason: "Forbidden",
    truthy: ["isForbidden"],
  },
  {
    name: "Unauthorized",
    status: status(401, "Unauthorized"),
    reason: "Unauthorized",
    truthy: ["isUnauthorized"],
  },
  {
    name: "TooManyRequests",
    status: status(429, "TooManyRequests"),
    reason: "TooManyRequests",
    truthy: ["isTooManyRequests", "isRetriable"],
  },
  {
    name: "InternalError",
    status: status(500, "InternalError"),
    reason: "InternalError",
    truthy: ["isServerError", "isRetriable"],
  },
  {
    name: "ServiceUnavailable",
    status: status(503, "ServiceUnavailable"),
    reason: "ServiceUnavailable",
    truthy: ["isServerError", "isRetriable"],
  },
  {
    name: "ServerTimeout on 500",
    status: status(500, "ServerTimeout"),
    reason: "ServerTimeout",
    truthy: ["isServerError", "isRetriable"],
  },
  {
    name: "NotImplemented is not retriable",
    status: status(501, "NotImplemented"),
    reason: "NotImplemented",
    truthy: ["isServerError"],
  },
  {
    name: "missing reason derived from code 404",
    status: { kind: "Status", code: 404, message: "nope" },
    reason: "NotFound",
    truthy: ["isNotFound"],
  },
  {
    name: "missing reason derived from code 409",
    status: { kind: "Status", code: 409 },
    reason: "Conflict",
    truthy: ["isConflict"],
  },
  { name: "BadRequest", status: status(400, "BadRequest"), reason: "BadRequest", truthy: [] },
];

Deno.test("metav1.Status maps to ApiError with exactly the matching predicates", async (t) => {
  for (const c of table) {
    await t.step(c.name, () => {
      const e = ApiError.fromStatus(c.status);
      equal(e.status, c.status.code);
      equal(e.reason, c.reason);
      for (const p of all) equal(e[p](), c.truthy.includes(p), `${p}()`);
    });
  }
});

Deno.test("a response with a Status body keeps message, details and Retry-After", async () => {
  const body = JSON.stringify({
    kind: "Status",
    apiVersion: "v1",
    status: "Failure",
    code: 429,
    reason: "TooManyRequests",
    message: "slow down",
    details: { name: "x", kind: "configmaps", retryAfterSeconds: 3 },
  });
  const fromHeader = await ApiError.fromResponse(
    new Response(body, { status: 429, headers: { "Retry-After": "7" } }),
  );
  equal(fromHeader.message, "slow down");
  equal(fromHeader.retryAfterSeconds, 7, "the header wins");
  deepEqual(fromHeader.details?.name, "x");
  const fromDetails = await ApiError.fromResponse(new Response(body, { status: 429 }));
  equal(fromDetails.retryAfterSeconds, 3);
});

Deno.test("a response without a Status body maps from the HTTP code", async (t) => {
  const cases: [number, string, string][] = [
    [404, "404 page not found\n", "NotFound"],
    [503, "", "ServiceUnavailable"],
    [504, "<html>gateway</html>", "Timeout"],
    [418, "teapot", "Unknown"],
  ];
  for (const [code, text, reason] of cases) {
    await t.step(`${code}`, async () => {
      const e = await ApiError.fromResponse(new Response(text, { status: code }));
      equal(e.status, code);
      equal(e.reason, reason);
      ok(!e.message.includes("\n"), "one line");
      ok(e.message.length > 0);
    });
  }
});

Deno.test("the HTTP status wins over a Status body's code", async () => {
  const body = JSON.stringify({ kind: "Status", code: 200, reason: "Conflict", message: "m" });
  const e = await ApiError.fromResponse(new Response(body, { status: 409 }));
  equal(e.status, 409);
  ok(e.isConflict());
});

Deno.test("only server-side transient failures and lost connections are retriable errors", () => {
  ok(isRetriableError(new ConnectionError("https://x", new Error("refused"))));
  ok(isRetriableError(ApiError.fromStatus(status(503, "ServiceUnavailable"))));
  ok(!isRetriableError(ApiError.fromStatus(status(409, "Conflict"))));
  ok(!isRetriableError(new ConfigError("bad")));
  ok(!isRetriableError(new Error("other")));
});

Deno.test("ConfigError and ConnectionError messages are one line and name the server", () => {
  equal(new ConfigError("line one\n  line two").message, "line one line two");
  const c = new ConnectionError(
    "https://127.0.0.1:1",
    new TypeError("Connection refused\n(os error 111)"),
  );
  ok(c.message.startsWith("cannot reach Kubernetes API server https://127.0.0.1:1: "));
  ok(!c.message.includes("\n"));
});
