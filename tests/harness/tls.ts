/**
 * TLS checks for tests: the certificate a server actually presents (`openssl s_client`, since
 * Deno's fetch does not expose the peer certificate) and a GET that trusts one given PEM.
 */

/** The leaf certificate a TLS server at `hostPort` presents, as PEM. */
export async function servedCertificate(hostPort: string): Promise<string> {
  const child = new Deno.Command("openssl", {
    args: ["s_client", "-connect", hostPort, "-servername", "localhost"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  await child.stdin.close();
  const o = await child.output();
  const out = new TextDecoder().decode(o.stdout);
  const m = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n/.exec(out);
  if (!m) {
    throw new Error(
      `no certificate from ${hostPort}: ${out}${new TextDecoder().decode(o.stderr)}`,
    );
  }
  return m[0];
}

/** GET `url` trusting only `caPem`; resolves with status and body, rejects when TLS fails. */
export async function getTrusting(
  url: string,
  caPem: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string }> {
  const client = Deno.createHttpClient({ caCerts: [caPem] });
  try {
    const r = await fetch(url, { client, headers, signal: AbortSignal.timeout(30_000) });
    return { status: r.status, body: await r.text() };
  } finally {
    client.close();
  }
}
