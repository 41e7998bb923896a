/**
 * @module Migration 001: the initial schema (tenancy, tokens, agent cards, pools, profiles,
 * runners, registration tokens, sessions, tasks, logs, session events, cost events).
 */
import type { Kysely } from 'kysely';
import type { MigrationContext } from './context.js';

export async function up(db: Kysely<unknown>, ctx: MigrationContext): Promise<void> {
  const ts = 'bigint' as const;
  const autoId = ctx.dialect === 'postgres' ? 'bigserial' : 'integer';
  await db.schema
    .createTable('orgs')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull().unique())
    .addColumn('created_at', ts, (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('projects')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('org_id', 'text', (c) => c.notNull().references('orgs.id'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('created_at', ts, (c) => c.notNull())
    .addUniqueConstraint('projects_org_name', ['org_id', 'name'])
    .execute();
  await db.schema
    .createTable('api_tokens')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('org_id', 'text', (c) => c.notNull().references('orgs.id'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('token_hash', 'text', (c) => c.notNull().unique())
    .addColumn('role', 'text', (c) => c.notNull())
    .addColumn('created_at', ts, (c) => c.notNull())
    .addColumn('last_used_at', ts)
    .addColumn('revoked_at', ts)
    .execute();
  await db.schema
    .createTable('agent_cards')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('org_id', 'text', (c) => c.notNull().references('orgs.id'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('spec', 'text', (c) => c.notNull())
    .addColumn('built_in', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', ts, (c) => c.notNull())
    .addUniqueConstraint('agent_cards_org_name', ['org_id', 'name'])
    .execute();
  await db.schema
    .createTable('pools')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('org_id', 'text', (c) => c.notNull().references('orgs.id'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('mode', 'text', (c) => c.notNull())
    .addColumn('provider_id', 'text', (c) => c.notNull())
    .addColumn('priority', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('active', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('labels', 'text', (c) => c.notNull().defaultTo('{}'))
    .addColumn('min_runners', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('max_runners', 'integer')
    .addColumn('idle_timeout_ms', ts)
    .addColumn('selector', 'text')
    .addColumn('runtime_provides', 'text')
    .addColumn('sandbox_config', 'text', (c) => c.notNull().defaultTo('{}'))
    .addColumn('lifecycle', 'text', (c) => c.notNull())
    .addColumn('sandbox_mode', 'text', (c) => c.notNull())
    .addColumn('suspend_config', 'text', (c) => c.notNull())
    .addColumn('source', 'text', (c) => c.notNull())
    .addColumn('created_at', ts, (c) => c.notNull())
    .addColumn('updated_at', ts, (c) => c.notNull())
    .addUniqueConstraint('pools_org_name', ['org_id', 'name'])
    .execute();
  await db.schema
    .createTable('profiles')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('org_id', 'text', (c) => c.notNull().references('orgs.id'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('selector', 'text')
    .addColumn('resources', 'text', (c) => c.notNull().defaultTo('{}'))
    .addColumn('provider_preference', 'text', (c) => c.notNull().defaultTo('[]'))
    .addColumn('built_in', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', ts, (c) => c.notNull())
    .addUniqueConstraint('profiles_org_name', ['org_id', 'name'])
    .execute();
  await db.schema
    .createTable('runners')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('org_id', 'text', (c) => c.notNull().references('orgs.id'))
    .addColumn('pool_id', 'text', (c) => c.notNull().references('pools.id'))
    .addColumn('session_id', 'text')
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('labels', 'text', (c) => c.notNull().defaultTo('{}'))
    .addColumn('credential_hash', 'text')
    .addColumn('provider_id', 'text', (c) => c.notNull())
    .addColumn('handle', 'text')
    .addColumn('agent_version', 'text')
    .addColumn('draining', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('last_heartbeat_at', ts)
    .addColumn('lease_expires_at', ts)
    .addColumn('idle_since', ts)
    .addColumn('created_at', ts, (c) => c.notNull())
    .addColumn('updated_at', ts, (c) => c.notNull())
    .addColumn('stopped_at', ts)
    .execute();
  await db.schema.createIndex('runners_pool_state').on('runners').columns(['pool_id', 'state']).execute();
  await db.schema.createIndex('runners_session').on('runners').column('session_id').execute();
  await db.schema
    .createTable('registration_tokens')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('org_id', 'text', (c) => c.notNull().references('orgs.id'))
    .addColumn('pool_id', 'text', (c) => c.notNull().references('pools.id'))
    .addColumn('token_hash', 'text', (c) => c.notNull().unique())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('runner_id', 'text')
    .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('expires_at', ts)
    .addColumn('revoked_at', ts)
    .addColumn('used_at', ts)
    .addColumn('use_count', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', ts, (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('sessions')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('org_id', 'text', (c) => c.notNull().references('orgs.id'))
    .addColumn('project_id', 'text', (c) => c.notNull().references('projects.id'))
    .addColumn('agent', 'text', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('state_reason', 'text')
    .addColumn('pool_id', 'text')
    .addColumn('runner_id', 'text')
    .addColumn('request', 'text', (c) => c.notNull())
    .addColumn('placement', 'text')
    .addColumn('wait_for_capacity', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('suspend', 'text')
    .addColumn('created_at', ts, (c) => c.notNull())
    .addColumn('updated_at', ts, (c) => c.notNull())
    .addColumn('ended_at', ts)
    .execute();
  await db.schema.createIndex('sessions_org_created').on('sessions').columns(['org_id', 'created_at']).execute();
  await db.schema.createIndex('sessions_state').on('sessions').column('state').execute();
  await db.schema
    .createTable('tasks')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('org_id', 'text', (c) => c.notNull().references('orgs.id'))
    .addColumn('session_id', 'text', (c) => c.notNull().references('sessions.id'))
    .addColumn('ordinal', 'integer', (c) => c.notNull())
    .addColumn('prompt', 'text', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('runner_id', 'text')
    .addColumn('attempt', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('max_retries', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('retry_of', 'text')
    .addColumn('exit_code', 'integer')
    .addColumn('error', 'text')
    .addColumn('cancel_requested', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', ts, (c) => c.notNull())
    .addColumn('assigned_at', ts)
    .addColumn('started_at', ts)
    .addColumn('finished_at', ts)
    .addUniqueConstraint('tasks_session_ordinal', ['session_id', 'ordinal'])
    .execute();
  await db.schema.createIndex('tasks_state').on('tasks').columns(['state', 'created_at']).execute();
  await db.schema.createIndex('tasks_runner').on('tasks').column('runner_id').execute();
  await db.schema
    .createTable('task_logs')
    .addColumn('id', autoId, (c) => (ctx.dialect === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement()))
    .addColumn('task_id', 'text', (c) => c.notNull())
    .addColumn('session_id', 'text', (c) => c.notNull())
    .addColumn('seq', 'integer', (c) => c.notNull())
    .addColumn('stream', 'text', (c) => c.notNull())
    .addColumn('line', 'text', (c) => c.notNull())
    .addColumn('ts', ts, (c) => c.notNull())
    .addUniqueConstraint('task_logs_task_seq', ['task_id', 'seq'])
    .execute();
  await db.schema.createIndex('task_logs_session').on('task_logs').columns(['session_id', 'id']).execute();
  await db.schema
    .createTable('session_events')
    .addColumn('id', autoId, (c) => (ctx.dialect === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement()))
    .addColumn('session_id', 'text', (c) => c.notNull())
    .addColumn('org_id', 'text', (c) => c.notNull())
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('data', 'text', (c) => c.notNull())
    .addColumn('ts', ts, (c) => c.notNull())
    .execute();
  await db.schema.createIndex('session_events_session').on('session_events').columns(['session_id', 'id']).execute();
  await db.schema
    .createTable('cost_events')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('org_id', 'text', (c) => c.notNull())
    .addColumn('runner_id', 'text', (c) => c.notNull())
    .addColumn('session_id', 'text')
    .addColumn('pool_id', 'text', (c) => c.notNull())
    .addColumn('provider_id', 'text', (c) => c.notNull())
    .addColumn('billing_model', 'text', (c) => c.notNull())
    .addColumn('started_at', ts, (c) => c.notNull())
    .addColumn('ended_at', ts, (c) => c.notNull())
    .addColumn('seconds', 'real', (c) => c.notNull())
    .addColumn('created_at', ts, (c) => c.notNull())
    .execute();
}
