/**
 * @module The server's secrets at start: the at-rest key from config (MARIONETTE_SECRET_KEY and
 * MARIONETTE_SECRET_KEY_PREVIOUS, else `$MARIONETTE_HOME/secret.key`), the bootstrap token to
 * redact, and who may open the gateway's unix socket.
 *
 * File modes the server keeps: the home 0700 (an existing one is narrowed at start), secret.key,
 * token, the database with its WAL and -shm, server.log and runner logs 0600, workspaces 0700,
 * the gateway socket 0600, or 0660 with the docker provider's group when docker runners (another
 * uid) must reach it through the mounted socket folder.
 */
import { chmodSync, chownSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type DestinationStream, type Logger, pino } from 'pino';
import type { ServerConfig } from '../config/index.js';
import type { Redactor } from './redact.js';
import { loadSecretKey, parseSecretKey, SecretBox } from './secrets.js';

/** The server's SecretBox: the current key seals, previous keys only open (rotation). */
export function openSecretBox(config: Pick<ServerConfig, 'home' | 'secretKey' | 'secretKeysPrevious'>): SecretBox {
  const current = loadSecretKey({ home: config.home, envKey: config.secretKey });
  const previous = config.secretKeysPrevious.map((k, i) =>
    parseSecretKey(k, `MARIONETTE_SECRET_KEY_PREVIOUS (entry ${i + 1})`),
  );
  return new SecretBox([current, ...previous]);
}

/** The server's logger: every line goes through `redactor`, so known secret values never reach server.log. */
export function serverLogger(level: string, redactor: Redactor, dest: DestinationStream): Logger {
  return pino({ level, base: { svc: 'marionette' }, hooks: { streamWrite: (s) => redactor.redact(s) } }, dest);
}

/** The bootstrap token in `$MARIONETTE_HOME/token`, or null. */
export function readTokenFile(home: string): string | null {
  try {
    return readFileSync(join(home, 'token'), 'utf8').trim() || null;
  } catch {
    return null;
  }
}

/**
 * Who may open the gateway socket: the owner and the group of the docker provider's user (0660;
 * `providers.docker.user`, default 1000:1000). The docker provider is always built (an absent
 * section is its defaults) and a docker pool may be made at any time through the API, so its
 * containers, which mount the socket and run as that user, must reach it; the runner credential
 * still guards every connection. A user with no group (`"1000"`): the owner only (0600).
 */
export function gatewaySocketAccess(config: Pick<ServerConfig, 'providers'>): { mode: number; gid: number | null } {
  const docker = config.providers.docker as { user?: unknown } | undefined;
  const gid = Number((typeof docker?.user === 'string' ? docker.user : '1000:1000').split(':')[1]);
  return Number.isInteger(gid) && gid >= 0 ? { mode: 0o660, gid } : { mode: 0o600, gid: null };
}

/**
 * Gives the gateway socket its access (see gatewaySocketAccess). When the group cannot be set (the
 * server is not root and not in that group), the socket is left open to all (0666, as before this
 * setting existed) with a warning, so docker runners still connect: their credential guards them.
 */
export function applyGatewaySocketAccess(
  path: string,
  config: Pick<ServerConfig, 'providers'>,
  warn: (msg: string) => void,
): void {
  const { mode, gid } = gatewaySocketAccess(config);
  if (gid !== null)
    try {
      chownSync(path, process.getuid?.() ?? -1, gid);
    } catch (e: unknown) {
      warn(
        `cannot give the gateway socket group ${gid} (${(e as NodeJS.ErrnoException).code}); it is 0666 so docker runners (user ${gid}) can reach it`,
      );
      chmodSync(path, 0o666);
      return;
    }
  chmodSync(path, mode);
}
