/**
 * @module `mctl sessions exec -it`'s start: the connection settings (server, token, CA file) from
 * the global flags, then the terminal itself (./terminal.ts).
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { CliError } from './client.js';
import { cliConfig } from './context.js';
import { checkTerminal, runTerminal } from './terminal.js';

/** Runs `command` on a terminal in session `id`; resolves to mctl's exit code. */
export async function startTerminal(cmd: Command, id: string, command: string[]): Promise<number> {
  checkTerminal(process.stdin);
  const c = cliConfig(cmd);
  let ca: Buffer | null = null;
  if (c.caFile) {
    try {
      ca = readFileSync(c.caFile);
    } catch (e: unknown) {
      throw new CliError(`--ca-file ${c.caFile}: cannot read it (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
    }
  }
  return runTerminal(c, ca, id, command);
}
