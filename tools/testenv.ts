/**
 * The test control plane from the command line.
 *
 *   deno run -A tools/testenv.ts up            start in the background (make cluster-up)
 *   deno run -A tools/testenv.ts down          stop it (make cluster-down)
 *   deno run -A tools/testenv.ts run -- CMD..  start a private one, run CMD with
 *                                              KLEYM_TEST_DIR set, always tear down
 *
 * `up` installs kleym's CRD, upstream GAIE v1.5.0's CRDs and ClusterSPIFFEID (what a real cluster
 * serves; no test stand-in). `run` installs the test set (tests/harness/controlplane.ts).
 * `up` keeps its state in .cache/testenv/cluster and copies the admin kubeconfig to the stable
 * path .cache/testenv/kubeconfig; the built kubectl is .cache/testenv/bin/kubectl.
 */
import {
  CACHE_DIR,
  type ControlPlane,
  KUBECTL,
  startControlPlane,
  stopDetached,
} from "../tests/harness/controlplane.ts";
import { isOurProcess } from "../tests/harness/process.ts";
import { scanFlags, type Scanned } from "../flags/parse.ts";
import { UPSTREAM_GAIE_CRDS } from "../hack/upstream.ts";

// KLEYM_TESTENV_HOME moves the background cluster's state (tests use it to exercise `up` and
// `down` without touching a developer's running cluster).
const HOME = Deno.env.get("KLEYM_TESTENV_HOME") ?? CACHE_DIR;
const CLUSTER_DIR = `${HOME}/cluster`;
const KUBECONFIG = `${HOME}/kubeconfig`;

function fail(msg: string): never {
  console.error(`testenv: ${msg}`);
  Deno.exit(2);
}

async function up(): Promise<void> {
  try {
    const pids = (await Deno.readTextFile(`${CLUSTER_DIR}/pids`)).split("\n").filter(Boolean);
    if (pids.length > 0 && pids.every((p) => isOurProcess(Number(p)))) {
      console.log(`control plane already running; kubeconfig: ${KUBECONFIG}`);
      return;
    }
    await stopDetached(CLUSTER_DIR);
  } catch { /* not running */ }
  await Deno.remove(CLUSTER_DIR, { recursive: true }).catch(() => {});
  await Deno.mkdir(HOME, { recursive: true });
  // The demo's cluster is what users have: upstream GAIE CRDs only, no test stand-in.
  const cp = await startControlPlane({
    dir: CLUSTER_DIR,
    crds: ["kleym", ...UPSTREAM_GAIE_CRDS, "clusterspiffeids"],
  });
  await Deno.copyFile(cp.kubeconfigPath, KUBECONFIG);
  cp.detach();
  console.log(`control plane up at ${cp.server}`);
  console.log(`kubeconfig: ${KUBECONFIG}`);
  console.log(`kubectl:    ${KUBECTL}`);
}

async function down(): Promise<void> {
  const n = await stopDetached(CLUSTER_DIR);
  await Deno.remove(KUBECONFIG).catch(() => {});
  console.log(n > 0 ? "control plane stopped" : "control plane was not running");
}

async function run(cmd: string[]): Promise<number> {
  if (cmd.length === 0) fail("run needs a command after --");
  let cp: ControlPlane | undefined;
  let child: Deno.ChildProcess | undefined;
  let stopping: Promise<void> | undefined;
  const teardown = () => stopping ??= cp?.stop() ?? Promise.resolve();
  const onSignal = (sig: Deno.Signal) => () => {
    console.error(`testenv: ${sig}: stopping the command and tearing down the control plane`);
    try {
      child?.kill("SIGTERM");
    } catch { /* already exited */ }
    teardown().finally(() => Deno.exit(130));
  };
  Deno.addSignalListener("SIGINT", onSignal("SIGINT"));
  Deno.addSignalListener("SIGTERM", onSignal("SIGTERM"));
  try {
    cp = await startControlPlane();
    console.error(`testenv: control plane at ${cp.server} (state in ${cp.dir})`);
    child = new Deno.Command(cmd[0], {
      args: cmd.slice(1),
      env: { KLEYM_TEST_DIR: cp.dir },
      stdin: "inherit",
      stdout: "inherit",
      stderr: "inherit",
    }).spawn();
    const status = await child.status;
    return status.code;
  } finally {
    await teardown();
  }
}

const usage = "usage: testenv.ts up | down | run -- COMMAND [ARGS...]";
let scanned: Scanned;
try {
  scanned = scanFlags([], Deno.args, { unknown: () => usage });
} catch {
  fail(usage);
}
const [verb] = scanned.positionals;
switch (verb) {
  case "up":
    await up();
    break;
  case "down":
    await down();
    break;
  case "run":
    Deno.exit(await run([...scanned.afterTerminator ?? scanned.positionals.slice(1)]));
    break;
  default:
    fail(usage);
}
