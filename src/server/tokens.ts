/**
 * @module Registration tokens and runner enrolment: per-pool tokens (create, list, revoke, rotate
 * with a grace period), one-off registration of external runners (a one-time token plus the exact
 * agent command line), and draining a runner. Exposed as REST routes under `/v1/runners`.
 *
 * Token lifecycle: `active` → `revoked` (now) or `rotating` (revoked at a future instant, so the
 * old secret keeps working for the grace period) → `revoked`; `expired` once `expires_at` passes;
 * a one-time token is `used` after its first successful registration. The agent gets a distinct
 * error for each of unknown, expired, revoked and used (see RunnerService.register).
 */
import { hostname } from 'node:os';
import type { z } from 'zod';
import { CreateTokenBody, ListTokensQuery, RegisterExternalBody, RotateTokenBody } from '../api/schemas.js';
import { parseLabels } from '../config/index.js';
import { Conflict, InvalidRequest, NotFound, nullIfNotFound } from '../core/errors.js';
import type { Pool } from '../core/types.js';
import type { OrgScope } from '../store/index.js';
import type { RegistrationToken } from '../store/repos/auth.js';
import type { Api } from './api.js';
import type { ServerContext } from './context.js';
import { boundedDuration } from './input-guards.js';
import type { PoolService } from './pools.js';
import type { RunnerService } from './runners.js';

/** How long a rotated token keeps working when no grace is given. */
export const DEFAULT_ROTATION_GRACE_MS = 60 * 60_000;
/** How long an external runner's one-time token is valid when no expiry is given. */
export const DEFAULT_EXTERNAL_TOKEN_TTL_MS = 60 * 60_000;

export { CreateTokenBody, RegisterExternalBody, RotateTokenBody };

/** A token as the API shows it (never the secret, except once at creation). */
export interface TokenView {
  id: string;
  pool: string;
  poolId: string;
  kind: RegistrationToken['kind'];
  description: string;
  status: 'active' | 'rotating' | 'revoked' | 'expired' | 'used';
  expiresAt: number | null;
  revokedAt: number | null;
  usedAt: number | null;
  useCount: number;
  createdAt: number;
}

/** The status a token has at `now` (the same order of checks the registration path applies). */
export function tokenStatus(t: RegistrationToken, now = Date.now()): TokenView['status'] {
  if (t.revokedAt !== null && t.revokedAt <= now) return 'revoked';
  if (t.expiresAt !== null && t.expiresAt <= now) return 'expired';
  if (t.kind === 'one-time' && t.usedAt !== null) return 'used';
  if (t.revokedAt !== null) return 'rotating';
  return 'active';
}

export class TokenService {
  constructor(
    private readonly ctx: ServerContext,
    private readonly pools: PoolService,
    private readonly runners: RunnerService,
  ) {}

  private view(t: RegistrationToken, pool: Pool | null): TokenView {
    return {
      id: t.id,
      pool: pool?.name ?? t.poolId,
      poolId: t.poolId,
      kind: t.kind,
      description: t.description,
      status: tokenStatus(t),
      expiresAt: t.expiresAt,
      revokedAt: t.revokedAt,
      usedAt: t.usedAt,
      useCount: t.useCount,
      createdAt: t.createdAt,
    };
  }

  private async token(org: OrgScope, id: string): Promise<RegistrationToken> {
    const t = await this.ctx.store.auth.getRegistrationToken(org, id);
    if (!t || t.runnerId !== null)
      throw new NotFound('registration token', id, 'list tokens with `mctl runners tokens list`');
    return t;
  }

