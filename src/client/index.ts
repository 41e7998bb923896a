/**
 * @module `MarionetteClient`: a typed TypeScript client of the REST API, exported from the package
 * (`import { MarionetteClient } from 'marionette'`), and what `mctl` uses. One method per operation
 * of src/api/operations.ts, typed from the shared schemas (src/api/schemas.ts for requests,
 * src/api/responses.ts for answers). An error answer (RFC 9457 problem+json) is thrown as a
 * {@link MarionetteApiError}; a server that cannot be reached as a {@link MarionetteConnectionError}.
 * Server-Sent Events (following logs, watching a task) are async iterables of {@link SseEvent}.
 *
 * It imports the schemas' types only, so loading it costs no schema construction.
 */
import type { z } from 'zod';
import type * as K from '../api/kit-schemas.js';
import type * as PC from '../api/provider-credential-schemas.js';
import type * as R from '../api/responses.js';
import type * as S from '../api/schemas.js';
import type * as SEC from '../api/security.js';
import type * as O from '../api/session-op-schemas.js';
import type * as W from '../api/workspaces.js';
import { readSse, type SseEvent } from './sse.js';

export type {
  AgentCard,
  DryRunResult,
  Explain,
  LogLine,
  LogPage,
  PlacementDecision,
  PoolDetail,
  PoolStatus,
  Profile,
  Runner,
  Session,
  SessionWithTasks,
  Task,
} from '../api/responses.js';
export type { SseEvent };

type Out<T extends z.ZodType> = z.output<T>;
type In<T extends z.ZodType> = z.input<T>;
/** Every listing: `{ items: [...] }`. */
export interface Listing<T> {
  items: T[];
}

export type CreateSessionInput = Omit<In<typeof S.CreateSessionBody>, 'dryRun'>;
export type CreateTaskInput = In<typeof S.CreateTaskBody>;
export type KitInput = In<typeof K.KitBody>;
export type Kit = Out<typeof K.KitResponse>;
export type GitCredentialInput = In<typeof K.GitCredentialBody>;
export type GitCredential = Out<typeof K.GitCredentialResponse>;
export type PoolInput = In<typeof S.PoolInput>;
export type PoolUpdate = In<typeof S.PoolUpdate>;
export type ProfileInput = In<typeof S.ProfileInput>;
export type AgentInput = In<typeof S.AgentInput>;
export type AgentUpdate = In<typeof S.AgentUpdate>;
export type RenderInput = In<typeof S.RenderBody>;
export type CreateTokenInput = In<typeof S.CreateTokenBody>;
export type RotateTokenInput = In<typeof S.RotateTokenBody>;
export type RegisterExternalInput = In<typeof S.RegisterExternalBody>;
export type SuspendStrategy = NonNullable<In<typeof S.SuspendBody>>['strategy'];
export type SessionState = Out<typeof R.SessionState>;
export type TaskState = Out<typeof R.TaskState>;
export type RunnerState = Out<typeof R.RunnerState>;
export type Token = Out<typeof R.Token>;
export type TokenWithSecret = Out<typeof R.TokenWithSecret>;
export type ExternalRegistration = Out<typeof R.ExternalRegistration>;
export type Provider = Out<typeof R.Provider>;
export type CostListing = Out<typeof R.CostListing>;
export type RenderResult = Out<typeof R.RenderResult>;
export type SessionEvent = Out<typeof R.SessionEvent>;
export type Health = Out<typeof R.Health>;
export type CreateApiTokenInput = In<typeof SEC.CreateApiTokenBody>;
export type ApiToken = Out<typeof SEC.ApiToken>;
export type ApiTokenWithSecret = Out<typeof SEC.ApiTokenWithSecret>;
export type Whoami = Out<typeof SEC.Whoami>;
export type AuditEvent = Out<typeof SEC.AuditEvent>;
export type AuditQuery = Omit<In<typeof SEC.ListAuditQuery>, 'limit'> & { limit?: number };

/** An RFC 9457 problem document, as the server sends for every error. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  hint?: string;
  instance?: string;
  [extra: string]: unknown;
}

/** The server answered with an error (a problem+json document; `problem` holds all of it). */
export class MarionetteApiError extends Error {
  override readonly name = 'MarionetteApiError';
  readonly status: number;
  /** The problem type URI (stable; e.g. `https://marionette.dev/problems/not-found`). */
  readonly type: string;
  readonly title: string;
  readonly detail: string;
  readonly hint: string | undefined;
  constructor(readonly problem: Problem) {
    super(problem.detail);
    this.status = problem.status;
    this.type = problem.type;
    this.title = problem.title;
    this.detail = problem.detail;
    this.hint = problem.hint;
  }
}

