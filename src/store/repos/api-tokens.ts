/**
 * @module API tokens: created for an org (optionally one project) with a role and an optional
 * expiry, listed without their secrets, revoked, rotated (a new secret for the same token; the old
 * one stops working at once). Only a hash of each secret is kept. Every check reads the store, so a
 * revocation or an expiry holds from the next request on.
 */
import type { Kysely } from 'kysely';
import { hashSecret, newId, newSecret } from '../../core/ids.js';
import type { ApiTokensTable, Database } from '../schema.js';

/** Who calls the API: the token's id and name, its org, role and project (null: the whole org). */
export interface ApiPrincipal {
  tokenId: string;
  orgId: string;
  role: string;
  projectId: string | null;
  name: string;
}

/** A token as stored, without its hash. */
export interface ApiToken {
  id: string;
  orgId: string;
  projectId: string | null;
  name: string;
  role: string;
  createdAt: number;
  expiresAt: number | null;
  revokedAt: number | null;
  lastUsedAt: number | null;
}

const toToken = (r: ApiTokensTable): ApiToken => ({
  id: r.id,
  orgId: r.org_id,
  projectId: r.project_id ?? null,
  name: r.name,
  role: r.role,
  createdAt: Number(r.created_at),
  expiresAt: r.expires_at === null || r.expires_at === undefined ? null : Number(r.expires_at),
  revokedAt: r.revoked_at === null ? null : Number(r.revoked_at),
  lastUsedAt: r.last_used_at === null ? null : Number(r.last_used_at),
});

export class ApiTokenRepo {
  constructor(private readonly db: Kysely<Database>) {}

  /** Creates a token; the secret is in the answer once and only its hash is kept. */
  async create(input: {
    orgId: string;
    name: string;
    role: string;
    projectId?: string | null;
    expiresAt?: number | null;
    now?: number;
  }): Promise<ApiToken & { token: string }> {
    const token = newSecret('mrt');
    const row: ApiTokensTable = {
      id: newId('tok'),
      org_id: input.orgId,
      name: input.name,
      token_hash: hashSecret(token),
      role: input.role,
      created_at: input.now ?? Date.now(),
      last_used_at: null,
      revoked_at: null,
      project_id: input.projectId ?? null,
      expires_at: input.expiresAt ?? null,
    };
    await this.db.insertInto('api_tokens').values(row).execute();
    return { ...toToken(row), token };
  }

  /** The principal of a live token (not revoked, not expired at `now`), or null. One indexed read. */
  async principal(secret: string, now = Date.now()): Promise<ApiPrincipal | null> {
    const row = await this.db
      .selectFrom('api_tokens')
      .select(['id', 'org_id', 'role', 'name', 'project_id', 'revoked_at', 'expires_at'])
      .where('token_hash', '=', hashSecret(secret))
      .executeTakeFirst();
    if (!row || row.revoked_at !== null) return null;
    if (row.expires_at !== null && Number(row.expires_at) <= now) return null;
    return { tokenId: row.id, orgId: row.org_id, role: row.role, projectId: row.project_id ?? null, name: row.name };
  }

  /** Why a secret is refused (for the 401's message): unknown, revoked or expired, with the token. */
  async refusal(
    secret: string,
    now = Date.now(),
  ): Promise<{ reason: 'unknown' | 'revoked' | 'expired'; token?: ApiToken }> {
    const row = await this.db
      .selectFrom('api_tokens')
      .selectAll()
      .where('token_hash', '=', hashSecret(secret))
      .executeTakeFirst();
    if (!row) return { reason: 'unknown' };
    const token = toToken(row);
    if (token.revokedAt !== null) return { reason: 'revoked', token };
    if (token.expiresAt !== null && token.expiresAt <= now) return { reason: 'expired', token };
    return { reason: 'unknown', token };
  }

  async list(orgId: string, projectId?: string | null): Promise<ApiToken[]> {
    let q = this.db.selectFrom('api_tokens').selectAll().where('org_id', '=', orgId);
    if (projectId) q = q.where('project_id', '=', projectId);
    return (await q.orderBy('created_at', 'asc').orderBy('id', 'asc').execute()).map(toToken);
  }

  async get(orgId: string, id: string): Promise<ApiToken | null> {
    const r = await this.db
      .selectFrom('api_tokens')
      .selectAll()
      .where('org_id', '=', orgId)
      .where('id', '=', id)
      .executeTakeFirst();
    return r ? toToken(r) : null;
  }

  /** Revokes a live token; false when it was already revoked (or is not in this org). */
  async revoke(orgId: string, id: string, now = Date.now()): Promise<boolean> {
    const r = await this.db
      .updateTable('api_tokens')
      .set({ revoked_at: now })
      .where('org_id', '=', orgId)
      .where('id', '=', id)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  /**
   * Gives a live token a new secret (and, when given, a new expiry); the old secret stops working
   * at once. Null when the token is revoked (a revoked token stays revoked).
   */
  async rotate(orgId: string, id: string, expiresAt?: number | null): Promise<(ApiToken & { token: string }) | null> {
    const token = newSecret('mrt');
    const r = await this.db
      .updateTable('api_tokens')
      .set({ token_hash: hashSecret(token), ...(expiresAt !== undefined ? { expires_at: expiresAt } : {}) })
      .where('org_id', '=', orgId)
      .where('id', '=', id)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    if (Number(r.numUpdatedRows) !== 1) return null;
    const t = await this.get(orgId, id);
    return t ? { ...t, token } : null;
  }

  /** Records a use (throttled by the caller: at most once a minute per token). */
  async touch(id: string, now = Date.now()): Promise<void> {
    await this.db.updateTable('api_tokens').set({ last_used_at: now }).where('id', '=', id).execute();
  }
}
