/**
 * @module The database's tables as Kysely types. Timestamps are epoch milliseconds; JSON columns
 * hold text (parsed by the repositories); booleans are 0/1 integers, so the same queries run on
 * SQLite and PostgreSQL.
 */
import type { Generated } from 'kysely';

/** Which database a store runs on. */
export type Dialect = 'sqlite' | 'postgres';

export interface OrgsTable {
  id: string;
  name: string;
  created_at: number;
}
export interface ProjectsTable {
  id: string;
  org_id: string;
  name: string;
  created_at: number;
}
/** Migration 006: a user (name or email) with a role in an org. */
export interface MembersTable {
  id: string;
  org_id: string;
  name: string;
  role: string;
  created_at: number;
}
export interface ApiTokensTable {
  id: string;
  org_id: string;
  name: string;
  token_hash: string;
  role: string;
  created_at: number;
  last_used_at: number | null;
  revoked_at: number | null;
  /** Migration 007: a token scoped to one project (null: the whole org), and its expiry. */
  project_id: string | null;
  expires_at: number | null;
}
/** Migration 007: the audit log. */
export interface AuditEventsTable {
  id: string;
  org_id: string | null;
  at: number;
  actor_token_id: string | null;
  actor_name: string | null;
  action: string;
  method: string | null;
  route: string | null;
  resource: string | null;
  status: number | null;
  outcome: string;
  remote_addr: string | null;
  detail: string | null;
}
export interface AgentCardsTable {
  id: string;
  org_id: string;
  name: string;
  spec: string;
  built_in: number;
  created_at: number;
}
export interface PoolsTable {
  id: string;
  org_id: string;
  name: string;
  mode: string;
  provider_id: string;
  priority: number;
  active: number;
  labels: string;
  min_runners: number;
  max_runners: number | null;
  idle_timeout_ms: number | null;
  selector: string | null;
  runtime_provides: string | null;
  sandbox_config: string;
  lifecycle: string;
  sandbox_mode: string;
  suspend_config: string;
  /** Migration 011: the pool's egress policy (JSON), null for its provider's default. */
  egress?: string | null;
  source: string;
  created_at: number;
  updated_at: number;
  /** Migration 006: the project the pool belongs to (null: the whole org). */
  project_id?: string | null;
}
export interface ProfilesTable {
  id: string;
  org_id: string;
  name: string;
  description: string;
  selector: string | null;
  resources: string;
  provider_preference: string;
  built_in: number;
  created_at: number;
  /** Migration 004. */
  task_timeout_ms?: number | null;
}
export interface RunnersTable {
  id: string;
  org_id: string;
  pool_id: string;
  session_id: string | null;
  name: string;
  state: string;
  labels: string;
  credential_hash: string | null;
  /** Migration 008: a rotated credential issued but not yet confirmed saved by the runner. */
  next_credential_hash?: string | null;
  provider_id: string;
  handle: string | null;
  agent_version: string | null;
  /** Migration 012: the nested sandbox runtimes of its last hello (JSON list); null: never reported. */
  sandbox_runtimes?: string | null;
  draining: number;
  last_heartbeat_at: number | null;
  lease_expires_at: number | null;
  idle_since: number | null;
  created_at: number;
  updated_at: number;
  stopped_at: number | null;
}
export interface RegistrationTokensTable {
  id: string;
  org_id: string;
  pool_id: string;
  token_hash: string;
  kind: string;
  runner_id: string | null;
  description: string;
  expires_at: number | null;
  revoked_at: number | null;
  used_at: number | null;
  use_count: number;
  created_at: number;
}
export interface SessionsTable {
  id: string;
  org_id: string;
  project_id: string;
  agent: string;
  state: string;
  state_reason: string | null;
  pool_id: string | null;
  runner_id: string | null;
  request: string;
  placement: string | null;
  wait_for_capacity: number;
  /** Copied from the request (higher is placed first), for the assigner's narrow read. */
  priority: number;
  suspend: string | null;
  created_at: number;
  updated_at: number;
  ended_at: number | null;
}
export interface TasksTable {
  id: string;
  org_id: string;
  session_id: string;
  ordinal: number;
  prompt: string;
  state: string;
  runner_id: string | null;
  attempt: number;
  max_retries: number;
  retry_of: string | null;
  exit_code: number | null;
  error: string | null;
  cancel_requested: number;
  created_at: number;
  assigned_at: number | null;
  started_at: number | null;
  finished_at: number | null;
  /** JSON AgentOutcome (migration 004); null for tasks whose card reads no outcome. */
  outcome?: string | null;
  /** The task's own timeout (migration 010); null: the session's, profile's or card's. */
  timeout_ms?: number | null;
}
export interface TaskLogsTable {
  id: Generated<number>;
  task_id: string;
  session_id: string;
  seq: number;
  stream: string;
  line: string;
  ts: number;
}
export interface SessionEventsTable {
  id: Generated<number>;
  session_id: string;
  org_id: string;
  type: string;
  data: string;
  ts: number;
}
export interface CostEventsTable {
  id: string;
  org_id: string;
  runner_id: string;
  session_id: string | null;
  pool_id: string;
  provider_id: string;
  billing_model: string;
  started_at: number;
  ended_at: number;
  seconds: number;
  created_at: number;
  /** Migration 004: set on an agent-reported event (one per task). */
  task_id?: string | null;
  input_tokens?: number | null;
  output_tokens?: number | null;
  cache_read_tokens?: number | null;
  cache_write_tokens?: number | null;
  cost_usd?: number | null;
  model?: string | null;
  /** Migration 021: what the runner's sandbox was given (JSON, from its handle's `resources`). */
  resources?: string | null;
}

