/**
 * @module The agent-card routes: list and get, create (409 when the name exists), update (replace
 * a user card), delete, and render (the exact argv and the environment names a task of the card
 * would get, with no secret values).
 */
import type { z } from 'zod';
import { AgentInput, AgentUpdate, RenderBody } from '../../api/schemas.js';
import { Conflict, InvalidRequest, NotFound } from '../../core/errors.js';
import { newId } from '../../core/ids.js';
import type { AgentCard } from '../../core/types.js';
import type { OrgScope } from '../../store/index.js';
import { agentCardFromConfig, renderTask } from '../agents.js';
import type { Api } from '../api.js';
import type { ServerContext } from '../context.js';
import type { SessionService } from '../sessions.js';

function toCard(name: string, b: z.infer<typeof AgentUpdate>): AgentCard {
  return agentCardFromConfig(name, {
    description: b.description,
    command: b.command,
    env: b.env,
    required_env: b.requiredEnv,
    runtimes: b.runtimes,
    requires: b.requires,
    kits: b.kits,
    ...(b.resume ? { resume: b.resume } : {}),
    ...(b.outcome ? { outcome: b.outcome } : {}),
    ...(b.setup ? { setup: b.setup } : {}),
    ...(b.taskTimeoutMs ? { task_timeout: b.taskTimeoutMs } : {}),
    ...(b.envHints ? { env_hints: b.envHints } : {}),
    ...(b.loginShell ? { login_shell: true } : {}),
  });
}

export function agentRoutes(api: Api, ctx: ServerContext, sessions: SessionService): void {
  const { store } = ctx;
  const existing = async (org: OrgScope, name: string) =>
    (await sessions.agentCards(org)).find((c) => c.name === name) ?? null;

  api.route('GET', '/v1/agents', { summary: 'List agent cards', tag: 'agents' }, async ({ org }) => ({
    items: await sessions.agentCards(org),
  }));
  api.route('GET', '/v1/agents/:name', { summary: 'Get an agent card', tag: 'agents' }, async ({ params, org }) => {
    const card = await existing(org, params.name!);
    if (!card) throw new NotFound('agent', params.name!, 'list agents with `mctl agents list`');
    return card;
  });

  api.route(
    'POST',
    '/v1/agents',
    { summary: 'Create an agent card', tag: 'agents', body: AgentInput, status: 201 },
    async ({ body, org }) => {
      const card = toCard(body.name, body);
      if (await existing(org, body.name))
        throw new Conflict(`agent ${JSON.stringify(body.name)} already exists`, {
          hint: `change it with \`mctl agents update ${body.name}\`, or delete it first`,
        });
      await store.pools.putAgentCard(org, newId('agt'), card);
      sessions.poolsChanged();
      return card;
    },
  );

  api.route(
    'PUT',
    '/v1/agents/:name',
    { summary: 'Replace a user-made agent card', tag: 'agents', body: AgentUpdate },
    async ({ params, body, org }) => {
      const name = params.name!;
      const old = await existing(org, name);
      if (!old) throw new NotFound('agent', name, 'create it with `mctl agents create`');
      if (old.builtIn)
        throw new InvalidRequest(`agent ${name} is built in and cannot be changed; create your own card`);
      const card = toCard(name, body);
      await store.pools.putAgentCard(org, newId('agt'), card);
      sessions.poolsChanged();
      return card;
    },
  );

  api.route(
    'DELETE',
    '/v1/agents/:name',
    { summary: 'Delete a user-made agent card', tag: 'agents' },
    async ({ params, org }) => {
      const name = params.name!;
      const old = await existing(org, name);
      if (!old) throw new NotFound('agent', name, 'list agents with `mctl agents list`');
      if (old.builtIn) throw new InvalidRequest(`agent ${name} is built in and cannot be deleted`);
      await store.pools.deleteAgentCard(org, name);
      sessions.poolsChanged();
      return { deleted: name };
    },
  );

  api.route(
    'POST',
    '/v1/agents/:name/render',
    { summary: "A task's exact argv and environment names for a prompt", tag: 'agents', body: RenderBody },
    async ({ params, body, org }) => {
      const card = await existing(org, params.name!);
      if (!card) throw new NotFound('agent', params.name!, 'list agents with `mctl agents list`');
      const profile = body.profile ? await sessions.profile(org, body.profile) : null;
      const sessionEnv = Object.fromEntries(body.env.map((n) => [n, '(set)']));
      const r = renderTask(card, body.prompt, {
        sessionEnv,
        credentialsEnv: ctx.config.credentialsEnv,
        credentialNames: ctx.config.credentialNames,
        sessionTimeoutMs: body.taskTimeoutMs ?? null,
        profileTimeoutMs: profile?.taskTimeoutMs ?? null,
        defaultTimeoutMs: ctx.config.taskTimeoutMs,
        conversationId: body.conversation ?? null,
      });
      return {
        agent: card.name,
        argv: r.command,
        /** Names only: values may be secrets. The card's own values are shown (they are not secret). */
        env: Object.keys({
          ...r.env,
          MARIONETTE_SESSION_ID: '',
          MARIONETTE_TASK_ID: '',
          MARIONETTE_WORKSPACE: '',
        }).sort(),
        cardEnv: card.env,
        setup: r.setup,
        outcome: r.outcome,
        timeoutMs: r.timeoutMs,
        missing: r.missing,
      };
    },
  );
}