  /** Creates a registration token for a pool; the secret is in the answer and nowhere else. */
  async create(org: OrgScope, body: z.infer<typeof CreateTokenBody>): Promise<TokenView & { token: string }> {
    const pool = await this.pools.get(org, body.pool);
    if (pool.mode === 'managed')
      throw new InvalidRequest(
        `pool ${pool.name} is managed: its runners are started by the server with their own one-time tokens`,
        { hint: 'tokens are for pool and external pools (`mctl pools create NAME --mode pool`)' },
      );
    const now = Date.now();
    const expiresAt = body.expiresIn === undefined ? null : now + boundedDuration(body.expiresIn, 'expiresIn');
    const { id, token } = await this.ctx.store.auth.createRegistrationToken({
      orgId: org.orgId,
      poolId: pool.id,
      kind: body.oneTime ? 'one-time' : 'reusable',
      expiresAt,
      description: body.description ?? '',
    });
    this.ctx.redactor.add(token);
    return { ...this.view(await this.token(org, id), pool), token };
  }

  async list(org: OrgScope, poolName?: string): Promise<TokenView[]> {
    const pool = poolName ? await this.pools.get(org, poolName) : null;
    const pools = new Map((await this.ctx.store.pools.list(org)).map((p) => [p.id, p]));
    const tokens = await this.ctx.store.auth.listRegistrationTokens(org, pool?.id);
    return tokens.map((t) => this.view(t, pools.get(t.poolId) ?? null));
  }

  async revoke(org: OrgScope, id: string): Promise<TokenView> {
    const t = await this.token(org, id);
    const now = Date.now();
    if (t.revokedAt !== null && t.revokedAt <= now) throw new Conflict(`registration token ${id} is already revoked`);
    await this.ctx.store.auth.revokeRegistrationToken(org, id, now);
    return this.view(await this.token(org, id), await this.ctx.store.pools.byId(t.poolId));
  }

  /**
   * Replaces a token: a new secret for the same pool and kind, and the old one revoked at
   * now + grace, so runners being restarted with the old secret still join until then.
   */
  async rotate(
    org: OrgScope,
    id: string,
    body: z.infer<typeof RotateTokenBody>,
  ): Promise<TokenView & { token: string; rotatedFrom: string }> {
    const old = await this.token(org, id);
    const now = Date.now();
    const status = tokenStatus(old, now);
    if (status === 'revoked' || status === 'expired' || status === 'used')
      throw new Conflict(`registration token ${id} is ${status}; create a new one instead`, {
        hint: '`mctl runners tokens create --pool NAME`',
      });
    const grace = body.grace === undefined ? DEFAULT_ROTATION_GRACE_MS : boundedDuration(body.grace, 'grace');
    const expiresAt =
      body.expiresIn !== undefined
        ? now + boundedDuration(body.expiresIn, 'expiresIn')
        : old.expiresAt === null
          ? null
          : now + Math.max(0, old.expiresAt - old.createdAt);
    const { id: newTokenId, token } = await this.ctx.store.auth.createRegistrationToken({
      orgId: org.orgId,
      poolId: old.poolId,
      kind: old.kind,
      expiresAt,
      description: old.description ? `${old.description} (rotated from ${old.id})` : `rotated from ${old.id}`,
    });
    this.ctx.redactor.add(token);
    await this.ctx.store.auth.revokeRegistrationToken(org, old.id, now + grace);
    const pool = await this.ctx.store.pools.byId(old.poolId);
    return { ...this.view(await this.token(org, newTokenId), pool), token, rotatedFrom: old.id };
  }

  /** The gateway address a runner on another machine should dial. */
  private gatewayAddress(): string {
    const host = this.ctx.config.gatewayHost;
    const shown = host === '0.0.0.0' || host === '::' ? hostname() : host.includes(':') ? `[${host}]` : host;
    // With TLS the runner must be told to use it (a bare HOST:PORT is plain).
    return `${this.ctx.config.tls ? 'wss://' : ''}${shown}:${this.runners.gateway.tcpPort || this.ctx.config.gatewayPort}`;
  }

