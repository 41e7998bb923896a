/** @module Small shared pieces of the dashboard's pages: state badges, errors, verdict tables, pool names. */
import type { ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api } from './api.js';
import { useLive } from './live.js';
import { type Column, Table } from './table.js';
import type { Listing, Pool, Verdict } from './types.js';

export function Badge({ state }: { state: string }) {
  return <span class={`badge s-${state}`}>{state}</span>;
}

export function ErrorNote({ error }: { error: string | null }) {
  if (!error) return null;
  return (
    <p role="alert" class="error">
      {error}
    </p>
  );
}

export function Page({
  title,
  actions,
  children,
}: {
  title: string;
  actions?: ComponentChildren;
  children: ComponentChildren;
}) {
  return (
    <section class="page" aria-labelledby="page-title">
      <div class="page-head">
        <h1 id="page-title">{title}</h1>
        {actions}
      </div>
      {children}
    </section>
  );
}

const VERDICT_COLUMNS: Column<Verdict>[] = [
  { label: 'Pool', cell: (v) => v.poolName, rowHeader: true },
  { label: 'Provider', cell: (v) => v.providerId },
  { label: 'Priority', cell: (v) => v.priority },
  {
    label: 'Verdict',
    cell: (v) =>
      v.chosen ? <span class="badge s-succeeded">chosen</span> : <span class="badge s-failed">{v.reason}</span>,
  },
  { label: 'Detail', cell: (v) => v.detail },
];

export function Verdicts({ verdicts, caption }: { verdicts: Verdict[]; caption: string }) {
  return (
    <Table
      caption={caption}
      columns={VERDICT_COLUMNS}
      rows={verdicts}
      rowKey={(v) => v.poolId}
      empty="No pools were considered."
      testId="verdicts"
    />
  );
}

/** The org's pool names by id, read again when a pool changes; `name(id)` falls back to the id. */
export function usePoolNames(): (id: string | null) => string {
  const [names, setNames] = useState<Map<string, string>>(new Map());
  const load = () =>
    api<Listing<Pool>>('GET', '/v1/pools').then(
      (r) => setNames(new Map(r.items.map((p) => [p.id, p.name]))),
      () => {},
    );
  useEffect(() => {
    void load();
  }, []);
  useLive((e) => {
    if (e.kind === 'connected' || e.kind === 'pool') void load();
  }, []);
  return (id) => (id ? (names.get(id) ?? id) : '-');
}
