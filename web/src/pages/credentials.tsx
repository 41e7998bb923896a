/**
 * @module Provider credentials (E2B, Daytona, Modal, Vercel): where each provider's credential comes
 * from for the org (stored, the server's environment, none) and which fields it has, never a value;
 * set one (a password field per declared field; what is typed is sent once and never shown again)
 * and delete the stored one.
 */
import { useEffect, useState } from 'preact/hooks';
import { ago, api, enc } from '../api.js';
import { type Column, Table } from '../table.js';
import type { Listing } from '../types.js';
import { Badge, ErrorNote, Page } from '../ui.js';

interface Credential {
  provider: string;
  displayName: string;
  source: 'stored' | 'environment' | 'none';
  fields: string[];
  declared: { name: string; env: string; required: boolean }[];
  updatedAt: number | null;
}

export function CredentialsPage() {
  const [items, setItems] = useState<Credential[]>([]);
  const [provider, setProvider] = useState('');
  const [values, setValues] = useState<Record<string, string>>({});
  const [done, setDone] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const load = async () => {
    try {
      const r = await api<Listing<Credential>>('GET', '/v1/provider-credentials');
      setItems(r.items);
      setProvider((cur) => cur || r.items[0]?.provider || '');
      setError(null);
    } catch (e: unknown) {
      setError((e as Error).message);
    }
  };
  useEffect(() => {
    void load();
  }, []);
  const chosen = items.find((c) => c.provider === provider);
  const set = async (e: Event) => {
    e.preventDefault();
    setError(null);
    setDone(null);
    const fields = Object.fromEntries(Object.entries(values).filter(([, v]) => v !== ''));
    try {
      const r = await api<Credential>('PUT', `/v1/provider-credentials/${enc(provider)}`, { fields });
      setValues({});
      setDone(`Credential for ${r.provider} set (fields: ${r.fields.join(', ')})`);
      void load();
    } catch (x: unknown) {
      setError((x as Error).message);
    }
  };
  const remove = async (c: Credential) => {
    setError(null);
    setDone(null);
    try {
      await api('DELETE', `/v1/provider-credentials/${enc(c.provider)}`);
      setDone(`Stored credential for ${c.provider} deleted`);
      void load();
    } catch (x: unknown) {
      setError((x as Error).message);
    }
  };
  const columns: Column<Credential>[] = [
    { label: 'Provider', cell: (c) => c.displayName, rowHeader: true },
    { label: 'Source', cell: (c) => <Badge state={c.source} /> },
    { label: 'Fields', cell: (c) => c.fields.join(', ') || '-' },
    { label: 'Environment fallback', cell: (c) => c.declared.map((f) => f.env).join(', '), class: 'mono' },
    { label: 'Updated', cell: (c) => ago(c.updatedAt) },
    {
      label: 'Actions',
      hideLabel: true,
      cell: (c) =>
        c.source === 'stored' && (
          <button
            type="button"
            class="danger"
            onClick={() => remove(c)}
            aria-label={`Delete the stored credential for ${c.provider}`}
          >
            Delete
          </button>
        ),
    },
  ];
  return (
    <Page title="Provider credentials">
      <form class="card form" onSubmit={set} aria-label="Set a provider credential">
        <h2>Set a credential</h2>
        <p class="muted">
          Sealed at rest and never shown again. Without one, the server's environment variables are used; without
          either, the provider's pools get the verdict <code>credential_missing</code>.
        </p>
        <div class="grid">
          <label>
            Provider
            <select
              value={provider}
              onChange={(e) => {
                setProvider((e.target as HTMLSelectElement).value);
                setValues({});
              }}
            >
              {items.map((c) => (
                <option key={c.provider} value={c.provider}>
                  {c.displayName}
                </option>
              ))}
            </select>
          </label>
          {chosen?.declared.map((f) => (
            <label key={`${provider}:${f.name}`}>
              {f.name}
              {f.required ? '' : ' (optional)'}
              <input
                type="password"
                autoComplete="off"
                required={f.required}
                value={values[f.name] ?? ''}
                placeholder={f.env}
                onInput={(e) => {
                  const v = (e.target as HTMLInputElement).value;
                  setValues((cur) => ({ ...cur, [f.name]: v }));
                }}
              />
            </label>
          ))}
        </div>
        <button type="submit" class="primary">
          Set credential
        </button>
      </form>
      {done && (
        <p class="card" role="status">
          {done}
        </p>
      )}
      <ErrorNote error={error} />
      <Table
        caption="Provider credentials"
        captionHidden
        columns={columns}
        rows={items}
        rowKey={(c) => c.provider}
        rowAttrs={(c) => ({ 'data-provider': c.provider })}
        empty="No provider needs a credential."
        testId="credentials"
      />
    </Page>
  );
}
