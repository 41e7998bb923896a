/**
 * @module Writing mctl's CLI config file (`mctl login`, `mctl config use-context|delete-context`):
 * a JSON file of named contexts (server, token, CA file) and the current one, written whole to a
 * temporary file and renamed over the old one, mode 0600 in a 0700 directory, since it holds
 * tokens. Reading it is in src/config/cli.ts (on the path of every command).
 */
import { chmodSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { type CliConfigFile, readCliConfigFile } from '../config/cli.js';
import { CliError } from './client.js';

const CONTEXT_NAME = /^[A-Za-z0-9][A-Za-z0-9._@:-]{0,62}$/;

/** Throws a CliError unless `name` is a usable context name. */
export function checkContextName(name: string): string {
  if (!CONTEXT_NAME.test(name))
    throw new CliError(
      `context name ${JSON.stringify(name)} is not valid: use 1 to 63 letters, digits, ".", "_", "-", "@" or ":", starting with a letter or digit`,
    );
  return name;
}

/** A context name for a server URL: its host and port (`127.0.0.1:8080`). */
export function contextNameFor(server: string): string {
  try {
    const u = new URL(/^https?:\/\//.test(server) ? server : `http://${server}`);
    return u.host || 'default';
  } catch {
    throw new CliError(`--server ${JSON.stringify(server)} is not a URL (e.g. https://marionette.example.com:8080)`);
  }
}

export function readContexts(path: string): CliConfigFile {
  try {
    return readCliConfigFile(path);
  } catch (e: unknown) {
    throw new CliError((e as Error).message);
  }
}

/** Writes the file whole (temporary file, then rename), 0600. */
export function writeContexts(path: string, f: CliConfigFile): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(f, null, 2)}\n`, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}
