/**
 * @module `mctl agents list|show|create|update|delete|render`: manage agent cards and see the
 * exact argv and environment names a task of a card would get. Also the small parsers
 * `mctl sessions create` shares (`--env NAME=value`, `--task-timeout 10m`).
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import type { AgentInput, AgentUpdate } from '../../client/index.js';
import { parseDuration } from '../../core/duration.js';
import { CliError } from '../client.js';
import type { Ctx } from '../context.js';
import { print, table } from '../output.js';

type Obj = Record<string, unknown>;

const collect = (v: string, acc: string[]) => [...acc, v];

/** `--env NAME=value` (repeatable) into an object; a bad pair is a clear error. */
export function parseEnvPairs(pairs: string[], flag = '--env'): Record<string, string> {
  const env: Record<string, string> = {};
  for (const kv of pairs) {
    const i = kv.indexOf('=');
    if (i <= 0 || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(kv.slice(0, i)))
      throw new CliError(`${flag} ${JSON.stringify(kv)}: expected NAME=value (NAME: letters, digits, _)`);
    env[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return env;
}

/** `--task-timeout 10m` into milliseconds. */
export function parseTimeout(v: string, flag = '--task-timeout'): number {
  const ms = parseDuration(v);
  if (ms === null || ms <= 0)
    throw new CliError(`${flag} ${JSON.stringify(v)}: expected a duration such as 90s, 10m, 2h`);
  return ms;
}

function list(v?: string): string[] | undefined {
  return v
    ? v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
    : undefined;
}

function json(v: string, what: string): unknown {
  const t = v.trim();
  const text = t.startsWith('[') || t.startsWith('{') ? v : readFileSync(v, 'utf8');
  try {
    return JSON.parse(text);
  } catch (e: unknown) {
    throw new CliError(`${what}: not valid JSON: ${(e as Error).message}`);
  }
}

interface CardOpts {
  command?: string;
  description?: string;
  requires?: string;
  runtimes?: string;
  requiredEnv?: string;
  env: string[];
  resume?: string;
  outcome?: string;
  setup: string[];
  taskTimeout?: string;
  envHint: string[];
  loginShell?: boolean;
}

function cardBody(o: CardOpts): Obj {
  const b: Obj = {};
  if (o.command) b.command = json(o.command, '--command');
  if (o.description) b.description = o.description;
  if (list(o.requires)) b.requires = list(o.requires)!.map((kind) => ({ kind }));
  if (list(o.runtimes)) b.runtimes = list(o.runtimes)!.map((kind) => ({ kind }));
  if (list(o.requiredEnv)) b.requiredEnv = list(o.requiredEnv);
  if (o.env.length) b.env = parseEnvPairs(o.env);
  if (o.resume) b.resume = json(o.resume, '--resume');
  if (o.outcome) b.outcome = o.outcome;
  if (o.setup.length) b.setup = o.setup;
  if (o.taskTimeout) b.taskTimeoutMs = parseTimeout(o.taskTimeout);
  if (o.envHint.length) b.envHints = parseEnvPairs(o.envHint, '--env-hint');
  if (o.loginShell !== undefined) b.loginShell = o.loginShell;
  return b;
}

function cardOptions(c: Command, commandRequired: boolean): Command {
  const cmd = commandRequired
    ? c.requiredOption('--command <json>', 'argv as JSON, e.g. \'["aider","--message","{{prompt}}"]\' (or a file)')
    : c.option('--command <json>', 'argv as JSON (or a file)');
  return cmd
    .option('--description <text>', 'what it is')
    .option('--requires <kinds>', 'requirement kinds, comma-separated')
    .option('--runtimes <kinds>', 'runtime kinds, comma-separated (default native)')
    .option('--required-env <names>', 'env vars it needs, comma-separated')
    .option('--env <NAME=value>', 'environment of every task (repeatable; {{workspace}} is the workspace)', collect, [])
    .option(
      '--resume <json>',
      'argv put in place of a "{{resume}}" element on follow-up tasks; {{conversation}} is the id',
    )
    .option('--outcome <kind>', 'how the outcome is read: exit (default), claude, codex, gemini, opencode')
    .option('--setup <cmd>', 'shell command run before each task (repeatable)', collect, [])
    .option('--task-timeout <duration>', "this card's task timeout, e.g. 30m")
    .option('--env-hint <NAME=text>', 'how to provide a required env var (repeatable)', collect, [])
    .option('--login-shell', 'run each task inside a login shell (bash -l: reads the login profile first)')
    .option('--no-login-shell', 'run each task without a login shell (the default)');
}

const showCard = (a: Obj) =>
  [
    `name:        ${String(a.name)}${a.builtIn ? ' (built in)' : ''}`,
    `description: ${String(a.description ?? '')}`,
    `command:     ${JSON.stringify(a.command)}`,
    ...(a.resume ? [`resume:      ${JSON.stringify(a.resume)}`] : []),
    `outcome:     ${String(a.outcome ?? 'exit')}`,
    `required:    ${((a.requiredEnv as string[]) ?? []).join(', ') || '(none)'}`,
    `env:         ${Object.entries((a.env as Record<string, string>) ?? {})
      .map(([k, v]) => `${k}=${v}`)
      .join(' ')}`,
    ...(a.setup ? [`setup:       ${(a.setup as string[]).join(' ; ')}`] : []),
    ...(a.taskTimeoutMs ? [`timeout:     ${Number(a.taskTimeoutMs) / 1000}s`] : []),
    ...(a.loginShell ? ['login shell: yes (bash -l)'] : []),
  ].join('\n');

export function agentCommands(program: Command, ctx: Ctx): void {
  const agents = program.command('agents').alias('agent').description('Agent cards');
  agents
    .command('list')
    .description('List agent cards')
    .action(async (_o: unknown, cmd: Command) => {
      const { api, out } = ctx(cmd);
      const r = await api.listAgents();
      print(out, r.items, () =>
        table(r.items, [
          { header: 'NAME', get: (a) => a.name },
          { header: 'BUILT-IN', get: (a) => a.builtIn },
          { header: 'OUTCOME', get: (a) => a.outcome ?? 'exit' },
          { header: 'COMMAND', get: (a) => (a.command as string[]).join(' ') },
          { header: 'DESCRIPTION', get: (a) => a.description },
        ]),
      );
    });
  for (const verb of ['show', 'get']) {
    agents
      .command(`${verb} <name>`)
      .description('Show an agent card')
      .action(async (name: string, _o: unknown, cmd: Command) => {
        const { api, out } = ctx(cmd);
        const a = await api.getAgent(name);
        print(out, a, () => showCard(a));
      });
  }
  cardOptions(
    agents
      .command('create <name>')
      .description('Create an agent card; the command is an argv template where {{prompt}} is the task prompt'),
    true,
  ).action(async (name: string, o: CardOpts, cmd: Command) => {
    const { api, out } = ctx(cmd);
    const a = await api.createAgent({ name, ...cardBody(o) } as AgentInput);
    print(out, a, () => `agent ${name} created`);
  });
  cardOptions(
    agents.command('update <name>').description('Change a card you made: the options given replace those fields'),
    false,
  ).action(async (name: string, o: CardOpts, cmd: Command) => {
    const { api, out } = ctx(cmd);
    const cur = await api.getAgent(name);
    const { name: _n, builtIn: _b, ...fields } = cur;
    const a = await api.updateAgent(name, { ...fields, ...cardBody(o) } as AgentUpdate);
    print(out, a, () => `agent ${name} updated`);
  });
  agents
    .command('delete <name>')
    .description('Delete a card you made')
    .action(async (name: string, _o: unknown, cmd: Command) => {
      const { api, out } = ctx(cmd);
      const r = await api.deleteAgent(name);
      print(out, r, () => `agent ${name} deleted`);
    });
  agents
    .command('render <name>')
    .description('The exact argv and environment names a task of this card would get')
    .requiredOption('--prompt <text>', 'the task prompt')
    .option('--conversation <id>', 'render a follow-up task resuming this conversation')
    .option('--env <NAME>', 'env the session would be created with (names; repeatable)', collect, [])
    .option('--profile <name>', 'the session profile (its task timeout)')
    .option('--task-timeout <duration>', "the session's task timeout")
    .action(async (name: string, o: Record<string, unknown>, cmd: Command) => {
      const { api, out } = ctx(cmd);
      const r = await api.renderAgent(name, {
        prompt: String(o.prompt),
        env: (o.env as string[]).map((e) => e.split('=')[0]!),
        ...(o.conversation ? { conversation: String(o.conversation) } : {}),
        ...(o.profile ? { profile: String(o.profile) } : {}),
        ...(o.taskTimeout ? { taskTimeoutMs: parseTimeout(String(o.taskTimeout)) } : {}),
      });
      const missing = r.missing;
      print(out, r, () =>
        [
          `argv:    ${JSON.stringify(r.argv)}`,
          `env:     ${(r.env as string[]).join(' ')}`,
          ...((r.setup as string[]).length ? [`setup:   ${(r.setup as string[]).join(' ; ')}`] : []),
          `outcome: ${String(r.outcome)}`,
          `timeout: ${Number(r.timeoutMs) / 1000}s`,
          ...missing.map((m) => `missing: ${m.name}: ${m.hint}`),
        ].join('\n'),
      );
    });
}
