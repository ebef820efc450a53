/**
 * The metrics endpoint's serving certificate (docs/contract.md#metrics-auth): either files in
 * `--metrics-cert-dir` (`--metrics-cert-name`, `--metrics-key-name`; e.g. a cert-manager Secret
 * mounted as a volume), re-read when they change, or a self-signed pair made in memory at start.
 * Nothing is written to disk, so the operator needs no `--allow-write`.
 *
 * Rotation: a loop wakes on file-system events in the directory (Deno.watchFs; a mounted Secret
 * changes by swapping a `..data` symlink, which is an event in the directory) and, as a fallback
 * for volumes that report no events, every `pollMs`. It re-reads both files; when either changed
 * and the pair is consistent (the key belongs to the certificate) it hands the new pair to
 * `onChange`. A half-written pair (certificate replaced, key not yet) is skipped with a warning and
 * picked up on the next wake-up, so the old certificate keeps being served meanwhile.
 */
import { createPrivateKey, X509Certificate } from "node:crypto";
import { delay, realClock } from "../apis/clock.ts";
import { errorText, type Logger } from "../observe/log.ts";
import { type CertificatePair, selfSignedCertificate } from "./x509.ts";

export type { CertificatePair };

/** A certificate problem a user must fix: one line naming the file. */
export class CertificateError extends Error {
  override readonly name = "CertificateError";
}

export interface CertFiles {
  dir: string;
  certName: string;
  keyName: string;
}

export function certPaths(f: CertFiles): { cert: string; key: string } {
  const dir = f.dir.replace(/\/+$/, "");
  return { cert: `${dir}/${f.certName}`, key: `${dir}/${f.keyName}` };
}

function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split("\n")[0];
}

/** Checks that `pair` is a PEM certificate and the private key that belongs to it. */
export function checkPair(pair: CertificatePair, where: { cert: string; key: string }): void {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(pair.cert);
  } catch (err) {
    throw new CertificateError(`${where.cert} is not a PEM certificate: ${firstLine(err)}`);
  }
  let matches: boolean;
  try {
    matches = cert.checkPrivateKey(createPrivateKey(pair.key));
  } catch (err) {
    throw new CertificateError(`${where.key} is not a PEM private key: ${firstLine(err)}`);
  }
  if (!matches) {
    throw new CertificateError(`${where.key} is not the private key of ${where.cert}`);
  }
}

/** Reads and checks the pair in `files`. */
export async function readPair(files: CertFiles): Promise<CertificatePair> {
  const where = certPaths(files);
  const read = async (path: string) => {
    try {
      return await Deno.readTextFile(path);
    } catch (err) {
      throw new CertificateError(`cannot read ${path}: ${firstLine(err)}`);
    }
  };
  const pair = { cert: await read(where.cert), key: await read(where.key) };
  checkPair(pair, where);
  return pair;
}

/** A fresh self-signed pair for the names this process may be reached by. */
export function selfSigned(hostName: string): Promise<CertificatePair> {
  const hosts = [...new Set(["localhost", "127.0.0.1", "::1", hostName].filter(Boolean))];
  return selfSignedCertificate({ commonName: "kleym-operator", hosts });
}

export interface CertWatcherOptions extends CertFiles {
  /** The pair served now (from `readPair`). */
  initial: CertificatePair;
  onChange: (pair: CertificatePair) => void;
  logger: Logger;
  /** Fallback re-read interval; default 10 s. */
  pollMs?: number;
}

/** Re-reads the certificate files until `signal` aborts (see the module comment). */
export async function watchCertificates(o: CertWatcherOptions, signal: AbortSignal): Promise<void> {
  let current = o.initial;
  let fsEvents: Deno.FsWatcher | undefined;
  try {
    fsEvents = Deno.watchFs(o.dir, { recursive: false });
  } catch (err) {
    o.logger.warn("cannot watch the metrics certificate directory; polling it", {
      dir: o.dir,
      error: firstLine(err),
    });
  }
  const events = fsEvents?.[Symbol.asyncIterator]();
  const onAbort = () => fsEvents?.close();
  signal.addEventListener("abort", onAbort, { once: true });
  // The next file-system event, kept across timer wake-ups so no event is lost.
  let pendingEvent: Promise<"event"> | undefined;
  const never = new Promise<never>(() => {});
  try {
    while (!signal.aborted) {
      if (events) {
        pendingEvent ??= events.next().then((r) => r.done ? never : "event" as const, () => never);
      }
      const tick = new AbortController();
      const onStop = () => tick.abort();
      signal.addEventListener("abort", onStop, { once: true });
      const woke = await Promise.race([
        delay(realClock, o.pollMs ?? 10_000, tick.signal),
        pendingEvent ?? never,
      ]);
      tick.abort();
      signal.removeEventListener("abort", onStop);
      if (woke === "event") pendingEvent = undefined;
      if (signal.aborted) return;
      let next: CertificatePair;
      try {
        next = await readPair(o);
      } catch (err) {
        o.logger.warn("metrics certificate not reloaded; still serving the previous one", {
          error: err instanceof CertificateError ? err.message : errorText(err),
        });
        continue;
      }
      if (next.cert === current.cert && next.key === current.key) continue;
      current = next;
      o.onChange(next);
      o.logger.info("reloaded the metrics certificate", {
        file: certPaths(o).cert,
        fingerprint: new X509Certificate(next.cert).fingerprint256,
      });
    }
  } finally {
    signal.removeEventListener("abort", onAbort);
    try {
      fsEvents?.close();
    } catch { /* already closed */ }
  }
}
