/**
 * @module The server's TLS material, loaded once at start from `config.tls`: the certificate and
 * key files given (`--tls-cert`/`--tls-key`), or the self-signed pair in `$MARIONETTE_HOME/tls/`
 * (made on first use, ./tls-selfsigned.ts), plus the client CA that turns on mutual TLS for
 * runners (`--tls-client-ca`). What the API's and the gateway's HTTPS servers are given, and the
 * fingerprint the banner prints.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { ServerConfig } from '../config/index.js';
import { InvalidRequest } from '../core/errors.js';
import { ensureSelfSigned } from './tls-selfsigned.js';

export interface ServerTls {
  cert: Buffer;
  key: Buffer;
  /** Mutual TLS on the gateway: client certificates must chain to this CA. */
  clientCa: Buffer | null;
  certFile: string;
  mode: 'files' | 'self-signed';
  /** The self-signed certificate was made by this start. */
  created: boolean;
  /** SHA-256 fingerprint of the server certificate (`AB:CD:...`). */
  fingerprint: string;
}

function readPem(file: string, setting: string): Buffer {
  try {
    return readFileSync(file);
  } catch (e: unknown) {
    throw new InvalidRequest(`${setting} ${file}: cannot read it (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
}

/** The names a self-signed certificate is made for: this machine's, and the bind hosts. */
function selfSignedNames(config: Pick<ServerConfig, 'host' | 'gatewayHost'>): string[] {
  const wildcard = (h: string) => h === '0.0.0.0' || h === '::' || h === '';
  return ['localhost', '127.0.0.1', '::1', hostname(), config.host, config.gatewayHost].filter((h) => !wildcard(h));
}

/** Loads (or, self-signed, makes) the TLS material; null when TLS is off. Errors name the setting and file. */
export function loadServerTls(config: Pick<ServerConfig, 'tls' | 'home' | 'host' | 'gatewayHost'>): ServerTls | null {
  const tls = config.tls;
  if (!tls) return null;
  let certFile: string;
  let keyFile: string;
  let created = false;
  if (tls.mode === 'self-signed') {
    const made = ensureSelfSigned(join(config.home, 'tls'), selfSignedNames(config));
    ({ certFile, keyFile, created } = made);
  } else {
    ({ certFile, keyFile } = tls);
  }
  const cert = readPem(certFile, '--tls-cert (tls.cert)');
  const key = readPem(keyFile, '--tls-key (tls.key)');
  let fingerprint: string;
  try {
    fingerprint = new X509Certificate(cert).fingerprint256;
  } catch (e: unknown) {
    throw new InvalidRequest(`--tls-cert (tls.cert) ${certFile}: not a PEM certificate (${(e as Error).message})`);
  }
  try {
    createPrivateKey(key);
  } catch (e: unknown) {
    throw new InvalidRequest(`--tls-key (tls.key) ${keyFile}: not a PEM private key (${(e as Error).message})`);
  }
  if (!new X509Certificate(cert).checkPrivateKey(createPrivateKey(key)))
    throw new InvalidRequest(`--tls-key (tls.key) ${keyFile} is not the key of the certificate ${certFile}`);
  const clientCa = tls.clientCaFile ? readPem(tls.clientCaFile, '--tls-client-ca (tls.client_ca)') : null;
  return { cert, key, clientCa, certFile, mode: tls.mode, created, fingerprint };
}
