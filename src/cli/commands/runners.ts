/**
 * @module `mctl runners list|get|show|drain|register` and `mctl runners tokens
 * create|list|revoke|rotate`: runners, their registration tokens, and enrolling an external one.
 */
import type { Command } from 'commander';
import type { Runner, Token } from '../../client/index.js';
import { parseLabels } from '../../config/agent.js';
import { ctx } from '../context.js';
import { nameOf, poolNames } from '../names.js';
import { ago, type Column, print, table } from '../output.js';

/** Runner columns; `pools` names the pools (../names.ts). */
const runnerCols = (pools: Map<string, string>): Column<Runner>[] => [
  { header: 'ID', get: (r) => r.id },
  { header: 'NAME', get: (r) => r.name },
  { header: 'POOL', get: (r) => nameOf(pools, r.poolId) },
  { header: 'POOL ID', get: (r) => r.poolId, wide: true },
  { header: 'STATE', get: (r) => r.state },
  { header: 'SESSION', get: (r) => r.sessionId },
  { header: 'LABELS', get: (r) => r.labels, cut: true },
  { header: 'HEARTBEAT', get: (r) => ago(r.lastHeartbeatAt) },
];
const tokenCols: Column<Token>[] = [
  { header: 'ID', get: (t) => t.id },
  { header: 'POOL', get: (t) => t.pool },
  { header: 'KIND', get: (t) => t.kind },
  { header: 'STATUS', get: (t) => t.status },
  { header: 'USES', get: (t) => t.useCount },
  { header: 'EXPIRES', get: (t) => (t.expiresAt === null ? 'never' : new Date(t.expiresAt).toISOString()) },
  { header: 'REVOKED', get: (t) => (t.revokedAt === null ? '-' : new Date(t.revokedAt).toISOString()) },
  { header: 'DESCRIPTION', get: (t) => t.description },
];

function tokenCommands(runners: Command): void {
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
      const t = await api.createRegistrationToken({
        pool: o.pool,
        ...(o.expiresIn !== undefined ? { expiresIn: o.expiresIn } : {}),
        ...(o.oneTime ? { oneTime: true } : {}),
        ...(o.description !== undefined ? { description: o.description } : {}),
      });
      print(out, t, () => t.token);
      if (out === 'table')
        process.stderr.write(
          `token ${t.id} for pool ${t.pool} (${t.kind}${t.expiresAt ? `, expires ${new Date(t.expiresAt).toISOString()}` : ''}); it is not shown again\n`,
        );
    });
  tokens
    .command('list')
    .description('List registration tokens (never their secrets)')
    .option('--pool <name>', 'only this pool')
    .action(async (o: { pool?: string }, cmd: Command) => {
      const { api, out } = ctx(cmd);
      const r = await api.listRegistrationTokens(o.pool ? { pool: o.pool } : {});
      print(out, r.items, () => table(r.items, tokenCols));
    });
  tokens
    .command('revoke <id>')
    .description('Revoke a registration token now (runners already joined keep their credential)')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const { api, out } = ctx(cmd);
      const t = await api.revokeRegistrationToken(id);
      print(out, t, () => `token ${t.id} revoked`);
    });
  tokens
    .command('rotate <id>')
    .description('Replace a token; the old one keeps working for --grace (default 1h)')
    .option('--grace <d>', 'how long the old token keeps working (e.g. 10m, 0)')
    .option('--expires-in <d>', 'expiry of the new token (default: same lifetime as the old)')
    .action(async (id: string, o: { grace?: string; expiresIn?: string }, cmd: Command) => {
      const { api, out } = ctx(cmd);
      const t = await api.rotateRegistrationToken(id, {
        ...(o.grace !== undefined ? { grace: o.grace } : {}),
        ...(o.expiresIn !== undefined ? { expiresIn: o.expiresIn } : {}),
      });
      print(out, t, () => t.token);
      if (out === 'table') process.stderr.write(`token ${t.id} replaces ${t.rotatedFrom}; it is not shown again\n`);
    });
}

export function runnerCommands(program: Command): void {
  const runners = program.command('runners').alias('runner').description('Runners (execution environments)');
  runners
    .command('list')
    .description('List runners (terminated ones with --all)')
    .option('--pool <name>', 'only this pool')
    .option('--all', 'include terminated runners')
    .action(async (o: { pool?: string; all?: boolean }, cmd: Command) => {
      const { api, out } = ctx(cmd);
      const r = await api.listRunners({
        limit: 1000,
        ...(o.pool ? { pool: o.pool } : {}),
        ...(o.all ? { all: true } : {}),
      });
      const pools = out === 'table' ? await poolNames(api) : new Map<string, string>();
      print(out, r.items, () => table(r.items, runnerCols(pools)));
    });
  runners
    .command('get <id>')
    .alias('show')
    .description('Show a runner')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const { api, out } = ctx(cmd);
      const r = await api.getRunner(id);
      const pools = out === 'table' ? await poolNames(api) : new Map<string, string>();
      print(out, r, () => table([r], runnerCols(pools), { full: true }));
    });
  tokenCommands(runners);
  runners
    .command('register')
    .description('Enrol one external runner: prints a one-time token and the agent command line')
    .option('--pool <name>', 'pool to join (default: the external pool, created if missing)')
    .option('--labels <k=v,...>', 'labels the runner offers')
    .option('--name <name>', 'runner name')
    .option('--expires-in <d>', 'token lifetime (default 1h)')
    .action(async (o: { pool?: string; labels?: string; name?: string; expiresIn?: string }, cmd: Command) => {
      const { api, out } = ctx(cmd);
      const r = await api.registerExternalRunner({
        ...(o.pool !== undefined ? { pool: o.pool } : {}),
        ...(o.labels !== undefined ? { labels: parseLabels(o.labels) } : {}),
        ...(o.name !== undefined ? { name: o.name } : {}),
        ...(o.expiresIn !== undefined ? { expiresIn: o.expiresIn } : {}),
      });
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
      const r = await api.drainRunner(id);
      print(out, r, () => `runner ${r.id} draining (${r.state})`);
    });
}
