/**
 * @module Small CLI habits of kubectl and gh users: the prompt from stdin (`--prompt -`) or a file
 * (`--prompt-file`), and `mctl version` (the client's and the server's).
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { VERSION } from '../../paths.js';
import { CliError } from '../client.js';
import type { Ctx } from '../context.js';
import { print, table } from '../output.js';

/**
 * The prompt from `--prompt TEXT`, `--prompt -` (all of stdin) or `--prompt-file PATH`; undefined
 * when none is given. Both at once is an error.
 */
export function promptOf(o: { prompt?: unknown; promptFile?: unknown }): string | undefined {
  if (o.prompt !== undefined && o.promptFile !== undefined)
    throw new CliError('give --prompt or --prompt-file, not both');
  if (o.promptFile !== undefined) {
    try {
      return readFileSync(String(o.promptFile), 'utf8');
    } catch (e: unknown) {
      throw new CliError(`--prompt-file: ${(e as Error).message}`);
    }
  }
  if (o.prompt === '-') {
    if (process.stdin.isTTY) throw new CliError('--prompt -: stdin is a terminal; pipe the prompt in');
    return readFileSync(0, 'utf8');
  }
  return o.prompt === undefined ? undefined : String(o.prompt);
}

export function versionCommand(program: Command, ctx: Ctx): void {
  program
    .command('version')
    .description("The client's version and the server's")
    .action(async (_o: unknown, cmd: Command) => {
      const { api, out } = ctx(cmd);
      let server: string | null = null;
      let error: string | null = null;
      try {
        server = (await api.health()).version ?? null;
      } catch (e: unknown) {
        error = (e as Error).message;
      }
      print(out, { client: VERSION, server, ...(error ? { error } : {}) }, () =>
        [`client: ${VERSION}`, `server: ${server ?? `unreachable (${error})`}`].join('\n'),
      );
    });
}

/** `mctl sessions events ID`: what happened to a session, oldest first. */
export function eventsCommand(sessions: Command, ctx: Ctx): void {
  sessions
    .command('events <id>')
    .description('What happened to a session (placement, clone, suspend, ...), oldest first')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const { api, out } = ctx(cmd);
      const r = await api.listSessionEvents(id);
      print(out, r.items, () =>
        table(r.items, [
          { header: 'TIME', get: (e) => new Date(e.ts).toISOString() },
          { header: 'EVENT', get: (e) => e.type },
          { header: 'DATA', get: (e) => (Object.keys(e.data).length ? JSON.stringify(e.data) : '') },
        ]),
      );
    });
}
