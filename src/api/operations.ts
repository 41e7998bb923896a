/**
 * @module Every operation of the REST API: its `operationId`, method, path, success status and
 * success-response schema. The server's route helper (src/server/api.ts) looks each route up here,
 * so a route missing from this table fails at startup, and every operation in the OpenAPI document
 * has an id and a response schema. `MarionetteClient` (src/client/) has one method per operation,
 * typed from the same schemas. Request schemas are in `./schemas.ts`.
 */
import { z } from 'zod';
import * as K from './kit-schemas.js';
import * as PC from './provider-credential-schemas.js';
import * as R from './responses.js';
import * as S from './security.js';
import * as O from './session-op-schemas.js';
import * as W from './workspaces.js';

export type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface Operation {
  method: Method;
  path: string;
  /** Success status. */
  status: number;
  response: z.ZodType;
  /** Another success status with its own body (a dry run answers 200 with a decision). */
  also?: { status: number; response: z.ZodType; description: string };
  /** Answers `text/event-stream` (Server-Sent Events) instead of JSON. */
  sse?: 'always' | 'on follow=1';
}

const op = (
  method: Method,
  path: string,
  response: z.ZodType,
  extra: Partial<Omit<Operation, 'method' | 'path' | 'response'>> = {},
): Operation => ({ method, path, status: 200, response, ...extra });

/** A Server-Sent Events stream (documented as text/event-stream; the events are described in docs/api.md). */
const sseStream = z.string().describe('text/event-stream');

