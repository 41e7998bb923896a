/**
 * @module What every `mctl` command starts from: the global flags (`--server`, `--token`,
 * `-o`), the client they make, and the checks shared by commands that wait (`--timeout`).
 */
import type { Command } from 'commander';
import type { MarionetteClient } from '../client/index.js';
import { loadCliConfig } from '../config/cli.js';
import { CliError, connect } from './client.js';
import { type OutputFormat, setTableStyle } from './output.js';
import { parseTimeout } from './wait.js';

export interface Globals {
  server?: string;
  token?: string;
  context?: string;
  caFile?: string;
  output: OutputFormat;
}

export interface CmdContext {
  api: MarionetteClient;
  out: Exclude<OutputFormat, 'wide'>;
  tty: boolean;
}

/** The last client made (main() uses it to phrase an error: a 401 without a token). */
export let lastClient: MarionetteClient | undefined;

/** The CLI config the global flags (and the environment, the contexts file) make. */
export function cliConfig(cmd: Command): ReturnType<typeof loadCliConfig> {
  const g = cmd.optsWithGlobals<Globals>();
  try {
    return loadCliConfig({
      ...(g.server ? { server: g.server } : {}),
      ...(g.token ? { token: g.token } : {}),
      ...(g.context ? { context: g.context } : {}),
      ...(g.caFile ? { caFile: g.caFile } : {}),
    });
  } catch (e: unknown) {
    throw new CliError((e as Error).message);
  }
}

export function ctx(cmd: Command): CmdContext {
  const g = cmd.optsWithGlobals<Globals>();
  const c = cliConfig(cmd);
  lastClient = connect(c);
  setTableStyle({ wide: g.output === 'wide', width: c.columns ?? null });
  // `-o wide` is a table with more columns: commands need not tell the two apart.
  return { api: lastClient, out: g.output === 'wide' ? 'table' : g.output, tty: c.isTty };
}

export type Ctx = typeof ctx;

/** `--timeout`, checked before anything is created. */
export function waitTimeout(o: { wait?: unknown; follow?: unknown; timeout?: unknown }): number | null {
  if (o.timeout !== undefined && !o.wait && !o.follow) throw new CliError('--timeout needs --wait or --follow');
  return parseTimeout(o.timeout as string | undefined);
}

/** `--limit N` as a number. */
export function limitOption(v: string, flag = '--limit'): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new CliError(`${flag} ${JSON.stringify(v)}: expected a positive integer`);
  return n;
}
