/**
 * @module Session and task creation: a create request is resolved and validated in full (agent,
 * profile, pool, selector, prompt) before anything is written; then the session, its first task
 * and its first event commit in one transaction.
 */

import type { EgressPolicy } from '../core/egress.js';
import { Conflict, InvalidRequest, Unplaceable } from '../core/errors.js';
import { newId } from '../core/ids.js';
import { parseSelector } from '../core/selector.js';
import { isTerminalSession } from '../core/states.js';
import type { AgentCard, Profile } from '../core/types.js';
import type { OrgScope } from '../store/index.js';
import type { Placement, Session, SessionRequest, Task } from '../store/records.js';
import type { ServerContext } from './context.js';
import { sessionEgress } from './egress-input.js';
import { repoRequest } from './git-credentials.js';
import { sessionDemand } from './kits.js';
import type { Placer } from './placement.js';
import { withImageAndResources } from './sandbox-spec.js';
import type { SessionCatalog } from './session-catalog.js';
import { emitTask, getSession } from './session-common.js';
import { type CreateSessionBody, type CreateTaskBody, checkProvider } from './session-requests.js';
import { sealRequest } from './session-secrets.js';
import type { TaskLifecycle } from './task-lifecycle.js';

export class SessionCreator {
  /** Each org's `default` project id, once looked up. */
  private readonly defaultProjects = new Map<string, string>();

  constructor(
    private readonly ctx: ServerContext,
    private readonly catalog: SessionCatalog,
    private readonly placer: Placer,
    private readonly lifecycle: TaskLifecycle,
    /** Asks the assigner for a pass. */
    private readonly kick: () => void,
  ) {}

  private checkPrompt(prompt: string): void {
    const bytes = Buffer.byteLength(prompt, 'utf8');
    if (bytes > this.ctx.config.maxPromptBytes)
      throw new InvalidRequest(`prompt is ${bytes} bytes; the limit is ${this.ctx.config.maxPromptBytes} bytes`, {
        hint: 'put long inputs in the workspace and refer to them from the prompt',
      });
  }

  /** Validates a create request fully (agent, profile, selector, prompt) before anything is written. */
  private async resolveRequest(
    org: OrgScope,
    body: CreateSessionBody,
  ): Promise<{ request: SessionRequest; card: AgentCard; profile: Profile | null }> {
    const card = await this.catalog.agentCard(org, body.agent);
    if (body.provider !== undefined) checkProvider(body.provider);
    if (body.prompt !== undefined) this.checkPrompt(body.prompt);
    if (body.selector) parseSelector(body.selector);
    const profile = body.profile ? await this.catalog.profile(org, body.profile) : null;
    const repo = repoRequest(body.repo);
    // The kits must compose now (unknown kit, two versions of one): refused before anything is written.
    await sessionDemand(this.ctx, org, card, body.kits);
    const pools = await this.catalog.pools(org);
    if (body.pool && !pools.some((p) => p.id === body.pool || p.name === body.pool))
      throw new InvalidRequest(`unknown pool ${JSON.stringify(body.pool)}`, {
        hint: 'list pools with `mctl pools list`',
      });
    return {
      card,
      profile,
      request: withImageAndResources(body, pools, this.ctx.config.providers, {
        agent: card.name,
        prompt: body.prompt ?? null,
        provider: body.provider ?? null,
        pool: body.pool ?? null,
        selector: body.selector?.trim() ? body.selector.trim() : null,
        profile: body.profile ?? null,
        authMode: body.authMode ?? 'byok',
        env: body.env ?? {},
        ...(body.priority ? { priority: body.priority } : {}),
        ...(body.taskTimeoutMs ? { taskTimeoutMs: body.taskTimeoutMs } : {}),
        ...egressOf(body.network),
        ...(repo ? { repo } : {}),
        ...(body.kits?.length ? { kits: body.kits } : {}),
      }),
    };
  }

