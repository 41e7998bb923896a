/**
 * @module The audit log (`audit_events`): who (API token id and name, or a runner), in which org,
 * did what (an action: an API operation such as `createPool`, or `runner.register`,
 * `runner.connect`; `auth` for a refused call to no route), to which resource, when, from which
 * address, and the outcome (`ok`, `refused`, `failed`). Written with the request (before its
 * answer is sent), read newest first with filters.
 */
import { type Kysely, sql } from 'kysely';
import { newId } from '../../core/ids.js';
import type { AuditEventsTable, Database } from '../schema.js';

export type AuditOutcome = 'ok' | 'refused' | 'failed';

export interface AuditEvent {
  id: string;
  orgId: string | null;
  at: number;
  actorTokenId: string | null;
  actorName: string | null;
  action: string;
  method: string | null;
  route: string | null;
  resource: string | null;
  status: number | null;
  outcome: AuditOutcome;
  remoteAddr: string | null;
  detail: string | null;
}

export type AuditInput = Omit<AuditEvent, 'id' | 'at'> & { at?: number };

export interface AuditFilter {
  orgId: string;
  /** Also events that belong to no org (a refused unknown credential): for the install's admins. */
  withUnowned?: boolean;
  /** A token id or name. */
  actor?: string;
  /** An action, or a prefix ending in `*` (`runner.*`). */
  action?: string;
  resource?: string;
  outcome?: AuditOutcome;
  since?: number;
  until?: number;
  limit: number;
}

const toEvent = (r: AuditEventsTable): AuditEvent => ({
  id: r.id,
  orgId: r.org_id,
  at: Number(r.at),
  actorTokenId: r.actor_token_id,
  actorName: r.actor_name,
  action: r.action,
  method: r.method,
  route: r.route,
  resource: r.resource,
  status: r.status === null ? null : Number(r.status),
  outcome: r.outcome as AuditOutcome,
  remoteAddr: r.remote_addr,
  detail: r.detail,
});

export class AuditRepo {
  constructor(private readonly db: Kysely<Database>) {}

  async record(e: AuditInput): Promise<void> {
    const at = e.at ?? Date.now();
    const id = newId('aud', at);
    await this.db
      .insertInto('audit_events')
      .values({
        id,
        org_id: e.orgId,
        at,
        actor_token_id: e.actorTokenId,
        actor_name: e.actorName,
        action: e.action,
        method: e.method,
        route: e.route,
        resource: e.resource,
        status: e.status,
        outcome: e.outcome,
        remote_addr: e.remoteAddr,
        detail: e.detail,
      })
      .execute();
  }

  /** Newest first: the org's events (and, with `withUnowned`, those of no org). */
  async list(f: AuditFilter): Promise<AuditEvent[]> {
    let q = this.db
      .selectFrom('audit_events')
      .selectAll()
      .where((eb) =>
        f.withUnowned ? eb.or([eb('org_id', '=', f.orgId), eb('org_id', 'is', null)]) : eb('org_id', '=', f.orgId),
      );
    if (f.actor) {
      const actor = f.actor;
      q = q.where((eb) => eb.or([eb('actor_token_id', '=', actor), eb('actor_name', '=', actor)]));
    }
    if (f.action) {
      const prefix = f.action.endsWith('*') ? f.action.slice(0, -1) : null;
      q =
        prefix !== null
          ? q.where(sql<string>`substr(action, 1, ${sql.lit(prefix.length)})`, '=', prefix)
          : q.where('action', '=', f.action);
    }
    if (f.resource) q = q.where('resource', '=', f.resource);
    if (f.outcome) q = q.where('outcome', '=', f.outcome);
    if (f.since !== undefined) q = q.where('at', '>=', f.since);
    if (f.until !== undefined) q = q.where('at', '<', f.until);
    return (await q.orderBy('at', 'desc').orderBy('id', 'desc').limit(f.limit).execute()).map(toEvent);
  }
}
