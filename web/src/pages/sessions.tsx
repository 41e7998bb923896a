/**
 * @module Sessions: the org's sessions (state, agent, pool, provider, age, runner time) patched live
 * from the event stream, filters by state and agent, and the form to create one (agent, prompt,
 * pool, selector, profile) that shows where it would go (a dry run) before it is submitted.
 */
import { useEffect, useMemo, useState } from 'preact/hooks';
import { age, api, enc } from '../api.js';
import { useLive } from '../live.js';
import { type Column, Table } from '../table.js';
import type { CostEvent, Decision, Listing, Pool, Session } from '../types.js';
import { Badge, ErrorNote, Page, Verdicts } from '../ui.js';

const STATES = [
  'pending',
  'scheduling',
  'provisioning',
  'active',
  'idle',
  'suspending',
  'suspended',
  'resuming',
  'completed',
  'failed',
  'cancelled',
  'terminated',
];

interface Form {
  agent: string;
  prompt: string;
  pool: string;
  selector: string;
  profile: string;
}

function body(f: Form, dryRun: boolean): Record<string, unknown> {
  return {
    agent: f.agent,
    ...(f.prompt ? { prompt: f.prompt } : {}),
    ...(f.pool ? { pool: f.pool } : {}),
    ...(f.selector.trim() ? { selector: f.selector.trim() } : {}),
    ...(f.profile ? { profile: f.profile } : {}),
    ...(dryRun ? { dryRun: true } : {}),
  };
}