  /**
   * The project a session goes in: the one named (by id or name, in the caller's org), else the
   * org's `default` project (kept per org: it cannot be deleted).
   */
  private async projectOf(org: OrgScope, name: string | undefined): Promise<string> {
    if (name !== undefined) {
      const p = await this.ctx.store.orgs.getProject(org, name);
      if (!p)
        throw new InvalidRequest(`unknown project ${JSON.stringify(name)}`, {
          hint: 'list projects with `mctl projects list`',
        });
      return p.id;
    }
    const known = this.defaultProjects.get(org.orgId);
    if (known) return known;
    const p = await this.ctx.store.orgs.getProject(org, 'default');
    if (!p) throw new InvalidRequest('this org has no default project; name one with --project');
    this.defaultProjects.set(org.orgId, p.id);
    return p.id;
  }

  async createSession(
    org: OrgScope,
    body: CreateSessionBody,
  ): Promise<{ session: Session; tasks: Task[] } | { dryRun: true; decision: Placement }> {
    const { request } = await this.resolveRequest(org, body);
    const projectId = await this.projectOf(org, body.project);
    if (body.dryRun) {
      const decision = await this.placer.evaluate(org, projectId, request);
      return { dryRun: true, decision: this.placer.toPlacement(decision) };
    }
    const { store } = this.ctx;
    const now = Date.now();
    const id = newId('ses');
    const waitForCapacity = body.waitForCapacity ?? true;
    // Decide before writing anything, so a refused request leaves no session, task or event.
    if (!waitForCapacity) {
      const decision = await this.placer.evaluate(org, projectId, request);
      if (!decision.chosen) {
        const placement = this.placer.toPlacement(decision);
        throw new Unplaceable(`no pool can take this session: ${placement.summary}`, {
          hint: 'nothing was created; without --no-wait-for-capacity the session would wait for capacity (`mctl sessions create --dry-run` shows the same verdicts)',
          details: { verdicts: placement.verdicts },
        });
      }
    }
    // One transaction: the session, its first task and its first event commit together.
    const row = {
      id,
      org_id: org.orgId,
      project_id: projectId,
      agent: request.agent,
      // Written as `scheduling` directly: it would be `pending` only until this transaction
      // commits, which no reader can see.
      state: 'scheduling',
      state_reason: null,
      pool_id: null,
      runner_id: null,
      // Env values are sealed at rest (./session-secrets.ts); only a task's assignment opens them.
      request: JSON.stringify(sealRequest(this.ctx.secrets, this.ctx.redactor, id, request)),
      placement: null,
      wait_for_capacity: waitForCapacity ? 1 : 0,
      priority: request.priority ?? 0,
      suspend: null,
      created_at: now,
      updated_at: now,
      ended_at: null,
    } as const;
    const prompt = request.prompt;
    const { session, tasks } = await store.transaction(async (tx) => {
      const inserted = await tx.sessions.insert(row);
      const tasks: Task[] = [];
      if (prompt !== null)
        tasks.push(await this.lifecycle.insertTask(inserted, prompt, body.maxRetries, undefined, tx));
      await tx.sessions.addEvent(id, org.orgId, 'created', { agent: request.agent });
      return { session: inserted, tasks };
    });
    for (const task of tasks) emitTask(this.ctx, task);
    this.kick();
    return { session, tasks };
  }

  async createTask(org: OrgScope, sessionId: string, body: CreateTaskBody): Promise<Task> {
    const session = await getSession(this.ctx, org, sessionId);
    this.checkPrompt(body.prompt);
    if (isTerminalSession(session.state))
      throw new Conflict(`session ${session.id} is ${session.state}; tasks can only be added to a live session`);
    const task = await this.lifecycle.insertTask(
      session,
      body.prompt,
      body.maxRetries,
      undefined,
      undefined,
      body.taskTimeoutMs,
    );
    if (session.state === 'suspended')
      await this.ctx.store.sessions.addEvent(session.id, session.orgId, 'task_queued_while_suspended', {});
    this.kick();
    return task;
  }
}

/** The request's `egress` key for the body's `network` (none when it sets no policy). */
function egressOf(network: { egress?: unknown } | undefined): { egress?: EgressPolicy } {
  const egress = sessionEgress(network);
  return egress === undefined ? {} : { egress };
}
