/**
 * Runs an exec credential plugin with a deadline (docs/contract.md#connection): a plugin that hangs
 * (waiting for a browser login, a network that never answers) is killed after `timeoutMs`, and
 * the caller gets `timedOut` instead of waiting for ever. Its pipes are read by us and cancelled at
 * the deadline, so a child the plugin left behind (holding stdout open) cannot keep us waiting
 * either; the plugin process itself is always awaited.
 */
import { type Clock, realClock } from "./clock.ts";

/** How long an exec credential plugin may run. */
export const EXEC_TIMEOUT_MS = 30_000;

export interface PluginRun {
  command: string;
  args: string[];
  env: Record<string, string>;
  clearEnv: boolean;
  timeoutMs?: number;
  clock?: Clock;
}

export interface PluginOutput {
  /** Exit code (undefined when the deadline passed and the plugin was killed). */
  code: number | undefined;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/** Throws what `Deno.Command#spawn` throws (e.g. `Deno.errors.NotFound`). */
export async function runPlugin(run: PluginRun): Promise<PluginOutput> {
  const clock = run.clock ?? realClock;
  const child = new Deno.Command(run.command, {
    args: run.args,
    env: run.env,
    clearEnv: run.clearEnv,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const deadline = new AbortController();
  const timer = clock.setTimeout(() => {
    deadline.abort();
    try {
      child.kill("SIGKILL");
    } catch { /* already exited */ }
  }, run.timeoutMs ?? EXEC_TIMEOUT_MS);
  try {
    const [stdout, stderr, status] = await Promise.all([
      readAll(child.stdout, deadline.signal),
      readAll(child.stderr, deadline.signal),
      child.status,
    ]);
    const timedOut = deadline.signal.aborted;
    return { code: timedOut ? undefined : status.code, stdout, stderr, timedOut };
  } finally {
    clock.clearTimeout(timer);
  }
}

/** The whole stream as text; stops (cancelling the stream) when `signal` aborts. */
async function readAll(stream: ReadableStream<Uint8Array>, signal: AbortSignal): Promise<string> {
  const reader = stream.getReader();
  const stop = () => void reader.cancel().catch(() => {});
  signal.addEventListener("abort", stop, { once: true });
  const decoder = new TextDecoder();
  let text = "";
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
  } catch {
    // cancelled at the deadline
  } finally {
    signal.removeEventListener("abort", stop);
  }
  return text + decoder.decode();
}