export const OPERATIONS = {
  health: op('GET', '/v1/healthz', R.Health),
  openapi: op('GET', '/v1/openapi.json', z.record(z.string(), z.unknown())),
  liveness: op('GET', '/healthz', R.Liveness),
  readiness: op('GET', '/readyz', R.Readiness),
  metrics: op('GET', '/metrics', z.string().describe('Prometheus text format')),
  streamEvents: op('GET', '/v1/events', sseStream, { sse: 'always' }),
  createDashboardLink: op('POST', '/v1/dashboard/links', R.DashboardLink, { status: 201 }),
  dashboardLogin: op('POST', '/v1/dashboard/login', R.DashboardLogin, { status: 201 }),

  createSession: op('POST', '/v1/sessions', R.SessionWithTasks, {
    status: 201,
    also: { status: 200, response: R.DryRunResult, description: 'dryRun: where it would go; nothing created' },
  }),
  listSessions: op('GET', '/v1/sessions', R.listing(R.Session)),
  getSession: op('GET', '/v1/sessions/:id', R.SessionWithTasks),
  cancelSession: op('POST', '/v1/sessions/:id/cancel', R.Session),
  explainSession: op('GET', '/v1/sessions/:id/explain', R.Explain),
  listSessionEvents: op('GET', '/v1/sessions/:id/events', R.listing(R.SessionEvent)),
  getSessionLogs: op('GET', '/v1/sessions/:id/logs', R.LogPage, { sse: 'on follow=1' }),
  suspendSession: op('POST', '/v1/sessions/:id/suspend', R.Session),
  resumeSession: op('POST', '/v1/sessions/:id/resume', R.Session),

  createTask: op('POST', '/v1/sessions/:id/tasks', R.Task, { status: 201 }),
  listTasks: op('GET', '/v1/tasks', R.listing(R.Task)),
  getTask: op('GET', '/v1/tasks/:id', R.Task),
  cancelTask: op('POST', '/v1/tasks/:id/cancel', R.Task),
  getTaskLogs: op('GET', '/v1/tasks/:id/logs', R.LogPage, { sse: 'on follow=1' }),
  watchTask: op('GET', '/v1/tasks/:id/watch', sseStream, { sse: 'always' }),

  listRunners: op('GET', '/v1/runners', R.listing(R.Runner)),
  getRunner: op('GET', '/v1/runners/:id', R.Runner),
  drainRunner: op('POST', '/v1/runners/:id/drain', R.Runner),
  createRegistrationToken: op('POST', '/v1/runners/tokens', R.TokenWithSecret, { status: 201 }),
  listRegistrationTokens: op('GET', '/v1/runners/tokens', R.listing(R.Token)),
  revokeRegistrationToken: op('POST', '/v1/runners/tokens/:id/revoke', R.Token),
  rotateRegistrationToken: op('POST', '/v1/runners/tokens/:id/rotate', R.TokenWithSecret, { status: 201 }),
  registerExternalRunner: op('POST', '/v1/runners/register', R.ExternalRegistration, { status: 201 }),

  listPools: op('GET', '/v1/pools', R.listing(R.PoolStatus)),
  getPool: op('GET', '/v1/pools/:id', R.PoolDetail),
  createPool: op('POST', '/v1/pools', R.Pool, { status: 201 }),
  updatePool: op('PATCH', '/v1/pools/:id', R.Pool),
  deletePool: op('DELETE', '/v1/pools/:id', R.Deleted),

  listProfiles: op('GET', '/v1/profiles', R.listing(R.Profile)),
  getProfile: op('GET', '/v1/profiles/:name', R.Profile),
  putProfile: op('POST', '/v1/profiles', R.Profile, { status: 201 }),
  deleteProfile: op('DELETE', '/v1/profiles/:name', R.Deleted),

  listAgents: op('GET', '/v1/agents', R.listing(R.AgentCard)),
  getAgent: op('GET', '/v1/agents/:name', R.AgentCard),
  createAgent: op('POST', '/v1/agents', R.AgentCard, { status: 201 }),
  updateAgent: op('PUT', '/v1/agents/:name', R.AgentCard),
  deleteAgent: op('DELETE', '/v1/agents/:name', R.Deleted),
  renderAgent: op('POST', '/v1/agents/:name/render', R.RenderResult),

  execSession: op('POST', '/v1/sessions/:id/exec', O.ExecResponse),
  /** `mctl sessions exec -it`: a WebSocket carrying a terminal (docs/api.md). */
  openSessionTerminal: op('GET', '/v1/sessions/:id/terminal', z.string().describe('WebSocket'), { status: 101 }),
  diffSession: op('GET', '/v1/sessions/:id/diff', O.DiffResponse),
  pushSession: op('POST', '/v1/sessions/:id/push', O.PushResponse),
  getSessionFiles: op('GET', '/v1/sessions/:id/files', z.string().describe('application/x-tar')),
  putSessionFiles: op('PUT', '/v1/sessions/:id/files', O.PutFilesResponse),

  listKits: op('GET', '/v1/kits', R.listing(K.KitResponse)),
  getKit: op('GET', '/v1/kits/:ref', K.KitResponse),
  createKit: op('POST', '/v1/kits', K.KitResponse, { status: 201 }),
  deleteKit: op('DELETE', '/v1/kits/:ref', R.Deleted),
  listGitCredentials: op('GET', '/v1/git-credentials', R.listing(K.GitCredentialResponse)),
  putGitCredential: op('PUT', '/v1/git-credentials/:host', K.GitCredentialResponse),
  deleteGitCredential: op('DELETE', '/v1/git-credentials/:host', R.Deleted),

  listProviders: op('GET', '/v1/providers', R.listing(R.Provider)),
  listCosts: op('GET', '/v1/costs', R.CostListing),

  whoami: op('GET', '/v1/whoami', S.Whoami),
  createApiToken: op('POST', '/v1/tokens', S.ApiTokenWithSecret, { status: 201 }),
  listApiTokens: op('GET', '/v1/tokens', R.listing(S.ApiToken)),
  revokeApiToken: op('DELETE', '/v1/tokens/:id', S.ApiToken),
  rotateApiToken: op('POST', '/v1/tokens/:id/rotate', S.ApiTokenWithSecret, { status: 201 }),
  listAudit: op('GET', '/v1/audit', R.listing(S.AuditEvent)),
  listOrgs: op('GET', '/v1/orgs', R.listing(R.Org)),
  getOrg: op('GET', '/v1/orgs/:org', R.Org),
  createOrg: op('POST', '/v1/orgs', R.Org, { status: 201 }),
  deleteOrg: op('DELETE', '/v1/orgs/:org', R.Deleted),
  listProjects: op('GET', '/v1/projects', R.listing(R.Project)),
  createProject: op('POST', '/v1/projects', R.Project, { status: 201 }),
  deleteProject: op('DELETE', '/v1/projects/:project', R.Deleted),
  listMembers: op('GET', '/v1/members', R.listing(R.Member)),
  addMember: op('POST', '/v1/members', R.Member, { status: 201 }),
  removeMember: op('DELETE', '/v1/members/:member', R.Deleted),

  snapshotSession: op('POST', '/v1/sessions/:id/snapshots', W.Snapshot, { status: 201 }),
  forkSession: op('POST', '/v1/sessions/:id/fork', R.SessionWithTasks, { status: 201 }),
  getSessionWorkspace: op('GET', '/v1/sessions/:id/workspace', W.SessionWorkspace),
  listSnapshots: op('GET', '/v1/workspaces', R.listing(W.Snapshot)),
  getSnapshot: op('GET', '/v1/workspaces/:id', W.SnapshotDetail),
  downloadSnapshot: op('GET', '/v1/workspaces/:id/download', z.string().describe('application/x-tar')),
  diffSnapshots: op('GET', '/v1/workspaces/:id/diff/:other', W.SnapshotDiff),
  gcWorkspaces: op('POST', '/v1/workspaces/gc', W.GcReport),

  listProviderCredentials: op('GET', '/v1/provider-credentials', R.listing(PC.ProviderCredentialResponse)),
  putProviderCredential: op('PUT', '/v1/provider-credentials/:provider', PC.ProviderCredentialResponse),
  deleteProviderCredential: op('DELETE', '/v1/provider-credentials/:provider', R.Deleted),
} satisfies Record<string, Operation>;

export type OperationId = keyof typeof OPERATIONS;

const byRoute = new Map<string, OperationId>(
  (Object.entries(OPERATIONS) as [OperationId, Operation][]).map(([id, o]) => [`${o.method} ${o.path}`, id]),
);

/** The operation a route implements; throws for a route missing from the table (a programming error). */
export function operationFor(method: Method, path: string): { id: OperationId; op: Operation } {
  const id = byRoute.get(`${method} ${path}`);
  if (!id)
    throw new Error(`route ${method} ${path} is not in src/api/operations.ts; add it there with its operationId`);
  return { id, op: OPERATIONS[id] };
}
