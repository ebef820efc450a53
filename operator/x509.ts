/**
 * A self-signed TLS serving certificate for the metrics endpoint when no `--metrics-cert-dir` is
 * given (docs/operations.md, "Secure metrics"): an ECDSA P-256 key from Web Crypto and a minimal
 * hand-written DER encoder for the one X.509 v3 shape we need.
 *
 * Why not a library: the shape is fixed (one subject name, four extensions), the encoder is ~100
 * lines, and Web Crypto already does the cryptography. A certificate dependency would add a
 * transitive tree to an operator that otherwise ships only `yaml`. The output is checked by
 * `openssl x509`/`openssl verify` and by a real TLS handshake in tests/unit/operator_tls_test.ts.
 *
 * The certificate is an end entity (basicConstraints cA=false), so a client may trust it directly
 * as its own anchor (rustls/webpki refuse a CA certificate used as a server certificate).
 */

// --- DER (ITU-T X.690) -----------------------------------------------------------------------

function concat(parts: readonly Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function length(n: number): Uint8Array {
  if (n < 0x80) return Uint8Array.of(n);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Uint8Array.of(0x80 | bytes.length, ...bytes);
}

/** One tag-length-value; `contents` are concatenated. */
export function tlv(tag: number, ...contents: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const body = concat(contents);
  return concat([Uint8Array.of(tag), length(body.length), body]);
}

const seq = (...c: Uint8Array[]) => tlv(0x30, ...c);
const set = (...c: Uint8Array[]) => tlv(0x31, ...c);
const octets = (b: Uint8Array) => tlv(0x04, b);
const bits = (b: Uint8Array) => tlv(0x03, Uint8Array.of(0), b);
const utf8 = (s: string) => tlv(0x0c, new TextEncoder().encode(s));

/** An unsigned big-endian integer as a DER INTEGER (minimal, positive). */
export function integer(bytes: Uint8Array): Uint8Array {
  let i = 0;
  while (i < bytes.length - 1 && bytes[i] === 0) i++;
  const v = bytes.subarray(i);
  return tlv(0x02, v[0] & 0x80 ? concat([Uint8Array.of(0), v]) : v);
}

export function oid(dotted: string): Uint8Array {
  const [a, b, ...rest] = dotted.split(".").map(Number);
  const out = [40 * a + b];
  for (const n of rest) {
    const chunk = [n & 0x7f];
    for (let v = Math.floor(n / 128); v > 0; v = Math.floor(v / 128)) {
      chunk.unshift(0x80 | v & 0x7f);
    }
    out.push(...chunk);
  }
  return tlv(0x06, Uint8Array.from(out));
}

/** UTCTime before 2050, GeneralizedTime after (RFC 5280 section 4.1.2.5). */
function time(d: Date): Uint8Array {
  const iso = d.toISOString().replace(/[-:T]/g, "").slice(0, 14) + "Z"; // YYYYMMDDHHMMSSZ
  return d.getUTCFullYear() < 2050
    ? tlv(0x17, new TextEncoder().encode(iso.slice(2)))
    : tlv(0x18, new TextEncoder().encode(iso));
}

/** IPv4 dotted quad or IPv6 text (with `::`) as network-order bytes; undefined if neither. */
export function ipBytes(text: string): Uint8Array | undefined {
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (v4) {
    const b = v4.slice(1).map(Number);
    return b.every((n) => n <= 255) ? Uint8Array.from(b) : undefined;
  }
  if (!/^[0-9a-fA-F:]+$/.test(text) || text.split("::").length > 2) return undefined;
  const [head, tail] = text.includes("::") ? text.split("::") : [text, undefined];
  const groups = (s: string) => s === "" ? [] : s.split(":");
  const h = groups(head);
  const t = tail === undefined ? [] : groups(tail);
  const fill = 8 - h.length - t.length;
  if ((tail === undefined && fill !== 0) || fill < 0) return undefined;
  const all = [...h, ...Array(fill).fill("0"), ...t];
  if (all.some((g) => g.length === 0 || g.length > 4)) return undefined;
  return Uint8Array.from(all.flatMap((g) => [parseInt(g, 16) >> 8, parseInt(g, 16) & 0xff]));
}

// --- PEM --------------------------------------------------------------------------------------

export function pem(label: string, der: Uint8Array): string {
  const b64 = btoa(String.fromCharCode(...der)).replace(/(.{64})/g, "$1\n").replace(/\n$/, "");
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

// --- the certificate --------------------------------------------------------------------------

const ECDSA_WITH_SHA256 = "1.2.840.10045.4.3.2";
const COMMON_NAME = "2.5.4.3";
const BASIC_CONSTRAINTS = "2.5.29.19";
const KEY_USAGE = "2.5.29.15";
const EXT_KEY_USAGE = "2.5.29.37";
const SUBJECT_ALT_NAME = "2.5.29.17";
const SERVER_AUTH = "1.3.6.1.5.5.7.3.1";

export interface SelfSignedOptions {
  commonName: string;
  /** DNS names and IP addresses for subjectAltName. */
  hosts: readonly string[];
  /** Default: now. */
  notBefore?: Date;
  validDays?: number;
}

export interface CertificatePair {
  /** PEM certificate. */
  cert: string;
  /** PEM PKCS#8 private key. */
  key: string;
}

function extension(id: string, critical: boolean, value: Uint8Array): Uint8Array {
  return seq(oid(id), ...(critical ? [tlv(0x01, Uint8Array.of(0xff))] : []), octets(value));
}

/** ECDSA's IEEE P1363 signature (r || s) as the DER Ecdsa-Sig-Value X.509 wants. */
function ecdsaDer(p1363: Uint8Array): Uint8Array {
  const half = p1363.length / 2;
  return seq(integer(p1363.subarray(0, half)), integer(p1363.subarray(half)));
}

export async function selfSignedCertificate(opts: SelfSignedOptions): Promise<CertificatePair> {
  const keys = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, [
    "sign",
    "verify",
  ]);
  const spki = new Uint8Array(await crypto.subtle.exportKey("spki", keys.publicKey));
  const pkcs8 = new Uint8Array(await crypto.subtle.exportKey("pkcs8", keys.privateKey));
  // Allow for clock skew between this process and its scrapers.
  const notBefore = new Date((opts.notBefore ?? new Date()).getTime() - 60 * 60 * 1000);
  const notAfter = new Date(notBefore.getTime() + (opts.validDays ?? 365) * 86_400_000);
  const serial = crypto.getRandomValues(new Uint8Array(16));
  serial[0] &= 0x7f;
  const name = seq(set(seq(oid(COMMON_NAME), utf8(opts.commonName))));
  const sans = opts.hosts.map((h) => {
    const ip = ipBytes(h);
    return ip ? tlv(0x87, ip) : tlv(0x82, new TextEncoder().encode(h));
  });
  const algorithm = seq(oid(ECDSA_WITH_SHA256));
  const tbs = seq(
    tlv(0xa0, integer(Uint8Array.of(2))), // v3
    integer(serial),
    algorithm,
    name,
    seq(time(notBefore), time(notAfter)),
    name,
    spki,
    tlv(
      0xa3,
      seq(
        extension(BASIC_CONSTRAINTS, true, seq()),
        // digitalSignature only: bit 0, so 7 unused bits in the one content byte (DER minimal form).
        extension(KEY_USAGE, true, tlv(0x03, Uint8Array.of(7, 0x80))),
        extension(EXT_KEY_USAGE, false, seq(oid(SERVER_AUTH))),
        extension(SUBJECT_ALT_NAME, false, seq(...sans)),
      ),
    ),
  );
  const signature = new Uint8Array(
    await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, keys.privateKey, tbs),
  );
  const cert = seq(tbs, algorithm, bits(ecdsaDer(signature)));
  return { cert: pem("CERTIFICATE", cert), key: pem("PRIVATE KEY", pkcs8) };
}
