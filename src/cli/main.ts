/**
 * @module `mctl`: the user's CLI, a thin client of the REST API (kubectl / gh style).
 */
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { Command, Option } from 'commander';
import { loadCliConfig, parseLabels } from '../config/index.js';
import { MarionetteError } from '../core/errors.js';
import { VERSION } from '../paths.js';
import { lineBytes } from '../protocol/linebytes.js';
import { ApiClient, CliError } from './client.js';
import { ago, type Column, type OutputFormat, print, StatusLine, table } from './output.js';

type Obj = Record<string, unknown> & { id: string };
interface Listing<T> {
  items: T[];
}
interface TaskObj extends Obj {
  state: string;
  sessionId: string;
  exitCode: number | null;
  error: string | null;
}
interface SessionObj extends Obj {
  state: string;
  stateReason: string | null;
  tasks?: TaskObj[];
}
interface Verdict {
  poolName: string;
  providerId: string;
  priority: number;
  reason: string | null;
  detail: string;
  chosen: boolean;
}
interface Placement {
  chosenPoolId: string | null;
  action: string | null;
  verdicts: Verdict[];
  summary: string;
}

const TERMINAL_TASK = ['succeeded', 'failed', 'cancelled', 'timed_out', 'lost'];

interface Globals {
  server?: string;
  token?: string;
  output: OutputFormat;
}

function ctx(cmd: Command): { api: ApiClient; out: OutputFormat; tty: boolean } {
  const g = cmd.optsWithGlobals<Globals>();
  const c = loadCliConfig({ ...(g.server ? { server: g.server } : {}), ...(g.token ? { token: g.token } : {}) });
  return { api: new ApiClient(c.server, c.token, c.tokenFile), out: g.output, tty: c.isTty };
}

const sessionCols: Column<SessionObj>[] = [
  { header: 'ID', get: (s) => s.id },
  { header: 'AGENT', get: (s) => s.agent },
  { header: 'STATE', get: (s) => s.state },
  { header: 'POOL', get: (s) => s.poolId },
  { header: 'RUNNER', get: (s) => s.runnerId },
  { header: 'AGE', get: (s) => ago(s.createdAt as number) },
  { header: 'REASON', get: (s) => s.stateReason },
];
const taskCols: Column<TaskObj>[] = [
  { header: 'ID', get: (t) => t.id },
  { header: 'SESSION', get: (t) => t.sessionId },
  { header: '#', get: (t) => t.ordinal },
  { header: 'STATE', get: (t) => t.state },
  { header: 'EXIT', get: (t) => t.exitCode },
  { header: 'ATTEMPT', get: (t) => t.attempt },
  { header: 'AGE', get: (t) => ago(t.createdAt as number) },
  { header: 'ERROR', get: (t) => t.error },
];

function verdictTable(p: Placement): string {
  const rows = [...p.verdicts].sort((a, b) => Number(b.chosen) - Number(a.chosen));
  return [
    table(rows, [
      { header: 'POOL', get: (v) => v.poolName },
      { header: 'PROVIDER', get: (v) => v.providerId },
      { header: 'PRIORITY', get: (v) => v.priority },
      { header: 'VERDICT', get: (v) => (v.chosen ? 'chosen' : v.reason) },
      { header: 'DETAIL', get: (v) => v.detail },
    ]),
    '',
    p.summary,
  ].join('\n');
}

/** Prints log lines, as the bytes the task wrote: stdout to stdout, stderr and system lines to stderr. */
function writeLine(l: { stream: string; line: string }): void {
  (l.stream === 'stdout' ? process.stdout : process.stderr).write(lineBytes(`${l.line}\n`));
}

async function pageLogs(api: ApiClient, path: string): Promise<void> {
  let after = 0;
  for (;;) {
    const page = await api.get<{ items: { id: number; stream: string; line: string }[]; next: number | null }>(
      `${path}?after=${after}&limit=5000`,
    );
    for (const l of page.items) writeLine(l);
    if (page.next === null) return;
    after = page.next;
  }
}

async function followLogs(api: ApiClient, path: string, status?: StatusLine): Promise<string | null> {
  let after = 0;
  for (let attempt = 0; attempt < 50; attempt++) {
    try {
      for await (const ev of api.stream(`${path}?follow=1&after=${after}`)) {
        if (ev.event === 'line') {
          const l = JSON.parse(ev.data) as { id: number; stream: string; line: string };
          after = l.id;
          status?.clear();
          writeLine(l);
        } else if (ev.event === 'end') return (JSON.parse(ev.data) as { state: string }).state;
      }
    } catch (e: unknown) {
      if (e instanceof CliError && e.status) throw e;
    }
    // The server went away mid-stream (restart): reconnect after the last line seen.
    await sleep(Math.min(2000, 200 * (attempt + 1)));
  }
  return null;
}

/** How long `--wait` keeps retrying an unreachable server (a restart takes seconds). */
const UNREACHABLE_GIVE_UP_MS = 120_000;

