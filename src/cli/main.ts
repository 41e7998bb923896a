/**
 * @module `mctl`: the user's CLI, a thin client of the REST API (kubectl / gh style).
 */
import { Command, Option } from 'commander';
import { loadCliConfig, parseLabels } from '../config/index.js';
import { MarionetteError } from '../core/errors.js';
import { VERSION } from '../paths.js';
import { agentCommands, parseEnvPairs, parseTimeout as parseTaskTimeout } from './agents.js';
import { ApiClient, CliError } from './client.js';
import { ago, type Column, exitWhenFlushed, type OutputFormat, print, table } from './output.js';
import { poolBody, poolCols, poolOptions } from './pools.js';
import { followLogs, pageLogs, parseTimeout, type TaskObj, waitAndReport } from './wait.js';

type Obj = Record<string, unknown> & { id: string };
interface Listing<T> {
  items: T[];
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

interface Globals {
  server?: string;
  token?: string;
  output: OutputFormat;
}

/** `--timeout`, checked before anything is created. */
function waitTimeout(o: { wait?: unknown; follow?: unknown; timeout?: unknown }): number | null {
  if (o.timeout !== undefined && !o.wait && !o.follow) throw new CliError('--timeout needs --wait or --follow');
  return parseTimeout(o.timeout as string | undefined);
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
    .option(
      '--task-timeout <duration>',
      "kill a task running longer (e.g. 30m; default the profile's, card's or server's)",
    )
    .option('--image <ref>', "run in this image instead of the pool's, where the pool allows it (docker)")
    .option('--no-wait-for-capacity', 'fail at once when no pool can take the session')
    .option('--priority <n>', 'higher is placed first; FIFO within a priority (default 0)')
    .option('--dry-run', 'show where it would go, create nothing')
    .option('--wait', 'wait for the first task; exit status 0 only if it succeeded')
    .option('-f, --follow', "stream the first task's output")
    .option(
      '--timeout <duration>',
      'with --wait/--follow: stop waiting after this long (e.g. 30s, 5m); exit status 124',
    )
    .action(async (o: Record<string, unknown>, cmd: Command) => {
      const { api, out, tty } = ctx(cmd);
      const timeoutMs = waitTimeout(o);
      const env = parseEnvPairs(o.env as string[]);
      const body: Record<string, unknown> = { agent: o.agent };
      for (const k of ['prompt', 'provider', 'pool', 'selector', 'profile', 'authMode', 'image'] as const)
        if (o[k] !== undefined) body[k] = o[k];
      if (Object.keys(env).length) body.env = env;
      if (o.taskTimeout) body.taskTimeoutMs = parseTaskTimeout(String(o.taskTimeout));
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
        setExit(await waitAndReport(api, task, { wait: Boolean(o.wait), follow: Boolean(o.follow), timeoutMs }, tty));
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
      const { api, out } = ctx(cmd);
      const path = `/v1/sessions/${encodeURIComponent(id)}/logs`;
      if (o.follow) await followLogs(api, path, { raw: out === 'json' });
      else await pageLogs(api, path, out === 'json');
    });
  sessions
    .command('explain <id>')
    .description('Why the session is where it is: a verdict per pool')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const { api, out } = ctx(cmd);
      const r = await api.get<{ sessionId: string; state: string; reason?: string | null; decision: Placement | null }>(
        `/v1/sessions/${encodeURIComponent(id)}/explain`,
      );
      const head = `session ${r.sessionId} (${r.state})${r.reason ? `: ${r.reason}` : ''}`;
      print(out, r, () => (r.decision ? `${head}\n\n${verdictTable(r.decision)}` : `${head}\nnot evaluated yet`));
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
    .option(
      '--timeout <duration>',
      'with --wait/--follow: stop waiting after this long (e.g. 30s, 5m); exit status 124',
    )
    .action(
      async (
        o: { session: string; prompt: string; wait?: boolean; follow?: boolean; timeout?: string },
        cmd: Command,
      ) => {
        const { api, out, tty } = ctx(cmd);
        const timeoutMs = waitTimeout(o);
        const t = await api.post<TaskObj>(`/v1/sessions/${encodeURIComponent(o.session)}/tasks`, { prompt: o.prompt });
        if (!(o.wait || o.follow) || out !== 'table') print(out, t, () => t.id);
        setExit(await waitAndReport(api, t, { ...o, timeoutMs }, tty));
      },
    );
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
      const { api, out } = ctx(cmd);
      const path = `/v1/tasks/${encodeURIComponent(id)}/logs`;
      if (o.follow) await followLogs(api, path, { raw: out === 'json' });
      else await pageLogs(api, path, out === 'json');
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
          .map((p) => `${p.id}: ${p.unavailable ? `unavailable (${p.unavailable})` : 'available'}`)
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
    if (e instanceof CliError || e instanceof MarionetteError) {
      process.stderr.write(`mctl: ${e.message}\n`);
      const hint = e.hint;
      if (hint) process.stderr.write(`hint: ${hint}\n`);
      return exitWhenFlushed(e instanceof CliError && e.status === 422 ? 3 : 1);
    }
    process.stderr.write(`mctl: ${(e as Error).message}\n`);
    return exitWhenFlushed(1);
  }
  return exitWhenFlushed(exit);
}
