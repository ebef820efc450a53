/**
 * What a process of this checkout costs before it has any work: the operator idle (waiting for an
 * API server that does not answer) with `/metrics` plain and with TLS, and the CLI's peak for one
 * run against the same server and for `--version`. The figures behind docs/benchmarks.md "What the process loads at
 * start"; run it in two checkouts to compare a change.
 *
 *   node_modules/.bin/deno run -A tools/idle_memory.ts [--runs 5] [--root <checkout>]
 *
 * Each run spawns the operator exactly as its deno.json task does (tools/task_flags.ts), with a
 * JSON kubeconfig whose server refuses connections; once the operator has logged that the server
 * is unreachable, the settle window passes (the window is the measurement, nothing waits on it)
 * and VmRSS/VmHWM are read from /proc. Variants alternate, so load drift hits both alike. The CLI
 * runs `status` and `--version` under `/usr/bin/time` (maximum resident set, wall time). Prints
 * medians.
 */
import { parseArgs } from "node:util";
import { taskFlagsOf } from "./task_flags.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { runs: { type: "string", default: "5" }, root: { type: "string", default: "." } },
  strict: true,
});
const RUNS = Number(values.runs);
const ROOT = Deno.realPathSync(values.root ?? ".");
const DENO = `${ROOT}/node_modules/.bin/deno`;
const SETTLE_MS = 3_000;

const dir = Deno.makeTempDirSync({ prefix: "kleym-idle-" });
const kubeconfig = `${dir}/kubeconfig.json`;
Deno.writeTextFileSync(
  kubeconfig,
  JSON.stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name: "c", cluster: { server: "https://127.0.0.1:1" } }],
    users: [{ name: "u", user: { token: "idle" } }],
    contexts: [{ name: "c", context: { cluster: "c", user: "u" } }],
    "current-context": "c",
  }),
);

function statusKiB(pid: number, field: string): number {
  const m = Deno.readTextFileSync(`/proc/${pid}/status`).match(new RegExp(`${field}:\\s+(\\d+)`));
  if (!m) throw new Error(`no ${field} for ${pid}`);
  return Number(m[1]);
}

async function operatorIdle(tls: boolean): Promise<{ rss: number; hwm: number }> {
  const args = [
    "run",
    ...taskFlagsOf(`${ROOT}/deno.json`, "operator"),
    `${ROOT}/main.ts`,
    "--trust-domain=example.org",
    `--kubeconfig=${kubeconfig}`,
    "--metrics-bind-address=127.0.0.1:0",
    "--health-probe-bind-address=127.0.0.1:0",
    `--metrics-secure=${tls}`,
  ];
  const child = new Deno.Command(DENO, { args, cwd: ROOT, stdout: "null", stderr: "piped" })
    .spawn();
  let seen = "";
  const decoder = new TextDecoder();
  const reader = child.stderr.getReader();
  try {
    while (!seen.includes("unreachable")) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`operator exited before it waited: ${seen}`);
      seen += decoder.decode(value, { stream: true });
    }
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    return { rss: statusKiB(child.pid, "VmRSS"), hwm: statusKiB(child.pid, "VmHWM") };
  } finally {
    child.kill("SIGTERM");
    reader.cancel().catch(() => {});
    await child.status;
  }
}

/** Peak RSS (KiB) and wall time (s) of one CLI run with `args`. */
async function cliRun(args: string[]): Promise<{ kib: number; s: number }> {
  const out = await new Deno.Command("/usr/bin/time", {
    args: [
      "-f",
      "MAXRSS %M %e",
      DENO,
      "run",
      ...taskFlagsOf(`${ROOT}/deno.json`, "kleym"),
      `${ROOT}/cli/main.ts`,
      ...args,
    ],
    cwd: ROOT,
    stdout: "null",
    stderr: "piped",
  }).output();
  const m = new TextDecoder().decode(out.stderr).match(/MAXRSS (\d+) ([\d.]+)/);
  if (!m) throw new Error("no MAXRSS from /usr/bin/time");
  return { kib: Number(m[1]), s: Number(m[2]) };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const mib = (kib: number) => (kib / 1024).toFixed(1);

const plain: { rss: number; hwm: number }[] = [];
const tls: { rss: number; hwm: number }[] = [];
const status: { kib: number; s: number }[] = [];
const version: { kib: number; s: number }[] = [];
for (let i = 0; i < RUNS; i++) {
  plain.push(await operatorIdle(false));
  tls.push(await operatorIdle(true));
  status.push(await cliRun(["status", `--kubeconfig=${kubeconfig}`, "--timeout=2s"]));
  version.push(await cliRun(["--version"]));
}
Deno.removeSync(dir, { recursive: true });
const load = Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(" ");
for (const [name, xs] of [["plain /metrics", plain], ["TLS /metrics", tls]] as const) {
  console.log(
    `operator idle, ${name}: VmRSS ${mib(median(xs.map((x) => x.rss)))} MiB ` +
      `(runs ${xs.map((x) => mib(x.rss)).join(" ")}), VmHWM ${
        mib(median(xs.map((x) => x.hwm)))
      } MiB`,
  );
}
for (
  const [name, xs] of [["status (unreachable server)", status], ["--version", version]] as const
) {
  console.log(
    `kleym ${name}: max RSS ${mib(median(xs.map((x) => x.kib)))} MiB ` +
      `(runs ${xs.map((x) => mib(x.kib)).join(" ")}), wall ${median(xs.map((x) => x.s))} s`,
  );
}
console.log(`root ${ROOT}, ${RUNS} runs, load ${load}`);
