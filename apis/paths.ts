/**
 * The three file-path operations kubeconfig decoding needs (POSIX paths: kleym runs on Linux and
 * macOS). Not `node:path`: importing any `node:` module sets up Deno's Node compatibility layer
 * (+3.9 MiB RSS in a bare `deno eval`; with the lazy YAML parser -3 MiB for the idle operator,
 * docs/benchmarks.md "Memory"), which a process that serves no TLS otherwise never needs.
 */

export function isAbsolutePath(p: string): boolean {
  return p.startsWith("/");
}

/** The directory part of `p` ("." when it has none), as `dirname`. */
export function dirOf(p: string): string {
  const trimmed = p.replace(/\/+$/, "");
  const i = trimmed.lastIndexOf("/");
  if (i < 0) return trimmed === "" && p.startsWith("/") ? "/" : ".";
  return i === 0 ? "/" : trimmed.slice(0, i);
}

/** `p` made absolute against `base` (itself made absolute against the working directory), normalised. */
export function resolvePath(base: string, p = "."): string {
  const joined = isAbsolutePath(p)
    ? p
    : `${isAbsolutePath(base) ? base : `${Deno.cwd()}/${base}`}/${p}`;
  const parts: string[] = [];
  for (const seg of joined.split("/")) {
    if (seg === "" || seg === ".") continue;
    if (seg === "..") parts.pop();
    else parts.push(seg);
  }
  return `/${parts.join("/")}`;
}
