/**
 * An empty default root store, so that `fetch` can trust exactly one configured CA
 * (docs/contract.md#connection).
 *
 * `Deno.createHttpClient({ caCerts })` adds the given roots to the process's default store: the
 * bundled public roots, the system store and `DENO_CERT`. Deno builds that store once, lazily, on
 * the first TLS client, from `DENO_TLS_CA_STORE` (a comma-separated list of stores; set but empty
 * means none) and `DENO_CERT`. Emptied before the first client, it stays empty for the life of the
 * process, and `caCerts` becomes the only trust — with `fetch`'s native bodies, which cost far less
 * memory than only_ca.ts's node streams (docs/benchmarks.md "The response path").
 *
 * Who decides: the entry points (main.ts, cli/main.ts) call `allowEmptyingDefaultRoots()`; the
 * transport asks `caOnlyByFetch()` when it makes a client for a configured CA, which empties the
 * store then, unless a client that needs the default roots (a server without a configured CA,
 * trusted like client-go trusts the system roots) was made first; `usingDefaultRoots()` records
 * that. Anything else — a process that did not allow it, one that may not (the permission is
 * `--allow-env=DENO_TLS_CA_STORE,DENO_CERT`), the tests' own clients — keeps the default store, and
 * the transport keeps using only_ca.ts for a configured CA. `tests/integration/connection_trust_test.ts`
 * proves the emptied store refuses a CA trusted through `DENO_CERT` and through the system store,
 * and that a kubeconfig without a CA still gets the process's own trust.
 *
 * Process-wide by nature (the store and the environment are the process's). A `--cert` flag on the
 * deno command line cannot be seen from here: no launcher of kleym passes one.
 */

const STORE = "DENO_TLS_CA_STORE";
const CERT = "DENO_CERT";

let allowed = false;
let emptied = false;
let defaultsInUse = false;
/** The two variables as this process found them, for children (`inheritedTlsEnv`). */
let found: { store?: string; cert?: string } = {};

/** Entry points only: this process may empty its default roots when it first needs a CA client. */
export function allowEmptyingDefaultRoots(): void {
  allowed = true;
}

/**
 * About to make a client that trusts a configured CA: whether `fetch` with `caCerts` trusts that
 * CA alone (the default roots are empty, emptied now if allowed and still possible).
 */
export function caOnlyByFetch(): boolean {
  if (emptied) return true;
  if (!allowed || defaultsInUse) return false;
  try {
    const before = { store: Deno.env.get(STORE), cert: Deno.env.get(CERT) };
    Deno.env.set(STORE, "");
    Deno.env.delete(CERT);
    found = before;
    emptied = true;
  } catch (err) {
    if (!(err instanceof Deno.errors.NotCapable || err instanceof Deno.errors.PermissionDenied)) {
      throw err;
    }
  }
  return emptied;
}

/**
 * About to make a client that trusts the default roots (no CA configured): they must not be
 * emptied later. Once emptied they cannot come back (the store is built once); a process talks to
 * one API server, so no entry point gets here after `caOnlyByFetch()` emptied them.
 */
export function usingDefaultRoots(): void {
  defaultsInUse = true;
}

/**
 * What a child process (an exec credential plugin) must be given to see the trust settings this
 * process was started with rather than the emptied ones. An unset `DENO_TLS_CA_STORE` becomes its
 * default, `mozilla`; an unset `DENO_CERT` stays unset (it was deleted here, and children inherit
 * that).
 */
export function inheritedTlsEnv(): Record<string, string> {
  if (!emptied) return {};
  const env: Record<string, string> = { [STORE]: found.store ?? "mozilla" };
  if (found.cert !== undefined) env[CERT] = found.cert;
  return env;
}