async function waitTask(api: ApiClient, id: string, status: StatusLine): Promise<TaskObj> {
  let unreachableSince: number | null = null;
  for (;;) {
    let t: TaskObj;
    try {
      t = await api.get<TaskObj>(`/v1/tasks/${id}`);
      unreachableSince = null;
    } catch (e: unknown) {
      if (e instanceof CliError && e.status === undefined) {
        unreachableSince ??= Date.now();
        if (Date.now() - unreachableSince > UNREACHABLE_GIVE_UP_MS)
          throw new CliError(
            `${e.message} for ${UNREACHABLE_GIVE_UP_MS / 1000}s; stopped waiting (the task may still run)`,
            `check later with \`mctl tasks get ${id}\``,
          );
        status.set(`task ${id}: server unreachable, retrying`);
        await sleep(1000);
        continue;
      }
      throw e;
    }
    if (TERMINAL_TASK.includes(t.state)) return t;
    if (t.state === 'queued') {
      const s = await api.get<SessionObj>(`/v1/sessions/${t.sessionId}`).catch(() => null);
      status.set(`task ${id}: queued${s ? `; session ${s.state}${s.stateReason ? ` (${s.stateReason})` : ''}` : ''}`);
    } else status.set(`task ${id}: ${t.state}`);
    await sleep(250);
  }
}

/** Waits for (and optionally follows) a task; returns the process exit code. */
async function waitAndReport(
  api: ApiClient,
  task: TaskObj,
  opts: { wait?: boolean; follow?: boolean },
  tty: boolean,
  out: OutputFormat,
): Promise<number> {
  if (!opts.wait && !opts.follow) return 0;
  const status = new StatusLine(tty && !opts.follow);
  try {
    if (opts.follow) await followLogs(api, `/v1/tasks/${task.id}/logs`);
    const done = await waitTask(api, task.id, status);
    status.stop();
    if (opts.wait && out !== 'table') print(out, done, () => '');
    if (done.state !== 'succeeded') {
      process.stderr.write(`mctl: task ${done.id} ${done.state}${done.error ? `: ${done.error}` : ''}\n`);
      return done.exitCode && done.exitCode > 0 ? done.exitCode : 1;
    }
    if (tty && out === 'table') process.stderr.write(`task ${done.id} succeeded\n`);
    return 0;
  } finally {
    status.stop();
  }
}

function readJsonOrFile(v: string, what: string): unknown {
  const text =
    v.trim().startsWith('{') || v.trim().startsWith('[') || v.trim() === 'null' ? v : readFileSync(v, 'utf8');
  try {
    return JSON.parse(text);
  } catch (e: unknown) {
    throw new CliError(`${what}: not valid JSON: ${(e as Error).message}`);
  }
}

function poolBody(o: Record<string, unknown>): Record<string, unknown> {
  const b: Record<string, unknown> = {};
  if (o.provider !== undefined) b.provider = o.provider;
  if (o.mode !== undefined) b.mode = o.mode;
  if (o.priority !== undefined) b.priority = Number(o.priority);
  if (o.labels !== undefined) b.labels = parseLabels(String(o.labels));
  if (o.runtimeProvides !== undefined)
    b.runtimeProvides = readJsonOrFile(String(o.runtimeProvides), '--runtime-provides');
  if (o.active !== undefined) b.active = o.active === true || o.active === 'true';
  if (o.minRunners !== undefined) b.minRunners = Number(o.minRunners);
  if (o.maxRunners !== undefined) b.maxRunners = Number(o.maxRunners);
  if (o.idleTimeout !== undefined) b.idleTimeout = o.idleTimeout;
  if (o.selector !== undefined) b.selector = o.selector;
  if (o.lifecycle !== undefined) b.lifecycle = o.lifecycle;
  if (o.sandboxConfig !== undefined) b.sandboxConfig = readJsonOrFile(String(o.sandboxConfig), '--sandbox-config');
  const sc: Record<string, unknown> = {};
  if (o.suspendStrategy !== undefined) sc.strategy = o.suspendStrategy;
  if (o.suspendFallback !== undefined) sc.fallback = o.suspendFallback;
  if (o.suspendMin !== undefined) sc.minDuration = o.suspendMin;
  if (o.suspendMax !== undefined) sc.maxDuration = o.suspendMax;
  if (Object.keys(sc).length) b.suspendConfig = sc;
  return b;
}

