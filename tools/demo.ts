/**
 * `make demo` (`make demo ONCE=1` passes `--once`): the operator end to end on the local control
 * plane.
 *
 *   1. start the control plane (`tools/testenv.ts up`; reused when already running);
 *   2. `kubectl apply -f deploy.yaml` (namespace, CRD, ServiceAccount, RBAC, ...; there is no
 *      kubelet here, so the Deployment's pods never start: the operator runs locally instead);
 *   3. `kubectl apply -f examples/per-objective.yaml`;
 *   4. run the operator from source with exactly its permissions (deno.json "operator" task),
 *      `--trust-domain=kleym.sonda.red --leader-elect`, on free loopback ports (printed),
 *      authenticated as the deploy.yaml ServiceAccount, so the demo also shows that RBAC is
 *      enough. The TokenRequest token sits in a `tokenFile` the demo renews at half its lifetime
 *      (the operator re-reads token files every minute and after a 401), so a demo left running
 *      for hours never falls into a 401 loop;
 *   5. wait until the binding is Ready, print the ClusterSPIFFEID and the binding's status as YAML;
 *   6. keep running with the operator's logs until Ctrl-C (`--once`: stop the operator, exit 0).
 *
 * Stopping: one Ctrl-C reaches the whole process group (make, this script, the operator). The
 * operator stops gracefully on the terminal's SIGINT; this script also forwards one SIGTERM (for a
 * signal sent to it alone), which the operator counts as the same request (operator/entry.ts). The
 * exit code is the operator's. The control plane stays up afterwards: the last line says so and
 * how to stop it (`make cluster-down`).
 */
import { parse, stringify } from "yaml";
import { freePort, runCollecting } from "../tests/harness/process.ts";
import { taskFlagsOf } from "./task_flags.ts";
import { scanFlags, valueOf } from "../flags/parse.ts";
import { boolFlag } from "../flags/values.ts";

const ROOT = new URL("../", import.meta.url).pathname.replace(/\/$/, "");
const DENO = Deno.execPath();
const KUBECTL = `${ROOT}/.cache/testenv/bin/kubectl`;
// Same override as tools/testenv.ts: tests run the demo against a control plane of their own.
const HOME = Deno.env.get("KLEYM_TESTENV_HOME") ?? `${ROOT}/.cache/testenv`;
const ADMIN_KUBECONFIG = `${HOME}/kubeconfig`;
const SA_KUBECONFIG = `${HOME}/kubeconfig-kleym-demo`;
const SA_TOKEN = `${HOME}/kleym-demo.token`;
/** TokenRequest lifetime; renewed at half of it. */
const TOKEN_SECONDS = 3600;
const TRUST_DOMAIN = "kleym.sonda.red";
const BINDING = { name: "objective-a", namespace: "default" };
const READY_DEADLINE_MS = 60_000;

class DemoError extends Error {}

function fail(msg: string): never {
  throw new DemoError(msg);
}

function step(msg: string): void {
  console.error(`\n==> ${msg}`);
}

async function run(cmd: string, args: string[], stdin?: string): Promise<string> {
  const out = await runCollecting(cmd, args, { cwd: ROOT, stdin });
  if (out.code !== 0) {
    fail(
      `${cmd.split("/").pop()} ${args.join(" ")} failed: ${out.stderr.trim().split("\n").pop()}`,
    );
  }
  return out.stdout;
}

const kubectl = (args: string[], stdin?: string) =>
  run(KUBECTL, ["--kubeconfig", ADMIN_KUBECONFIG, ...args], stdin);

/** The operator's run flags, from their one definition (deno.json "operator" task). */
function operatorPermissions(): string[] {
  return taskFlagsOf(`${ROOT}/deno.json`, "operator");
}

