/**
 * Throw-away PKI for the test control plane, made with the machine's `openssl`.
 *
 * One CA signs the kube-apiserver serving certificate and every client certificate; the
 * service-account key pair lets the API server issue tokens (TokenRequest API).
 */

async function openssl(dir: string, args: string[]): Promise<void> {
  const out = await new Deno.Command("openssl", { args, cwd: dir, stdout: "null", stderr: "piped" })
    .output();
  if (!out.success) {
    throw new Error(`openssl ${args[0]} failed: ${new TextDecoder().decode(out.stderr).trim()}`);
  }
}

export interface Pki {
  dir: string;
  caCert: string;
  caKey: string;
  serverCert: string;
  serverKey: string;
  saPublicKey: string;
  saPrivateKey: string;
}

/** Creates the CA, the API server's serving certificate and the service-account key pair. */
export async function createPki(dir: string): Promise<Pki> {
  await Deno.mkdir(dir, { recursive: true });
  await openssl(dir, ["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "ca.key"]);
  await openssl(dir, [
    "req",
    "-x509",
    "-new",
    "-key",
    "ca.key",
    "-subj",
    "/CN=kleym-test-ca",
    "-days",
    "30",
    "-out",
    "ca.crt",
  ]);
  await openssl(dir, ["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "server.key"]);
  await Deno.writeTextFile(
    `${dir}/server.ext`,
    "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default.svc\n" +
      "extendedKeyUsage=serverAuth\n",
  );
  await openssl(dir, [
    "req",
    "-new",
    "-key",
    "server.key",
    "-subj",
    "/CN=kube-apiserver",
    "-out",
    "server.csr",
  ]);
  await openssl(dir, [
    "x509",
    "-req",
    "-in",
    "server.csr",
    "-CA",
    "ca.crt",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-days",
    "30",
    "-extfile",
    "server.ext",
    "-out",
    "server.crt",
  ]);
  await openssl(dir, ["genrsa", "-out", "sa.key", "2048"]);
  await openssl(dir, ["rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub"]);
  return {
    dir,
    caCert: `${dir}/ca.crt`,
    caKey: `${dir}/ca.key`,
    serverCert: `${dir}/server.crt`,
    serverKey: `${dir}/server.key`,
    saPublicKey: `${dir}/sa.pub`,
    saPrivateKey: `${dir}/sa.key`,
  };
}

/** Issues a client certificate for user `cn` in `groups`; returns PEM texts. */
export async function issueClientCert(
  pki: Pki,
  cn: string,
  groups: string[] = [],
): Promise<{ cert: string; key: string }> {
  const base = `client-${cn.replace(/[^a-zA-Z0-9]/g, "_")}`;
  const subj = `/CN=${cn}` + groups.map((g) => `/O=${g}`).join("");
  await openssl(pki.dir, [
    "ecparam",
    "-name",
    "prime256v1",
    "-genkey",
    "-noout",
    "-out",
    `${base}.key`,
  ]);
  await openssl(pki.dir, [
    "req",
    "-new",
    "-key",
    `${base}.key`,
    "-subj",
    subj,
    "-out",
    `${base}.csr`,
  ]);
  await Deno.writeTextFile(`${pki.dir}/${base}.ext`, "extendedKeyUsage=clientAuth\n");
  await openssl(pki.dir, [
    "x509",
    "-req",
    "-in",
    `${base}.csr`,
    "-CA",
    pki.caCert,
    "-CAkey",
    pki.caKey,
    "-CAcreateserial",
    "-days",
    "30",
    "-extfile",
    `${base}.ext`,
    "-out",
    `${base}.crt`,
  ]);
  return {
    cert: await Deno.readTextFile(`${pki.dir}/${base}.crt`),
    key: await Deno.readTextFile(`${pki.dir}/${base}.key`),
  };
}
