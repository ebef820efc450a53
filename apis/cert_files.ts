/**
 * A kubeconfig's `client-certificate` / `client-key` files, re-read when they change
 * (docs/contract.md#connection): a certificate renewed on disk (cert-manager, a node's kubelet
 * client rotation, a person running `kubeadm certs renew`) is used by the next connection without a
 * restart, as client-go's rotating certificates are.
 *
 * At most every `checkEveryMs` (default 5 s, monotonic clock) both files are `stat`ed; a change of
 * size, modification time or inode of either reads both again. A read that fails (a file half
 * replaced, briefly missing) keeps the last good pair and tries again at the next check; a pair
 * whose parts changed one at a time is read again once the second part lands. `invalidate()` (after
 * a 401) forces a check on the next request. The transport keys its connections by the pair, so a
 * new pair means new connections; requests in flight finish on the old ones.
 */
import { type Clock, realClock } from "./clock.ts";
import { ConfigError, describeCause } from "./errors.ts";

export interface ClientCertificate {
  certPem: string;
  keyPem: string;
}

export interface ClientCertificateSource {
  /** The current pair (re-read if either file changed since the last check). */
  get(): Promise<ClientCertificate>;
  /** Check the files at the next `get()`, whatever the interval. */
  invalidate(): void;
}

export interface CertFilesOptions {
  clock?: Clock;
  /** Least time between two checks of the files. Default 5 000. */
  checkEveryMs?: number;
  /** `user "x" in /path/kubeconfig`, for messages. */
  owner: string;
}

export const CLIENT_CERT_CHECK_MS = 5_000;

function fingerprint(info: Deno.FileInfo): string {
  return `${info.size}:${info.mtime?.getTime() ?? ""}:${info.ino ?? ""}`;
}

/**
 * Reads `certPath` and `keyPath` now (a `ConfigError` naming the file when either cannot be read),
 * and returns a source that re-reads them when they change.
 */
export async function clientCertificateFiles(
  certPath: string,
  keyPath: string,
  opts: CertFilesOptions,
): Promise<ClientCertificateSource> {
  const clock = opts.clock ?? realClock;
  const every = opts.checkEveryMs ?? CLIENT_CERT_CHECK_MS;
  const read = async (): Promise<{ pair: ClientCertificate; seen: string }> => {
    const [c, k] = await Promise.all([Deno.stat(certPath), Deno.stat(keyPath)]);
    const [certPem, keyPem] = await Promise.all([
      Deno.readTextFile(certPath),
      Deno.readTextFile(keyPath),
    ]);
    return { pair: { certPem, keyPem }, seen: `${fingerprint(c)}/${fingerprint(k)}` };
  };
  let current: { pair: ClientCertificate; seen: string };
  try {
    current = await read();
  } catch (err) {
    throw new ConfigError(
      `cannot read client-certificate ${certPath} or client-key ${keyPath} of ${opts.owner}: ${
        describeCause(err)
      }`,
      { cause: err },
    );
  }
  let checkedAt = clock.monotonic();
  let checking: Promise<void> | undefined;
  const check = async () => {
    try {
      const [c, k] = await Promise.all([Deno.stat(certPath), Deno.stat(keyPath)]);
      if (`${fingerprint(c)}/${fingerprint(k)}` !== current.seen) current = await read();
    } catch {
      // Half replaced or briefly missing: keep the last good pair; the next check tries again.
    }
  };
  return {
    async get() {
      if (clock.monotonic() - checkedAt >= every) {
        checkedAt = clock.monotonic();
        // Concurrent requests share one check.
        checking ??= check().finally(() => checking = undefined);
      }
      if (checking) await checking;
      return current.pair;
    },
    invalidate() {
      checkedAt = -Infinity;
    },
  };
}
