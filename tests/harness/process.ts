/**
 * Child processes of the test harness: logged to a file, recorded in a pid file so an
 * interrupted run can be swept up by the next one, and stopped TERM-then-KILL.
 */

export interface ManagedProcess {
  readonly name: string;
  readonly pid: number;
  readonly status: Promise<Deno.CommandStatus>;
  /** SIGTERM, then SIGKILL if it has not exited after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
  kill9(): Promise<void>;
  /** Lets our process exit while this one keeps running (`cluster-up`). */
  unref(): void;
}

export interface SpawnOptions {
  name: string;
  cmd: string;
  args: string[];
  logFile: string;
  pidFile: string;
  env?: Record<string, string>;
  cwd?: string;
}

export async function spawnLogged(opts: SpawnOptions): Promise<ManagedProcess> {
  // The shell redirects straight into the log file and then execs the program (same pid), so
  // the process does not depend on us to drain its output and may outlive us (`cluster-up`).
  // Detached (a session of its own): a terminal's Ctrl-C signals its whole foreground process
  // group, and `make demo` / `make cluster-up` promise the control plane outlives that.
  const child = new Deno.Command("sh", {
    args: ["-c", 'exec "$0" "$@" >>"$KLEYM_LOG_FILE" 2>&1', opts.cmd, ...opts.args],
    detached: true,
    env: { ...opts.env, KLEYM_LOG_FILE: opts.logFile },
    cwd: opts.cwd,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  await Deno.writeTextFile(opts.pidFile, `${child.pid}\n`, { append: true });
  const status = child.status;
  let exited = false;
  status.then(() => exited = true);
  const signal = (sig: Deno.Signal) => {
    if (exited) return;
    try {
      child.kill(sig);
    } catch { /* already gone */ }
  };
  return {
    name: opts.name,
    pid: child.pid,
    status,
    unref: () => child.unref(),
    async stop(graceMs = 5000) {
      signal("SIGTERM");
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<"timeout">((r) =>
        timer = setTimeout(() => r("timeout"), graceMs)
      );
      const first = await Promise.race([status, timeout]);
      clearTimeout(timer);
      if (first === "timeout") {
        signal("SIGKILL");
        await status;
      }
    },
    async kill9() {
      signal("SIGKILL");
      await status;
    },
  };
}

/** What a finished child printed, and how it ended. */
export interface Collected {
  code: number;
  signal: Deno.Signal | null;
  stdout: string;
  stderr: string;
}

/** A child whose stdout and stderr this process reads to the end (test-side, not logged). */
export interface CollectingProcess {
  readonly child: Deno.ChildProcess;
  /** Its stderr so far (for polling on a log line while it runs). */
  stderr(): string;
  /** Has it exited yet? */
  exited(): boolean;
  /** Settles once it has exited and both streams are read to the end. */
  readonly done: Promise<Collected>;
}

export interface CollectOptions {
  cwd?: string;
  env?: Record<string, string>;
  /** Only `env`, none of ours. */
  clearEnv?: boolean;
  /** In a session (and process group) of its own, via setsid(1): as a terminal runs a job. */
  setsid?: boolean;
  /** Written to the child's stdin, which is then closed (default: no stdin at all). */
  stdin?: string;
}

/**
 * The one way a test (or tool) starts a child and keeps what it prints: stdin closed or fed
 * `opts.stdin`, stdout and stderr piped and always drained (a full pipe would block the child).
 */
export function spawnCollecting(
  cmd: string,
  args: string[],
  opts: CollectOptions = {},
): CollectingProcess {
  const child = new Deno.Command(opts.setsid ? "setsid" : cmd, {
    args: opts.setsid ? [cmd, ...args] : args,
    cwd: opts.cwd,
    env: opts.env,
    clearEnv: opts.clearEnv,
    stdin: opts.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (opts.stdin !== undefined) {
    const input = new TextEncoder().encode(opts.stdin);
    ReadableStream.from([input]).pipeTo(child.stdin).catch(() => {}); // a child may not read it
  }
  let stderr = "";
  const dec = new TextDecoder();
  const reading = (async () => {
    for await (const chunk of child.stderr) stderr += dec.decode(chunk, { stream: true });
    stderr += dec.decode();
  })();
  const stdout = new Response(child.stdout).text();
  let exited = false;
  const status = child.status.finally(() => exited = true);
  const done = Promise.all([status, stdout, reading]).then(([s, out]) => ({
    code: s.code,
    signal: s.signal,
    stdout: out,
    stderr,
  }));
  return { child, stderr: () => stderr, exited: () => exited, done };
}

/** `spawnCollecting`, waited for. */
export function runCollecting(
  cmd: string,
  args: string[],
  opts: CollectOptions = {},
): Promise<Collected> {
  return spawnCollecting(cmd, args, opts).done;
}

/** Is a process with this pid alive, and is it one of ours (by command name)? */
export function isOurProcess(pid: number): boolean {
  try {
    const cmdline = Deno.readTextFileSync(`/proc/${pid}/cmdline`);
    return /(^|\/)(etcd|kube-apiserver|spire-server|spire-controller-manager)\0/.test(cmdline);
  } catch {
    return false;
  }
}

/**
 * Kills processes listed in pid files of earlier runs that did not tear down (for example a
 * `kill -9` of the test runner). Only etcd/kube-apiserver/SPIRE binaries are touched.
 */
export async function sweepStale(runsDir: string, except?: string): Promise<number> {
  let killed = 0;
  let entries: Deno.DirEntry[] = [];
  try {
    entries = [...Deno.readDirSync(runsDir)];
  } catch {
    return 0;
  }
  for (const e of entries) {
    if (!e.isDirectory || `${runsDir}/${e.name}` === except) continue;
    const dir = `${runsDir}/${e.name}`;
    let pids: number[] = [];
    try {
      pids = Deno.readTextFileSync(`${dir}/pids`).split("\n").filter(Boolean).map(Number);
    } catch { /* no pid file */ }
    const owner = readOwner(dir);
    if (owner !== undefined && processAlive(owner)) continue; // a live run owns it
    for (const pid of pids) {
      if (isOurProcess(pid)) {
        try {
          Deno.kill(pid, "SIGKILL");
          killed++;
        } catch { /* raced with exit */ }
      }
    }
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
  return killed;
}

function readOwner(dir: string): number | undefined {
  try {
    return Number(Deno.readTextFileSync(`${dir}/owner`).trim());
  } catch {
    return undefined;
  }
}

export function processAlive(pid: number): boolean {
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch {
    return false;
  }
}

/** A free TCP port on loopback (closed again before it is returned). */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}
