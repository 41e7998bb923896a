/**
 * @module Tenancy routes: orgs (the install's own: listed in full, created and deleted by callers
 * of the default org; any other caller sees only its own org), and the caller's org's projects
 * and members. Another org is not found (404), as one that does not exist. Deleting an org that
 * still owns anything is refused naming what remains, unless `force=true`, which deletes it all
 * (refused while one of its sessions is open or a runner live). The default org and every org's
 * `default` project stay.
 */
import { DeleteOrgQuery, MemberInput, OrgInput, ProjectInput } from '../../api/schemas.js';
import { Conflict, Forbidden, NotFound } from '../../core/errors.js';
import { type OrgScope, orgScope } from '../../store/index.js';
import type { Org, Owned } from '../../store/repos/orgs.js';
import type { Api } from '../api.js';
import type { ServerContext } from '../context.js';

export interface OrgRouteServices {
  /** Seeds a new org's built-in agent cards and profiles (PoolService.seedOrg). */
  seedOrg(org: OrgScope): Promise<void>;
  /** The catalog changed (an org came or went): placement reads it again. */
  changed(): void;
}

/** "2 pools, 1 session": what an org still owns, for the refusal's message. */
function ownedText(owned: Owned): string {
  const names: Record<string, [string, string]> = {
    sessions: ['session', 'sessions'],
    runners: ['runner', 'runners'],
    pools: ['pool', 'pools'],
    projects: ['project', 'projects'],
    members: ['member', 'members'],
    api_tokens: ['API token', 'API tokens'],
    agent_cards: ['agent card', 'agent cards'],
    profiles: ['profile', 'profiles'],
    cost_events: ['cost event', 'cost events'],
  };
  return Object.entries(owned)
    .map(([k, n]) => `${n} ${(names[k] ?? [k, k])[n === 1 ? 0 : 1]}`)
    .join(', ');
}

