/**
 * Formats generated TypeScript with the project's own `deno fmt` settings, by piping it through
 * the running Deno binary (`Deno.execPath()`), so committed output always passes `deno fmt --check`.
 */

/** `text` as `deno fmt --config <config>` would write it. Throws when deno fmt rejects it. */
export async function formatTypeScript(text: string, config: string): Promise<string> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["fmt", `--config=${config}`, "--ext=ts", "-"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(text));
  await writer.close();
  const out = await child.output();
  if (!out.success) {
    const why = new TextDecoder().decode(out.stderr).trim();
    throw new Error(`deno fmt rejected the generated code: ${why}`);
  }
  return new TextDecoder().decode(out.stdout);
}