function CreateSession({ pools }: { pools: Pool[] }) {
  const [agents, setAgents] = useState<string[]>([]);
  const [profiles, setProfiles] = useState<string[]>([]);
  const [form, setForm] = useState<Form>({ agent: 'shell', prompt: '', pool: '', selector: '', profile: '' });
  const [decision, setDecision] = useState<Decision | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    api<Listing<{ name: string }>>('GET', '/v1/agents').then(
      (r) => setAgents(r.items.map((a) => a.name)),
      () => {},
    );
    api<Listing<{ name: string }>>('GET', '/v1/profiles').then(
      (r) => setProfiles(r.items.map((p) => p.name)),
      () => {},
    );
  }, []);
  const set = (k: keyof Form) => (e: Event) => {
    setForm({ ...form, [k]: (e.target as HTMLInputElement).value });
    setDecision(null);
  };
  const check = async () => {
    setError(null);
    try {
      setDecision((await api<{ decision: Decision }>('POST', '/v1/sessions', body(form, true))).decision);
    } catch (e: unknown) {
      setError((e as Error).message);
    }
  };
  const submit = async (e: Event) => {
    e.preventDefault();
    setError(null);
    setBusy(true);
    try {
      const s = await api<Session>('POST', '/v1/sessions', body(form, false));
      location.hash = `#/sessions/${enc(s.id)}`;
    } catch (x: unknown) {
      setError((x as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="card form" onSubmit={submit} aria-label="New session">
      <h2>New session</h2>
      <div class="grid">
        <label>
          Agent
          <select value={form.agent} onChange={set('agent')} required>
            {(agents.length ? agents : ['shell']).map((a) => (
              <option key={a}>{a}</option>
            ))}
          </select>
        </label>
        <label>
          Pool
          <select value={form.pool} onChange={set('pool')}>
            <option value="">Any pool</option>
            {pools.map((p) => (
              <option key={p.id} value={p.name}>
                {p.name}
              </option>
            ))}
          </select>
        </label>
        <label>
          Selector
          <input value={form.selector} onInput={set('selector')} placeholder="os=linux,gpu>=1" />
        </label>
        <label>
          Profile
          <select value={form.profile} onChange={set('profile')}>
            <option value="">None</option>
            {profiles.map((p) => (
              <option key={p}>{p}</option>
            ))}
          </select>
        </label>
      </div>
      <label>
        Prompt
        <textarea value={form.prompt} onInput={set('prompt')} rows={3} />
      </label>
      <div class="row">
        <button type="button" onClick={check}>
          Check placement
        </button>
        <button type="submit" class="primary" disabled={busy}>
          Create session
        </button>
      </div>
      <ErrorNote error={error} />
      {decision && (
        <div data-testid="dry-run">
          <p>
            <strong>Would {decision.action ?? 'not be placed'}:</strong> {decision.summary}
          </p>
          <Verdicts verdicts={decision.verdicts} caption="Where it would go, pool by pool" />
        </div>
      )}
    </form>
  );
}

export function SessionsPage() {
  const [items, setItems] = useState<Session[]>([]);
  const [pools, setPools] = useState<Pool[]>([]);
  const [costs, setCosts] = useState<Map<string, number>>(new Map());
  const [state, setState] = useState('');
  const [agent, setAgent] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [showForm, setShowForm] = useState(false);
  const [, setNow] = useState(0);

  const load = async () => {
    try {
      const q = state ? `&state=${enc(state)}` : '';
      const [s, p, c] = await Promise.all([
        api<Listing<Session>>('GET', `/v1/sessions?limit=200${q}`),
        api<Listing<Pool>>('GET', '/v1/pools'),
        api<Listing<CostEvent>>('GET', '/v1/costs?limit=1000').catch(() => ({ items: [] })),
      ]);
      setItems(s.items);
      setPools(p.items);
      const m = new Map<string, number>();
      for (const e of c.items) if (e.sessionId) m.set(e.sessionId, (m.get(e.sessionId) ?? 0) + e.seconds);
      setCosts(m);
      setError(null);
    } catch (e: unknown) {
      setError((e as Error).message);
    }
  };
  useEffect(() => {
    void load();
  }, [state]);
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), 10_000); // ages tick; no data is polled
    return () => clearInterval(t);
  }, []);
  useLive(
    (e) => {
      if (e.kind === 'connected') void load();
      if (e.kind !== 'session') return;
      const s = e.data;
      setItems((list) => {
        const i = list.findIndex((x) => x.id === s.id);
        if (i < 0) {
          api<Session>('GET', `/v1/sessions/${enc(s.id)}`).then(
            (full) => setItems((l) => (l.some((x) => x.id === full.id) ? l : [full, ...l])),
            () => {},
          );
          return list;
        }
        const next = list.slice();
        next[i] = { ...list[i]!, ...s };
        return next;
      });
    },
    [state],
  );
  const poolName = useMemo(() => new Map(pools.map((p) => [p.id, p.name])), [pools]);
  const shown = items.filter((s) => (!state || s.state === state) && (!agent || s.agent.includes(agent)));
  const columns: Column<Session>[] = [
    { label: 'Session', cell: (s) => <a href={`#/sessions/${enc(s.id)}`}>{s.id}</a>, rowHeader: true },
    {
      label: 'State',
      cell: (s) => (
        <>
          <Badge state={s.state} />
          {s.stateReason && <div class="muted small">{s.stateReason}</div>}
        </>
      ),
    },
    { label: 'Agent', cell: (s) => s.agent },
    { label: 'Pool', cell: (s) => (s.poolId ? (poolName.get(s.poolId) ?? s.poolId) : '-') },
    { label: 'Provider', cell: (s) => s.sandboxProvider ?? '-' },
    { label: 'Age', cell: (s) => age(s.createdAt) },
    { label: 'Runner time', cell: (s) => (costs.has(s.id) ? `${Math.round(costs.get(s.id)!)} s` : '-') },
  ];
  return (
    <Page
      title="Sessions"
      actions={
        <button type="button" class="primary" onClick={() => setShowForm(!showForm)} aria-expanded={showForm}>
          {showForm ? 'Close' : 'New session'}
        </button>
      }
    >
      {showForm && <CreateSession pools={pools} />}
      <div class="filters">
        <label>
          State
          <select value={state} onChange={(e) => setState((e.target as HTMLSelectElement).value)}>
            <option value="">All states</option>
            {STATES.map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        </label>
        <label>
          Agent
          <input value={agent} onInput={(e) => setAgent((e.target as HTMLInputElement).value)} />
        </label>
      </div>
      <ErrorNote error={error} />
      <Table
        caption="Sessions"
        captionHidden
        columns={columns}
        rows={shown}
        rowKey={(s) => s.id}
        rowAttrs={(s) => ({ 'data-session': s.id })}
        empty={state || agent ? 'No sessions match the filters.' : 'No sessions yet.'}
        testId="sessions"
      />
    </Page>
  );
}
