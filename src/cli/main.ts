/**
 * @module `mctl`: the user's CLI, a thin client of the REST API (kubectl / gh style), over the
 * package's MarionetteClient. This file only wires the command modules (./commands/) together and
 * turns errors into messages and exit codes.
 *
 * A person waits for every start, so a command sets up only its own noun's commands (`mctl pools
 * list` imports ./commands/pools.js, not the sessions or agents code; in the bundle they share one
 * file, and this defers their evaluation); `mctl --help`, a bare `mctl` or an unknown word sets up
 * them all, so help and "unknown command" see every command.
 */
import { Command, Option } from 'commander';
import { MarionetteError } from '../core/errors.js';
import { VERSION } from '../paths.js';
import { CliError, describeClientError } from './client.js';
import { ctx, lastClient } from './context.js';
import { resolveIdsHook } from './id-prefix.js';
import { exitWhenFlushed } from './output.js';

type SetExit = (code: number) => void;
type Register = (program: Command, setExit: SetExit) => Promise<void>;

/** Each top-level noun (and its alias) and how to add its commands, loaded on demand. */
const NOUNS: [names: string[], register: Register][] = [
  [['sessions', 'session'], async (p, s) => (await import('./commands/sessions.js')).sessionCommands(p, s)],
  [['tasks', 'task'], async (p, s) => (await import('./commands/tasks.js')).taskCommands(p, s)],
  [['runners', 'runner'], async (p) => (await import('./commands/runners.js')).runnerCommands(p)],
  [['pools', 'pool'], async (p) => (await import('./commands/pools.js')).poolCommands(p)],
  [['profiles', 'profile'], async (p) => (await import('./commands/pools.js')).profileCommands(p)],
  [['providers'], async (p) => (await import('./commands/catalog.js')).providerCommands(p)],
  [['costs'], async (p) => (await import('./commands/catalog.js')).costCommands(p)],
  [['agents', 'agent'], async (p) => (await import('./commands/agents.js')).agentCommands(p, ctx)],
  [
    ['completion'],
    async (p) => (await import('./commands/completion.js')).completionCommand(p, () => buildProgram(() => {}, [])),
  ],
  [['version'], async (p) => (await import('./commands/habits.js')).versionCommand(p, ctx)],
  [['kits', 'kit'], async (p) => (await import('./commands/kits.js')).kitCommands(p, ctx)],
  [
    ['git-credentials', 'git-credential'],
    async (p) => (await import('./commands/kits.js')).gitCredentialCommands(p, ctx),
  ],
  [['credentials', 'credential'], async (p) => (await import('./commands/credentials.js')).credentialCommands(p, ctx)],
  [['tokens', 'token'], async (p) => (await import('./commands/security.js')).tokenCommands(p)],
  [['audit'], async (p) => (await import('./commands/security.js')).auditCommands(p)],
  [['login'], async (p) => (await import('./commands/security.js')).loginCommands(p)],
  [['config'], async (p) => (await import('./commands/security.js')).configCommands(p)],
  [['orgs', 'org'], async (p) => (await import('./commands/orgs.js')).orgCommands(p)],
  [['projects', 'project'], async (p) => (await import('./commands/orgs.js')).projectCommands(p)],
  [['members', 'member'], async (p) => (await import('./commands/orgs.js')).memberCommands(p)],
  [['dispatch'], async (p, s) => (await import('./commands/orgs.js')).dispatchCommand(p, s)],
  [['dashboard'], async (p) => (await import('./commands/dashboard.js')).dashboardCommands(p)],
  [['workspaces', 'workspace'], async (p) => (await import('./commands/workspaces.js')).workspaceCommands(p)],
];

/** The first word that is not an option or a global option's value: the noun being run. */
function nounOf(argv: string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') return argv[i + 1];
    if (a === '--server' || a === '--token' || a === '--context' || a === '--ca-file' || a === '-o' || a === '--output')
      i++;
    else if (!a.startsWith('-')) return a;
  }
  return undefined;
}

/** The program with the commands `argv` needs (every command when it names no known noun). */
export async function buildProgram(setExit: SetExit, argv?: string[]): Promise<Command> {
  const program = new Command('mctl')
    .description('Marionette CLI')
    .version(VERSION)
    .option('--server <url>', 'API URL (env MARIONETTE_SERVER, default http://127.0.0.1:8080)')
    .option('--token <token>', "API token (env MARIONETTE_TOKEN, else the context's, else $MARIONETTE_HOME/token)")
    .option('--context <name>', 'a context saved by `mctl login` (env MARIONETTE_CONTEXT, default the current one)')
    .option('--ca-file <file>', 'PEM CA that signed the server certificate, for https:// (env MARIONETTE_CA_FILE)')
    .addOption(
      new Option('-o, --output <format>', 'output format (wide: a table with more columns)')
        .choices(['table', 'wide', 'json', 'yaml'])
        .default('table'),
    )
    .showHelpAfterError();
  const noun = argv ? nounOf(argv) : undefined;
  const one = noun === undefined ? undefined : NOUNS.find(([names]) => names.includes(noun));
  for (const [, register] of one ? [one] : NOUNS) await register(program, setExit);
  program.hook('preAction', resolveIdsHook);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  let exit = 0;
  try {
    const program = await buildProgram((c) => {
      exit = c;
    }, argv);
    program.exitOverride();
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
