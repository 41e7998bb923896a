/**
 * @module One session: its state and why, its tasks (patched live), the live log, the placement
 * verdicts pool by pool (`/explain`), its workspace snapshots (./session-snapshots.tsx), suspend /
 * resume / cancel, and a follow-up task.
 */
import { useEffect, useState } from 'preact/hooks';
import { age, api, enc } from '../api.js';
import { useLive } from '../live.js';
import { LogView } from '../log-view.js';
import { type Column, Table } from '../table.js';
import type { Decision, Session, Task } from '../types.js';
import { Badge, ErrorNote, Page, usePoolNames, Verdicts } from '../ui.js';
import { SessionSnapshots } from './session-snapshots.js';

const ENDED = ['completed', 'failed', 'cancelled', 'terminated'];

const TASK_COLUMNS: Column<Task>[] = [
  { label: '#', cell: (t) => t.ordinal, rowHeader: true },
  { label: 'State', cell: (t) => <Badge state={t.state} /> },
  { label: 'Prompt', cell: (t) => t.prompt, class: 'mono' },
  { label: 'Exit', cell: (t) => t.exitCode ?? t.error ?? '-' },
];

export function SessionPage({ id }: { id: string }) {
  const [s, setS] = useState<Session | null>(null);
  const [decision, setDecision] = useState<Decision | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [prompt, setPrompt] = useState('');
  const [busy, setBusy] = useState(false);
  const poolName = usePoolNames();

  const load = async () => {
    try {
      const [session, explain] = await Promise.all([
        api<Session>('GET', `/v1/sessions/${enc(id)}`),
        api<{ decision: Decision | null }>('GET', `/v1/sessions/${enc(id)}/explain`),
      ]);
      setS(session);
      setDecision(explain.decision);
    } catch (e: unknown) {
      setError((e as Error).message);
    }
  };
  useEffect(() => {
    setS(null);
    void load();
  }, [id]);
  useLive(
    (e) => {
      if (e.kind === 'connected') void load();
      else if (e.kind === 'session' && e.data.id === id) {
        setS((cur) => (cur ? { ...cur, ...e.data } : cur));
        // The verdicts change with the state (placed, waiting again): read them again.
        api<{ decision: Decision | null }>('GET', `/v1/sessions/${enc(id)}/explain`).then(
          (x) => setDecision(x.decision),
          () => {},
        );
      } else if (e.kind === 'task' && e.data.sessionId === id) {
        setS((cur) => {
          if (!cur) return cur;
          const tasks = cur.tasks ?? [];
          const i = tasks.findIndex((t) => t.id === e.data.id);
          if (i < 0) {
            void load();
            return cur;
          }
          const next = tasks.slice();
          next[i] = { ...tasks[i]!, ...e.data };
          return { ...cur, tasks: next };
        });
      }
    },
    [id],
  );

  const act = async (what: 'suspend' | 'resume' | 'cancel') => {
    setError(null);
    setBusy(true);
    try {
      setS({ ...(s as Session), ...(await api<Session>('POST', `/v1/sessions/${enc(id)}/${what}`, {})) });
    } catch (e: unknown) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  };
  const addTask = async (e: Event) => {
    e.preventDefault();
    setError(null);
    try {
      const t = await api<Task>('POST', `/v1/sessions/${enc(id)}/tasks`, { prompt });
      setPrompt('');
      setS((cur) => (cur ? { ...cur, tasks: [...(cur.tasks ?? []), t] } : cur));
    } catch (x: unknown) {
      setError((x as Error).message);
    }
  };

  if (!s)
    return (
      <Page title={`Session ${id}`}>
        <ErrorNote error={error} />
        {!error && <p class="muted">Loading…</p>}
      </Page>
    );
  const ended = ENDED.includes(s.state);
  return (
    <Page
      title={`Session ${s.id}`}
      actions={
        <div class="row">
          <button type="button" disabled={busy || ended || s.state === 'suspended'} onClick={() => act('suspend')}>
            Suspend
          </button>
          <button type="button" disabled={busy || s.state !== 'suspended'} onClick={() => act('resume')}>
            Resume
          </button>
          <button type="button" class="danger" disabled={busy || ended} onClick={() => act('cancel')}>
            Cancel
          </button>
        </div>
      }
    >
      <dl class="facts">
        <dt>State</dt>
        <dd data-testid="session-state">
          <Badge state={s.state} />
        </dd>
        <dt>Why</dt>
        <dd>{s.stateReason ?? '-'}</dd>
        <dt>Agent</dt>
        <dd>{s.agent}</dd>
        <dt>Pool</dt>
        <dd>{poolName(s.poolId)}</dd>
        <dt>Provider</dt>
        <dd>{s.sandboxProvider ?? '-'}</dd>
        <dt>Runner</dt>
        <dd>{s.runnerId ?? '-'}</dd>
        <dt>Age</dt>
        <dd>{age(s.createdAt)}</dd>
      </dl>
      <ErrorNote error={error} />
      <h2>Tasks</h2>
      <Table
        caption="Tasks"
        captionHidden
        columns={TASK_COLUMNS}
        rows={s.tasks ?? []}
        rowKey={(t) => t.id}
        empty="No tasks yet."
        testId="tasks"
      />
      {!ended && (
        <form class="row" onSubmit={addTask} aria-label="Follow-up task">
          <label class="grow">
            Follow-up prompt
            <input value={prompt} onInput={(e) => setPrompt((e.target as HTMLInputElement).value)} required />
          </label>
          <button type="submit">Run</button>
        </form>
      )}
      <h2>Log</h2>
      <LogView sessionId={s.id} generation={s.tasks?.length ?? 0} />
      <SessionSnapshots session={s} />
      <h2>Placement</h2>
      {decision ? (
        <>
          <p>{decision.summary}</p>
          <Verdicts verdicts={decision.verdicts} caption="Placement verdicts, pool by pool" />
        </>
      ) : (
        <p class="muted">No placement decision recorded.</p>
      )}
    </Page>
  );
}