function poolOptions(cmd: Command): Command {
  return cmd
    .option(
      '--provider <id>',
      'provider (local, docker, kubernetes, e2b, daytona, modal, vercel, firecracker, pool, external)',
    )
    .addOption(new Option('--mode <mode>', 'managed | pool | external').choices(['managed', 'pool', 'external']))
    .option('--priority <n>', 'higher wins')
    .option('--labels <k=v,...>', 'labels selectors match')
    .option('--runtime-provides <file|json>', 'substrate override {"runtimeKinds":[...],"requirementKinds":[...]}')
    .option('--active <bool>', 'true | false')
    .option('--min-runners <n>', 'warm runners to keep (managed) / expected (pool)')
    .option('--max-runners <n>', 'most runners at once')
    .option('--idle-timeout <d>', 'reap idle runners after this long (e.g. 5m)')
    .option('--selector <s>', 'runners joining must match (e.g. "os=darwin,arch=arm64")')
    .addOption(new Option('--lifecycle <l>', 'per-session | per-task').choices(['per-session', 'per-task']))
    .option('--sandbox-config <file|json>', "provider config for this pool's sandboxes")
    .option('--suspend-strategy <s>', 'pause | snapshot | terminate_preserve_storage | release_to_pool | terminate')
    .option('--suspend-fallback <s>', 'used when the strategy is not supported')
    .option('--suspend-min <d>', 'min_duration')
    .option('--suspend-max <d>', 'max_duration');
}

const poolCols: Column<Obj>[] = [
  { header: 'NAME', get: (p) => p.name },
  { header: 'MODE', get: (p) => p.mode },
  { header: 'PROVIDER', get: (p) => p.providerId },
  { header: 'PRIORITY', get: (p) => p.priority },
  { header: 'ACTIVE', get: (p) => p.active },
  {
    header: 'RUNNERS',
    get: (p) => {
      const r = p.runners as { live: number; idle: number } | undefined;
      return r ? `${r.live} (${r.idle} idle)` : '-';
    },
  },
  { header: 'MIN/MAX', get: (p) => `${p.minRunners}/${p.maxRunners ?? '-'}` },
  { header: 'LABELS', get: (p) => p.labels },
  { header: 'HEALTH', get: (p) => p.health },
];

// ---- runners: registration tokens, external registration, drain (issue 5)
const tokenCols: Column<Obj>[] = [
  { header: 'ID', get: (t) => t.id },
  { header: 'POOL', get: (t) => t.pool },
  { header: 'KIND', get: (t) => t.kind },
  { header: 'STATUS', get: (t) => t.status },
  { header: 'USES', get: (t) => t.useCount },
  {
    header: 'EXPIRES',
    get: (t) => (t.expiresAt === null ? 'never' : new Date(t.expiresAt as number).toISOString()),
  },
  {
    header: 'REVOKED',
    get: (t) => (t.revokedAt === null ? '-' : new Date(t.revokedAt as number).toISOString()),
  },
  { header: 'DESCRIPTION', get: (t) => t.description },
];

function addRunnerEnrolmentCommands(runners: Command): void {
  const tokens = runners.command('tokens').alias('token').description('Registration tokens runners join a pool with');
  tokens
    .command('create')
    .description('Create a registration token for a pool (the secret is shown once)')
    .requiredOption('--pool <name>', 'pool the runners join')
    .option('--expires-in <d>', 'stop working after this long (e.g. 24h); default never')
    .option('--one-time', 'valid for a single registration')
    .option('--description <text>', 'what it is for')
    .action(async (o: { pool: string; expiresIn?: string; oneTime?: boolean; description?: string }, cmd: Command) => {
      const { api, out } = ctx(cmd);
      const t = await api.post<Obj & { token: string }>('/v1/runners/tokens', {
        pool: o.pool,
        ...(o.expiresIn !== undefined ? { expiresIn: o.expiresIn } : {}),
        ...(o.oneTime ? { oneTime: true } : {}),
        ...(o.description !== undefined ? { description: o.description } : {}),
      });
      print(out, t, () => t.token);
      if (out === 'table')
        process.stderr.write(
          `token ${t.id} for pool ${t.pool} (${t.kind}${t.expiresAt ? `, expires ${new Date(t.expiresAt as number).toISOString()}` : ''}); it is not shown again\n`,
        );
    });
  tokens
    .command('list')
    .description('List registration tokens (never their secrets)')
    .option('--pool <name>', 'only this pool')
    .action(async (o: { pool?: string }, cmd: Command) => {
      const { api, out } = ctx(cmd);
      const q = o.pool ? `?pool=${encodeURIComponent(o.pool)}` : '';
      const r = await api.get<Listing<Obj>>(`/v1/runners/tokens${q}`);
      print(out, r.items, () => table(r.items, tokenCols));
    });
  tokens
    .command('revoke <id>')
    .description('Revoke a registration token now (runners already joined keep their credential)')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const { api, out } = ctx(cmd);
      const t = await api.post<Obj>(`/v1/runners/tokens/${encodeURIComponent(id)}/revoke`);
      print(out, t, () => `token ${t.id} revoked`);
    });
  tokens
    .command('rotate <id>')
    .description('Replace a token; the old one keeps working for --grace (default 1h)')
    .option('--grace <d>', 'how long the old token keeps working (e.g. 10m, 0)')
    .option('--expires-in <d>', 'expiry of the new token (default: same lifetime as the old)')
    .action(async (id: string, o: { grace?: string; expiresIn?: string }, cmd: Command) => {
      const { api, out } = ctx(cmd);
      const t = await api.post<Obj & { token: string; rotatedFrom: string }>(
        `/v1/runners/tokens/${encodeURIComponent(id)}/rotate`,
        {
          ...(o.grace !== undefined ? { grace: o.grace } : {}),
          ...(o.expiresIn !== undefined ? { expiresIn: o.expiresIn } : {}),
        },
      );
      print(out, t, () => t.token);
      if (out === 'table') process.stderr.write(`token ${t.id} replaces ${t.rotatedFrom}; it is not shown again\n`);
    });
  runners
    .command('register')
    .description('Enrol one external runner: prints a one-time token and the agent command line')
    .option('--pool <name>', 'pool to join (default: the external pool, created if missing)')
    .option('--labels <k=v,...>', 'labels the runner offers')
    .option('--name <name>', 'runner name')
    .option('--expires-in <d>', 'token lifetime (default 1h)')
    .action(async (o: { pool?: string; labels?: string; name?: string; expiresIn?: string }, cmd: Command) => {
      const { api, out } = ctx(cmd);
      const body: Record<string, unknown> = {};
      if (o.pool !== undefined) body.pool = o.pool;
      if (o.labels !== undefined) body.labels = parseLabels(o.labels);
      if (o.name !== undefined) body.name = o.name;
      if (o.expiresIn !== undefined) body.expiresIn = o.expiresIn;
      const r = await api.post<{ token: string; tokenId: string; pool: string; expiresAt: number; command: string }>(
        '/v1/runners/register',
        body,
      );
      print(out, r, () =>
        [
          `one-time token ${r.tokenId} for pool ${r.pool}, valid until ${new Date(r.expiresAt).toISOString()}:`,
          `  ${r.token}`,
          '',
          'run this on the runner machine:',
          `  ${r.command}`,
        ].join('\n'),
      );
    });
  runners
    .command('drain <id>')
    .description('Finish the current task, take no more; the runner then leaves')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const { api, out } = ctx(cmd);
      const r = await api.post<Obj>(`/v1/runners/${encodeURIComponent(id)}/drain`);
      print(out, r, () => `runner ${r.id} draining (${r.state})`);
    });
}

