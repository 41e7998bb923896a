/**
 * @module A self-signed certificate for first runs (`marionette serve --tls self-signed`): an
 * ECDSA P-256 key and an X.509 v3 certificate for this machine's names (localhost, 127.0.0.1,
 * ::1, the host name, and the configured bind hosts), encoded here in DER with Node's own crypto
 * (no openssl binary needed). Kept in `$MARIONETTE_HOME/tls/` (the key 0600) and reused on later
 * starts; its SHA-256 fingerprint is what runners pin (`--tls-fingerprint`) or what an operator
 * checks before trusting the file (`--ca-file`).
 */
import { createPrivateKey, generateKeyPairSync, randomBytes, sign, X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';

/** ASN.1 DER: a tag, its length, its content. */
function tlv(tag: number, content: Buffer): Buffer {
  const n = content.length;
  let len: Buffer;
  if (n < 0x80) len = Buffer.from([n]);
  else {
    const bytes: number[] = [];
    for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
    len = Buffer.from([0x80 | bytes.length, ...bytes]);
  }
  return Buffer.concat([Buffer.from([tag]), len, content]);
}
const seq = (...items: Buffer[]) => tlv(0x30, Buffer.concat(items));
const set = (...items: Buffer[]) => tlv(0x31, Buffer.concat(items));

function oid(text: string): Buffer {
  const parts = text.split('.').map(Number);
  const out: number[] = [40 * (parts[0] as number) + (parts[1] as number)];
  for (const p of parts.slice(2)) {
    const chunk: number[] = [p & 0x7f];
    for (let v = Math.floor(p / 128); v > 0; v = Math.floor(v / 128)) chunk.unshift((v & 0x7f) | 0x80);
    out.push(...chunk);
  }
  return tlv(0x06, Buffer.from(out));
}

function positiveInteger(bytes: Buffer): Buffer {
  const b = Buffer.from(bytes);
  b[0] = (b[0] as number) & 0x7f;
  if (b[0] === 0) b[0] = 1;
  return tlv(0x02, b);
}

function time(d: Date): Buffer {
  const iso = d.toISOString().replace(/[-:T]/g, '').slice(0, 14);
  // UTCTime (YYMMDDhhmmssZ) until 2049, GeneralizedTime after (RFC 5280 4.1.2.5).
  return d.getUTCFullYear() < 2050 ? tlv(0x17, Buffer.from(`${iso.slice(2)}Z`)) : tlv(0x18, Buffer.from(`${iso}Z`));
}

function ipBytes(ip: string): Buffer {
  if (isIP(ip) === 4) return Buffer.from(ip.split('.').map(Number));
  const [head = '', tail = ''] = ip.split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = ip.includes('::') ? [...h, ...Array(8 - h.length - t.length).fill('0'), ...t] : h;
  const out = Buffer.alloc(16);
  for (let i = 0; i < 8; i++) out.writeUInt16BE(Number.parseInt(groups[i] || '0', 16), i * 2);
  return out;
}

const ECDSA_SHA256 = '1.2.840.10045.4.3.2';

/**
 * A self-signed certificate (PEM) and its key (PEM) for `names` (DNS names and IP addresses).
 * @example const { cert, key } = makeSelfSigned(['localhost', '127.0.0.1']);
 */
export function makeSelfSigned(names: string[], days = 825): { cert: string; key: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const cn = seq(set(seq(oid('2.5.4.3'), tlv(0x0c, Buffer.from('marionette (self-signed)')))));
  const now = Date.now();
  const san = seq(
    ...[...new Set(names)].map((n) => (isIP(n) ? tlv(0x87, ipBytes(n)) : tlv(0x82, Buffer.from(n, 'ascii')))),
  );
  const extensions = seq(
    seq(oid('2.5.29.17'), tlv(0x04, san)),
    // Basic constraints: not a CA (empty sequence), critical.
    seq(oid('2.5.29.19'), tlv(0x01, Buffer.from([0xff])), tlv(0x04, seq())),
    // Extended key usage: TLS server.
    seq(oid('2.5.29.37'), tlv(0x04, seq(oid('1.3.6.1.5.5.7.3.1')))),
  );
  const tbs = seq(
    tlv(0xa0, tlv(0x02, Buffer.from([2]))),
    positiveInteger(randomBytes(16)),
    seq(oid(ECDSA_SHA256)),
    cn,
    seq(time(new Date(now - 60 * 60_000)), time(new Date(now + days * 86_400_000))),
    cn,
    publicKey.export({ type: 'spki', format: 'der' }),
    tlv(0xa3, extensions),
  );
  const signature = sign('sha256', tbs, privateKey);
  const der = seq(tbs, seq(oid(ECDSA_SHA256)), tlv(0x03, Buffer.concat([Buffer.from([0]), signature])));
  const b64 = der.toString('base64').replace(/.{1,64}/g, '$&\n');
  return {
    cert: `-----BEGIN CERTIFICATE-----\n${b64}-----END CERTIFICATE-----\n`,
    key: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
  };
}

/** `AB:CD:...`, the SHA-256 fingerprint of a PEM certificate, as `openssl x509 -fingerprint -sha256` prints it. */
export function fingerprint(certPem: string): string {
  return new X509Certificate(certPem).fingerprint256;
}

/**
 * The self-signed certificate in `dir` (`cert.pem`, `key.pem` 0600), made on first use and reused
 * after; `created` says whether this call made it.
 */
export function ensureSelfSigned(
  dir: string,
  names: string[],
): { certFile: string; keyFile: string; created: boolean } {
  const certFile = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
  if (existsSync(certFile) && existsSync(keyFile)) {
    // Reused as is, but never with a key others can read.
    chmodSync(keyFile, 0o600);
    createPrivateKey(readFileSync(keyFile));
    return { certFile, keyFile, created: false };
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const { cert, key } = makeSelfSigned(names);
  // Key first, each written whole then renamed: a crash never leaves a cert without its key.
  writeFileSync(`${keyFile}.tmp`, key, { mode: 0o600 });
  chmodSync(`${keyFile}.tmp`, 0o600);
  renameSync(`${keyFile}.tmp`, keyFile);
  writeFileSync(`${certFile}.tmp`, cert, { mode: 0o644 });
  renameSync(`${certFile}.tmp`, certFile);
  return { certFile, keyFile, created: true };
}