/** The server could not be reached (refused, reset, unknown host...). */
export class MarionetteConnectionError extends Error {
  override readonly name = 'MarionetteConnectionError';
  constructor(
    readonly url: string,
    /** The system's reason (`ECONNREFUSED`...) or message. */
    readonly reason: string,
  ) {
    super(`cannot reach the Marionette server at ${url}: ${reason}`);
  }
}

export interface ClientOptions {
  /** The API's URL, e.g. `http://127.0.0.1:8080`. */
  baseUrl: string;
  /** An API token (sent as `Authorization: Bearer`). */
  token?: string | null;
  /** A fetch implementation (default: the global one). */
  fetch?: typeof fetch;
}

export interface RequestOptions {
  body?: unknown;
  query?: Record<string, string | number | boolean | readonly string[] | undefined>;
  signal?: AbortSignal;
  /** A raw body sent as it is read, instead of `body`'s JSON (an upload). */
  upload?: { contentType: string; stream: NodeJS.ReadableStream };
}

const enc = encodeURIComponent;

function queryString(q: RequestOptions['query']): string {
  if (!q) return '';
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) {
    if (v === undefined) continue;
    p.set(k, Array.isArray(v) ? v.join(',') : String(v));
  }
  const s = p.toString();
  return s ? `?${s}` : '';
}

export class MarionetteClient {
  readonly baseUrl: string;
  private readonly token: string | null;
  private readonly fetchImpl: typeof fetch;

  constructor(opts: ClientOptions) {
    this.baseUrl = opts.baseUrl.replace(/\/+$/, '');
    this.token = opts.token ?? null;
    this.fetchImpl = opts.fetch ?? fetch;
  }

