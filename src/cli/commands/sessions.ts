/**
 * @module `mctl sessions create|list|get|show|cancel|logs|explain|suspend|resume` (and
 * `snapshot|fork` from ./workspaces.ts). `create --wait`
 * prints the session id at once, progress on stderr, and the final state; `-o json --wait` prints
 * the session as it is once the wait ends.
 */
import { type Command, Option } from 'commander';
import type { PlacementDecision, Session, SessionWithTasks, SuspendStrategy } from '../../client/index.js';
import { CliError } from '../client.js';
import { ctx, limitOption, waitTimeout } from '../context.js';
import { nameOf, poolNames } from '../names.js';
import { ago, type Column, print, table } from '../output.js';
import { createSessionAndReport } from '../session-start.js';
import { followLogs, pageLogs } from '../wait.js';
import { parseEnvPairs, parseTimeout as parseTaskTimeout } from './agents.js';
import { eventsCommand, promptOf } from './habits.js';
import { applyRepoOptions, repoOptions } from './kits.js';
import { sessionOpCommands } from './session-ops.js';
import { taskCols } from './tasks.js';
import { workspaceSessionCommands } from './workspaces.js';

/** Session columns; `pools` names the pools (../names.ts). */
function sessionCols(pools: Map<string, string>): Column<Session>[] {
  return [
    { header: 'ID', get: (s) => s.id },
    { header: 'AGENT', get: (s) => s.agent },
    { header: 'STATE', get: (s) => s.state },
    { header: 'PROVIDER', get: (s) => s.sandboxProvider },
    { header: 'POOL', get: (s) => nameOf(pools, s.poolId) },
    { header: 'POOL ID', get: (s) => s.poolId, wide: true },
    { header: 'RUNNER', get: (s) => s.runnerId },
    { header: 'REPO', get: (s) => (s.request.repo as { url?: string } | undefined)?.url, wide: true },
    { header: 'PRIORITY', get: (s) => s.request.priority, wide: true },
    { header: 'AGE', get: (s) => ago(s.createdAt) },
    { header: 'UPDATED', get: (s) => ago(s.updatedAt), wide: true },
    { header: 'REASON', get: (s) => s.stateReason, cut: true },
  ];
}

function verdictTable(p: PlacementDecision): string {
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

const showSession = (s: SessionWithTasks, pools: Map<string, string>) =>
  `${table([s], sessionCols(pools), { full: true })}\n\nTASKS\n${table(s.tasks, taskCols, { full: true })}`;

function createCommand(sessions: Command, setExit: (code: number) => void): void {
  const create = sessions
    .command('create')
    .description('Create a session (with a first task when --prompt is given)')
    .requiredOption('--agent <name>', 'agent card (shell, claude, codex, or your own)')
    .option('--prompt <text>', 'first task prompt (- reads it from stdin)')
    .option('--prompt-file <path>', 'first task prompt from a file')
    .option('--provider <id>', 'only pools of this provider')
    .option('--pool <name>', 'only this pool')
    .option('--project <name>', "the project (default: the org's default project)")
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
    );
  repoOptions(create);
  create.action(async (o: Record<string, unknown>, cmd: Command) => {
    const c = ctx(cmd);
    const { api, out } = c;
    const timeoutMs = waitTimeout(o);
    const env = parseEnvPairs(o.env as string[]);
    const body: Parameters<typeof api.createSession>[0] = { agent: String(o.agent) };
    const prompt = promptOf(o);
    if (prompt !== undefined) body.prompt = prompt;
    for (const k of ['provider', 'pool', 'project', 'selector', 'profile', 'image'] as const)
      if (o[k] !== undefined) body[k] = String(o[k]);
    if (o.authMode !== undefined) body.authMode = o.authMode as NonNullable<typeof body.authMode>;
    if (Object.keys(env).length) body.env = env;
    if (o.taskTimeout) body.taskTimeoutMs = parseTaskTimeout(String(o.taskTimeout));
    if (o.waitForCapacity === false) body.waitForCapacity = false;
    applyRepoOptions(o, body);
    if (o.priority !== undefined) {
      const n = Number(o.priority);
      if (!Number.isInteger(n)) throw new CliError(`--priority ${JSON.stringify(o.priority)}: expected an integer`);
      body.priority = n;
    }
    if (o.dryRun) {
      const r = await api.dryRunSession(body);
      print(out, r, () => verdictTable(r.decision));
      if (!r.decision.chosenPoolId) setExit(3);
      return;
    }
    await createSessionAndReport(c, body, o, timeoutMs, setExit);
  });
}

