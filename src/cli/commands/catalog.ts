/**
 * @module `mctl providers list` (the capability matrix, one column per provider) and `mctl costs
 * list` (cost events with totals by billing model).
 */
import type { Command } from 'commander';
import { ctx, limitOption } from '../context.js';
import { ago, type Column, print, table } from '../output.js';

export function providerCommands(program: Command): void {
  program
    .command('providers')
    .description('Providers')
    .command('list')
    .description('The capability matrix, one row per provider')
    .action(async (_o: unknown, cmd: Command) => {
      const { api, out } = ctx(cmd);
      const r = await api.listProviders();
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
}

export function costCommands(program: Command): void {
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
      const r = await api.listCosts({
        limit: limitOption(o.limit),
        ...(o.session ? { session: o.session } : {}),
        ...(o.pool ? { pool: o.pool } : {}),
      });
      print(out, r, () =>
        [
          table(r.items, [
            { header: 'RUNNER', get: (c) => c.runnerId },
            { header: 'SESSION', get: (c) => c.sessionId },
            { header: 'PROVIDER', get: (c) => c.providerId },
            { header: 'BILLING', get: (c) => c.billingModel },
            { header: 'SECONDS', get: (c) => c.seconds.toFixed(1) },
            { header: 'ENDED', get: (c) => ago(c.endedAt) },
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
}
