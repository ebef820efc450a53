// apis/diagnose.ts: one line per access failure, naming server, context and user, and advice by
// credential kind; only access failures are described (a bug is never dressed up as one).
import assert from "node:assert/strict";
import { describeAccessFailure, serverIdentity } from "../../apis/diagnose.ts";
import { ApiError, ConfigError, ConnectionError } from "../../apis/errors.ts";
import type { AuthKind, ConnectionConfig } from "../../apis/transport.ts";

const conn = (auth?: AuthKind): ConnectionConfig => ({
  server: "https://10.0.0.1:6443",
  source: 'context "prod" in /k',
  namespace: "default",
  context: "prod",
  user: "ops",
  auth,
});
const who = 'Kubernetes API server https://10.0.0.1:6443 (context "prod", user "ops")';
const unauthorized = new ApiError({ status: 401, message: "Unauthorized" });

Deno.test("a 401's advice follows the credential kind", async (t) => {
  const cases: [AuthKind | undefined, string][] = [
    [{ kind: "token" }, "the token is invalid or expired; refresh the kubeconfig credentials"],
    [
      { kind: "token-file", path: "/t" },
      "the token in /t is invalid or expired; write a fresh token to that file",
    ],
    [
      { kind: "exec", command: "aws" },
      "the credential from exec plugin aws is invalid or expired; log in again so the plugin returns a fresh one",
    ],
    [
      { kind: "client-certificate" },
      "the client certificate is not trusted by the server or has expired; renew it in the kubeconfig",
    ],
    [{ kind: "none" }, "the request carried no credentials; give the kubeconfig context a user"],
  ];
  for (const [auth, advice] of cases) {
    await t.step(auth?.kind ?? "unset", () => {
      const f = describeAccessFailure(unauthorized, conn(auth));
      assert.deepEqual(f, {
        key: "http-401",
        status: 401,
        line: `${who} answered HTTP 401 Unauthorized: ${advice}`,
      });
    });
  }
});

Deno.test("no answer: TLS, DNS and refused connections have their own kind and advice", () => {
  const fail = (msg: string) =>
    describeAccessFailure(new ConnectionError("s", new TypeError(msg)), conn({ kind: "token" }));
  const tls = fail("client error (Connect): invalid peer certificate: UnknownIssuer");
  assert.equal(tls?.key, "tls");
  assert.match(
    tls?.line ?? "",
    /failed TLS verification \(invalid peer certificate: UnknownIssuer\)/,
  );
  assert.equal(fail("dns error: failed to lookup address information")?.key, "dns");
  assert.equal(
    fail("tcp connect error: Connection refused (os error 111)")?.line,
    `${who} is unreachable (connection refused): check the server address in the kubeconfig and that the API server is running`,
  );
});

Deno.test("config errors keep their words; bugs are not access failures", () => {
  assert.equal(
    describeAccessFailure(new ConfigError("exec plugin x failed"), conn())?.line,
    `${who}: exec plugin x failed`,
  );
  assert.equal(describeAccessFailure(new RangeError("bug"), conn()), undefined);
  assert.equal(
    serverIdentity({ server: "https://k", source: "in-cluster service account", namespace: "n" }),
    "Kubernetes API server https://k (in-cluster service account)",
  );
});
