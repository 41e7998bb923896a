/**
 * @module `mctl pools list|show|get|create|update|delete` and `mctl profiles
 * create|list|show|get|delete`: capacity pools and request templates.
 */
import type { Command } from 'commander';
import type { PoolInput, PoolUpdate, Profile } from '../../client/index.js';
import { ctx } from '../context.js';
import { type Column, print, table } from '../output.js';
import { poolBody, poolCols, poolOptions } from './pool-options.js';

const profileCols: Column<Profile>[] = [
  { header: 'NAME', get: (p) => p.name },
  { header: 'SELECTOR', get: (p) => p.selector },
  { header: 'RESOURCES', get: (p) => p.resources },
  { header: 'PROVIDERS', get: (p) => p.providerPreference },
  { header: 'DESCRIPTION', get: (p) => p.description },
];

export function poolCommands(program: Command): void {
  const pools = program.command('pools').alias('pool').description('Capacity pools');
  pools
    .command('list')
    .description('List pools')
    .action(async (_o: unknown, cmd: Command) => {
      const { api, out } = ctx(cmd);
      const r = await api.listPools();
      print(out, r.items, () => table(r.items, poolCols));
    });
  pools
    .command('show <name>')
    .alias('get')
    .description('Show a pool (with --substrate: derived capabilities and where each came from)')
    .option('--substrate', 'print the derived substrate')
    .action(async (name: string, o: { substrate?: boolean }, cmd: Command) => {
      const { api, out } = ctx(cmd);
      const p = await api.getPool(name);
      const s = p.substrate as {
        source: string;
        runtimeKinds: string[];
        requirementKinds: string[];
      };
      print(out, o.substrate ? p.substrate : p, () => {
        if (o.substrate) {
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
      const p = await api.createPool({ name, ...poolBody(o) } as PoolInput);
      print(out, p, () => `pool ${p.name} created (${p.mode}, provider ${p.providerId})`);
    },
  );
  poolOptions(pools.command('update <name>').description('Update a pool')).action(
    async (name: string, o: Record<string, unknown>, cmd: Command) => {
      const { api, out } = ctx(cmd);
      const p = await api.updatePool(name, poolBody(o) as PoolUpdate);
      print(out, p, () => `pool ${p.name} updated`);
    },
  );
  pools
    .command('delete <name>')
    .description('Delete a pool (it must have no live runners or open sessions)')
    .action(async (name: string, _o: unknown, cmd: Command) => {
      const { api, out } = ctx(cmd);
      const r = await api.deletePool(name);
      print(out, r, () => `pool ${name} deleted`);
    });
}

export function profileCommands(program: Command): void {
  const profiles = program.command('profiles').alias('profile').description('Request templates');
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
      const p = await api.putProfile({
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
      const r = await api.listProfiles();
      print(out, r.items, () => table(r.items, profileCols));
    });
  profiles
    .command('show <name>')
    .alias('get')
    .description('Show a profile')
    .action(async (name: string, _o: unknown, cmd: Command) => {
      const { api, out } = ctx(cmd);
      const p = await api.getProfile(name);
      print(out, p, () => table([p], profileCols));
    });
  profiles
    .command('delete <name>')
    .description('Delete a profile')
    .action(async (name: string, _o: unknown, cmd: Command) => {
      const { api, out } = ctx(cmd);
      const r = await api.deleteProfile(name);
      print(out, r, () => `profile ${name} deleted`);
    });
}
