/**
 * @module Pools: capacity (live / max, idle, busy), health with its reasons, provider, substrate
 * (what each runtime kind the pool provides and where that came from), suspend config, the pool's
 * runners with labels and heartbeat; create a pool and edit one. Runner and pool changes arrive live.
 */
import { useEffect, useState } from 'preact/hooks';
import { ago, api, enc } from '../api.js';
import { useLive } from '../live.js';
import { type Column, labelText, Table } from '../table.js';
import type { Listing, Pool, Runner } from '../types.js';
import { Badge, ErrorNote, Page } from '../ui.js';

interface PoolForm {
  name: string;
  provider: string;
  mode: string;
  priority: string;
  maxRunners: string;
  minRunners: string;
  selector: string;
  labels: string;
}

const blank: PoolForm = {
  name: '',
  provider: 'local',
  mode: 'managed',
  priority: '0',
  maxRunners: '',
  minRunners: '0',
  selector: '',
  labels: '',
};

function PoolEditor({ pool, providers, onDone }: { pool: Pool | null; providers: string[]; onDone: () => void }) {
  const [f, setF] = useState<PoolForm>(
    pool
      ? {
          name: pool.name,
          provider: pool.providerId,
          mode: pool.mode,
          priority: String(pool.priority),
          maxRunners: pool.maxRunners === null ? '' : String(pool.maxRunners),
          minRunners: String(pool.minRunners),
          selector: pool.selector ?? '',
          labels: Object.entries(pool.labels)
            .map(([k, v]) => `${k}=${v}`)
            .join(','),
        }
      : blank,
  );
  const [error, setError] = useState<string | null>(null);
  const set = (k: keyof PoolForm) => (e: Event) => setF({ ...f, [k]: (e.target as HTMLInputElement).value });
  const submit = async (e: Event) => {
    e.preventDefault();
    setError(null);
    const labels: Record<string, string> = {};
    for (const part of f.labels
      .split(',')
      .map((x) => x.trim())
      .filter(Boolean)) {
      const m = /^([^=\s]+)=(.*)$/.exec(part);
      if (!m) {
        setError(`labels: ${JSON.stringify(part)} is not key=value`);
        return;
      }
      labels[m[1]!] = m[2]!;
    }
    const body: Record<string, unknown> = {
      priority: Number(f.priority),
      minRunners: Number(f.minRunners),
      maxRunners: f.maxRunners === '' ? null : Number(f.maxRunners),
      selector: f.selector.trim() || null,
      labels,
    };
    try {
      if (pool) await api('PATCH', `/v1/pools/${enc(pool.name)}`, body);
      else await api('POST', '/v1/pools', { ...body, name: f.name, provider: f.provider, mode: f.mode });
      onDone();
    } catch (x: unknown) {
      setError((x as Error).message);
    }
  };
  return (
    <form class="card form" onSubmit={submit} aria-label={pool ? `Edit pool ${pool.name}` : 'New pool'}>
      <h2>{pool ? `Edit ${pool.name}` : 'New pool'}</h2>
      <div class="grid">
        {!pool && (
          <>
            <label>
              Name
              <input value={f.name} onInput={set('name')} required pattern="[a-z0-9][a-z0-9._\-]{0,62}" />
            </label>
            <label>
              Provider
              <select value={f.provider} onChange={set('provider')}>
                {providers.map((p) => (
                  <option key={p}>{p}</option>
                ))}
              </select>
            </label>
            <label>
              Mode
              <select value={f.mode} onChange={set('mode')}>
                <option>managed</option>
                <option>pool</option>
                <option>external</option>
              </select>
            </label>
          </>
        )}
        <label>
          Priority
          <input type="number" value={f.priority} onInput={set('priority')} />
        </label>
        <label>
          Min runners
          <input type="number" min={0} value={f.minRunners} onInput={set('minRunners')} />
        </label>
        <label>
          Max runners
          <input type="number" min={0} value={f.maxRunners} onInput={set('maxRunners')} placeholder="no limit" />
        </label>
        <label>
          Labels
          <input value={f.labels} onInput={set('labels')} placeholder="os=linux,arch=x64" />
        </label>
        <label>
          Selector
          <input value={f.selector} onInput={set('selector')} />
        </label>
      </div>
      <div class="row">
        <button type="submit" class="primary">
          {pool ? 'Save' : 'Create pool'}
        </button>
        <button type="button" onClick={onDone}>
          Close
        </button>
      </div>
      <ErrorNote error={error} />
    </form>
  );
}

interface SubstrateView {
  source: 'override' | 'class-default' | 'unknown-provider';
  runtimeKinds: string[];
  requirementKinds: string[];
  classDefault: { runtimeKinds: string[]; requirementKinds: string[] };
}

interface SubstrateRow {
  kind: string;
  what: 'runtime' | 'requirement';
  provided: boolean;
  from: string;
}

const FROM: Record<SubstrateView['source'], string> = {
  override: "the pool's runtime_provides",
  'class-default': "the provider's default",
  'unknown-provider': 'nothing (unknown provider)',
};

/** Every kind the pool provides or its provider would by default: provided or not, and where that came from. */
function substrateRows(s: SubstrateView): SubstrateRow[] {
  const rows: SubstrateRow[] = [];
  for (const what of ['runtime', 'requirement'] as const) {
    const mine = what === 'runtime' ? s.runtimeKinds : s.requirementKinds;
    const dflt = what === 'runtime' ? s.classDefault.runtimeKinds : s.classDefault.requirementKinds;
    for (const kind of [...new Set([...mine, ...dflt])].sort()) {
      const provided = mine.includes(kind);
      const from =
        s.source === 'override' && !provided
          ? `left out by ${FROM.override} (the provider's default has it)`
          : FROM[s.source];
      rows.push({ kind, what, provided, from });
    }
  }
  return rows;
}

