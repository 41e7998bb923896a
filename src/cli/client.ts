/**
 * @module How `mctl` talks to the server: a {@link MarionetteClient} (the package's typed client)
 * built from `--server` / `--token` (or their environment), and how its errors are told to the user
 * (the problem's detail and hint; a hint about the token when the server answered 401 to a request
 * that had none). `CliError` is a mistake found by mctl itself (a bad flag value).
 */

import { readFileSync } from 'node:fs';
import { nodeFetch, nodeFetchWithCa } from '../client/http-fetch.js';
import { MarionetteApiError, MarionetteClient, MarionetteConnectionError } from '../client/index.js';
import type { CliConfig } from '../config/cli.js';

export class CliError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

export function connect(c: CliConfig): MarionetteClient {
  let fetch = nodeFetch;
  if (c.caFile) {
    let ca: Buffer;
    try {
      ca = readFileSync(c.caFile);
    } catch (e: unknown) {
      throw new CliError(
        `--ca-file ${c.caFile}: cannot read it (${(e as NodeJS.ErrnoException).code ?? String(e)})`,
        'pass the PEM file of the CA that signed the server certificate (or set MARIONETTE_CA_FILE)',
      );
    }
    if (!c.server.startsWith('https://'))
      throw new CliError(`--ca-file was given but the server ${c.server} is plain http`, 'use an https:// URL');
    fetch = nodeFetchWithCa(ca);
  }
  const client = new MarionetteClient({ baseUrl: c.server, token: c.token, fetch });
  tokenFiles.set(client, { file: c.tokenFile, hasToken: c.token !== null });
  return client;
}
const tokenFiles = new WeakMap<MarionetteClient, { file: string; hasToken: boolean }>();

/** What to tell the user about an error from the server or the connection; null for anything else. */
export function describeClientError(
  e: unknown,
  client?: MarionetteClient,
): { message: string; hint?: string; status?: number } | null {
  if (e instanceof MarionetteApiError) {
    const t = client ? tokenFiles.get(client) : undefined;
    const hint =
      e.status === 401 && t && !t.hasToken
        ? `no token: pass --token, set MARIONETTE_TOKEN, or check ${t.file}`
        : e.hint;
    return { message: e.detail, ...(hint ? { hint } : {}), status: e.status };
  }
  if (e instanceof MarionetteConnectionError) {
    const tls = tlsHint(e.reason);
    return { message: e.message, hint: tls ?? 'is `marionette serve` running? set --server or MARIONETTE_SERVER' };
  }
  return null;
}

/** What to do about a TLS failure (by the system's error code), or null when it is not one. */
function tlsHint(reason: string): string | null {
  if (/^EPROTO$|WRONG_VERSION_NUMBER|wrong version number|packet length too long/i.test(reason))
    return 'the TLS handshake failed: the server does not speak TLS at that address (start it with --tls-cert/--tls-key or --tls self-signed, or use http://)';
  if (/CERT|SELF_SIGNED|UNABLE_TO_(VERIFY|GET_ISSUER)|ALTNAME/.test(reason))
    return "the server's certificate is not trusted: pass --ca-file FILE (or set MARIONETTE_CA_FILE) with the CA that signed it (for `--tls self-signed`, its cert.pem, after checking the fingerprint the server printed)";
  return null;
}
