/**
 * The operator's process edge: arguments, environment, signals, exit codes. Everything else is in
 * `run.ts`.
 *
 * - `--help` / `--version`: stdout, exit 0.
 * - Usage error: its one line on stderr, exit 2.
 * - SIGTERM / SIGINT: graceful shutdown (see run.ts), exit 0. If it has not finished after
 *   `SHUTDOWN_TIMEOUT_MS` the process logs that and exits 1 (Kubernetes would SIGKILL it anyway).
 * - Signals that arrive within `FORCE_GRACE_MS` of the first are the same stop request seen twice
 *   and are ignored: a terminal's Ctrl-C reaches the whole process group, so a wrapper (`make
 *   demo`, `deno task`, make's SIGTERM forwarding) and the terminal each deliver one. Only a
 *   signal after the grace period means "stop now": the process exits 1 without finishing.
 * - Anything unexpected (a bug): one JSON log line, exit 1 — never a stack trace.
 */
import { connect } from "../apis/connect.ts";
import { SERVICE_ACCOUNT_DIR } from "../apis/incluster.ts";
import { VERSION } from "../apis/version.ts";
import { errorText, Logger } from "../observe/log.ts";
import { Metrics } from "../observe/metrics.ts";
import { parseConfig, PROGRAM } from "./config.ts";
import { holderIdentity } from "./leader.ts";
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, type OperatorDeps, runOperator } from "./run.ts";

/** Must stay below the pod's termination grace period (deploy.yaml: 10 s). */
export const SHUTDOWN_TIMEOUT_MS = 9_000;

/** Repeat signals this soon after the first are duplicates of it, not a request to force exit. */
export const FORCE_GRACE_MS = 2_000;

function readOptional(path: string): string | undefined {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return undefined;
  }
}

/** Host part of the leader identity: the pod name in a cluster, else the machine's name. */
function hostName(): string {
  const fromEnv = Deno.env.get("POD_NAME") ?? Deno.env.get("HOSTNAME");
  if (fromEnv) return fromEnv.trim();
  return readOptional("/etc/hostname")?.trim() || "kleym";
}

const SIGNALS: readonly Deno.Signal[] = ["SIGTERM", "SIGINT"];

export async function operatorMain(
  args: readonly string[],
  newController: OperatorDeps["newController"],
): Promise<number> {
  const parsed = parseConfig(args, (n) => Deno.env.get(n), {
    inClusterNamespace: readOptional(`${SERVICE_ACCOUNT_DIR}/namespace`),
  });
  switch (parsed.kind) {
    case "help":
      console.log(parsed.text.trimEnd());
      return EXIT_OK;
    case "version":
      console.log(`${PROGRAM} ${VERSION}`);
      return EXIT_OK;
    case "usage":
      console.error(parsed.message);
      return EXIT_USAGE;
  }
  const config = parsed.config;
  const logger = new Logger({ level: config.logLevel });

  const shutdown = new AbortController();
  let watchdog: ReturnType<typeof setTimeout> | undefined;
  let firstSignalAt = 0;
  const onSignal = (sig: Deno.Signal) => () => {
    if (shutdown.signal.aborted) {
      if (performance.now() - firstSignalAt < FORCE_GRACE_MS) {
        logger.info(`received ${sig} again; already shutting down`);
        return;
      }
      logger.error(`received ${sig} again; exiting without finishing the shutdown`);
      Deno.exit(EXIT_FAILURE);
    }
    firstSignalAt = performance.now();
    logger.info(`received ${sig}; shutting down`);
    shutdown.abort(new Error(`received ${sig}`));
    watchdog = setTimeout(() => {
      logger.error(`shutdown did not finish within ${SHUTDOWN_TIMEOUT_MS} ms; exiting`);
      Deno.exit(EXIT_FAILURE);
    }, SHUTDOWN_TIMEOUT_MS);
  };
  const listeners = SIGNALS.map((sig) => ({ sig, fn: onSignal(sig) }));
  for (const l of listeners) Deno.addSignalListener(l.sig, l.fn);

  const onUnhandled = (e: PromiseRejectionEvent) => {
    e.preventDefault();
    logger.error("internal error (unhandled rejection)", { error: errorText(e.reason) });
    Deno.exit(EXIT_FAILURE);
  };
  globalThis.addEventListener("unhandledrejection", onUnhandled);

  try {
    return await runOperator({
      config,
      logger,
      metrics: new Metrics(),
      connect,
      newController,
      identity: holderIdentity(hostName()),
    }, shutdown.signal);
  } catch (err) {
    logger.error("internal error", { error: errorText(err) });
    return EXIT_FAILURE;
  } finally {
    clearTimeout(watchdog);
    for (const l of listeners) Deno.removeSignalListener(l.sig, l.fn);
    globalThis.removeEventListener("unhandledrejection", onUnhandled);
  }
}