const SUBSTRATE_COLUMNS: Column<SubstrateRow>[] = [
  { label: 'Kind', cell: (r) => r.kind, rowHeader: true, class: 'mono' },
  { label: 'Of', cell: (r) => r.what },
  { label: 'Provided', cell: (r) => (r.provided ? 'yes' : 'no') },
  { label: 'From', cell: (r) => r.from },
];

function Substrate({ pool, substrate }: { pool: string; substrate: Record<string, unknown> | undefined }) {
  if (!substrate) return null;
  const s = substrate as unknown as SubstrateView;
  return (
    <details>
      <summary>Substrate ({FROM[s.source] ?? s.source})</summary>
      <Table
        caption={`What ${pool} provides`}
        columns={SUBSTRATE_COLUMNS}
        rows={substrateRows(s)}
        rowKey={(r) => `${r.what}:${r.kind}`}
        empty="Nothing: agents that need a runtime or requirement cannot run here."
      />
    </details>
  );
}

/** A pool's suspend config as a sentence: strategy, fallback, and the durations that bound it. */
function suspendText(c: Record<string, unknown>): string {
  const secs = (ms: unknown) => (typeof ms === 'number' ? `${Math.round(ms / 1000)} s` : 'none');
  return `${String(c.strategy ?? '-')}, else ${String(c.fallback ?? '-')}; min ${secs(c.minDurationMs)}, max ${secs(c.maxDurationMs)}`;
}

const RUNNER_COLUMNS: Column<Runner>[] = [
  { label: 'Runner', cell: (r) => r.name, rowHeader: true },
  { label: 'State', cell: (r) => <Badge state={r.state} /> },
  { label: 'Labels', cell: (r) => labelText(r.labels), class: 'mono small' },
  { label: 'Heartbeat', cell: (r) => ago(r.lastHeartbeatAt) },
];

export function PoolsPage() {
  const [pools, setPools] = useState<Pool[]>([]);
  const [details, setDetails] = useState<Map<string, Pool>>(new Map());
  const [runners, setRunners] = useState<Runner[]>([]);
  const [providers, setProviders] = useState<string[]>([]);
  const [editing, setEditing] = useState<Pool | 'new' | null>(null);
  const [error, setError] = useState<string | null>(null);
  /** `substrate`: also read each pool's detail (its substrate), which runner changes leave as it is. */
  const load = async (substrate = false) => {
    try {
      const [p, r] = await Promise.all([
        api<Listing<Pool>>('GET', '/v1/pools'),
        api<Listing<Runner>>('GET', '/v1/runners?limit=1000'),
      ]);
      setPools(p.items);
      setRunners(r.items);
      if (substrate) {
        const full = await Promise.all(p.items.map((x) => api<Pool>('GET', `/v1/pools/${enc(x.name)}`).catch(() => x)));
        setDetails(new Map(full.map((x) => [x.id, x])));
      }
      setError(null);
    } catch (e: unknown) {
      setError((e as Error).message);
    }
  };
  useEffect(() => {
    void load(true);
    api<Listing<{ id: string }>>('GET', '/v1/providers').then(
      (r) => setProviders(r.items.map((p) => p.id)),
      () => {},
    );
  }, []);
  useLive((e) => {
    if (e.kind === 'connected' || e.kind === 'runner') void load();
    else if (e.kind === 'pool') void load(true); // created, edited or deleted elsewhere
  }, []);
  return (
    <Page
      title="Pools"
      actions={
        <button type="button" class="primary" onClick={() => setEditing('new')}>
          New pool
        </button>
      }
    >
      {editing && (
        <PoolEditor
          pool={editing === 'new' ? null : editing}
          providers={providers.length ? providers : ['local']}
          onDone={() => {
            setEditing(null);
            void load(true);
          }}
        />
      )}
      <ErrorNote error={error} />
      <div class="cards">
        {pools.map((p) => {
          const d = details.get(p.id) ?? p;
          const mine = runners.filter((r) => r.poolId === p.id);
          return (
            <article class="card" key={p.id} aria-labelledby={`pool-${p.id}`} data-pool={p.name}>
              <div class="page-head">
                <h2 id={`pool-${p.id}`}>{p.name}</h2>
                <Badge state={p.health} />
              </div>
              <dl class="facts">
                <dt>Capacity</dt>
                <dd>
                  {p.runners.live} / {p.maxRunners ?? '∞'} live · {p.runners.idle} idle · {p.runners.busy} busy
                </dd>
                <dt>Provider</dt>
                <dd>
                  {p.providerId} ({p.mode}, {p.sandboxMode}, {p.lifecycle})
                </dd>
                <dt>Priority</dt>
                <dd>{p.priority}</dd>
                <dt>Suspend</dt>
                <dd>{suspendText(p.suspendConfig)}</dd>
                {p.unavailableReason && (
                  <>
                    <dt>Unavailable</dt>
                    <dd class="error">{p.unavailableReason}</dd>
                  </>
                )}
                {p.warnings.length > 0 && (
                  <>
                    <dt>Warnings</dt>
                    <dd>
                      <ul>
                        {p.warnings.map((w) => (
                          <li key={w}>{w}</li>
                        ))}
                      </ul>
                    </dd>
                  </>
                )}
              </dl>
              <Substrate pool={p.name} substrate={d.substrate} />
              {mine.length > 0 && (
                <Table caption={`Runners of ${p.name}`} columns={RUNNER_COLUMNS} rows={mine} rowKey={(r) => r.id} />
              )}
              <button type="button" onClick={() => setEditing(p)}>
                Edit {p.name}
              </button>
            </article>
          );
        })}
      </div>
    </Page>
  );
}
