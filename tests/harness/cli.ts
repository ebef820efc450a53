/**
 * The `kleym` CLI as tests run it: in-process through `runCli` with its output captured, or as a
 * process with exactly the `kleym` task's permissions (the one definition, deno.json).
 */
import assert from "node:assert/strict";
import { type CliDeps, runCli } from "../../cli/run.ts";
import { checkReport } from "../../cli/schema.ts";
import { REPO_ROOT } from "./controlplane.ts";
import { runCollecting } from "./process.ts";

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

/** The system directories only: no `deno` on them (tests assert it), `sh`, `make` and git are. */
const SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/**
 * `make kubectl-plugin PREFIX=<prefix>` (the documented install), and the environment a user who
 * put `prefix` on PATH runs kubectl in: PATH = prefix + the system directories (no deno), HOME
 * (and DENO_DIR when set: the module cache), plus `extra` (e.g. KUBECONFIG) — nothing else.
 */
export async function installKubectlPlugin(
  prefix: string,
  extra: Record<string, string> = {},
): Promise<Record<string, string>> {
  const make = await runCollecting("make", ["-s", "kubectl-plugin", `PREFIX=${prefix}`], {
    cwd: REPO_ROOT,
  });
  assert.equal(make.code, 0, make.stdout + make.stderr);
  const env: Record<string, string> = { PATH: `${prefix}:${SYSTEM_PATH}`, ...extra };
  for (const name of ["HOME", "DENO_DIR"]) {
    const value = Deno.env.get(name);
    if (value !== undefined) env[name] = value;
  }
  return env;
}
