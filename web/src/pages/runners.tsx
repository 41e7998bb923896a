/** @module Runners: every live runner of the org with its pool, state, labels and heartbeat, patched live. */
import { useEffect, useState } from 'preact/hooks';
import { ago, api, enc } from '../api.js';
import { useLive } from '../live.js';
import { type Column, labelText, Table } from '../table.js';
import type { Listing, Runner } from '../types.js';
import { Badge, ErrorNote, Page, usePoolNames } from '../ui.js';

export function RunnersPage() {
  const [runners, setRunners] = useState<Runner[]>([]);
  const [error, setError] = useState<string | null>(null);
  const poolName = usePoolNames();
  const load = () =>
    api<Listing<Runner>>('GET', '/v1/runners?limit=1000').then(
      (r) => {
        setRunners(r.items);
        setError(null);
      },
      (e: Error) => setError(e.message),
    );
  useEffect(() => {
    void load();
  }, []);
  useLive((e) => {
    if (e.kind === 'connected') void load();
    else if (e.kind === 'runner')
      setRunners((list) => {
        const i = list.findIndex((r) => r.id === e.data.id);
        if (i < 0) {
          void load();
          return list;
        }
        const next = list.slice();
        next[i] = { ...list[i]!, ...e.data };
        return next;
      });
  }, []);
  const drain = async (id: string) => {
    try {
      await api('POST', `/v1/runners/${enc(id)}/drain`, {});
    } catch (e: unknown) {
      setError((e as Error).message);
    }
  };
  const columns: Column<Runner>[] = [
    { label: 'Runner', cell: (r) => r.name, rowHeader: true },
    { label: 'Pool', cell: (r) => poolName(r.poolId) },
    { label: 'Provider', cell: (r) => r.providerId },
    { label: 'State', cell: (r) => <Badge state={r.state} /> },
    {
      label: 'Session',
      cell: (r) => (r.sessionId ? <a href={`#/sessions/${enc(r.sessionId)}`}>{r.sessionId}</a> : '-'),
    },
    { label: 'Labels', cell: (r) => labelText(r.labels), class: 'mono small' },
    { label: 'Heartbeat', cell: (r) => ago(r.lastHeartbeatAt) },
    {
      label: 'Actions',
      hideLabel: true,
      cell: (r) => (
        <button type="button" onClick={() => drain(r.id)} aria-label={`Drain ${r.name}`}>
          Drain
        </button>
      ),
    },
  ];
  return (
    <Page title="Runners">
      <ErrorNote error={error} />
      <Table
        caption="Runners"
        captionHidden
        columns={columns}
        rows={runners}
        rowKey={(r) => r.id}
        empty="No live runners."
        testId="runners"
      />
    </Page>
  );
}