  /** One external runner: a one-time token and the exact command line to start its agent. */
  async registerExternal(
    org: OrgScope,
    body: z.infer<typeof RegisterExternalBody>,
  ): Promise<{
    token: string;
    tokenId: string;
    pool: string;
    expiresAt: number;
    labels: Record<string, string>;
    command: string;
    argv: string[];
  }> {
    // Input is checked before anything is written (the default pool below is created on demand).
    const labels = typeof body.labels === 'string' ? parseLabels(body.labels, 'labels') : { ...(body.labels ?? {}) };
    const now = Date.now();
    const expiresAt =
      now +
      (body.expiresIn === undefined ? DEFAULT_EXTERNAL_TOKEN_TTL_MS : boundedDuration(body.expiresIn, 'expiresIn'));
    let pool: Pool;
    if (body.pool) {
      pool = await this.pools.get(org, body.pool);
      if (pool.mode === 'managed')
        throw new InvalidRequest(`pool ${pool.name} is managed; external runners join external or pool pools`);
    } else {
      const external = (await this.ctx.store.pools.list(org)).filter((p) => p.mode === 'external');
      if (external.length > 1)
        throw new InvalidRequest(
          `there are ${external.length} external pools (${external.map((p) => p.name).join(', ')}); choose one with --pool`,
        );
      pool =
        external[0] ??
        (await this.pools.get(org, 'external').catch(nullIfNotFound)) ??
        (await this.pools.create(org, { name: 'external', mode: 'external' }, 'api'));
    }
    const { id, token } = await this.ctx.store.auth.createRegistrationToken({
      orgId: org.orgId,
      poolId: pool.id,
      kind: 'one-time',
      expiresAt,
      description: `external runner${body.name ? ` ${body.name}` : ''}`,
    });
    this.ctx.redactor.add(token);
    const argv = ['marionette-agent', '--server', this.gatewayAddress(), '--token', token, '--pool', pool.name];
    const labelText = Object.entries(labels)
      .map(([k, v]) => `${k}=${v}`)
      .join(',');
    if (labelText) argv.push('--labels', labelText);
    if (body.name) argv.push('--name', body.name);
    const quote = (a: string) => (/^[A-Za-z0-9_./:=,@+-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`);
    return { token, tokenId: id, pool: pool.name, expiresAt, labels, command: argv.map(quote).join(' '), argv };
  }

  routes(api: Api): void {
    api.route(
      'POST',
      '/v1/runners/tokens',
      { summary: 'Create a registration token for a pool', tag: 'runners', body: CreateTokenBody, status: 201 },
      async ({ body, org }) => this.create(org, body),
    );
    api.route(
      'GET',
      '/v1/runners/tokens',
      {
        summary: 'List registration tokens (never their secrets)',
        tag: 'runners',
        query: ListTokensQuery,
      },
      async ({ query, org }) => ({ items: await this.list(org, query.pool) }),
    );
    api.route(
      'POST',
      '/v1/runners/tokens/:id/revoke',
      { summary: 'Revoke a registration token now', tag: 'runners' },
      async ({ params, org }) => this.revoke(org, params.id!),
    );
    api.route(
      'POST',
      '/v1/runners/tokens/:id/rotate',
      {
        summary: 'Replace a registration token; the old one works for a grace period',
        tag: 'runners',
        body: RotateTokenBody.optional(),
        status: 201,
      },
      async ({ params, body, org }) => this.rotate(org, params.id!, body ?? {}),
    );
    api.route(
      'POST',
      '/v1/runners/register',
      {
        summary: 'Enrol one external runner: a one-time token and the agent command line',
        tag: 'runners',
        body: RegisterExternalBody.optional(),
        status: 201,
      },
      async ({ body, org }) => this.registerExternal(org, body ?? {}),
    );
    api.route(
      'POST',
      '/v1/runners/:id/drain',
      { summary: 'Drain a runner: finish its current task, take no more', tag: 'runners' },
      async ({ params, org }) => this.runners.drain(org, params.id!),
    );
  }
}
