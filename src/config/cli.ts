/**
 * @module mctl's configuration: the server's URL and the API token, from flags, the environment
 * and `$MARIONETTE_HOME/token`. Kept apart from the server's config module (zod schemas, the YAML
 * parser, the provider registry) so a CLI command loads none of that.
 */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

type Env = Record<string, string | undefined>;

/** `$MARIONETTE_HOME`, default `~/.marionette`. */
export function defaultHome(env: Env = process.env): string {
  return resolve(env.MARIONETTE_HOME || join(homedir(), '.marionette'));
}

export interface CliConfig {
  server: string;
  token: string | null;
  tokenFile: string;
  isTty: boolean;
  /** PEM CA for an https:// server (`--ca-file`, `MARIONETTE_CA_FILE`); null = the system's CAs. */
  caFile: string | null;
}

/** mctl: `--server`/`MARIONETTE_SERVER` (default http://127.0.0.1:8080), `--token`/`MARIONETTE_TOKEN`, else `$MARIONETTE_HOME/token`. */
export function loadCliConfig(
  flags: { server?: string; token?: string; caFile?: string },
  env: Env = process.env,
): CliConfig {
  const tokenFile = join(defaultHome(env), 'token');
  let token = flags.token ?? env.MARIONETTE_TOKEN ?? null;
  if (!token) {
    try {
      token = readFileSync(tokenFile, 'utf8').trim() || null;
    } catch {
      token = null;
    }
  }
  let server = flags.server ?? env.MARIONETTE_SERVER ?? 'http://127.0.0.1:8080';
  if (!/^https?:\/\//.test(server)) server = `http://${server}`;
  return {
    server: server.replace(/\/+$/, ''),
    token,
    tokenFile,
    isTty: Boolean(process.stderr.isTTY),
    caFile: flags.caFile ?? env.MARIONETTE_CA_FILE ?? null,
  };
}
