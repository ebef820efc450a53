/**
 * An empty default root store, so that `fetch` can trust exactly one configured CA
 * (docs/contract.md#connection).
 *
 * `Deno.createHttpClient({ caCerts })` adds the given roots to the process's default store: the
 * bundled public roots, the system store and `DENO_CERT`. Deno builds that store once, lazily, on
 * the first TLS client, from `DENO_TLS_CA_STORE` (a comma-separated list of stores; set but empty
 * means none) and `DENO_CERT`. So an entry point that calls `emptyDefaultRoots()` before any
 * connection leaves the store empty for the life of the process, and `caCerts` becomes the only
 * trust — with `fetch`'s native bodies, which cost far less memory than only_ca.ts's node streams
 * (docs/benchmarks.md "The response path"). A process that did not (or may not: the permission is
 * `--allow-env=DENO_TLS_CA_STORE,DENO_CERT`) keeps the default store, and transport.ts keeps using
 * only_ca.ts for it. `tests/integration/connection_trust_test.ts` proves the emptied store refuses
 * a CA trusted through `DENO_CERT` and through the system store.
 *
 * Process-wide by nature (the store and the environment are the process's); only the entry points
 * (main.ts, cli/main.ts) call it. A `--cert` flag on the deno command line cannot be seen from
 * here: no launcher of kleym passes one.
 */

const STORE = "DENO_TLS_CA_STORE";
const CERT = "DENO_CERT";

let emptied = false;
/** The two variables as this process found them, for children (`inheritedTlsEnv`). */
let found: { store?: string; cert?: string } = {};

/**
 * Empty the default root store, if this process may. Call before any TLS connection; returns
 * whether the store is empty now.
 */
export function emptyDefaultRoots(): boolean {
  if (emptied) return true;
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

/** Whether `emptyDefaultRoots()` emptied the store: `caCerts` is then the only trust. */
export function defaultRootsEmpty(): boolean {
  return emptied;
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
