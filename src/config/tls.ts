/**
 * @module The server's TLS settings (`tls:` in marionette.yaml, `marionette serve --tls-cert F
 * --tls-key F`, `--tls self-signed`, `--tls-client-ca F`, or `MARIONETTE_TLS_CERT`,
 * `MARIONETTE_TLS_KEY`, `MARIONETTE_TLS`, `MARIONETTE_TLS_CLIENT_CA`). TLS covers the REST API and
 * the gateway's TCP listener; the gateway's unix socket stays plain (it never leaves the machine,
 * its file mode guards it). Default: off.
 */
import { resolve } from 'node:path';
import { z } from 'zod';
import { InvalidRequest } from '../core/errors.js';

type Env = Record<string, string | undefined>;

export const tlsFileSchema = z.strictObject({
  /** PEM certificate (chain) file for the API and the gateway. */
  cert: z.string().min(1).optional(),
  /** PEM private key file for `cert`. */
  key: z.string().min(1).optional(),
  /** Make (once) and use a self-signed certificate in `$MARIONETTE_HOME/tls/`. Default false. */
  self_signed: z.boolean().optional(),
  /** PEM CA file: runners must present a client certificate it signed (mutual TLS on the gateway). */
  client_ca: z.string().min(1).optional(),
});
export type TlsFileConfig = z.infer<typeof tlsFileSchema>;

/** TLS as the server uses it; null = plain HTTP and WebSocket. */
export type TlsConfig =
  | { mode: 'files'; certFile: string; keyFile: string; clientCaFile: string | null }
  | { mode: 'self-signed'; clientCaFile: string | null };

export interface TlsFlags {
  tlsCert?: string;
  tlsKey?: string;
  /** `self-signed` or `off`. */
  tls?: string;
  tlsClientCa?: string;
}

/**
 * Flags over env over the file. A key without a certificate (or the reverse), an unknown `--tls`
 * mode, or a client CA without TLS is an error naming the setting.
 * @example resolveTls({ tls: 'self-signed' }, {}, undefined) // { mode: 'self-signed', clientCaFile: null }
 */
export function resolveTls(flags: TlsFlags, env: Env, file: TlsFileConfig | undefined): TlsConfig | null {
  const mode = flags.tls ?? env.MARIONETTE_TLS ?? (file?.self_signed ? 'self-signed' : undefined);
  if (mode !== undefined && mode !== 'self-signed' && mode !== 'off')
    throw new InvalidRequest(
      `--tls ${JSON.stringify(mode)}: expected self-signed or off (or give --tls-cert and --tls-key)`,
    );
  const cert = flags.tlsCert ?? env.MARIONETTE_TLS_CERT ?? file?.cert;
  const key = flags.tlsKey ?? env.MARIONETTE_TLS_KEY ?? file?.key;
  const clientCa = flags.tlsClientCa ?? env.MARIONETTE_TLS_CLIENT_CA ?? file?.client_ca;
  const clientCaFile = clientCa ? resolve(clientCa) : null;
  if (mode === 'off') {
    if (clientCa) throw new InvalidRequest('--tls-client-ca needs TLS: it cannot be used with --tls off');
    return null;
  }
  if (cert || key) {
    if (!cert) throw new InvalidRequest('--tls-key (tls.key) given without --tls-cert (tls.cert)');
    if (!key) throw new InvalidRequest('--tls-cert (tls.cert) given without --tls-key (tls.key)');
    if (mode === 'self-signed')
      throw new InvalidRequest('--tls self-signed and --tls-cert/--tls-key both given: choose one');
    return { mode: 'files', certFile: resolve(cert), keyFile: resolve(key), clientCaFile };
  }
  if (mode === 'self-signed') return { mode: 'self-signed', clientCaFile };
  if (clientCa)
    throw new InvalidRequest(
      '--tls-client-ca (tls.client_ca) needs TLS: add --tls-cert/--tls-key or --tls self-signed',
    );
  return null;
}
