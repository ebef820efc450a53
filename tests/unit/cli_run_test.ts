/**
 * Exit codes through `runCli` with injected edges (no cluster): usage (4), connection/config
 * failure (4), and internal failure (5) — the latter by injecting a `connect` that fails with a
 * plain bug-like error, the only honest way to reach 5 (a real run never should). The pure
 * mapping `exitCode` is covered for every outcome.
 */
import assert from "node:assert/strict";
import { ApiError, ConnectionError } from "../../apis/errors.ts";
import { exitCode } from "../../cli/exit.ts";
import type { Finding } from "../../cli/report.ts";
import type { ConnectFn } from "../../cli/run.ts";
import { runCliCaptured } from "../harness/cli.ts";

const run = (args: string[], connect?: ConnectFn) => runCliCaptured(args, { connect });

const finding = (id: Finding["id"], severity: Finding["severity"]): Finding => ({
  id,
  severity,
  reason: "R",
  message: "m",
  affectedRefs: [],
});

Deno.test("exitCode maps every outcome", () => {
  const report = (findings: Finding[], strict = false) =>
    exitCode({ kind: "report", findings, strict });
  assert.equal(report([]), 0);
  assert.equal(report([finding("zero-matched-pods", "info")], true), 0);
  assert.equal(report([finding("rbac-limited", "warning")]), 0);
  assert.equal(report([finding("rbac-limited", "warning")], true), 2);
  assert.equal(report([finding("render-failure", "error")]), 2);
  assert.equal(report([finding("crd-missing", "error"), finding("binding-not-found", "error")]), 3);
  assert.equal(exitCode({ kind: "usage" }), 4);
  assert.equal(exitCode({ kind: "failure" }), 4);
  assert.equal(exitCode({ kind: "internal" }), 5);
});

Deno.test("--version prints the version without touching a cluster", async () => {
  const r = await run(["--version"], () => {
    throw new Error("must not connect");
  });
  assert.deepEqual(r, { code: 0, stdout: "kleym 0.1.0\n", stderr: "" });
});

Deno.test("usage errors: one line on stderr, exit 4", async () => {
  const r = await run(["inspect", "binding", "x", "--timeout=0"]);
  assert.deepEqual(r, {
    code: 4,
    stdout: "",
    stderr: "kleym: --timeout=0: must be greater than zero\n",
  });
});

Deno.test("a missing kubeconfig is a connection failure: exit 4", async () => {
  const r = await run(["status", "--kubeconfig", "/nonexistent/kubeconfig"]);
  assert.equal(r.code, 4);
  assert.equal(r.stdout, "");
  assert.equal(r.stderr, "kleym: kubeconfig /nonexistent/kubeconfig does not exist\n");
});

Deno.test("unreachable server and refused discovery: exit 4, one line", async () => {
  for (
    const err of [
      new ConnectionError("https://127.0.0.1:1", new Error("connection refused")),
      new ApiError({ status: 401, message: "Unauthorized" }),
    ]
  ) {
    const r = await run(["status"], () => Promise.reject(err));
    assert.equal(r.code, 4, r.stderr);
    assert.equal(r.stderr.split("\n").length, 2, r.stderr);
  }
});

Deno.test("an injected internal failure is exit 5 with one line, no stack trace", async () => {
  const r = await run(
    ["status"],
    () => Promise.reject(new TypeError("cannot read properties of undefined")),
  );
  assert.deepEqual(r, {
    code: 5,
    stdout: "",
    stderr: "kleym: internal error: cannot read properties of undefined\n",
  });
});
