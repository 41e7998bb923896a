/**
 * @module Tenancy and secrets: orgs, projects, API tokens and registration tokens (all hashed).
 */
import type { Kysely } from 'kysely';
import { hashSecret, newId, newSecret } from '../../core/ids.js';
import type { Database, RegistrationTokensTable } from '../schema.js';
import { inScope, type OrgScope } from '../scope.js';
import { type ApiPrincipal, ApiTokenRepo } from './api-tokens.js';

export type { ApiPrincipal } from './api-tokens.js';

export type RegistrationTokenKind = 'one-time' | 'reusable';

export interface RegistrationToken {
  id: string;
  orgId: string;
  poolId: string;
  kind: RegistrationTokenKind;
  runnerId: string | null;
  description: string;
  expiresAt: number | null;
  revokedAt: number | null;
  usedAt: number | null;
  useCount: number;
  createdAt: number;
}

export type ConsumeResult =
  | { ok: true; token: RegistrationToken }
  | { ok: false; reason: 'unknown' | 'expired' | 'revoked' | 'used'; token?: RegistrationToken };

const toRegToken = (r: RegistrationTokensTable): RegistrationToken => ({
  id: r.id,
  orgId: r.org_id,
  poolId: r.pool_id,
  kind: r.kind as RegistrationTokenKind,
  runnerId: r.runner_id,
  description: r.description,
  expiresAt: r.expires_at === null ? null : Number(r.expires_at),
  revokedAt: r.revoked_at === null ? null : Number(r.revoked_at),
  usedAt: r.used_at === null ? null : Number(r.used_at),
  useCount: r.use_count,
  createdAt: Number(r.created_at),
});

export class AuthRepo {
  constructor(private readonly db: Kysely<Database>) {}

  /** The default org and project, created on first start. */
  async ensureDefaultTenancy(now = Date.now()): Promise<{ orgId: string; projectId: string }> {
    let org = await this.db.selectFrom('orgs').select('id').where('name', '=', 'default').executeTakeFirst();
    if (!org) {
      org = { id: newId('org') };
      await this.db.insertInto('orgs').values({ id: org.id, name: 'default', created_at: now }).execute();
    }
    let project = await this.db
      .selectFrom('projects')
      .select('id')
      .where('org_id', '=', org.id)
      .where('name', '=', 'default')
      .executeTakeFirst();
    if (!project) {
      project = { id: newId('prj') };
      await this.db
        .insertInto('projects')
        .values({ id: project.id, org_id: org.id, name: 'default', created_at: now })
        .execute();
    }
    return { orgId: org.id, projectId: project.id };
  }

  async countApiTokens(): Promise<number> {
    const r = await this.db
      .selectFrom('api_tokens')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirst();
    return Number(r?.n ?? 0);
  }

  /** Creates an API token for the whole org; the secret is returned once (see ApiTokenRepo). */
  async createApiToken(orgId: string, name: string, role: string): Promise<{ id: string; token: string }> {
    const t = await new ApiTokenRepo(this.db).create({ orgId, name, role });
    return { id: t.id, token: t.token };
  }

  /** The principal of a live token (not revoked, not expired at `now`), or null. */
  findApiToken(secret: string, now = Date.now()): Promise<ApiPrincipal | null> {
    return new ApiTokenRepo(this.db).principal(secret, now);
  }

  async createRegistrationToken(input: {
    orgId: string;
    poolId: string;
    kind: RegistrationTokenKind;
    runnerId?: string | null;
    expiresAt?: number | null;
    description?: string;
  }): Promise<{ id: string; token: string }> {
    const token = newSecret('mrg');
    const id = newId('rgt');
    await this.db
      .insertInto('registration_tokens')
      .values({
        id,
        org_id: input.orgId,
        pool_id: input.poolId,
        token_hash: hashSecret(token),
        kind: input.kind,
        runner_id: input.runnerId ?? null,
        description: input.description ?? '',
        expires_at: input.expiresAt ?? null,
        revoked_at: null,
        used_at: null,
        use_count: 0,
        created_at: Date.now(),
      })
      .execute();
    return { id, token };
  }

  /**
   * Checks a registration token and records its use. A one-time token is consumed with a
   * compare-and-set, so two runners racing with the same token cannot both register.
   */
  async consumeRegistrationToken(secret: string, now = Date.now()): Promise<ConsumeResult> {
    const row = await this.db
      .selectFrom('registration_tokens')
      .selectAll()
      .where('token_hash', '=', hashSecret(secret))
      .executeTakeFirst();
    if (!row) return { ok: false, reason: 'unknown' };
    const token = toRegToken(row);
    if (token.revokedAt !== null && token.revokedAt <= now) return { ok: false, reason: 'revoked', token };
    if (token.expiresAt !== null && token.expiresAt <= now) return { ok: false, reason: 'expired', token };
    if (token.kind === 'one-time') {
      const r = await this.db
        .updateTable('registration_tokens')
        .set({ used_at: now, use_count: 1 })
        .where('id', '=', token.id)
        .where('used_at', 'is', null)
        .executeTakeFirst();
      if (Number(r.numUpdatedRows) !== 1) return { ok: false, reason: 'used', token };
      return { ok: true, token: { ...token, usedAt: now, useCount: 1 } };
    }
    await this.db
      .updateTable('registration_tokens')
      .set((eb) => ({ used_at: now, use_count: eb('use_count', '+', 1) }))
      .where('id', '=', token.id)
      .execute();
    return { ok: true, token };
  }

  listRegistrationTokens(scope: OrgScope, poolId?: string): Promise<RegistrationToken[]> {
    return inScope(scope, async () => {
      let q = this.db
        .selectFrom('registration_tokens')
        .selectAll()
        .where('org_id', '=', scope.orgId)
        // Tokens minted for one managed runner are internal; every token an operator made is listed.
        .where('runner_id', 'is', null);
      if (poolId) q = q.where('pool_id', '=', poolId);
      return (await q.orderBy('created_at', 'desc').execute()).map(toRegToken);
    });
  }

  getRegistrationToken(scope: OrgScope, id: string): Promise<RegistrationToken | null> {
    return inScope(scope, async () => {
      const r = await this.db
        .selectFrom('registration_tokens')
        .selectAll()
        .where('org_id', '=', scope.orgId)
        .where('id', '=', id)
        .executeTakeFirst();
      return r ? toRegToken(r) : null;
    });
  }

  /** Revokes at `at` (now, or later for a rotation's grace period). */
  revokeRegistrationToken(scope: OrgScope, id: string, at = Date.now()): Promise<boolean> {
    return inScope(scope, async () => {
      const r = await this.db
        .updateTable('registration_tokens')
        .set({ revoked_at: at })
        .where('org_id', '=', scope.orgId)
        .where('id', '=', id)
        .where((eb) => eb.or([eb('revoked_at', 'is', null), eb('revoked_at', '>', at)]))
        .executeTakeFirst();
      return Number(r.numUpdatedRows) === 1;
    });
  }
}