export function orgRoutes(api: Api, ctx: ServerContext, services: OrgRouteServices): void {
  const { store } = ctx;
  const isDefault = (org: OrgScope) => org.orgId === ctx.defaultOrg.orgId;
  const view = (o: Org) => ({ ...o, default: o.id === ctx.defaultOrg.orgId });
  /** Orgs are made and deleted by the install's own (default) org. */
  const requireInstallCaller = (org: OrgScope, what: string) => {
    if (!isDefault(org))
      throw new Forbidden(
        `${what} needs a token of the default org`,
        'orgs are managed by the install: use a token of the default org',
      );
  };
  /** An org the caller may see: any for the default org's callers, else its own only. */
  const visibleOrg = async (caller: OrgScope, idOrName: string): Promise<Org> => {
    const o = await store.orgs.getOrg(idOrName);
    if (!o || (!isDefault(caller) && o.id !== caller.orgId))
      throw new NotFound('org', idOrName, 'list orgs with `mctl orgs list`');
    return o;
  };

  api.route(
    'GET',
    '/v1/orgs',
    { summary: 'List orgs (a non-default org sees itself)', tag: 'orgs' },
    async ({ org }) => {
      const all = await store.orgs.listOrgs();
      return { items: all.filter((o) => isDefault(org) || o.id === org.orgId).map(view) };
    },
  );
  api.route('GET', '/v1/orgs/:org', { summary: 'Get an org', tag: 'orgs' }, async ({ params, org }) =>
    view(await visibleOrg(org, params.org!)),
  );
  api.route(
    'POST',
    '/v1/orgs',
    {
      summary: 'Create an org (with its default project and built-in agents)',
      tag: 'orgs',
      body: OrgInput,
      status: 201,
    },
    async ({ body, org }) => {
      requireInstallCaller(org, 'creating an org');
      if (await store.orgs.getOrg(body.name))
        throw new Conflict(`org ${JSON.stringify(body.name)} already exists`, {
          hint: 'list orgs with `mctl orgs list`',
        });
      const created = await store.orgs.createOrg(body.name);
      await services.seedOrg(orgScope(created.id));
      services.changed();
      return view(created);
    },
  );
  api.route(
    'DELETE',
    '/v1/orgs/:org',
    {
      summary: 'Delete an org (refused while it owns anything, unless force=true)',
      tag: 'orgs',
      query: DeleteOrgQuery,
    },
    async ({ params, query, org }) => {
      const target = await visibleOrg(org, params.org!);
      requireInstallCaller(org, 'deleting an org');
      if (target.id === ctx.defaultOrg.orgId)
        throw new Conflict('the default org cannot be deleted', {
          hint: 'it holds the install’s own pools and tokens',
        });
      await store.transaction(async (tx) => {
        const owned = await tx.orgs.owned(target.id);
        if (!query.force) {
          if (Object.keys(owned).length)
            throw new Conflict(`org ${target.name} still owns ${ownedText(owned)}`, {
              hint: 'delete them first, or pass --force to delete them with the org',
              details: { owned },
            });
        } else {
          const { sessions: open, runners: live } = await tx.orgs.running(target.id);
          if (open || live)
            throw new Conflict(
              `org ${target.name} still has ${[
                open ? `${open} open session(s)` : '',
                live ? `${live} live runner(s)` : '',
              ]
                .filter(Boolean)
                .join(' and ')}; even --force does not delete running work`,
              { hint: 'cancel its sessions and drain its runners first' },
            );
        }
        await tx.orgs.deleteCascade(target.id);
      });
      services.changed();
      return { deleted: target.id };
    },
  );

  api.route('GET', '/v1/projects', { summary: "List the caller's org's projects", tag: 'orgs' }, async ({ org }) => ({
    items: await store.orgs.listProjects(org),
  }));
  api.route(
    'POST',
    '/v1/projects',
    { summary: "Create a project in the caller's org", tag: 'orgs', body: ProjectInput, status: 201 },
    async ({ body, org }) => {
      if (await store.orgs.getProject(org, body.name))
        throw new Conflict(`project ${JSON.stringify(body.name)} already exists`, {
          hint: 'list projects with `mctl projects list`',
        });
      return store.orgs.createProject(org, body.name);
    },
  );
  api.route(
    'DELETE',
    '/v1/projects/:project',
    { summary: 'Delete a project (refused while its sessions or pools remain)', tag: 'orgs' },
    async ({ params, org }) => {
      const p = await store.orgs.getProject(org, params.project!);
      if (!p) throw new NotFound('project', params.project!, 'list projects with `mctl projects list`');
      if (p.name === 'default') throw new Conflict('the default project cannot be deleted');
      const use = await store.orgs.projectUse(org, p.id);
      if (use.sessions || use.pools)
        throw new Conflict(`project ${p.name} still has ${use.sessions} session(s) and ${use.pools} pool(s)`, {
          hint: 'delete its pools, or move them to another project with `mctl pools update NAME --project P`',
        });
      await store.orgs.deleteProject(org, p.id);
      return { deleted: p.id };
    },
  );

  api.route('GET', '/v1/members', { summary: "List the caller's org's members", tag: 'orgs' }, async ({ org }) => ({
    items: await store.orgs.listMembers(org),
  }));
  api.route(
    'POST',
    '/v1/members',
    {
      summary: "Add a member (user name or email, with a role) to the caller's org",
      tag: 'orgs',
      body: MemberInput,
      status: 201,
    },
    async ({ body, org }) => {
      if (await store.orgs.getMember(org, body.name))
        throw new Conflict(`member ${JSON.stringify(body.name)} already exists`, {
          hint: 'remove it first to change its role',
        });
      return store.orgs.addMember(org, body.name, body.role);
    },
  );
  api.route(
    'DELETE',
    '/v1/members/:member',
    { summary: "Remove a member from the caller's org", tag: 'orgs' },
    async ({ params, org }) => {
      const m = await store.orgs.getMember(org, params.member!);
      if (!m) throw new NotFound('member', params.member!, 'list members with `mctl members list`');
      await store.orgs.removeMember(org, m.id);
      return { deleted: m.id };
    },
  );
}
