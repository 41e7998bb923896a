/**
 * @module Provider credentials on the server side: `resolveProviderCredential(orgId, providerId)`
 * as the seed describes it. Each org may store one credential per provider that declares one
 * (src/providers/<id>/index.ts `credential.fields`): its field values are sealed together with the
 * server's at-rest key (./secrets.ts, AES-256-GCM), bound to org and provider, and never answered by
 * the API. An org without one falls back to the server's environment (E2B_API_KEY, DAYTONA_API_KEY,
 * MODAL_TOKEN_ID + MODAL_TOKEN_SECRET, VERCEL_TOKEN, ...; config `providerCredentialsEnv`), else
 * has none, and its pools of that provider get the verdict `credential_missing`.
 *
 * Every secret value set, opened or taken from the environment is fed to the redactor, so no log,
 * event or error shows it. At start, `checkStoredProviderCredentials` refuses to start (changing
 * nothing) when a stored credential was sealed with a key the server does not have, and re-seals
 * those of a previous key.
 *
 * @example
 * const creds = new ProviderCredentials({ store, secrets, redactor, env: config.providerCredentialsEnv });
 * await creds.set(org, 'e2b', { apiKey: 'e2b_...' });
 * await creds.resolveProviderCredential(org.orgId, 'e2b'); // { apiKey: 'e2b_...' }
 */
import { NotFound } from '../core/errors.js';
import {
  checkCredentialValues,
  credentialFields,
  credentialProviders,
  envCredential,
  requireCredentialProvider,
} from '../providers/credentials.js';
import { findProvider } from '../providers/registry.js';
import { type OrgScope, orgScope, type Store } from '../store/index.js';
import type { Redactor } from './redact.js';
import { SecretBox, SecretUnreadable } from './secrets.js';

/** Where an org's credential for a provider comes from. */
export type CredentialSource = 'stored' | 'environment' | 'none';

/** A credential as the API shows it: never a value. */
export interface ProviderCredentialView {
  provider: string;
  displayName: string;
  source: CredentialSource;
  /** The names of the fields it has (stored, or set in the environment). */
  fields: string[];
  /** The declared fields: name, environment fallback, required. */
  declared: { name: string; env: string; required: boolean }[];
  createdAt: number | null;
  updatedAt: number | null;
}

export interface ProviderCredentialDeps {
  store: Pick<Store, 'providerCredentials'>;
  secrets: SecretBox;
  redactor: Redactor;
  /** The fallbacks set in the server's environment, by variable name (config `providerCredentialsEnv`). */
  env: Readonly<Record<string, string>>;
}

/** The associated data binding a sealed credential to its org and provider. */
const context = (orgId: string, providerId: string) => `provider-credential:${orgId}:${providerId}`;

export class ProviderCredentials {
  constructor(private readonly deps: ProviderCredentialDeps) {
    // The environment's secret values are known secrets from the start.
    for (const d of credentialProviders())
      for (const f of d.credential?.fields ?? []) if (f.secret) deps.redactor.add(deps.env[f.env]);
  }

  /** Feeds the secret fields of `values` to the redactor. */
  private redact(providerId: string, values: Record<string, string>): void {
    for (const f of credentialFields(providerId)) if (f.secret) this.deps.redactor.add(values[f.name]);
  }

  /**
   * Seals and stores the org's credential for `providerId` (replacing one it had). Throws
   * InvalidRequest for a provider that takes no credential, a missing required field or an unknown one.
   */
  async set(org: OrgScope, providerId: string, values: Record<string, string>): Promise<ProviderCredentialView> {
    const checked = checkCredentialValues(providerId, values);
    this.redact(providerId, checked);
    const secret = this.deps.secrets.seal(JSON.stringify(checked), context(org.orgId, providerId));
    await this.deps.store.providerCredentials.put(org, { providerId, fields: Object.keys(checked), secret });
    return this.view(org, providerId);
  }

  /** Deletes the org's stored credential; NotFound when it has none (the environment fallback stays). */
  async delete(org: OrgScope, providerId: string): Promise<void> {
    requireCredentialProvider(providerId);
    if (!(await this.deps.store.providerCredentials.delete(org, providerId)))
      throw new NotFound(
        'stored credential for provider',
        providerId,
        'list them with `mctl credentials list` (a credential from the server environment cannot be deleted here)',
      );
  }

