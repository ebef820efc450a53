/**
 * The `kleym` CLI as tests run it: in-process through `runCli` with its output captured, or as a
 * process with exactly the `kleym` task's permissions (the one definition, deno.json).
 */
import assert from "node:assert/strict";
import { type CliDeps, runCli } from "../../cli/run.ts";
import { checkReport } from "../../cli/schema.ts";
import { REPO_ROOT } from "./controlplane.ts";

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * `runCli(args)` in-process, stdout and stderr captured. No environment (so no KUBECONFIG
 * fallback): only what `args` name. `deps` injects the request hook or a `connect`.
 */
export async function runCliCaptured(
  args: string[],
  deps: Pick<CliDeps, "onRequest" | "connect"> = {},
): Promise<CliRun> {
  let stdout = "";
  let stderr = "";
  const code = await runCli(args, {
    stdout: (t) => stdout += t,
    stderr: (t) => stderr += t,
    env: () => undefined,
    ...deps,
  });
  return { code, stdout, stderr };
}

/** A run's `-o json` report, asserted to have the documented shape (cli/schema.ts). */
export function checkedReport<T>(run: CliRun): T {
  const parsed = JSON.parse(run.stdout);
  assert.deepEqual(checkReport(parsed), [], "the JSON report has the documented shape");
  return parsed as T;
}

/** The permission flags of deno.json's `kleym` task. */
export function cliPermissions(): string[] {
  const task: string = JSON.parse(Deno.readTextFileSync(`${REPO_ROOT}/deno.json`)).tasks.kleym;
  return task.match(/--(allow|deny)-\S+/g) ?? [];
}
