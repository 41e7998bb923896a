/**
 * @module Costs: runner time from the cost ledger as a bar chart by day, stacked by pool or by
 * provider (an SVG with a table of the same figures for screen readers), and totals by billing model.
 */
import { useEffect, useState } from 'preact/hooks';
import { api } from '../api.js';
import { type Column, Table } from '../table.js';
import type { CostEvent, Listing, Pool } from '../types.js';
import { ErrorNote, Page } from '../ui.js';

const COLORS = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#edc948', '#b07aa1', '#ff9da7'];
const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);

export function CostsPage() {
  const [items, setItems] = useState<CostEvent[]>([]);
  const [totals, setTotals] = useState<Record<string, number>>({});
  const [pools, setPools] = useState<Map<string, string>>(new Map());
  const [by, setBy] = useState<'pool' | 'provider'>('pool');
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    Promise.all([
      api<Listing<CostEvent> & { totalSecondsByBillingModel: Record<string, number> }>('GET', '/v1/costs?limit=1000'),
      api<Listing<Pool>>('GET', '/v1/pools'),
    ]).then(
      ([c, p]) => {
        setItems(c.items);
        setTotals(c.totalSecondsByBillingModel);
        setPools(new Map(p.items.map((x) => [x.id, x.name])));
      },
      (e: Error) => setError(e.message),
    );
  }, []);
  const key = (e: CostEvent) => (by === 'pool' ? (pools.get(e.poolId ?? '') ?? e.poolId ?? 'none') : e.providerId);
  const days = [...new Set(items.map((e) => day(e.endedAt)))].sort();
  const groups = [...new Set(items.map(key))].sort();
  const cell = new Map<string, number>();
  for (const e of items)
    cell.set(`${day(e.endedAt)}|${key(e)}`, (cell.get(`${day(e.endedAt)}|${key(e)}`) ?? 0) + e.seconds);
  const dayTotal = (d: string) => groups.reduce((a, g) => a + (cell.get(`${d}|${g}`) ?? 0), 0);
  const max = Math.max(1, ...days.map(dayTotal));
  const columns: Column<string>[] = [
    { label: 'Day', cell: (d) => d, rowHeader: true },
    ...groups.map((g) => ({ label: g, cell: (d: string) => Math.round(cell.get(`${d}|${g}`) ?? 0) })),
  ];
  const W = 640;
  const H = 220;
  const bw = days.length ? Math.min(60, (W - 40) / days.length - 8) : 0;
  return (
    <Page
      title="Costs"
      actions={
        <label>
          Group by{' '}
          <select value={by} onChange={(e) => setBy((e.target as HTMLSelectElement).value as 'pool' | 'provider')}>
            <option value="pool">Pool</option>
            <option value="provider">Provider</option>
          </select>
        </label>
      }
    >
      <ErrorNote error={error} />
      <p>
        Totals:{' '}
        {Object.entries(totals)
          .map(([m, s]) => `${m} ${Math.round(s)} s`)
          .join(' · ') || 'none yet'}
      </p>
      {days.length > 0 && (
        <figure class="card">
          <svg viewBox={`0 0 ${W} ${H + 30}`} role="img" aria-label={`Runner seconds by day and ${by}`} class="chart">
            {days.map((d, i) => {
              let y = H;
              return (
                <g key={d}>
                  {groups.map((g, j) => {
                    const v = cell.get(`${d}|${g}`) ?? 0;
                    const h = (v / max) * (H - 10);
                    y -= h;
                    return (
                      <rect key={g} x={30 + i * (bw + 8)} y={y} width={bw} height={h} fill={COLORS[j % COLORS.length]}>
                        <title>{`${d} ${g}: ${Math.round(v)} s`}</title>
                      </rect>
                    );
                  })}
                  <text x={30 + i * (bw + 8) + bw / 2} y={H + 18} text-anchor="middle" class="axis">
                    {d.slice(5)}
                  </text>
                </g>
              );
            })}
          </svg>
          <figcaption class="legend">
            {groups.map((g, j) => (
              <span key={g}>
                <i style={{ background: COLORS[j % COLORS.length] }} /> {g}
              </span>
            ))}
          </figcaption>
        </figure>
      )}
      <Table
        caption={`Runner seconds by day and ${by}`}
        columns={columns}
        rows={days}
        rowKey={(d) => d}
        empty="No cost events yet (one is written when a runner stops)."
        testId="costs"
      />
    </Page>
  );
}
