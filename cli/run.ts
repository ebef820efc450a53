/**
 * The CLI's process logic with its edges injected (tests call `runCli` in-process):
 * arguments -> connection -> reads (cluster.ts) -> pure report (inspect.ts / status.ts) ->
 * JSON or text on stdout -> exit code (exit.ts).
 *
 * Failures that are not findings print exactly one line on stderr:
 * - usage (exit 4): the parser's message, plus a hint to `--help`;
 * - connection, configuration, discovery, timeout, permission or API failure (exit 4);
 * - anything else is a bug (exit 5): `kleym: internal error: <message>`, never a stack trace.
 */
import { connect as realConnect, type Connection } from "../apis/connect.ts";
import { describeAccessFailure, serverIdentity } from "../apis/diagnose.ts";
import { ApiError, ConfigError, ConnectionError, describeCause } from "../apis/errors.ts";
import type { RequestHook } from "../apis/hooks.ts";
import { VERSION } from "../apis/version.ts";
import { type CliCommand, parseArgs, PROGRAM } from "./args.ts";
import { ClusterReader, gatherInspect, gatherStatus, PermissionFailure } from "./cluster.ts";
import { exitCode, type Outcome } from "./exit.ts";
import { inspectionText, statusText } from "./text.ts";

export type ConnectFn = (opts: Parameters<typeof realConnect>[0]) => Promise<Connection>;

export interface CliDeps {
  stdout(text: string): void;
  stderr(text: string): void;
  env?: (name: string) => string | undefined;
  now?: () => Date;
  /** Observes every HTTP request (tests prove the CLI only GETs). */
  onRequest?: RequestHook;
  connect?: ConnectFn;
}

/** A failure to use the API server, already worded by apis/diagnose.ts (exit 4). */
class AccessError extends Error {
  override readonly name = "AccessError";
}

/** A failure that is not a finding: one line, exit 4. */
export function failureLine(err: unknown, timeoutMs: number): string | undefined {
  if (err instanceof AccessError) return err.message;
  if (err instanceof DOMException && (err.name === "TimeoutError" || err.name === "AbortError")) {
    return `timed out after ${timeoutMs / 1000}s waiting for the Kubernetes API server (--timeout)`;
  }
  if (err instanceof ConfigError || err instanceof ConnectionError) return err.message;
  if (err instanceof PermissionFailure) return err.message;
  if (err instanceof ApiError) {
    return `the Kubernetes API server refused a request (${err.reason}, HTTP ${err.status}): ${err.message}`;
  }
  return undefined;
}

async function execute(
  command: CliCommand,
  deps: CliDeps,
  signal: AbortSignal,
): Promise<{ text: string; outcome: Outcome }> {
  const connect = deps.connect ?? realConnect;
  const now = deps.now ?? (() => new Date());
  const conn = await connect({
    kubeconfig: command.kubeconfig,
    context: command.context,
    env: deps.env,
    onRequest: deps.onRequest,
    retry: { maxAttempts: 3 },
    userAgent: `${PROGRAM}/${VERSION} (cli)`,
  });
  try {
    return await report(command, conn, now, signal);
  } catch (err) {
    // Name the server, context and user, the HTTP status and what to do (same lines as the
    // operator's start-up wait). A 403 on a read the command needs stays a PermissionFailure.
    if (signal.aborted) {
      throw new AccessError(
        `${serverIdentity(conn.conn)} did not answer within ${
          command.timeoutMs / 1000
        }s (--timeout): check that it is reachable and healthy`,
      );
    }
    const failure = describeAccessFailure(err, conn.conn);
    if (failure !== undefined) throw new AccessError(failure.line);
    throw err;
  } finally {
    conn.close();
  }
}

async function report(
  command: CliCommand,
  conn: Connection,
  now: () => Date,
  signal: AbortSignal,
): Promise<{ text: string; outcome: Outcome }> {
  const reader = new ClusterReader(conn.rest, signal);
  if (command.command === "status") {
    const status = await gatherStatus(reader, now);
    const outcome: Outcome = { kind: "report", findings: status.findings, strict: false };
    const text = command.output === "json"
      ? `${JSON.stringify(status, null, 2)}\n`
      : statusText(status);
    return { text, outcome };
  }
  const inspection = await gatherInspect(reader, command, now);
  const outcome: Outcome = {
    kind: "report",
    findings: inspection.findings,
    strict: command.strict,
  };
  const text = command.output === "json"
    ? `${JSON.stringify(inspection, null, 2)}\n`
    : inspectionText(inspection, exitCode(outcome));
  return { text, outcome };
}

export async function runCli(args: readonly string[], deps: CliDeps): Promise<number> {
  const parsed = parseArgs(args);
  switch (parsed.kind) {
    case "help":
      deps.stdout(parsed.text);
      return 0;
    case "version":
      deps.stdout(`${PROGRAM} ${VERSION}\n`);
      return 0;
    case "usage":
      deps.stderr(`${PROGRAM}: ${parsed.message}\n`);
      return exitCode({ kind: "usage" });
  }
  const command = parsed.command;
  const signal = AbortSignal.timeout(command.timeoutMs);
  try {
    const { text, outcome } = await execute(command, deps, signal);
    deps.stdout(text);
    return exitCode(outcome);
  } catch (err) {
    const line = failureLine(
      signal.aborted && !(err instanceof AccessError) ? signal.reason : err,
      command.timeoutMs,
    );
    if (line !== undefined) {
      deps.stderr(`${PROGRAM}: ${line}\n`);
      return exitCode({ kind: "failure" });
    }
    deps.stderr(`${PROGRAM}: internal error: ${describeCause(err)}\n`);
    return exitCode({ kind: "internal" });
  }
}
