/**
 * The run flags of a deno.json task: every `--` flag of its command line (permissions, `--v8-flags=`,
 * `--no-code-cache`). The tasks are the one definition of how each entry point runs
 * (docs/permissions.md); the Makefile (`make build`), the Dockerfile, ./kleym, ./kleym-operator, the
 * demo and the test harness all take the flags from here, so none can run with fewer or more.
 *
 *   deno run --allow-read=deno.json tools/task_flags.ts [deno.json] <task>   # one line on stdout
 *
 * Permissions: --allow-read of the deno.json it reads.
 */

/** The flags of `task` in the deno.json text `config`; throws for a task that does not exist. */
export function taskFlags(config: string, task: string): string[] {
  const tasks: Record<string, unknown> = JSON.parse(config).tasks ?? {};
  const line = tasks[task];
  if (typeof line !== "string") throw new Error(`deno.json has no task named ${task}`);
  return line.split(/\s+/).filter((w) => w.startsWith("--"));
}

/** `taskFlags` of the deno.json at `path`. */
export function taskFlagsOf(path: string, task: string): string[] {
  return taskFlags(Deno.readTextFileSync(path), task);
}

if (import.meta.main) {
  const [path, task] = Deno.args.length > 1 ? Deno.args : ["deno.json", Deno.args[0]];
  try {
    console.log(taskFlagsOf(path, task ?? "").join(" "));
  } catch (err) {
    console.error(`task_flags: ${err instanceof Error ? err.message : err}`);
    Deno.exit(2);
  }
}
