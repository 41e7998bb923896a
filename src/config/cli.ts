/**
 * @module mctl's configuration: the server's URL and the API token, from flags, the environment,
 * the CLI config file's contexts (`mctl login`, `mctl config use-context`; ./cli-contexts.ts) and
 * `$MARIONETTE_HOME/token`. Kept apart from the server's config module (zod schemas, the YAML
 * parser, the provider registry) so a CLI command loads none of that: this is on the path of
 * every command, and costs one small file read.
 */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

type Env = Record<string, string | undefined>;

/** `$MARIONETTE_HOME`, default `~/.marionette`. */
export function defaultHome(env: Env = process.env): string {
  return resolve(env.MARIONETTE_HOME || join(homedir(), '.marionette'));
}

/** One context of the CLI config file: a server and the token to use there. */
export interface CliContext {
  server: string;
  token: string;
  /** A CA certificate file to verify the server's TLS certificate with. */
  caFile?: string;
}

/** The CLI config file (JSON, mode 0600): named contexts and the current one. */
export interface CliConfigFile {
  currentContext: string | null;
  contexts: Record<string, CliContext>;
}

/** `$MARIONETTE_CLI_CONFIG`, default `$MARIONETTE_HOME/cli.json`. */
export function cliConfigPath(env: Env = process.env): string {
  return resolve(env.MARIONETTE_CLI_CONFIG || join(defaultHome(env), 'cli.json'));
}

/** Reads the CLI config file; a missing file is an empty one; a damaged one is an error naming it. */
export function readCliConfigFile(path: string): CliConfigFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e: unknown) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { currentContext: null, contexts: {} };
    throw new Error(`cannot read the CLI config file ${path}: ${(e as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e: unknown) {
    throw new Error(`the CLI config file ${path} is not valid JSON (${(e as Error).message}); fix or remove it`);
  }
  const f = raw as Partial<CliConfigFile> | null;
  const contexts = f && typeof f.contexts === 'object' && f.contexts !== null ? f.contexts : null;
  if (!contexts || Array.isArray(contexts))
    throw new Error(`the CLI config file ${path} has no "contexts" object; fix or remove it`);
  for (const [name, c] of Object.entries(contexts))
    if (!c || typeof c.server !== 'string' || typeof c.token !== 'string')
      throw new Error(
        `the CLI config file ${path}: context ${JSON.stringify(name)} needs "server" and "token" strings`,
      );
  return { currentContext: typeof f?.currentContext === 'string' ? f.currentContext : null, contexts };
}

export interface CliConfig {
  server: string;
  token: string | null;
  tokenFile: string;
  /** The context in use (null: none). */
  context: string | null;
  isTty: boolean;
  /** The terminal's width for tables (stdout's when it is a terminal, else `COLUMNS`); null = no limit. */
  columns?: number | null;
  /** PEM CA for an https:// server (`--ca-file`, `MARIONETTE_CA_FILE`, else the context's); null = the system's CAs. */
  caFile: string | null;
}

const positiveInt = (v: string | undefined) => (v && /^[1-9][0-9]{0,5}$/.test(v) ? Number(v) : null);

const normalizeServer = (s: string) => (/^https?:\/\//.test(s) ? s : `http://${s}`).replace(/\/+$/, '');

/**
 * mctl's server and token. Each comes from, in order: the flag (`--server`, `--token`), the
 * environment (`MARIONETTE_SERVER`, `MARIONETTE_TOKEN`), the context (`--context`, else
 * `MARIONETTE_CONTEXT`, else the file's current context), else the defaults
 * (http://127.0.0.1:8080 and `$MARIONETTE_HOME/token`); the CA file likewise (`--ca-file`,
 * `MARIONETTE_CA_FILE`, the context's). A context's token is never sent to another
 * server than its own: with the server overridden elsewhere, the token comes from the flag, the
 * environment or the token file.
 */
export function loadCliConfig(
  flags: { server?: string; token?: string; context?: string; caFile?: string },
  env: Env = process.env,
): CliConfig {
  const tokenFile = join(defaultHome(env), 'token');
  const file = cliConfigPath(env);
  const named = flags.context ?? (env.MARIONETTE_CONTEXT || undefined);
  const f = readCliConfigFile(file);
  const name = named ?? f.currentContext;
  const ctx = name ? f.contexts[name] : undefined;
  if (name && !ctx)
    throw new Error(
      `no context ${JSON.stringify(name)} in ${file} (contexts: ${Object.keys(f.contexts).join(', ') || 'none'}); add one with \`mctl login --context ${name}\``,
    );
  // An empty variable is an unset one.
  const override = flags.server ?? (env.MARIONETTE_SERVER || undefined);
  const server = normalizeServer(override ?? ctx?.server ?? 'http://127.0.0.1:8080');
  const ctxApplies = ctx !== undefined && (override === undefined || normalizeServer(ctx.server) === server);
  let token = flags.token ?? (env.MARIONETTE_TOKEN || undefined) ?? (ctxApplies ? ctx.token : null) ?? null;
  if (!token) {
    try {
      token = readFileSync(tokenFile, 'utf8').trim() || null;
    } catch {
      token = null;
    }
  }
  return {
    server,
    token,
    tokenFile,
    context: ctxApplies ? (name ?? null) : null,
    caFile: flags.caFile ?? (env.MARIONETTE_CA_FILE || undefined) ?? (ctxApplies ? ctx.caFile : undefined) ?? null,
    isTty: Boolean(process.stderr.isTTY),
    columns: process.stdout.isTTY && process.stdout.columns ? process.stdout.columns : positiveInt(env.COLUMNS),
  };
}