export function buildProgram(setExit: (code: number) => void): Command {
  const program = new Command('mctl')
    .description('Marionette CLI')
    .version(VERSION)
    .option('--server <url>', 'API URL (env MARIONETTE_SERVER, default http://127.0.0.1:8080)')
    .option('--token <token>', 'API token (env MARIONETTE_TOKEN, default $MARIONETTE_HOME/token)')
    .addOption(new Option('-o, --output <format>', 'output format').choices(['table', 'json', 'yaml']).default('table'))
    .showHelpAfterError();

  // ---- sessions
  const sessions = program.command('sessions').alias('session').description('Agent sessions');
  sessions
    .command('create')
    .description('Create a session (with a first task when --prompt is given)')
    .requiredOption('--agent <name>', 'agent card (shell, claude, codex, or your own)')
    .option('--prompt <text>', 'first task prompt')
    .option('--provider <id>', 'only pools of this provider')
    .option('--pool <name>', 'only this pool')
    .option('--selector <expr>', 'label selector, e.g. "gpu=nvidia,vram>=16GB"')
    .option('--profile <name>', 'request template (selector, resources, provider preference)')
    .addOption(
      new Option('--auth-mode <mode>', 'credential mode; local and host-session pin to local pools').choices([
        'local',
        'host-session',
        'byok',
        'metered',
        'shared',
      ]),
    )
    .option(
      '--env <k=v...>',
      'environment for the agent (repeatable)',
      (v: string, acc: string[]) => [...acc, v],
      [] as string[],
    )
    .option('--no-wait-for-capacity', 'fail at once when no pool can take the session')
    .option('--priority <n>', 'higher is placed first; FIFO within a priority (default 0)')
    .option('--dry-run', 'show where it would go, create nothing')
    .option('--wait', 'wait for the first task; exit status 0 only if it succeeded')
    .option('-f, --follow', "stream the first task's output")
    .action(async (o: Record<string, unknown>, cmd: Command) => {
      const { api, out, tty } = ctx(cmd);
      const env: Record<string, string> = {};
      for (const kv of o.env as string[]) {
        const i = kv.indexOf('=');
        if (i <= 0) throw new CliError(`--env ${JSON.stringify(kv)}: expected NAME=value`);
        env[kv.slice(0, i)] = kv.slice(i + 1);
      }
      const body: Record<string, unknown> = { agent: o.agent };
      for (const k of ['prompt', 'provider', 'pool', 'selector', 'profile', 'authMode'] as const)
        if (o[k] !== undefined) body[k] = o[k];
      if (Object.keys(env).length) body.env = env;
      if (o.waitForCapacity === false) body.waitForCapacity = false;
      if (o.priority !== undefined) {
        const n = Number(o.priority);
        if (!Number.isInteger(n)) throw new CliError(`--priority ${JSON.stringify(o.priority)}: expected an integer`);
        body.priority = n;
      }
      if (o.dryRun) {
        const r = await api.post<{ decision: Placement }>('/v1/sessions', { ...body, dryRun: true });
        print(out, r, () => verdictTable(r.decision));
        if (!r.decision.chosenPoolId) setExit(3);
        return;
      }
      const s = await api.post<SessionObj>('/v1/sessions', body);
      const task = s.tasks?.[0];
      if (!(o.wait || o.follow) || out !== 'table') print(out, s, () => s.id);
      else if (tty) process.stderr.write(`session ${s.id} created\n`);
      if (task)
        setExit(await waitAndReport(api, task, { wait: Boolean(o.wait), follow: Boolean(o.follow) }, tty, 'table'));
    });
  sessions
    .command('list')
    .description('List sessions, newest first')
    .option('--state <s>', 'only these states (comma-separated)')
    .option('--limit <n>', 'how many', '50')
    .action(async (o: { state?: string; limit: string }, cmd: Command) => {
      const { api, out } = ctx(cmd);
      const q = new URLSearchParams({ limit: o.limit, ...(o.state ? { state: o.state } : {}) });
      const r = await api.get<Listing<SessionObj>>(`/v1/sessions?${q}`);
      print(out, r.items, () => table(r.items, sessionCols));
    });
  sessions
    .command('get <id>')
    .description('Show a session and its tasks')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const { api, out } = ctx(cmd);
      const s = await api.get<SessionObj>(`/v1/sessions/${encodeURIComponent(id)}`);
      print(out, s, () => `${table([s], sessionCols)}\n\nTASKS\n${table(s.tasks ?? [], taskCols)}`);
    });
  sessions
    .command('cancel <id>')
    .description('Cancel a session: its tasks are cancelled and its runner released')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const { api, out } = ctx(cmd);
      const s = await api.post<SessionObj>(`/v1/sessions/${encodeURIComponent(id)}/cancel`);
      print(out, s, () => `session ${s.id} ${s.state}`);
    });
  sessions
    .command('logs <id>')
    .description("Print a session's output (all tasks)")
    .option('-f, --follow', 'keep streaming until the session has nothing more running')
    .action(async (id: string, o: { follow?: boolean }, cmd: Command) => {
      const { api } = ctx(cmd);
      const path = `/v1/sessions/${encodeURIComponent(id)}/logs`;
      if (o.follow) await followLogs(api, path);
      else await pageLogs(api, path);
    });
  sessions
    .command('explain <id>')
    .description('Why the session is where it is: a verdict per pool')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const { api, out } = ctx(cmd);
      const r = await api.get<{ sessionId: string; state: string; decision: Placement | null }>(
        `/v1/sessions/${encodeURIComponent(id)}/explain`,
      );
      print(out, r, () =>
        r.decision
          ? `session ${r.sessionId} (${r.state})\n\n${verdictTable(r.decision)}`
          : `session ${r.sessionId} (${r.state}): not evaluated yet`,
      );
    });
  sessions
    .command('suspend <id>')
    .description("Suspend a session (its pool's suspend_config decides how)")
    .option('--strategy <s>', 'pause | snapshot | terminate_preserve_storage | release_to_pool | terminate')
    .action(async (id: string, o: { strategy?: string }, cmd: Command) => {
      const { api, out } = ctx(cmd);
      const s = await api.post<SessionObj>(
        `/v1/sessions/${encodeURIComponent(id)}/suspend`,
        o.strategy ? { strategy: o.strategy } : {},
      );
      print(
        out,
        s,
        () => `session ${s.id} ${s.state}${s.suspend ? ` (${(s.suspend as { strategy: string }).strategy})` : ''}`,
      );
    });
  sessions
    .command('resume <id>')
    .description('Resume a suspended session')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const { api, out } = ctx(cmd);
      const s = await api.post<SessionObj>(`/v1/sessions/${encodeURIComponent(id)}/resume`);
      print(out, s, () => `session ${s.id} ${s.state}`);
    });

  // ---- tasks
  const tasks = program.command('tasks').alias('task').description('Tasks (prompts run inside a session)');
  tasks
    .command('create')
    .description('Queue a task in a session')
    .requiredOption('--session <id>', 'session')
    .requiredOption('--prompt <text>', 'prompt')
    .option('--wait', 'wait; exit status 0 only if it succeeded')
    .option('-f, --follow', 'stream its output')
    .action(async (o: { session: string; prompt: string; wait?: boolean; follow?: boolean }, cmd: Command) => {
      const { api, out, tty } = ctx(cmd);
      const t = await api.post<TaskObj>(`/v1/sessions/${encodeURIComponent(o.session)}/tasks`, { prompt: o.prompt });
      if (!(o.wait || o.follow) || out !== 'table') print(out, t, () => t.id);
      setExit(await waitAndReport(api, t, o, tty, 'table'));
    });
  tasks
    .command('list')
    .description('List tasks, newest first')
    .option('--session <id>', 'only this session')
    .option('--state <s>', 'only these states (comma-separated)')
    .option('--limit <n>', 'how many', '50')
    .action(async (o: { session?: string; state?: string; limit: string }, cmd: Command) => {
      const { api, out } = ctx(cmd);
      const q = new URLSearchParams({
        limit: o.limit,
        ...(o.session ? { session: o.session } : {}),
        ...(o.state ? { state: o.state } : {}),
      });
      const r = await api.get<Listing<TaskObj>>(`/v1/tasks?${q}`);
      print(out, r.items, () => table(r.items, taskCols));
    });
  tasks
    .command('get <id>')
    .description('Show a task')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const { api, out } = ctx(cmd);
      const t = await api.get<TaskObj>(`/v1/tasks/${encodeURIComponent(id)}`);
      print(out, t, () => table([t], taskCols));
    });
  tasks
    .command('cancel <id>')
    .description('Cancel a task (kills its whole process group)')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const { api, out } = ctx(cmd);
      const t = await api.post<TaskObj>(`/v1/tasks/${encodeURIComponent(id)}/cancel`);
      print(
        out,
        t,
        () => `task ${t.id} ${t.state}${t.state === 'running' || t.state === 'assigned' ? ' (cancel requested)' : ''}`,
      );
    });
  tasks
    .command('logs <id>')
    .description("Print a task's output")
    .option('-f, --follow', 'keep streaming until the task ends')
    .action(async (id: string, o: { follow?: boolean }, cmd: Command) => {
      const { api } = ctx(cmd);
      const path = `/v1/tasks/${encodeURIComponent(id)}/logs`;
      if (o.follow) await followLogs(api, path);
      else await pageLogs(api, path);
    });

  // ---- runners
  const runners = program.command('runners').alias('runner').description('Runners (execution environments)');
  const runnerCols: Column<Obj>[] = [
    { header: 'ID', get: (r) => r.id },
    { header: 'NAME', get: (r) => r.name },
    { header: 'POOL', get: (r) => r.poolId },
    { header: 'STATE', get: (r) => r.state },
    { header: 'SESSION', get: (r) => r.sessionId },
    { header: 'LABELS', get: (r) => r.labels },
    { header: 'HEARTBEAT', get: (r) => ago(r.lastHeartbeatAt as number | null) },
  ];
  runners
    .command('list')
    .description('List runners (terminated ones with --all)')
    .option('--pool <name>', 'only this pool')
    .option('--all', 'include terminated runners')
    .action(async (o: { pool?: string; all?: boolean }, cmd: Command) => {
      const { api, out } = ctx(cmd);
      const q = new URLSearchParams({
        limit: '1000',
        ...(o.pool ? { pool: o.pool } : {}),
        ...(o.all ? { all: '1' } : {}),
      });
      const r = await api.get<Listing<Obj>>(`/v1/runners?${q}`);
      print(out, r.items, () => table(r.items, runnerCols));
    });
  runners
    .command('get <id>')
    .description('Show a runner')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const { api, out } = ctx(cmd);
      const r = await api.get<Obj>(`/v1/runners/${encodeURIComponent(id)}`);
      print(out, r, () => table([r], runnerCols));
    });
  addRunnerEnrolmentCommands(runners);

  // ---- pools
  const pools = program.command('pools').alias('pool').description('Capacity pools');
  pools
    .command('list')
    .description('List pools')
    .action(async (_o: unknown, cmd: Command) => {
      const { api, out } = ctx(cmd);
      const r = await api.get<Listing<Obj>>('/v1/pools');
      print(out, r.items, () => table(r.items, poolCols));
    });
  pools
    .command('show <name>')
    .alias('get')
    .description('Show a pool (with --substrate: derived capabilities and where each came from)')
    .option('--substrate', 'print the derived substrate')
    .action(async (name: string, o: { substrate?: boolean }, cmd: Command) => {
      const { api, out } = ctx(cmd);
      const p = await api.get<
        Obj & {
          substrate: {
            source: string;
            runtimeKinds: string[];
            requirementKinds: string[];
            classDefault: { runtimeKinds: string[]; requirementKinds: string[] };
          };
          warnings: string[];
        }
      >(`/v1/pools/${encodeURIComponent(name)}`);
      print(out, o.substrate ? p.substrate : p, () => {
        if (o.substrate) {
          const s = p.substrate;
          const from =
            s.source === 'override'
              ? 'runtime_provides override'
              : s.source === 'class-default'
                ? `class default for ${p.providerId}`
                : 'unknown provider: nothing';
          const rows = [
            ...s.runtimeKinds.map((k) => ({ kind: 'runtime', name: k })),
            ...s.requirementKinds.map((k) => ({ kind: 'requirement', name: k })),
          ];
          return `pool ${p.name} (provider ${p.providerId}); substrate from: ${from}\n\n${table(rows, [
            { header: 'KIND', get: (r) => r.kind },
            { header: 'NAME', get: (r) => r.name },
            { header: 'SOURCE', get: () => from },
          ])}`;
        }
        const lines = [table([p], poolCols)];
        lines.push(
          '',
          `selector: ${p.selector ?? '-'}   idle_timeout: ${p.idleTimeoutMs ?? '-'}ms   lifecycle: ${p.lifecycle}   suspend: ${JSON.stringify(p.suspendConfig)}`,
        );
        for (const w of p.warnings) lines.push(`WARNING: ${w}`);
        return lines.join('\n');
      });
    });
  poolOptions(pools.command('create <name>').description('Create a pool')).action(
    async (name: string, o: Record<string, unknown>, cmd: Command) => {
      const { api, out } = ctx(cmd);
      const p = await api.post<Obj>('/v1/pools', { name, ...poolBody(o) });
      print(out, p, () => `pool ${p.name} created (${p.mode}, provider ${p.providerId})`);
    },
  );
  poolOptions(pools.command('update <name>').description('Update a pool')).action(
    async (name: string, o: Record<string, unknown>, cmd: Command) => {
      const { api, out } = ctx(cmd);
      const p = await api.request<Obj>('PATCH', `/v1/pools/${encodeURIComponent(name)}`, poolBody(o));
      print(out, p, () => `pool ${p.name} updated`);
    },
  );
  pools
    .command('delete <name>')
    .description('Delete a pool (it must have no live runners or open sessions)')
    .action(async (name: string, _o: unknown, cmd: Command) => {
      const { api, out } = ctx(cmd);
      const r = await api.request<Obj>('DELETE', `/v1/pools/${encodeURIComponent(name)}`);
      print(out, r, () => `pool ${name} deleted`);
    });

  // ---- profiles
  const profiles = program.command('profiles').alias('profile').description('Request templates');
  const profileCols: Column<Obj>[] = [
    { header: 'NAME', get: (p) => p.name },
    { header: 'SELECTOR', get: (p) => p.selector },
    { header: 'RESOURCES', get: (p) => p.resources },
    { header: 'PROVIDERS', get: (p) => p.providerPreference },
    { header: 'DESCRIPTION', get: (p) => p.description },
  ];
  profiles
    .command('create <name>')
    .description('Create or replace a profile')
    .option('--selector <s>', 'label selector')
    .option('--cpu <q>', 'cpu')
    .option('--memory <q>', 'memory')
    .option('--gpu <q>', 'gpus')
    .option('--providers <list>', 'provider preference, comma-separated')
    .option('--description <text>', 'what it is for')
    .action(async (name: string, o: Record<string, string | undefined>, cmd: Command) => {
      const { api, out } = ctx(cmd);
      const resources: Record<string, string> = {};
      for (const k of ['cpu', 'memory', 'gpu']) if (o[k]) resources[k] = o[k]!;
      const p = await api.post<Obj>('/v1/profiles', {
        name,
        ...(o.selector ? { selector: o.selector } : {}),
        resources,
        providerPreference: o.providers ? o.providers.split(',').map((s) => s.trim()) : [],
        ...(o.description ? { description: o.description } : {}),
      });
      print(out, p, () => `profile ${name} saved`);
    });
  profiles
    .command('list')
    .description('List profiles')
    .action(async (_o: unknown, cmd: Command) => {
      const { api, out } = ctx(cmd);
      const r = await api.get<Listing<Obj>>('/v1/profiles');
      print(out, r.items, () => table(r.items, profileCols));
    });
  profiles
    .command('show <name>')
    .description('Show a profile')
    .action(async (name: string, _o: unknown, cmd: Command) => {
      const { api, out } = ctx(cmd);
      const p = await api.get<Obj>(`/v1/profiles/${encodeURIComponent(name)}`);
      print(out, p, () => table([p], profileCols));
    });
  profiles
    .command('delete <name>')
    .description('Delete a profile')
    .action(async (name: string, _o: unknown, cmd: Command) => {
      const { api, out } = ctx(cmd);
      const r = await api.request<Obj>('DELETE', `/v1/profiles/${encodeURIComponent(name)}`);
      print(out, r, () => `profile ${name} deleted`);
    });

  // ---- providers and agents
  program
    .command('providers')
    .description('Providers')
    .command('list')
    .description('The capability matrix, one row per provider')
    .action(async (_o: unknown, cmd: Command) => {
      const { api, out } = ctx(cmd);
      const r =
        await api.get<
          Listing<{
            id: string;
            registered: boolean;
            unavailable: string | null;
            capabilities: Record<string, unknown>;
          }>
        >('/v1/providers');
      print(out, r.items, () => {
        const fields = Object.keys(r.items[0]?.capabilities ?? {});
        const rows = fields.map((f) => ({ f, vals: r.items.map((p) => p.capabilities[f]) }));
        const cols: Column<{ f: string; vals: unknown[] }>[] = [
          { header: 'CAPABILITY', get: (x) => x.f },
          ...r.items.map((p, i) => ({
            header: p.id,
            get: (x: { vals: unknown[] }) => {
              const v = x.vals[i];
              return v === false || v === null ? '-' : v === true ? 'yes' : v;
            },
          })),
        ];
        const status = r.items
          .map(
            (p) =>
              `${p.id}: ${p.registered ? (p.unavailable ? `unavailable (${p.unavailable})` : 'registered') : 'not configured'}`,
          )
          .join('; ');
        return `${table(rows, cols)}\n\n${status}`;
      });
    });
  program
    .command('costs')
    .description('Cost events (one per stopped runner)')
    .command('list')
    .description('Newest first, with totals by billing model')
    .option('--session <id>', 'only this session')
    .option('--pool <name>', 'only this pool')
    .option('--limit <n>', 'how many', '100')
    .action(async (o: { session?: string; pool?: string; limit: string }, cmd: Command) => {
      const { api, out } = ctx(cmd);
      const q = new URLSearchParams({
        limit: o.limit,
        ...(o.session ? { session: o.session } : {}),
        ...(o.pool ? { pool: o.pool } : {}),
      });
      const r = await api.get<{ items: Obj[]; totalSecondsByBillingModel: Record<string, number> }>(`/v1/costs?${q}`);
      print(out, r, () =>
        [
          table(r.items, [
            { header: 'RUNNER', get: (c) => c.runnerId },
            { header: 'SESSION', get: (c) => c.sessionId },
            { header: 'PROVIDER', get: (c) => c.providerId },
            { header: 'BILLING', get: (c) => c.billingModel },
            { header: 'SECONDS', get: (c) => (c.seconds as number).toFixed(1) },
            { header: 'ENDED', get: (c) => ago(c.endedAt as number) },
          ]),
          '',
          `total: ${
            Object.entries(r.totalSecondsByBillingModel)
              .map(([m, s]) => `${s.toFixed(1)}s ${m}`)
              .join(', ') || 'none'
          }`,
        ].join('\n'),
      );
    });
  const agents = program.command('agents').alias('agent').description('Agent cards');
  agents
    .command('list')
    .description('List agent cards')
    .action(async (_o: unknown, cmd: Command) => {
      const { api, out } = ctx(cmd);
      const r = await api.get<Listing<Obj>>('/v1/agents');
      print(out, r.items, () =>
        table(r.items, [
          { header: 'NAME', get: (a) => a.name },
          { header: 'BUILT-IN', get: (a) => a.builtIn },
          { header: 'COMMAND', get: (a) => (a.command as string[]).join(' ') },
          { header: 'DESCRIPTION', get: (a) => a.description },
        ]),
      );
    });
  agents
    .command('get <name>')
    .description('Show an agent card')
    .action(async (name: string, _o: unknown, cmd: Command) => {
      const { api, out } = ctx(cmd);
      const a = await api.get<Obj>(`/v1/agents/${encodeURIComponent(name)}`);
      print(out, a, () => JSON.stringify(a, null, 2));
    });
  agents
    .command('create <name>')
    .description('Create an agent card; the command is an argv template where {{prompt}} is the task prompt')
    .requiredOption('--command <json>', 'argv as JSON, e.g. \'["aider","--message","{{prompt}}"]\'')
    .option('--description <text>', 'what it is')
    .option('--requires <kinds>', 'requirement kinds, comma-separated')
    .option('--runtimes <kinds>', 'runtime kinds, comma-separated (default native)')
    .option('--required-env <names>', 'env vars it needs, comma-separated')
    .action(async (name: string, o: Record<string, string | undefined>, cmd: Command) => {
      const { api, out } = ctx(cmd);
      const list = (v?: string) =>
        v
          ? v
              .split(',')
              .map((s) => s.trim())
              .filter(Boolean)
          : undefined;
      const a = await api.post<Obj>('/v1/agents', {
        name,
        command: readJsonOrFile(o.command!, '--command'),
        ...(o.description ? { description: o.description } : {}),
        ...(list(o.requires) ? { requires: list(o.requires)!.map((kind) => ({ kind })) } : {}),
        ...(list(o.runtimes) ? { runtimes: list(o.runtimes)!.map((kind) => ({ kind })) } : {}),
        ...(list(o.requiredEnv) ? { requiredEnv: list(o.requiredEnv) } : {}),
      });
      print(out, a, () => `agent ${name} created`);
    });
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
      process.exit(0);
    if (typeof code === 'string' && code.startsWith('commander.'))
      process.exit((e as { exitCode?: number }).exitCode ?? 2);
    if (e instanceof CliError || e instanceof MarionetteError) {
      process.stderr.write(`mctl: ${e.message}\n`);
      const hint = e.hint;
      if (hint) process.stderr.write(`hint: ${hint}\n`);
      process.exit(e instanceof CliError && e.status === 422 ? 3 : 1);
    }
    process.stderr.write(`mctl: ${(e as Error).message}\n`);
    process.exit(1);
  }
  process.exit(exit);
}
