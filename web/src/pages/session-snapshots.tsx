/**
 * @module A session's workspace snapshots on its page (docs/snapshots.md): each one's id, when it
 * was taken, why (a checkpoint, a suspend, a fork's first), its files and size (and how much of it
 * was new to the store), which is the newest (what a resume or a fork restores); new ones arrive
 * live. Actions the API has: take a checkpoint now, fork a new session from a snapshot, download
 * one as a tar.
 */
import { useEffect, useState } from 'preact/hooks';
import { ago, api, bytes, download, enc } from '../api.js';
import { useLive } from '../live.js';
import { type Column, Table } from '../table.js';
import type { Listing, Session, Snapshot } from '../types.js';
import { Badge, ErrorNote } from '../ui.js';

/** Newest first, each once. */
function merge(list: Snapshot[], more: Snapshot[]): Snapshot[] {
  const byId = new Map([...list, ...more].map((n) => [n.id, n]));
  return [...byId.values()].sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? 1 : -1));
}

export function SessionSnapshots({ session }: { session: Session }) {
  const id = session.id;
  const [items, setItems] = useState<Snapshot[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [taking, setTaking] = useState(false);
  const load = () =>
    api<Listing<Snapshot>>('GET', `/v1/workspaces?session=${enc(id)}&limit=100`).then(
      (r) => {
        setItems(merge([], r.items));
        setError(null);
      },
      (e: Error) => setError(e.message),
    );
  useEffect(() => {
    setItems([]);
    void load();
  }, [id]);
  useLive(
    (e) => {
      if (e.kind === 'connected') void load();
      else if (e.kind === 'snapshot' && e.data.sessionId === id) setItems((list) => merge(list, [e.data]));
    },
    [id],
  );
  const run = async (what: () => Promise<void>) => {
    setError(null);
    try {
      await what();
    } catch (e: unknown) {
      setError((e as Error).message);
    }
  };
  const checkpoint = () =>
    run(async () => {
      setTaking(true);
      try {
        const n = await api<Snapshot>('POST', `/v1/sessions/${enc(id)}/snapshots`, {});
        setItems((list) => merge(list, [n]));
      } finally {
        setTaking(false);
      }
    });
  const fork = (n: Snapshot) =>
    run(async () => {
      const s = await api<Session>('POST', `/v1/sessions/${enc(id)}/fork`, { snapshot: n.id });
      location.hash = `#/sessions/${enc(s.id)}`;
    });
  const newest = items[0]?.id;
  const columns: Column<Snapshot>[] = [
    {
      label: 'Snapshot',
      rowHeader: true,
      class: 'mono',
      cell: (n) => (
        <>
          {n.id}
          {n.id === newest && (
            <>
              {' '}
              <span class="badge s-succeeded" title="what a resume or a fork restores">
                latest
              </span>
            </>
          )}
        </>
      ),
    },
    { label: 'Taken', cell: (n) => ago(n.createdAt) },
    {
      label: 'Why',
      cell: (n) => (
        <>
          <Badge state={n.reason} />
          {n.pinned && <span class="muted small"> pinned</span>}
        </>
      ),
    },
    { label: 'Files', cell: (n) => n.files.toLocaleString('en') },
    { label: 'Size', cell: (n) => `${bytes(n.bytes)} (${bytes(n.bytesNew)} new)` },
    {
      label: 'Actions',
      hideLabel: true,
      cell: (n) => (
        <div class="row">
          <button type="button" onClick={() => fork(n)} aria-label={`Fork a new session from ${n.id}`}>
            Fork
          </button>
          <button
            type="button"
            onClick={() => run(() => download(`/v1/workspaces/${enc(n.id)}/download`, `${n.id}.tar`))}
            aria-label={`Download ${n.id} as a tar`}
          >
            Download
          </button>
        </div>
      ),
    },
  ];
  const holds = !!session.runnerId && (session.state === 'active' || session.state === 'idle');
  return (
    <>
      <div class="page-head">
        <h2>Workspace snapshots</h2>
        <button
          type="button"
          onClick={checkpoint}
          disabled={taking || !holds}
          title={holds ? undefined : 'a checkpoint is taken while the session is active or idle on a runner'}
        >
          {taking ? 'Taking a checkpoint…' : 'Checkpoint now'}
        </button>
      </div>
      <ErrorNote error={error} />
      <Table
        caption="Snapshots of this session's workspace, newest first"
        columns={columns}
        rows={items}
        rowKey={(n) => n.id}
        rowAttrs={(n) => ({ 'data-snapshot': n.id })}
        empty="No snapshots yet: one is taken by a checkpoint, a suspend that goes through the store, or a fork."
        testId="snapshots"
      />
    </>
  );
}