/** A fresh bound token for the kleym ServiceAccount, replacing SA_TOKEN in one rename. */
async function writeToken(): Promise<void> {
  const token = (await kubectl([
    "create",
    "token",
    "kleym",
    "-n",
    "kleym-system",
    `--duration=${TOKEN_SECONDS}s`,
  ])).trim();
  const tmp = `${SA_TOKEN}.new`;
  await Deno.writeTextFile(tmp, `${token}\n`, { mode: 0o600 });
  await Deno.rename(tmp, SA_TOKEN);
}

/** Renews the token at half its lifetime until `signal` aborts (never rejects). */
async function renewTokens(signal: AbortSignal): Promise<void> {
  while (!signal.aborted) {
    const slept = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(true), (TOKEN_SECONDS * 1000) / 2);
      signal.addEventListener("abort", () => {
        clearTimeout(timer);
        resolve(false);
      }, { once: true });
    });
    if (!slept) return;
    try {
      await writeToken();
      console.error("demo: renewed the ServiceAccount token");
    } catch (err) {
      // The old token is still valid for half its lifetime: say so and try again next time.
      console.error(`demo: could not renew the ServiceAccount token: ${(err as Error).message}`);
    }
  }
}

/** A kubeconfig that authenticates as the kleym ServiceAccount through the renewed token file. */
async function serviceAccountKubeconfig(): Promise<string> {
  const admin = parse(await Deno.readTextFile(ADMIN_KUBECONFIG)) as {
    clusters: { cluster: Record<string, string> }[];
  };
  await writeToken();
  await Deno.writeTextFile(
    SA_KUBECONFIG,
    stringify({
      apiVersion: "v1",
      kind: "Config",
      clusters: [{ name: "demo", cluster: admin.clusters[0].cluster }],
      users: [{ name: "kleym", user: { tokenFile: SA_TOKEN } }],
      contexts: [{ name: "kleym", context: { cluster: "demo", user: "kleym" } }],
      "current-context": "kleym",
    }),
    { mode: 0o600 },
  );
  return SA_KUBECONFIG;
}

async function readyStatus(): Promise<string> {
  const out = await kubectl([
    "get",
    "inferenceidentitybinding",
    BINDING.name,
    "-n",
    BINDING.namespace,
    "-o",
    "json",
  ]);
  const b = JSON.parse(out) as { status?: { conditions?: { type: string; status: string }[] } };
  return b.status?.conditions?.find((c) => c.type === "Ready")?.status ?? "Unknown";
}

