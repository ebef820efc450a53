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

/** A failure that is not a finding: one line, exit 4. */
export function failureLine(err: unknown, timeoutMs: number): string | undefined {
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
    const reader = new ClusterReader(conn.rest, signal);
    if (command.command === "status") {
      const report = await gatherStatus(reader, now);
      const outcome: Outcome = { kind: "report", findings: report.findings, strict: false };
      const text = command.output === "json"
        ? `${JSON.stringify(report, null, 2)}\n`
        : statusText(report);
      return { text, outcome };
    }
    const report = await gatherInspect(reader, command, now);
    const outcome: Outcome = { kind: "report", findings: report.findings, strict: command.strict };
    const text = command.output === "json"
      ? `${JSON.stringify(report, null, 2)}\n`
      : inspectionText(report, exitCode(outcome));
    return { text, outcome };
  } finally {
    conn.close();
  }
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
    const line = failureLine(signal.aborted ? signal.reason : err, command.timeoutMs);
    if (line !== undefined) {
      deps.stderr(`${PROGRAM}: ${line}\n`);
      return exitCode({ kind: "failure" });
    }
    deps.stderr(`${PROGRAM}: internal error: ${describeCause(err)}\n`);
    return exitCode({ kind: "internal" });
  }
}
