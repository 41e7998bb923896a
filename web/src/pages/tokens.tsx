/**
 * @module Registration tokens (runners join pools with them): create one (its secret is shown once,
 * here, and never again), revoke, rotate (the new secret shown once; the old one keeps working for
 * the grace period).
 */
import { useEffect, useState } from 'preact/hooks';
import { ago, api, enc } from '../api.js';
import { type Column, Table } from '../table.js';
import type { Listing, Pool, RegToken } from '../types.js';
import { Badge, ErrorNote, Page } from '../ui.js';

function Secret({ token, onClose }: { token: RegToken; onClose: () => void }) {
  return (
    <div class="card secret" role="status" data-testid="secret">
      <p>
        <strong>Copy this secret now:</strong> it is shown once and cannot be shown again.
      </p>
      <label>
        Secret of {token.id}
        <input readOnly value={token.token} onFocus={(e) => (e.target as HTMLInputElement).select()} class="mono" />
      </label>
      <button type="button" onClick={onClose}>
        Done
      </button>
    </div>
  );
}

export function TokensPage() {
  const [tokens, setTokens] = useState<RegToken[]>([]);
  const [pools, setPools] = useState<Pool[]>([]);
  const [pool, setPool] = useState('');
  const [description, setDescription] = useState('');
  const [expiresIn, setExpiresIn] = useState('');
  const [secret, setSecret] = useState<RegToken | null>(null);
  const [error, setError] = useState<string | null>(null);
  const load = async () => {
    try {
      const [t, p] = await Promise.all([
        api<Listing<RegToken>>('GET', '/v1/runners/tokens'),
        api<Listing<Pool>>('GET', '/v1/pools'),
      ]);
      setTokens(t.items);
      setPools(p.items);
      setPool((cur) => cur || (p.items.find((x) => x.mode !== 'managed') ?? p.items[0])?.name || '');
      setError(null);
    } catch (e: unknown) {
      setError((e as Error).message);
    }
  };
  useEffect(() => {
    void load();
  }, []);
  const create = async (e: Event) => {
    e.preventDefault();
    setError(null);
    try {
      const t = await api<RegToken>('POST', '/v1/runners/tokens', {
        pool,
        ...(description ? { description } : {}),
        ...(expiresIn ? { expiresIn } : {}),
      });
      setSecret(t);
      setDescription('');
      void load();
    } catch (x: unknown) {
      setError((x as Error).message);
    }
  };
  const revoke = async (t: RegToken) => {
    setError(null);
    try {
      await api('POST', `/v1/runners/tokens/${enc(t.id)}/revoke`, {});
      void load();
    } catch (x: unknown) {
      setError((x as Error).message);
    }
  };
  const rotate = async (t: RegToken) => {
    setError(null);
    try {
      setSecret(await api<RegToken>('POST', `/v1/runners/tokens/${enc(t.id)}/rotate`, {}));
      void load();
    } catch (x: unknown) {
      setError((x as Error).message);
    }
  };
  const columns: Column<RegToken>[] = [
    { label: 'Token', cell: (t) => t.id, class: 'mono', rowHeader: true },
    { label: 'Pool', cell: (t) => t.pool },
    { label: 'Kind', cell: (t) => t.kind },
    { label: 'Status', cell: (t) => <Badge state={t.status} /> },
    { label: 'Description', cell: (t) => t.description || '-' },
    { label: 'Uses', cell: (t) => t.useCount },
    { label: 'Created', cell: (t) => ago(t.createdAt) },
    {
      label: 'Actions',
      hideLabel: true,
      cell: (t) =>
        (t.status === 'active' || t.status === 'rotating') && (
          <div class="row">
            <button type="button" onClick={() => rotate(t)} aria-label={`Rotate ${t.id}`}>
              Rotate
            </button>
            <button type="button" class="danger" onClick={() => revoke(t)} aria-label={`Revoke ${t.id}`}>
              Revoke
            </button>
          </div>
        ),
    },
  ];
  return (
    <Page title="Registration tokens">
      <form class="card form" onSubmit={create} aria-label="New registration token">
        <h2>New registration token</h2>
        <div class="grid">
          <label>
            Pool
            <select value={pool} onChange={(e) => setPool((e.target as HTMLSelectElement).value)} required>
              {pools.map((p) => (
                <option key={p.id} value={p.name}>
                  {p.name}
                </option>
              ))}
            </select>
          </label>
          <label>
            Description
            <input value={description} onInput={(e) => setDescription((e.target as HTMLInputElement).value)} />
          </label>
          <label>
            Expires in
            <input
              value={expiresIn}
              onInput={(e) => setExpiresIn((e.target as HTMLInputElement).value)}
              placeholder="24h (default: never)"
            />
          </label>
        </div>
        <button type="submit" class="primary">
          Create token
        </button>
      </form>
      {secret && <Secret token={secret} onClose={() => setSecret(null)} />}
      <ErrorNote error={error} />
      <Table
        caption="Registration tokens"
        captionHidden
        columns={columns}
        rows={tokens}
        rowKey={(t) => t.id}
        rowAttrs={(t) => ({ 'data-token': t.id })}
        empty="No registration tokens yet."
        testId="tokens"
      />
    </Page>
  );
}
