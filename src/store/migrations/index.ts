/**
 * @module The numbered migrations, in order. One set serves SQLite and PostgreSQL; a migration
 * that must differ asks `ctx.dialect`.
 */
import type { Kysely, Migration, MigrationProvider } from 'kysely';
import * as m001 from './001_init.js';
import * as m002 from './002_dispatch_indexes.js';
import * as m003 from './003_session_priority.js';
import * as m004 from './004_install_meta.js';
import * as m005 from './005_agent_outcomes.js';
import * as m006 from './006_tenancy.js';
import * as m007 from './007_tokens_audit.js';
import * as m008 from './008_runner_credentials.js';
import * as m010 from './010_task_timeout.js';
import * as m011 from './011_pool_egress.js';
import * as m012 from './012_runner_sandbox_runtimes.js';
import * as m013 from './013_snapshots.js';
import * as m015 from './015_kits_git_credentials.js';
import * as m016 from './016_provider_credentials.js';
import * as m017 from './017_snapshots_rls.js';
import * as m018 from './018_replicas.js';
import * as m021 from './021_cost_resources.js';
import type { MigrationContext } from './context.js';

export type { MigrationContext } from './context.js';

type Step = { up(db: Kysely<unknown>, ctx: MigrationContext): Promise<void> };

const STEPS: Record<string, Step> = {
  '001_init': m001,
  '002_dispatch_indexes': m002,
  '003_session_priority': m003,
  '004_install_meta': m004,
  '005_agent_outcomes': m005,
  '006_tenancy': m006,
  '007_tokens_audit': m007,
  '008_runner_credentials': m008,
  '010_task_timeout': m010,
  '011_pool_egress': m011,
  '012_runner_sandbox_runtimes': m012,
  '013_snapshots': m013,
  '015_kits_git_credentials': m015,
  '016_provider_credentials': m016,
  '017_snapshots_rls': m017,
  '018_replicas': m018,
  '021_cost_resources': m021,
};

export function migrationProvider(ctx: MigrationContext): MigrationProvider {
  return {
    async getMigrations(): Promise<Record<string, Migration>> {
      const out: Record<string, Migration> = {};
      for (const [name, step] of Object.entries(STEPS)) out[name] = { up: (db) => step.up(db, ctx) };
      return out;
    },
  };
}