async function main(): Promise<number> {
  const ONCE = boolFlag({ name: "once", help: "stop after one pass", default: false });
  let once: boolean;
  try {
    const words = (arg: string) => `unknown argument ${arg} (only --once)`;
    once = valueOf(ONCE, scanFlags([ONCE], Deno.args, { unknown: words, positional: words }).flags);
  } catch (err) {
    console.error(`demo: ${err instanceof Error ? err.message : err}`);
    return 2;
  }

  step("control plane");
  const up = await new Deno.Command(DENO, {
    args: ["run", "-A", "tools/testenv.ts", "up"],
    cwd: ROOT,
    stdin: "null",
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (!up.success) fail("could not start the control plane (make controlplane builds it)");

  step("kubectl apply -f deploy.yaml");
  console.log((await kubectl(["apply", "-f", "deploy.yaml"])).trimEnd());

  step("kubectl apply -f examples/per-objective.yaml");
  console.log((await kubectl(["apply", "-f", "examples/per-objective.yaml"])).trimEnd());

  step(`operator (as system:serviceaccount:kleym-system:kleym, trust domain ${TRUST_DOMAIN})`);
  const kubeconfig = await serviceAccountKubeconfig();
  // Free ports, so a running demo never collides with another demo or a test run.
  const metricsPort = freePort();
  const healthPort = freePort();
  console.error(
    `metrics: https://127.0.0.1:${metricsPort}/metrics (a token allowed to get /metrics)  health: http://127.0.0.1:${healthPort}/readyz`,
  );
  const args = [
    "run",
    "--quiet",
    ...operatorPermissions(),
    "main.ts",
    `--trust-domain=${TRUST_DOMAIN}`,
    `--kubeconfig=${kubeconfig}`,
    "--leader-elect",
    `--metrics-bind-address=127.0.0.1:${metricsPort}`,
    `--health-probe-bind-address=127.0.0.1:${healthPort}`,
  ];
  console.error(`deno ${args.join(" ")}`);
  const operator = new Deno.Command(DENO, {
    args,
    cwd: ROOT,
    stdin: "null",
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
  let exited: Deno.CommandStatus | undefined;
  const status = operator.status.then((s) => exited = s);
  const renewal = new AbortController();
  const renewing = renewTokens(renewal.signal);
  let stopSent = false;
  const stopOperator = async (): Promise<number> => {
    // One SIGTERM at most: the operator treats a later signal as "force exit".
    if (!exited && !stopSent) {
      stopSent = true;
      try {
        operator.kill("SIGTERM");
      } catch { /* already gone */ }
    }
    const code = (await status).code;
    renewal.abort();
    await renewing;
    return code;
  };

  // Ctrl-C (or SIGTERM): forward a graceful stop to the operator, leave with its exit code.
  let interrupted = false;
  let onInterrupt = () => {};
  const interruption = new Promise<void>((resolve) => {
    onInterrupt = () => {
      interrupted = true;
      resolve();
    };
  });
  Deno.addSignalListener("SIGINT", onInterrupt);
  Deno.addSignalListener("SIGTERM", onInterrupt);
  try {
    const deadline = Date.now() + READY_DEADLINE_MS;
    let ready = "Unknown";
    while (ready !== "True") {
      if (exited) fail(`the operator exited with code ${exited.code} before the binding was Ready`);
      if (interrupted) return await stopOperator();
      if (Date.now() > deadline) {
        fail(`binding ${BINDING.namespace}/${BINDING.name} not Ready after 60 s (Ready=${ready})`);
      }
      ready = await readyStatus();
      if (ready !== "True") await new Promise((r) => setTimeout(r, 250));
    }

    step("ClusterSPIFFEID (kubectl get clusterspiffeids -l kleym.sonda.red/managed-by=kleym)");
    const list = JSON.parse(
      await kubectl([
        "get",
        "clusterspiffeids",
        "-l",
        "kleym.sonda.red/managed-by=kleym",
        "-o",
        "json",
      ]),
    ) as { items: { metadata: Record<string, unknown>; spec: unknown }[] };
    for (const item of list.items) {
      const { name, labels, annotations } = item.metadata;
      console.log("---");
      console.log(
        stringify({
          apiVersion: "spire.spiffe.io/v1alpha1",
          kind: "ClusterSPIFFEID",
          metadata: { name, labels, annotations },
          spec: item.spec,
        }).trimEnd(),
      );
    }

    step(`binding ${BINDING.namespace}/${BINDING.name} status`);
    const binding = JSON.parse(
      await kubectl(["get", "iib", BINDING.name, "-n", BINDING.namespace, "-o", "json"]),
    ) as { status: unknown };
    console.log(stringify({ status: binding.status }).trimEnd());
    console.log((await kubectl(["get", "iib", "-n", BINDING.namespace])).trimEnd());

    if (once) {
      step("--once: stopping the operator");
      return await stopOperator();
    }
    step("the operator keeps running; Ctrl-C stops it (the control plane stays up)");
    await Promise.race([status, interruption]);
    if (exited) fail(`the operator exited with code ${exited.code}`);
    return await stopOperator();
  } finally {
    // Never leave the operator behind, whatever went wrong above. The listeners stay until it
    // has exited, so a second Ctrl-C during its shutdown does not kill this script first.
    await stopOperator();
    Deno.removeSignalListener("SIGINT", onInterrupt);
    Deno.removeSignalListener("SIGTERM", onInterrupt);
    console.error(
      "\ndemo: the control plane is still running (about 300 MB); `make cluster-down` stops it",
    );
  }
}

try {
  Deno.exit(await main());
} catch (err) {
  if (!(err instanceof DemoError)) throw err;
  console.error(`demo: ${err.message}`);
  Deno.exit(1);
}