export function sessionCommands(program: Command, setExit: (code: number) => void): void {
  const sessions = program.command('sessions').alias('session').description('Agent sessions');
  createCommand(sessions, setExit);
  sessionOpCommands(sessions, setExit);
  eventsCommand(sessions, ctx);
  sessions
    .command('list')
    .description('List sessions, newest first')
    .option('--state <s>', 'only these states (comma-separated)')
    .option('--limit <n>', 'how many', '50')
    .action(async (o: { state?: string; limit: string }, cmd: Command) => {
      const { api, out } = ctx(cmd);
      const r = await api.listSessions({
        limit: limitOption(o.limit),
        ...(o.state ? { state: o.state as Session['state'] } : {}),
      });
      const pools = out === 'table' ? await poolNames(api) : new Map<string, string>();
      print(out, r.items, () => table(r.items, sessionCols(pools)));
    });
  sessions
    .command('get <id>')
    .alias('show')
    .description('Show a session and its tasks')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const { api, out } = ctx(cmd);
      const s = await api.getSession(id);
      const pools = out === 'table' ? await poolNames(api) : new Map<string, string>();
      print(out, s, () => showSession(s, pools));
    });
  sessions
    .command('cancel <id>')
    .description('Cancel a session: its tasks are cancelled and its runner released')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const { api, out } = ctx(cmd);
      const s = await api.cancelSession(id);
      print(out, s, () => `session ${s.id} ${s.state}`);
    });
  sessions
    .command('logs <id>')
    .description("Print a session's output (all tasks)")
    .option('-f, --follow', 'keep streaming until the session has nothing more running')
    .action(async (id: string, o: { follow?: boolean }, cmd: Command) => {
      const { api, out } = ctx(cmd);
      if (o.follow) await followLogs(api, { sessionId: id }, { raw: out === 'json' });
      else await pageLogs(api, { sessionId: id }, out === 'json');
    });
  sessions
    .command('explain <id>')
    .description('Why the session is where it is: a verdict per pool')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const { api, out } = ctx(cmd);
      const r = await api.explainSession(id);
      const head = `session ${r.sessionId} (${r.state})${r.reason ? `: ${r.reason}` : ''}`;
      print(out, r, () => (r.decision ? `${head}\n\n${verdictTable(r.decision)}` : `${head}\nnot evaluated yet`));
    });
  sessions
    .command('suspend <id>')
    .description("Suspend a session (its pool's suspend_config decides how)")
    .option('--strategy <s>', 'pause | snapshot | terminate_preserve_storage | release_to_pool | terminate')
    .action(async (id: string, o: { strategy?: string }, cmd: Command) => {
      const { api, out } = ctx(cmd);
      const s = await api.suspendSession(id, o.strategy ? { strategy: o.strategy as SuspendStrategy } : {});
      print(
        out,
        s,
        () => `session ${s.id} ${s.state}${s.suspend ? ` (${(s.suspend as { strategy: string }).strategy})` : ''}`,
      );
    });
  sessions
    .command('resume <id>')
    .description('Resume a suspended session (--pool/--provider: elsewhere, its workspace from the store)')
    .option('--pool <name>', 'resume on this pool (the workspace is restored from the store)')
    .option('--provider <id>', "resume on a pool of this provider (with --pool: the pool's provider)")
    .action(async (id: string, o: { pool?: string; provider?: string }, cmd: Command) => {
      const { api, out } = ctx(cmd);
      const s = await api.resumeSession(id, {
        ...(o.pool ? { pool: o.pool } : {}),
        ...(o.provider ? { provider: o.provider } : {}),
      });
      print(
        out,
        s,
        () => `session ${s.id} ${s.state}${o.pool || o.provider ? ` (moving to ${o.pool ?? o.provider})` : ''}`,
      );
    });
  workspaceSessionCommands(sessions);
}
