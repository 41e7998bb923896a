/**
 * @module `mctl`: the user's CLI, a thin client of the REST API (kubectl / gh style), over the
 * package's MarionetteClient. This file only wires the command modules (./commands/) together and
 * turns errors into messages and exit codes.
 */
import { Command, Option } from 'commander';
import { MarionetteError } from '../core/errors.js';
import { VERSION } from '../paths.js';
import { CliError, describeClientError } from './client.js';
import { agentCommands } from './commands/agents.js';
import { costCommands, providerCommands } from './commands/catalog.js';
import { poolCommands, profileCommands } from './commands/pools.js';
import { runnerCommands } from './commands/runners.js';
import { sessionCommands } from './commands/sessions.js';
import { taskCommands } from './commands/tasks.js';
import { ctx, lastClient } from './context.js';
import { exitWhenFlushed } from './output.js';

export function buildProgram(setExit: (code: number) => void): Command {
  const program = new Command('mctl')
    .description('Marionette CLI')
    .version(VERSION)
    .option('--server <url>', 'API URL (env MARIONETTE_SERVER, default http://127.0.0.1:8080)')
    .option('--token <token>', 'API token (env MARIONETTE_TOKEN, default $MARIONETTE_HOME/token)')
    .addOption(new Option('-o, --output <format>', 'output format').choices(['table', 'json', 'yaml']).default('table'))
    .showHelpAfterError();
  sessionCommands(program, setExit);
  taskCommands(program, setExit);
  runnerCommands(program);
  poolCommands(program);
  profileCommands(program);
  providerCommands(program);
  costCommands(program);
  agentCommands(program, ctx);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  let exit = 0;
  const program = buildProgram((c) => {
    exit = c;
  });
  program.exitOverride();
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (e: unknown) {
    const code = (e as { code?: string }).code;
    if (code === 'commander.helpDisplayed' || code === 'commander.version' || code === 'commander.help')
      return exitWhenFlushed(0);
    if (typeof code === 'string' && code.startsWith('commander.'))
      return exitWhenFlushed((e as { exitCode?: number }).exitCode ?? 2);
    const told =
      describeClientError(e, lastClient) ??
      (e instanceof CliError || e instanceof MarionetteError
        ? { message: e.message, hint: e.hint, status: e instanceof CliError ? e.status : undefined }
        : null);
    if (told) {
      process.stderr.write(`mctl: ${told.message}\n`);
      if (told.hint) process.stderr.write(`hint: ${told.hint}\n`);
      return exitWhenFlushed(told.status === 422 ? 3 : 1);
    }
    process.stderr.write(`mctl: ${(e as Error).message}\n`);
    return exitWhenFlushed(1);
  }
  return exitWhenFlushed(exit);
}
