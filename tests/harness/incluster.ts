/**
 * A process as a pod sees its files: the service-account directory (token, ca.crt, namespace) at
 * `/var/run/secrets/kubernetes.io/serviceaccount` and any other directory at the path a Deployment
 * would mount it, without touching this machine's file system. The process runs in a mount
 * namespace of its own (`unshare --mount`, root or user namespaces needed), where a private tmpfs
 * over `/run` (`/var/run` is a link to it) holds bind mounts of the test's directories. Only that
 * process and its children see them; nothing outside changes, and the mounts go with it.
 */

/** Where a pod's service-account token, CA and namespace are mounted. */
export const POD_SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

export interface PodMount {
  /** A directory of the test (not under /run). */
  from: string;
  /** Where the pod sees it; must be under /var/run or /run. */
  to: string;
}

/**
 * `cmd args` wrapped so it runs with `mounts` in place: the command and arguments to spawn instead.
 * The wrapper execs the command, so its pid, signals and exit code are the command's.
 */
export function inPodMounts(
  mounts: readonly PodMount[],
  cmd: string,
  args: readonly string[],
): { cmd: string; args: string[] } {
  for (const m of mounts) {
    if (!/^\/(var\/)?run\//.test(m.to)) throw new Error(`${m.to}: pod mounts go under /var/run`);
    if (/^\/(var\/)?run(\/|$)/.test(m.from)) throw new Error(`${m.from}: is hidden by the tmpfs`);
  }
  const quote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;
  const script = [
    "set -e",
    "mount -t tmpfs -o size=1m,mode=755 kleym-pod /run",
    ...mounts.flatMap((m) => {
      const to = m.to.replace(/^\/var\/run\//, "/run/");
      return [`mkdir -p ${quote(to)}`, `mount --bind ${quote(m.from)} ${quote(to)}`];
    }),
    'exec "$@"',
  ].join("\n");
  return {
    cmd: "unshare",
    args: ["--mount", "--propagation", "private", "sh", "-c", script, "sh", cmd, ...args],
  };
}
