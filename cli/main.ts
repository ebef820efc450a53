/**
 * `kleym` CLI entry point: `./kleym <args>` from source, or the `deno compile`d
 * `dist/kleym` (`make build`). Read-only; see `kleym --help` and docs/cli.md.
 */
import { allowEmptyingDefaultRoots } from "../apis/default_roots.ts";
import { runCli } from "./run.ts";

if (import.meta.main) {
  // A configured CA becomes fetch's only trust: the transport empties Deno's default roots before
  // its first client (apis/default_roots.ts).
  allowEmptyingDefaultRoots();
  const encoder = new TextEncoder();
  const write = (stream: { writeSync(p: Uint8Array): number }) => (text: string) => {
    const bytes = encoder.encode(text);
    let written = 0;
    while (written < bytes.length) written += stream.writeSync(bytes.subarray(written));
  };
  // A rejection nobody awaited is a bug: one line, exit 5 (never a stack trace).
  globalThis.addEventListener("unhandledrejection", (e) => {
    e.preventDefault();
    const reason = e.reason instanceof Error ? e.reason.message : String(e.reason);
    write(Deno.stderr)(`kleym: internal error: ${reason.replace(/\s*\n\s*/g, " ")}\n`);
    Deno.exit(5);
  });
  Deno.exit(
    await runCli(Deno.args, {
      stdout: write(Deno.stdout),
      stderr: write(Deno.stderr),
    }),
  );
}
