/**
 * @module Migration 007: API tokens scoped to a project (`api_tokens.project_id`, null for the
 * whole org) with an expiry (`expires_at`), and the audit log (`audit_events`): who (token id and
 * name, org), what (action, method, route, resource), when, from where, and the outcome.
 */
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('api_tokens').addColumn('project_id', 'text').execute();
  await db.schema.alterTable('api_tokens').addColumn('expires_at', 'bigint').execute();
  await db.schema.createIndex('api_tokens_org').on('api_tokens').column('org_id').execute();
  await db.schema
    .createTable('audit_events')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('org_id', 'text')
    .addColumn('at', 'bigint', (c) => c.notNull())
    .addColumn('actor_token_id', 'text')
    .addColumn('actor_name', 'text')
    .addColumn('action', 'text', (c) => c.notNull())
    .addColumn('method', 'text')
    .addColumn('route', 'text')
    .addColumn('resource', 'text')
    .addColumn('status', 'integer')
    .addColumn('outcome', 'text', (c) => c.notNull())
    .addColumn('remote_addr', 'text')
    .addColumn('detail', 'text')
    .execute();
  await db.schema.createIndex('audit_events_org_at').on('audit_events').columns(['org_id', 'at']).execute();
  await db.schema.createIndex('audit_events_actor').on('audit_events').columns(['actor_token_id', 'at']).execute();
}
