/**
 * @module TLS for marionette-agent's link to the gateway. A `wss://` or `https://` server address
 * always means TLS, verified: against the system's CAs, or the CA file given (`--ca-file`,
 * `MARIONETTE_CA_FILE`), or a pinned certificate fingerprint (`--tls-fingerprint`, what `marionette
 * serve --tls self-signed` prints). Never a silent downgrade: a TLS setting with a plain
 * `HOST:PORT` address is an error, and a gateway that does not speak TLS, or whose certificate is
 * not trusted, stops the agent with a message saying which and what to do (no retry loop). A client
 * certificate (`--tls-cert`/`--tls-key`) is presented for gateways that require mutual TLS.
 */
import { readFileSync } from 'node:fs';
import { type PeerCertificate, rootCertificates, checkServerIdentity as tlsCheckServerIdentity } from 'node:tls';

export class TlsError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** The agent's TLS settings (src/config/agent.ts). */
export interface AgentTlsSettings {
  caFile: string | null;
  fingerprint: string | null;
  certFile: string | null;
  keyFile: string | null;
}

/** What https.request / tls.connect / the ws client are given. */
export interface TlsClientOptions {
  ca?: (string | Buffer)[];
  cert?: Buffer;
  key?: Buffer;
  servername?: string;
  checkServerIdentity?: (host: string, cert: PeerCertificate) => Error | undefined;
}

/** `AB:CD:...` from a fingerprint written with or without colons, any case, `sha256:` prefix allowed. */
export function normalizeFingerprint(text: string): string {
  const hex = text
    .trim()
    .replace(/^sha-?256[:=/]/i, '')
    .replace(/:/g, '')
    .toUpperCase();
  if (!/^[0-9A-F]{64}$/.test(hex))
    throw new TlsError(
      'bad_config',
      `--tls-fingerprint ${JSON.stringify(text)}: expected a SHA-256 fingerprint (64 hex digits, colons allowed)`,
    );
  return hex.replace(/(..)(?!$)/g, '$1:');
}

function readFile(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (e: unknown) {
    throw new TlsError(
      'bad_config',
      `${what} ${file}: cannot read it (${(e as NodeJS.ErrnoException).code ?? String(e)})`,
    );
  }
}

/** Whether any TLS setting was given (a plain address with one is refused: no silent downgrade). */
export function wantsTls(s: AgentTlsSettings): boolean {
  return Boolean(s.caFile || s.fingerprint || s.certFile || s.keyFile);
}

/**
 * The client options for a TLS endpoint. `fetchLeaf` (the pinned mode) reads the certificate the
 * server presents without trusting it yet; it is trusted only if its fingerprint is the pin.
 */
export async function tlsClientOptions(
  s: AgentTlsSettings,
  fetchLeaf: (base: TlsClientOptions) => Promise<PeerCertificate>,
): Promise<TlsClientOptions> {
  if (Boolean(s.certFile) !== Boolean(s.keyFile))
    throw new TlsError('bad_config', '--tls-cert and --tls-key go together (a client certificate and its key)');
  const base: TlsClientOptions = {};
  if (s.certFile && s.keyFile) {
    base.cert = readFile(s.certFile, '--tls-cert');
    base.key = readFile(s.keyFile, '--tls-key');
  }
  const ca: (string | Buffer)[] = s.caFile ? [readFile(s.caFile, '--ca-file')] : [];
  if (!s.fingerprint) return ca.length ? { ...base, ca } : base;
  const pin = normalizeFingerprint(s.fingerprint);
  const leaf = await fetchLeaf(base);
  if (leaf.fingerprint256 !== pin)
    throw new TlsError(
      'tls_pin_mismatch',
      `the gateway's certificate has fingerprint ${leaf.fingerprint256}, not the pinned ${pin}: refusing to connect`,
    );
  const pem = `-----BEGIN CERTIFICATE-----\n${leaf.raw.toString('base64').replace(/.{1,64}/g, '$&\n')}-----END CERTIFICATE-----\n`;
  return {
    ...base,
    // The pinned certificate is trusted as itself; the CA file (or the system's CAs) for a chain.
    ca: [pem, ...(ca.length ? ca : rootCertificates)],
    // The pin is checked again on every connection (the name need not match: the pin is stronger).
    checkServerIdentity: (host, cert) => {
      if (cert.fingerprint256 === pin) return undefined;
      const e = tlsCheckServerIdentity(host, cert);
      return (
        e ?? new TlsError('tls_pin_mismatch', `certificate fingerprint ${cert.fingerprint256} is not the pinned ${pin}`)
      );
    },
  };
}

const UNTRUSTED = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_GET_ISSUER_CERT',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
  'CERT_REJECTED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'tls_pin_mismatch',
]);

/**
 * The TLS failure behind a connection error, as a TlsError saying what to do; null when the error
 * is not about TLS (a refused or reset connection: retried as usual).
 */
export function tlsFailure(e: unknown, where: string): TlsError | null {
  if (e instanceof TlsError) return e;
  const err = e as NodeJS.ErrnoException & { reason?: string };
  const code = err?.code ?? '';
  const msg = err?.message ?? String(e);
  if (code === 'ERR_SSL_WRONG_VERSION_NUMBER' || /wrong version number|packet length too long|http request/i.test(msg))
    return new TlsError(
      'tls_not_spoken',
      `${where}: TLS handshake failed (${code || msg}): the gateway there does not speak TLS. Start the server with --tls-cert/--tls-key (or --tls self-signed); a plain gateway is ws://HOST:PORT`,
    );
  if (UNTRUSTED.has(code))
    return new TlsError(
      'tls_untrusted',
      `${where}: the gateway's certificate is not trusted (${code}: ${msg}). Pass --ca-file FILE (or MARIONETTE_CA_FILE) with the CA that signed it, or --tls-fingerprint with the fingerprint \`marionette serve\` printed`,
    );
  if (
    /certificate required|bad certificate|unknown ca|certificate unknown|handshake failure/i.test(msg) ||
    /ALERT/.test(code)
  )
    return new TlsError(
      'tls_client_certificate',
      `${where}: the gateway refused the TLS handshake (${code || msg}): it requires a client certificate its CA signed (mutual TLS); pass --tls-cert and --tls-key`,
    );
  if (code.startsWith('ERR_SSL') || code.startsWith('ERR_TLS'))
    return new TlsError('tls_failed', `${where}: TLS failed (${code}: ${msg})`);
  return null;
}
