/**
 * @module `mctl tokens create|list|revoke|rotate` (API tokens: a role, an org, an optional project
 * and expiry; the secret is printed once), `mctl audit list` (the audit log, filtered), `mctl login`
 * (stores a server and a token as a context) and `mctl config use-context|get-contexts|
 * current-context|delete-context`. Registration tokens, which runners join a pool with, are
 * `mctl runners tokens`.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import type { ApiToken, AuditEvent } from '../../client/index.js';
import { cliConfigPath } from '../../config/cli.js';
import { CliError, connect } from '../client.js';
import { ctx, limitOption } from '../context.js';
import { checkContextName, contextNameFor, readContexts, writeContexts } from '../contexts.js';
import { ago, type Column, print, table } from '../output.js';

const ROLES = ['admin', 'operator', 'member', 'viewer'];
const iso = (t: number | null) => (t === null ? '-' : new Date(t).toISOString());

const tokenCols: Column<ApiToken>[] = [
  { header: 'ID', get: (t) => t.id },
  { header: 'NAME', get: (t) => t.name },
  { header: 'ROLE', get: (t) => t.role },
  { header: 'PROJECT', get: (t) => t.projectId ?? '(org)' },
  { header: 'STATUS', get: (t) => t.status },
  { header: 'EXPIRES', get: (t) => (t.expiresAt === null ? 'never' : iso(t.expiresAt)) },
  { header: 'LAST USED', get: (t) => ago(t.lastUsedAt) },
];

export function tokenCommands(program: Command): void {
  const tokens = program
    .command('tokens')
    .alias('token')
    .description('API tokens (registration tokens: `mctl runners tokens`)');
  tokens
    .command('create')
    .description('Create an API token (the secret is printed once)')
    .requiredOption('--role <role>', `its role: ${ROLES.join(', ')}`)
    .option('--org <org>', "its org (id or name); default: the caller's")
    .option('--project <project>', 'limit it to one project (id or name)')
    .option('--expires-in <d>', 'stop working after this long (e.g. 30d); default: until revoked')
    .option('--name <name>', 'what it is for')
    .action(
      async (o: { role: string; org?: string; project?: string; expiresIn?: string; name?: string }, cmd: Command) => {
        if (!ROLES.includes(o.role))
          throw new CliError(`--role ${JSON.stringify(o.role)}: expected one of ${ROLES.join(', ')}`);
        const { api, out } = ctx(cmd);
        const t = await api.createApiToken({
          role: o.role as 'admin',
          ...(o.org !== undefined ? { org: o.org } : {}),
          ...(o.project !== undefined ? { project: o.project } : {}),
          ...(o.expiresIn !== undefined ? { expiresIn: o.expiresIn } : {}),
          ...(o.name !== undefined ? { name: o.name } : {}),
        });
        print(out, t, () => t.token);
        if (out === 'table')
          process.stderr.write(
            `token ${t.id} (${t.name}, ${t.role}${t.projectId ? `, project ${t.projectId}` : ''}${t.expiresAt ? `, expires ${iso(t.expiresAt)}` : ''}); it is not shown again\n`,
          );
      },
    );
  tokens
    .command('list')
    .description('List API tokens (never their secrets)')
    .action(async (_o: unknown, cmd: Command) => {
      const { api, out } = ctx(cmd);
      const r = await api.listApiTokens();
      print(out, r.items, () => table(r.items, tokenCols));
    });
  tokens
    .command('revoke <id>')
    .description('Revoke an API token: refused from the next request on')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const { api, out } = ctx(cmd);
      const t = await api.revokeApiToken(id);
      print(out, t, () => `token ${t.id} revoked`);
    });
  tokens
    .command('rotate <id>')
    .description('Give an API token a new secret (printed once); the old one stops working at once')
    .option('--expires-in <d>', 'a new lifetime from now (e.g. 30d); default: the expiry is kept')
    .action(async (id: string, o: { expiresIn?: string }, cmd: Command) => {
      const { api, out } = ctx(cmd);
      const t = await api.rotateApiToken(id, o.expiresIn !== undefined ? { expiresIn: o.expiresIn } : {});
      print(out, t, () => t.token);
      if (out === 'table') process.stderr.write(`token ${t.id} rotated; the new secret is not shown again\n`);
    });
}

const auditCols: Column<AuditEvent>[] = [
  { header: 'AT', get: (e) => iso(e.at) },
  { header: 'ACTOR', get: (e) => e.actorName ?? e.actorTokenId ?? '-' },
  { header: 'ACTION', get: (e) => e.action },
  { header: 'RESOURCE', get: (e) => e.resource ?? '-' },
  { header: 'OUTCOME', get: (e) => e.outcome },
  { header: 'STATUS', get: (e) => e.status ?? '-' },
  { header: 'FROM', get: (e) => e.remoteAddr ?? '-' },
];

export function auditCommands(program: Command): void {
  program
    .command('audit')
    .description('The audit log')
    .command('list')
    .description('Audit events, newest first')
    .option('--actor <token>', 'only this token (id or name)')
    .option('--action <action>', 'only this action (e.g. createPool, runner.register), or a prefix ending in *')
    .option('--resource <id>', 'only this resource')
    .option('--outcome <outcome>', 'only ok, refused or failed')
    .option('--since <when>', 'from this instant (ISO 8601) or this long ago (1h, 7d)')
    .option('--until <when>', 'before this instant (ISO 8601) or this long ago')
    .option('--limit <n>', 'how many', '100')
    .action(
      async (
        o: {
          actor?: string;
          action?: string;
          resource?: string;
          outcome?: string;
          since?: string;
          until?: string;
          limit: string;
        },
        cmd: Command,
      ) => {
        if (o.outcome !== undefined && !['ok', 'refused', 'failed'].includes(o.outcome))
          throw new CliError(`--outcome ${JSON.stringify(o.outcome)}: expected ok, refused or failed`);
        const { api, out } = ctx(cmd);
        const r = await api.listAudit({
          limit: limitOption(o.limit),
          ...(o.actor ? { actor: o.actor } : {}),
          ...(o.action ? { action: o.action } : {}),
          ...(o.resource ? { resource: o.resource } : {}),
          ...(o.outcome ? { outcome: o.outcome as 'ok' } : {}),
          ...(o.since ? { since: o.since } : {}),
          ...(o.until ? { until: o.until } : {}),
        });
        print(out, r.items, () => table(r.items, auditCols));
      },
    );
}

export function loginCommands(program: Command): void {
  program
    .command('login')
    .usage('--server <url> --token <token> [--context <name>] [--ca-file <file>]')
    .description(
      "Check a server and token (--server, --token) and store them as a context (--context; default: the server's host and port), the current one from now on",
    )
    .option('--ca-file <file>', "a CA certificate to verify the server's TLS certificate with")
    .action(async (_o: unknown, cmd: Command) => {
      // --server, --token and --context are mctl's global options.
      const o = cmd.optsWithGlobals<{ server?: string; token?: string; context?: string; caFile?: string }>();
      if (!o.server) throw new CliError('mctl login needs --server URL');
      if (!o.token)
        throw new CliError('mctl login needs --token TOKEN', 'an admin creates one with `mctl tokens create`');
      let server = o.server.trim();
      if (!/^https?:\/\//.test(server)) server = `http://${server}`;
      server = server.replace(/\/+$/, '');
      const name = checkContextName(o.context ?? contextNameFor(server));
      const caFile = o.caFile ? resolve(o.caFile) : undefined;
      if (caFile && !existsSync(caFile)) throw new CliError(`--ca-file ${caFile}: no such file`);
      const api = connect({
        server,
        token: o.token,
        tokenFile: '',
        context: name,
        caFile: caFile ?? null,
        isTty: false,
      });
      const me = await api.whoami();
      const path = cliConfigPath();
      const f = readContexts(path);
      f.contexts[name] = { server, token: o.token, ...(caFile ? { caFile } : {}) };
      f.currentContext = name;
      writeContexts(path, f);
      process.stdout.write(
        `logged in to ${server} as ${me.name} (${me.role}, org ${me.orgId}${me.projectId ? `, project ${me.projectId}` : ''}); context ${name} saved in ${path} and in use\n`,
      );
    });
}

export function configCommands(program: Command): void {
  const config = program.command('config').description("mctl's contexts (servers and their tokens)");
  config
    .command('use-context <name>')
    .description('Use this context from now on')
    .action((name: string) => {
      const path = cliConfigPath();
      const f = readContexts(path);
      if (!f.contexts[checkContextName(name)])
        throw new CliError(
          `no context ${JSON.stringify(name)} (contexts: ${Object.keys(f.contexts).join(', ') || 'none'})`,
          'add one with `mctl login --server URL --token T --context NAME`',
        );
      f.currentContext = name;
      writeContexts(path, f);
      process.stdout.write(`using context ${name}\n`);
    });
  config
    .command('get-contexts')
    .description('List the contexts (never their tokens)')
    .action((_o: unknown, cmd: Command) => {
      const { output } = cmd.optsWithGlobals<{ output: 'table' | 'json' | 'yaml' }>();
      const f = readContexts(cliConfigPath());
      const rows = Object.entries(f.contexts).map(([name, c]) => ({
        current: name === f.currentContext,
        name,
        server: c.server,
        caFile: c.caFile ?? null,
      }));
      print(output, rows, () =>
        table(rows, [
          { header: 'CURRENT', get: (r) => (r.current ? '*' : '') },
          { header: 'NAME', get: (r) => r.name },
          { header: 'SERVER', get: (r) => r.server },
          { header: 'CA FILE', get: (r) => r.caFile ?? '-' },
        ]),
      );
    });
  config
    .command('current-context')
    .description('The context in use')
    .action(() => {
      const f = readContexts(cliConfigPath());
      if (!f.currentContext)
        throw new CliError('no current context', 'run `mctl login` or `mctl config use-context NAME`');
      process.stdout.write(`${f.currentContext}\n`);
    });
  config
    .command('delete-context <name>')
    .description('Remove a context (and its token) from the file')
    .action((name: string) => {
      const path = cliConfigPath();
      const f = readContexts(path);
      if (!f.contexts[name]) throw new CliError(`no context ${JSON.stringify(name)}`);
      delete f.contexts[name];
      if (f.currentContext === name) f.currentContext = null;
      writeContexts(path, f);
      process.stdout.write(`context ${name} deleted\n`);
    });
}