/** Migration 013: a snapshot of a session's workspace in the content-addressable store. */
export interface SnapshotsTable {
  id: string;
  org_id: string;
  session_id: string;
  parent_id: string | null;
  manifest_id: string;
  /** Why it was taken: `checkpoint` (asked for), `suspend`, `fork`. */
  reason: string;
  files: number;
  bytes: number;
  bytes_new: number;
  /** 1: kept whatever the retention (a checkpoint a user asked for). */
  pinned: number;
  runner_id: string | null;
  created_at: number;
}

/** Install-wide settings (`install_id`: the id every provider object is labelled with). */
export interface MetaTable {
  key: string;
  value: string;
}

/** An org's user kits (migration 015). */
export interface KitsTable {
  org_id: string;
  kit_id: string;
  version: string;
  spec: string;
  created_at: number;
}

/** An org's git credentials, one per host, the secret sealed (migration 015). */
export interface GitCredentialsTable {
  org_id: string;
  host: string;
  kind: string;
  username: string | null;
  secret: string;
  created_at: number;
}

/** An org's provider credentials, one per provider, the values sealed together (migration 016). */
export interface ProviderCredentialsTable {
  org_id: string;
  provider_id: string;
  /** JSON array of the field names it holds (not secret). */
  fields: string;
  /** Sealed JSON object of field name -> value. */
  secret: string;
  created_at: number;
  updated_at: number;
}

export interface Database {
  orgs: OrgsTable;
  projects: ProjectsTable;
  members: MembersTable;
  api_tokens: ApiTokensTable;
  agent_cards: AgentCardsTable;
  pools: PoolsTable;
  profiles: ProfilesTable;
  runners: RunnersTable;
  registration_tokens: RegistrationTokensTable;
  sessions: SessionsTable;
  tasks: TasksTable;
  task_logs: TaskLogsTable;
  session_events: SessionEventsTable;
  cost_events: CostEventsTable;
  meta: MetaTable;
  audit_events: AuditEventsTable;
  snapshots: SnapshotsTable;
  kits: KitsTable;
  git_credentials: GitCredentialsTable;
  provider_credentials: ProviderCredentialsTable;
}
