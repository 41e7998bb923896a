/**
 * @module `mctl orgs list|show|create|delete`, `mctl projects list|create|delete`, `mctl members
 * list|add|remove` (tenancy, see docs/tenancy.md) and `mctl dispatch` (the seed's `rensei
 * dispatch`: a prompt to a project on a pool, as one session with its first task).
 */
import { type Command, Option } from 'commander';
import { CliError } from '../client.js';
import { ctx, waitTimeout } from '../context.js';
import { ago, print, table } from '../output.js';
import { createSessionAndReport } from '../session-start.js';
import { parseEnvPairs, parseTimeout } from './agents.js';

const ROLES = ['admin', 'operator', 'member', 'viewer'];

export function orgCommands(program: Command): void {
  const orgs = program.command('orgs').alias('org').description('Orgs (tenants): made and deleted by the default org');
  orgs
    .command('list')
    .description('List orgs (a token of another org sees its own)')
    .action(async (_o: unknown, cmd: Command) => {
      const { api, out } = ctx(cmd);
      const r = await api.listOrgs();
      print(out, r.items, () =>
        table(r.items, [
          { header: 'ID', get: (o) => o.id },
          { header: 'NAME', get: (o) => o.name },
          { header: 'DEFAULT', get: (o) => (o.default ? 'yes' : '') },
          { header: 'AGE', get: (o) => ago(o.createdAt) },
        ]),
      );
    });
  orgs
    .command('show <org>')
    .description('Show an org')
    .action(async (name: string, _o: unknown, cmd: Command) => {
      const { api, out } = ctx(cmd);
      const o = await api.getOrg(name);
      print(out, o, () => `${o.name} (${o.id})${o.default ? ', the default org' : ''}`);
    });
  orgs
    .command('create <name>')
    .description('Create an org (with its default project and the built-in agents)')
    .action(async (name: string, _o: unknown, cmd: Command) => {
      const { api, out } = ctx(cmd);
      const o = await api.createOrg({ name });
      print(out, o, () => o.id);
    });
  orgs
    .command('delete <org>')
    .description('Delete an org; refused while it owns anything, unless --force')
    .option('--force', 'delete everything it owns with it (never while its sessions run or runners are live)')
    .action(async (name: string, o: { force?: boolean }, cmd: Command) => {
      const { api, out } = ctx(cmd);
      const r = await api.deleteOrg(name, { force: Boolean(o.force) });
      print(out, r, () => `deleted ${r.deleted}`);
    });
}

export function projectCommands(program: Command): void {
  const projects = program.command('projects').alias('project').description("Projects of the token's org");
  projects
    .command('list')
    .description('List projects')
    .action(async (_o: unknown, cmd: Command) => {
      const { api, out } = ctx(cmd);
      const r = await api.listProjects();
      print(out, r.items, () =>
        table(r.items, [
          { header: 'ID', get: (p) => p.id },
          { header: 'NAME', get: (p) => p.name },
          { header: 'AGE', get: (p) => ago(p.createdAt) },
        ]),
      );
    });
  projects
    .command('create <name>')
    .description('Create a project')
    .action(async (name: string, _o: unknown, cmd: Command) => {
      const { api, out } = ctx(cmd);
      const p = await api.createProject({ name });
      print(out, p, () => p.id);
    });
  projects
    .command('delete <project>')
    .description('Delete a project (refused while sessions or pools are in it; never the default)')
    .action(async (name: string, _o: unknown, cmd: Command) => {
      const { api, out } = ctx(cmd);
      const r = await api.deleteProject(name);
      print(out, r, () => `deleted ${r.deleted}`);
    });
}

export function memberCommands(program: Command): void {
  const members = program.command('members').alias('member').description("Members of the token's org");
  members
    .command('list')
    .description('List members')
    .action(async (_o: unknown, cmd: Command) => {
      const { api, out } = ctx(cmd);
      const r = await api.listMembers();
      print(out, r.items, () =>
        table(r.items, [
          { header: 'ID', get: (m) => m.id },
          { header: 'NAME', get: (m) => m.name },
          { header: 'ROLE', get: (m) => m.role },
          { header: 'AGE', get: (m) => ago(m.createdAt) },
        ]),
      );
    });
  members
    .command('add <name>')
    .description('Add a member: a user name or email, with a role')
    .addOption(new Option('--role <role>', 'their role').choices(ROLES).makeOptionMandatory())
    .action(async (name: string, o: { role: string }, cmd: Command) => {
      const { api, out } = ctx(cmd);
      const m = await api.addMember({ name, role: o.role });
      print(out, m, () => m.id);
    });
  members
    .command('remove <member>')
    .description('Remove a member (by name or id)')
    .action(async (name: string, _o: unknown, cmd: Command) => {
      const { api, out } = ctx(cmd);
      const r = await api.removeMember(name);
      print(out, r, () => `removed ${r.deleted}`);
    });
}

export function dispatchCommand(program: Command, setExit: (code: number) => void): void {
  program
    .command('dispatch <prompt>')
    .description('Run a prompt in a project on a pool: one session with its first task (the seed’s `rensei dispatch`)')
    .option('--project <name>', "the project (default: the org's default project)")
    .option('--sandbox-pool <name>', 'the pool to run on (default: wherever placement puts it)')
    .option('--agent <name>', 'agent card', 'claude')
    .option(
      '--env <k=v...>',
      'environment for the agent (repeatable)',
      (v: string, acc: string[]) => [...acc, v],
      [] as string[],
    )
    .option('--task-timeout <duration>', 'kill the task if it runs longer (e.g. 30m)')
    .option('--wait', 'wait for the task; exit status 0 only if it succeeded')
    .option('-f, --follow', "stream the task's output")
    .option('--timeout <duration>', 'with --wait/--follow: stop waiting after this long; exit status 124')
    .action(async (prompt: string, o: Record<string, unknown>, cmd: Command) => {
      const c = ctx(cmd);
      const { api } = c;
      if (!prompt.trim()) throw new CliError('dispatch: the prompt is empty');
      const timeoutMs = waitTimeout(o);
      const body: Parameters<typeof api.createSession>[0] = { agent: String(o.agent), prompt };
      if (o.project !== undefined) body.project = String(o.project);
      if (o.sandboxPool !== undefined) body.pool = String(o.sandboxPool);
      const env = parseEnvPairs(o.env as string[]);
      if (Object.keys(env).length) body.env = env;
      if (o.taskTimeout) body.taskTimeoutMs = parseTimeout(String(o.taskTimeout));
      await createSessionAndReport(c, body, o, timeoutMs, setExit);
    });
}