  /** One view per provider that takes a credential, in registry order. */
  async list(org: OrgScope): Promise<ProviderCredentialView[]> {
    const stored = new Map((await this.deps.store.providerCredentials.list(org)).map((c) => [c.providerId, c]));
    return credentialProviders().map((d) => this.viewOf(d.id, stored.get(d.id) ?? null));
  }

  /** The view of the org's credential for `providerId` (which must take one). */
  async view(org: OrgScope, providerId: string): Promise<ProviderCredentialView> {
    requireCredentialProvider(providerId);
    return this.viewOf(providerId, await this.deps.store.providerCredentials.get(org, providerId));
  }

  private viewOf(
    providerId: string,
    stored: { fields: string[]; createdAt: number; updatedAt: number } | null,
  ): ProviderCredentialView {
    const fields = credentialFields(providerId);
    const env = envCredential(providerId, this.deps.env);
    return {
      provider: providerId,
      displayName: findProvider(providerId)?.displayName ?? providerId,
      source: stored ? 'stored' : env ? 'environment' : 'none',
      fields: stored ? stored.fields : env ? Object.keys(env) : [],
      declared: fields.map((f) => ({ name: f.name, env: f.env, required: f.required })),
      createdAt: stored?.createdAt ?? null,
      updatedAt: stored?.updatedAt ?? null,
    };
  }

  /**
   * The org's credential for `providerId` (field name -> value): its stored one, else the
   * environment fallback, else null (also for a provider that takes none). Throws SecretUnreadable
   * (naming key ids, never a value) when the stored one cannot be opened with the server's keys.
   */
  async resolveProviderCredential(orgId: string, providerId: string): Promise<Record<string, string> | null> {
    if (credentialFields(providerId).length === 0) return null;
    const stored = await this.deps.store.providerCredentials.get(orgScope(orgId), providerId);
    if (stored) {
      const values = JSON.parse(this.deps.secrets.open(stored.secret, context(orgId, providerId))) as Record<
        string,
        string
      >;
      this.redact(providerId, values);
      return values;
    }
    return envCredential(providerId, this.deps.env);
  }

  /**
   * Of `providerIds`, those that declare a credential and have none for the org (neither stored nor
   * in the environment). Reads the store only when some provider lacks an environment fallback.
   */
  async missing(orgId: string, providerIds: Iterable<string>): Promise<Set<string>> {
    const out = new Set<string>();
    for (const id of providerIds)
      if (credentialFields(id).length > 0 && envCredential(id, this.deps.env) === null) out.add(id);
    if (out.size === 0) return out;
    for (const id of await this.deps.store.providerCredentials.providerIds(orgScope(orgId))) out.delete(id);
    return out;
  }
}

/**
 * At start: refuses (throwing SecretUnreadable, before writing anything) when a stored provider
 * credential was sealed with a key this server lacks; re-seals those of a previous key; feeds every
 * stored secret value to the redactor.
 * @returns how many credentials were re-sealed.
 */
export async function checkStoredProviderCredentials(
  store: Pick<Store, 'providerCredentials'>,
  box: SecretBox,
  redactor: Redactor,
): Promise<number> {
  const rows = await store.providerCredentials.all();
  const unknown = new Map<string, number>();
  for (const r of rows)
    if (!box.canOpen(r.secret)) {
      const id = SecretBox.keyIdOf(r.secret) ?? '?';
      unknown.set(id, (unknown.get(id) ?? 0) + 1);
    }
  if (unknown.size)
    throw new SecretUnreadable(
      `${[...unknown].map(([id, n]) => `${n} stored provider credential${n === 1 ? ' was' : 's were'} sealed with key ${id}`).join(', ')}, but this server has key ${box.current.id} (${box.current.source})`,
      'start the server with the key that sealed them (MARIONETTE_SECRET_KEY, or restore $MARIONETTE_HOME/secret.key); to rotate keys, pass the old one in MARIONETTE_SECRET_KEY_PREVIOUS. Nothing was changed.',
    );
  let changed = 0;
  for (const r of rows) {
    const ctx = context(r.orgId, r.providerId);
    const plain = box.open(r.secret, ctx);
    const values = JSON.parse(plain) as Record<string, string>;
    for (const f of credentialFields(r.providerId)) if (f.secret) redactor.add(values[f.name]);
    if (box.isStale(r.secret) && (await store.providerCredentials.reseal(r.orgId, r.providerId, box.seal(plain, ctx))))
      changed++;
  }
  return changed;
}
