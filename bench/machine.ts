/** What the figures were measured on: the machine, the pinned control plane, the commit. */
import type { ControlPlane } from "../tests/harness/controlplane.ts";

const GO_MOD = new URL("../hack/controlplane/go.mod", import.meta.url);

export async function machine(cp: ControlPlane): Promise<Record<string, unknown>> {
  const cpu = Deno.readTextFileSync("/proc/cpuinfo");
  const mem = Deno.readTextFileSync("/proc/meminfo");
  const goMod = Deno.readTextFileSync(GO_MOD);
  const version = JSON.parse(await cp.kubectl(["get", "--raw", "/version"])) as {
    gitVersion?: string;
  };
  return {
    nproc: navigator.hardwareConcurrency,
    memoryBytes: Number(/^MemTotal:\s+(\d+) kB/m.exec(mem)?.[1] ?? 0) * 1024,
    cpuModel: /^model name\s*:\s*(.*)$/m.exec(cpu)?.[1] ?? "unknown",
    deno: Deno.version.deno,
    // The harness builds kube-apiserver from the pinned module without version ldflags, so
    // /version says v0.0.0-master; the pinned module version is the truth.
    kubeApiserver: `${
      /^\s*k8s\.io\/kubernetes (v\S+)/m.exec(goMod)?.[1] ?? "unknown"
    } (hack/controlplane/go.mod; /version reports ${version.gitVersion})`,
    etcd: /^\s*go\.etcd\.io\/etcd\/server\/v3 (v\S+)/m.exec(goMod)?.[1] ?? "unknown",
  };
}

/** The short commit of the working tree ("unknown" outside git). */
export async function commit(): Promise<string> {
  try {
    const git = await new Deno.Command("git", {
      args: ["rev-parse", "--short", "HEAD"],
      stdout: "piped",
      stderr: "null",
    }).output();
    return new TextDecoder().decode(git.stdout).trim() || "unknown";
  } catch {
    return "unknown";
  }
}