  private async send(method: string, path: string, opts: RequestOptions, accept: string): Promise<Response> {
    const headers: Record<string, string> = { accept };
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    if (opts.body !== undefined) headers['content-type'] = 'application/json';
    if (opts.upload) headers['content-type'] = opts.upload.contentType;
    let res: Response;
    try {
      res = await this.fetchImpl(`${this.baseUrl}${path}${queryString(opts.query)}`, {
        method,
        headers,
        ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}),
        ...(opts.upload ? { body: opts.upload.stream as unknown as RequestInit['body'], duplex: 'half' } : {}),
        ...(opts.signal ? { signal: opts.signal } : {}),
      });
    } catch (e: unknown) {
      if (opts.signal?.aborted) throw e;
      const cause = (e as { cause?: { code?: string; message?: string } }).cause;
      throw new MarionetteConnectionError(this.baseUrl, cause?.code ?? cause?.message ?? (e as Error).message);
    }
    if (!res.ok) throw await problemOf(res);
    return res;
  }

  /** Any operation by method and path (the typed methods below are built on it). */
  async request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const res = await this.send(method, path, opts, 'application/json');
    return (await res.json()) as T;
  }

  /** Reads a Server-Sent Events stream until the server ends it (or `signal` aborts it). */
  async *events(path: string, opts: Omit<RequestOptions, 'body'> = {}): AsyncGenerator<SseEvent> {
    const res = await this.send('GET', path, opts, 'text/event-stream');
    if (res.body) yield* readSse(res.body as unknown as AsyncIterable<Uint8Array>);
  }

  // ---- meta
  health(): Promise<Health> {
    return this.request('GET', '/v1/healthz');
  }
  openapi(): Promise<Record<string, unknown>> {
    return this.request('GET', '/v1/openapi.json');
  }

  // ---- sessions
  /** Creates a session (and its first task when `prompt` is given). */
  createSession(body: CreateSessionInput): Promise<R.SessionWithTasks> {
    return this.request('POST', '/v1/sessions', { body });
  }
  /** Where a session would go (a verdict per pool); creates nothing. */
  dryRunSession(body: CreateSessionInput): Promise<R.DryRunResult> {
    return this.request('POST', '/v1/sessions', { body: { ...body, dryRun: true } });
  }
  listSessions(
    q: { state?: SessionState | readonly SessionState[]; limit?: number } = {},
  ): Promise<Listing<R.Session>> {
    return this.request('GET', '/v1/sessions', { query: q });
  }
  getSession(id: string): Promise<R.SessionWithTasks> {
    return this.request('GET', `/v1/sessions/${enc(id)}`);
  }
  cancelSession(id: string): Promise<R.Session> {
    return this.request('POST', `/v1/sessions/${enc(id)}/cancel`, { body: {} });
  }
  explainSession(id: string): Promise<R.Explain> {
    return this.request('GET', `/v1/sessions/${enc(id)}/explain`);
  }
  listSessionEvents(id: string, q: { after?: number } = {}): Promise<Listing<SessionEvent>> {
    return this.request('GET', `/v1/sessions/${enc(id)}/events`, { query: q });
  }
  getSessionLogs(id: string, q: { after?: number; limit?: number } = {}): Promise<R.LogPage> {
    return this.request('GET', `/v1/sessions/${enc(id)}/logs`, { query: q });
  }
  /** Follows a session's log lines: `line` events (a LogLine), then `end` `{state}`. */
  followSessionLogs(id: string, opts: { after?: number; signal?: AbortSignal } = {}): AsyncGenerator<SseEvent> {
    return this.events(`/v1/sessions/${enc(id)}/logs`, {
      query: { follow: 1, after: opts.after ?? 0 },
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
  }
  suspendSession(id: string, opts: { strategy?: SuspendStrategy } = {}): Promise<R.Session> {
    return this.request('POST', `/v1/sessions/${enc(id)}/suspend`, { body: opts });
  }
  /** `pool`/`provider`: resume elsewhere, the workspace restored from the store. */
  resumeSession(id: string, opts: { pool?: string; provider?: string } = {}): Promise<R.Session> {
    return this.request('POST', `/v1/sessions/${enc(id)}/resume`, { body: opts });
  }

  // ---- tasks
  createTask(sessionId: string, body: CreateTaskInput): Promise<R.Task> {
    return this.request('POST', `/v1/sessions/${enc(sessionId)}/tasks`, { body });
  }
  listTasks(
    q: { state?: TaskState | readonly TaskState[]; session?: string; limit?: number } = {},
  ): Promise<Listing<R.Task>> {
    return this.request('GET', '/v1/tasks', { query: q });
  }
  getTask(id: string): Promise<R.Task> {
    return this.request('GET', `/v1/tasks/${enc(id)}`);
  }
  cancelTask(id: string): Promise<R.Task> {
    return this.request('POST', `/v1/tasks/${enc(id)}/cancel`, { body: {} });
  }
  getTaskLogs(id: string, q: { after?: number; limit?: number } = {}): Promise<R.LogPage> {
    return this.request('GET', `/v1/tasks/${enc(id)}/logs`, { query: q });
  }
  /** Follows a task's log lines: `line` events (a LogLine), then `end` `{state}`. */
  followTaskLogs(id: string, opts: { after?: number; signal?: AbortSignal } = {}): AsyncGenerator<SseEvent> {
    return this.events(`/v1/tasks/${enc(id)}/logs`, {
      query: { follow: 1, after: opts.after ?? 0 },
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
  }
  /** A task's state and its session's waiting reason: `status` events, then `end`. */
  watchTask(id: string, opts: { signal?: AbortSignal } = {}): AsyncGenerator<SseEvent> {
    return this.events(`/v1/tasks/${enc(id)}/watch`, opts.signal ? { signal: opts.signal } : {});
  }

  // ---- runners and registration tokens
  listRunners(
    q: { pool?: string; state?: RunnerState | readonly RunnerState[]; all?: boolean; limit?: number } = {},
  ): Promise<Listing<R.Runner>> {
    const { all, ...rest } = q;
    return this.request('GET', '/v1/runners', { query: { ...rest, ...(all ? { all: '1' } : {}) } });
  }
  getRunner(id: string): Promise<R.Runner> {
    return this.request('GET', `/v1/runners/${enc(id)}`);
  }
  drainRunner(id: string): Promise<R.Runner> {
    return this.request('POST', `/v1/runners/${enc(id)}/drain`, { body: {} });
  }
  createRegistrationToken(body: CreateTokenInput): Promise<TokenWithSecret> {
    return this.request('POST', '/v1/runners/tokens', { body });
  }
  listRegistrationTokens(q: { pool?: string } = {}): Promise<Listing<Token>> {
    return this.request('GET', '/v1/runners/tokens', { query: q });
  }
  revokeRegistrationToken(id: string): Promise<Token> {
    return this.request('POST', `/v1/runners/tokens/${enc(id)}/revoke`, { body: {} });
  }
  rotateRegistrationToken(id: string, body: RotateTokenInput = {}): Promise<TokenWithSecret> {
    return this.request('POST', `/v1/runners/tokens/${enc(id)}/rotate`, { body });
  }
  registerExternalRunner(body: RegisterExternalInput = {}): Promise<ExternalRegistration> {
    return this.request('POST', '/v1/runners/register', { body });
  }

  // ---- pools and profiles
  listPools(): Promise<Listing<R.PoolStatus>> {
    return this.request('GET', '/v1/pools');
  }
  getPool(idOrName: string): Promise<R.PoolDetail> {
    return this.request('GET', `/v1/pools/${enc(idOrName)}`);
  }
  createPool(body: PoolInput): Promise<Out<typeof R.Pool>> {
    return this.request('POST', '/v1/pools', { body });
  }
  updatePool(idOrName: string, body: PoolUpdate): Promise<Out<typeof R.Pool>> {
    return this.request('PATCH', `/v1/pools/${enc(idOrName)}`, { body });
  }
  deletePool(idOrName: string): Promise<{ deleted: string }> {
    return this.request('DELETE', `/v1/pools/${enc(idOrName)}`);
  }
  listProfiles(): Promise<Listing<R.Profile>> {
    return this.request('GET', '/v1/profiles');
  }
  getProfile(name: string): Promise<R.Profile> {
    return this.request('GET', `/v1/profiles/${enc(name)}`);
  }
  /** Creates or replaces a profile. */
  putProfile(body: ProfileInput): Promise<R.Profile> {
    return this.request('POST', '/v1/profiles', { body });
  }
  deleteProfile(name: string): Promise<{ deleted: string }> {
    return this.request('DELETE', `/v1/profiles/${enc(name)}`);
  }

  // ---- agents, providers, costs
  listAgents(): Promise<Listing<R.AgentCard>> {
    return this.request('GET', '/v1/agents');
  }
  getAgent(name: string): Promise<R.AgentCard> {
    return this.request('GET', `/v1/agents/${enc(name)}`);
  }
  createAgent(body: AgentInput): Promise<R.AgentCard> {
    return this.request('POST', '/v1/agents', { body });
  }
  updateAgent(name: string, body: AgentUpdate): Promise<R.AgentCard> {
    return this.request('PUT', `/v1/agents/${enc(name)}`, { body });
  }
  deleteAgent(name: string): Promise<{ deleted: string }> {
    return this.request('DELETE', `/v1/agents/${enc(name)}`);
  }
  /** A task's exact argv and environment names for a prompt (no secret values). */
  renderAgent(name: string, body: RenderInput): Promise<RenderResult> {
    return this.request('POST', `/v1/agents/${enc(name)}/render`, { body });
  }
  // ---- a session's workspace: exec, diff, push
  /** Runs argv in the session's workspace; answers its exit code and output. */
  execSession(id: string, body: In<typeof O.ExecBody>): Promise<Out<typeof O.ExecResponse>> {
    return this.request('POST', `/v1/sessions/${enc(id)}/exec`, { body });
  }
  /** The same, streamed: `stdout` / `stderr` events (data: a JSON string), then `end` `{exitCode, error}`. */
  async *execSessionStream(id: string, body: In<typeof O.ExecBody>): AsyncGenerator<SseEvent> {
    const res = await this.send('POST', `/v1/sessions/${enc(id)}/exec`, { body }, 'text/event-stream');
    if (res.body) yield* readSse(res.body as unknown as AsyncIterable<Uint8Array>);
  }
  /** `path` in the session's workspace as a tar stream (`mctl sessions cp ID:PATH ...`). */
  async downloadSessionFiles(id: string, path: string): Promise<AsyncIterable<Uint8Array>> {
    const res = await this.send('GET', `/v1/sessions/${enc(id)}/files`, { query: { path } }, 'application/x-tar');
    return res.body as unknown as AsyncIterable<Uint8Array>;
  }
  /** Unpacks `tar` (one top entry, `name`) into `path` of the session's workspace. */
  uploadSessionFiles(
    id: string,
    q: { path: string; name: string },
    tar: NodeJS.ReadableStream,
  ): Promise<Out<typeof O.PutFilesResponse>> {
    return this.request('PUT', `/v1/sessions/${enc(id)}/files`, {
      query: q,
      upload: { contentType: 'application/x-tar', stream: tar },
    });
  }
  diffSession(id: string): Promise<Out<typeof O.DiffResponse>> {
    return this.request('GET', `/v1/sessions/${enc(id)}/diff`);
  }
  /** Commits what the agent left and pushes it; answers the pushed commit. */
  pushSession(id: string, body: In<typeof O.PushBody>): Promise<Out<typeof O.PushResponse>> {
    return this.request('POST', `/v1/sessions/${enc(id)}/push`, { body });
  }

  // ---- kits and git credentials
  listKits(): Promise<Listing<Kit>> {
    return this.request('GET', '/v1/kits');
  }
  /** A kit by `id` or `id@version`. */
  getKit(ref: string): Promise<Kit> {
    return this.request('GET', `/v1/kits/${enc(ref)}`);
  }
  createKit(body: KitInput): Promise<Kit> {
    return this.request('POST', '/v1/kits', { body });
  }
  deleteKit(ref: string): Promise<{ deleted: string }> {
    return this.request('DELETE', `/v1/kits/${enc(ref)}`);
  }
  listGitCredentials(): Promise<Listing<GitCredential>> {
    return this.request('GET', '/v1/git-credentials');
  }
  /** Sets the credential git uses for `host` (the secret is never answered back). */
  putGitCredential(host: string, body: GitCredentialInput): Promise<GitCredential> {
    return this.request('PUT', `/v1/git-credentials/${enc(host)}`, { body });
  }
  deleteGitCredential(host: string): Promise<{ deleted: string }> {
    return this.request('DELETE', `/v1/git-credentials/${enc(host)}`);
  }
  /** Where each provider's credential comes from for the org (stored, environment, none); never a value. */
  listProviderCredentials(): Promise<Listing<Out<typeof PC.ProviderCredentialResponse>>> {
    return this.request('GET', '/v1/provider-credentials');
  }
  /** Sets the org's credential for `provider` (field name -> value; never answered back). */
  putProviderCredential(
    provider: string,
    body: In<typeof PC.ProviderCredentialBody>,
  ): Promise<Out<typeof PC.ProviderCredentialResponse>> {
    return this.request('PUT', `/v1/provider-credentials/${enc(provider)}`, { body });
  }
  deleteProviderCredential(provider: string): Promise<{ deleted: string }> {
    return this.request('DELETE', `/v1/provider-credentials/${enc(provider)}`);
  }
  listProviders(): Promise<Listing<Provider>> {
    return this.request('GET', '/v1/providers');
  }
  listCosts(q: { session?: string; pool?: string; limit?: number } = {}): Promise<CostListing> {
    return this.request('GET', '/v1/costs', { query: q });
  }

  // ---- security: the caller, API tokens, the audit log
  whoami(): Promise<Whoami> {
    return this.request('GET', '/v1/whoami');
  }
  createApiToken(body: CreateApiTokenInput): Promise<ApiTokenWithSecret> {
    return this.request('POST', '/v1/tokens', { body });
  }
  listApiTokens(): Promise<Listing<ApiToken>> {
    return this.request('GET', '/v1/tokens');
  }
  revokeApiToken(id: string): Promise<ApiToken> {
    return this.request('DELETE', `/v1/tokens/${enc(id)}`);
  }
  rotateApiToken(id: string, body: { expiresIn?: string | number } = {}): Promise<ApiTokenWithSecret> {
    return this.request('POST', `/v1/tokens/${enc(id)}/rotate`, { body });
  }
  listAudit(q: AuditQuery = {}): Promise<Listing<AuditEvent>> {
    return this.request('GET', '/v1/audit', { query: q });
  }
  // ---- orgs, projects, members (see docs/tenancy.md)
  listOrgs(): Promise<Listing<R.Org>> {
    return this.request('GET', '/v1/orgs');
  }
  getOrg(idOrName: string): Promise<R.Org> {
    return this.request('GET', `/v1/orgs/${enc(idOrName)}`);
  }
  createOrg(body: { name: string }): Promise<R.Org> {
    return this.request('POST', '/v1/orgs', { body });
  }
  /** `force`: delete everything the org owns with it (refused while its work runs). */
  deleteOrg(idOrName: string, opts: { force?: boolean } = {}): Promise<{ deleted: string }> {
    return this.request('DELETE', `/v1/orgs/${enc(idOrName)}`, { query: opts.force ? { force: 'true' } : {} });
  }
  listProjects(): Promise<Listing<R.Project>> {
    return this.request('GET', '/v1/projects');
  }
  createProject(body: { name: string }): Promise<R.Project> {
    return this.request('POST', '/v1/projects', { body });
  }
  deleteProject(idOrName: string): Promise<{ deleted: string }> {
    return this.request('DELETE', `/v1/projects/${enc(idOrName)}`);
  }
  listMembers(): Promise<Listing<R.Member>> {
    return this.request('GET', '/v1/members');
  }
  addMember(body: { name: string; role: string }): Promise<R.Member> {
    return this.request('POST', '/v1/members', { body });
  }
  removeMember(idOrName: string): Promise<{ deleted: string }> {
    return this.request('DELETE', `/v1/members/${enc(idOrName)}`);
  }
  // ---- dashboard and health (see docs/dashboard.md, docs/observability.md)
  /** A one-time dashboard login link for the caller: open `baseUrl + path` within 5 minutes. */
  createDashboardLink(): Promise<R.DashboardLink> {
    return this.request('POST', '/v1/dashboard/links');
  }
  readiness(): Promise<R.Readiness> {
    return this.request('GET', '/readyz');
  }

  // ---- workspaces (docs/workspaces.md)
  /** Snapshots a session's workspace now; answers once the snapshot is stored. */
  snapshotSession(id: string, body: In<typeof W.SnapshotBody> = {}): Promise<Out<typeof W.Snapshot>> {
    return this.request('POST', `/v1/sessions/${enc(id)}/snapshots`, { body });
  }
  forkSession(id: string, body: In<typeof W.ForkBody> = {}): Promise<R.SessionWithTasks> {
    return this.request('POST', `/v1/sessions/${enc(id)}/fork`, { body });
  }
  /** A session's newest snapshot and the one in flight (its progress). */
  getSessionWorkspace(id: string): Promise<Out<typeof W.SessionWorkspace>> {
    return this.request('GET', `/v1/sessions/${enc(id)}/workspace`);
  }
  listSnapshots(query: { session?: string; limit?: number } = {}): Promise<Listing<Out<typeof W.Snapshot>>> {
    return this.request('GET', '/v1/workspaces', { query });
  }
  getSnapshot(id: string, query: { entries?: boolean; limit?: number } = {}): Promise<Out<typeof W.SnapshotDetail>> {
    const q = { ...(query.entries ? { entries: 1 } : {}), ...(query.limit ? { limit: query.limit } : {}) };
    return this.request('GET', `/v1/workspaces/${enc(id)}`, { query: q });
  }
  diffSnapshots(from: string, to: string): Promise<Out<typeof W.SnapshotDiff>> {
    return this.request('GET', `/v1/workspaces/${enc(from)}/diff/${enc(to)}`);
  }
  gcWorkspaces(body: In<typeof W.GcBody> = {}): Promise<Out<typeof W.GcReport>> {
    return this.request('POST', '/v1/workspaces/gc', { body });
  }
  /** A snapshot as a tar byte stream. */
  async downloadSnapshot(id: string): Promise<AsyncIterable<Uint8Array>> {
    const res = await this.send('GET', `/v1/workspaces/${enc(id)}/download`, {}, 'application/x-tar');
    return res.body as unknown as AsyncIterable<Uint8Array>;
  }
}

/** The error an answer that is not 2xx stands for (a problem document when the server sent one). */
async function problemOf(res: Response): Promise<MarionetteApiError> {
  const text = await res.text().catch(() => '');
  let body: Partial<Problem> = {};
  try {
    const parsed = JSON.parse(text) as unknown;
    if (parsed && typeof parsed === 'object') body = parsed as Partial<Problem>;
  } catch {
    /* not JSON (a proxy's page) */
  }
  return new MarionetteApiError({
    ...body,
    type: typeof body.type === 'string' ? body.type : 'about:blank',
    title: typeof body.title === 'string' ? body.title : res.statusText || `HTTP ${res.status}`,
    status: res.status,
    detail: typeof body.detail === 'string' ? body.detail : text || res.statusText || `HTTP ${res.status}`,
  });
}
