/** @module Runners: every live runner of the org with its pool, state, labels and heartbeat, patched live. */
import { useEffect, useState } from 'preact/hooks';
import { age, api, enc } from '../api.js';
import { useLive } from '../live.js';
import type { Listing, Runner } from '../types.js';
import { Badge, ErrorNote, Page } from '../ui.js';

export function RunnersPage() {
  const [runners, setRunners] = useState<Runner[]>([]);
  const [error, setError] = useState<string | null>(null);
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
  return (
    <Page title="Runners">
      <ErrorNote error={error} />
      <div class="table-wrap">
        <table data-testid="runners">
          <caption class="sr-only">Runners</caption>
          <thead>
            <tr>
              <th scope="col">Runner</th>
              <th scope="col">Pool</th>
              <th scope="col">Provider</th>
              <th scope="col">State</th>
              <th scope="col">Session</th>
              <th scope="col">Labels</th>
              <th scope="col">Heartbeat</th>
              <th scope="col">
                <span class="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {runners.map((r) => (
              <tr key={r.id}>
                <td>{r.name}</td>
                <td>{r.poolId}</td>
                <td>{r.providerId}</td>
                <td>
                  <Badge state={r.state} />
                </td>
                <td>{r.sessionId ? <a href={`#/sessions/${enc(r.sessionId)}`}>{r.sessionId}</a> : '-'}</td>
                <td class="mono small">
                  {Object.entries(r.labels)
                    .map(([k, v]) => `${k}=${v}`)
                    .join(', ') || '-'}
                </td>
                <td>{r.lastHeartbeatAt ? `${age(r.lastHeartbeatAt)} ago` : '-'}</td>
                <td>
                  <button type="button" onClick={() => drain(r.id)} aria-label={`Drain ${r.name}`}>
                    Drain
                  </button>
                </td>
              </tr>
            ))}
            {runners.length === 0 && (
              <tr>
                <td colSpan={8} class="muted">
                  No live runners.
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
    </Page>
  );
}
