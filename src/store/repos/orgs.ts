/**
 * @module Orgs, projects and members. Orgs are the install's own (listed and made by the default
 * org's callers); projects and members are read and changed within one org (an `OrgScope`).
 * Deleting an org either finds what it still owns (`owned`) or takes it all with it (`deleteCascade`).
 */
import type { Kysely } from 'kysely';
import { newId } from '../../core/ids.js';
import { RUNNER_LIVE, SESSION_TERMINAL } from '../../core/states.js';
import type { Database } from '../schema.js';
import { inScope, type OrgScope } from '../scope.js';

export interface Org {
  id: string;
  name: string;
  createdAt: number;
}
export interface Project {
  id: string;
  orgId: string;
  name: string;
  createdAt: number;
}
export interface Member {
  id: string;
  orgId: string;
  name: string;
  role: string;
  createdAt: number;
}

/** What an org still owns, by kind (only kinds with rows are named). */
export type Owned = Partial<Record<(typeof OWNED_KINDS)[number], number>>;

/**
 * The tables an org's rows live in, children first (the order a cascade deletes them in).
 * Built-in agent cards and profiles, and the `default` project, are the org's own furniture:
 * not counted as owned, deleted with it.
 */
const OWNED_KINDS = [
  'sessions',
  'runners',
  'pools',
  'projects',
  'members',
  'api_tokens',
  'agent_cards',
  'profiles',
  'cost_events',
] as const;

const CASCADE_TABLES = [
  'provider_credentials',
  'kits',
  'git_credentials',
  'cost_events',
  'session_events',
  'tasks',
  'sessions',
  'registration_tokens',
  'runners',
  'pools',
  'agent_cards',
  'profiles',
  'api_tokens',
  'members',
  'projects',
] as const;

export class OrgRepo {
  constructor(private readonly db: Kysely<Database>) {}

  async listOrgs(): Promise<Org[]> {
    const rows = await this.db.selectFrom('orgs').selectAll().orderBy('name').execute();
    return rows.map((r) => ({ id: r.id, name: r.name, createdAt: Number(r.created_at) }));
  }

  /** An org by id or name. */
  async getOrg(idOrName: string): Promise<Org | null> {
    const r = await this.db
      .selectFrom('orgs')
      .selectAll()
      .where((eb) => eb.or([eb('id', '=', idOrName), eb('name', '=', idOrName)]))
      .executeTakeFirst();
    return r ? { id: r.id, name: r.name, createdAt: Number(r.created_at) } : null;
  }

  /** Creates an org with its `default` project. */
  async createOrg(name: string, now = Date.now()): Promise<Org> {
    const org = { id: newId('org'), name, createdAt: now };
    await this.db.insertInto('orgs').values({ id: org.id, name, created_at: now }).execute();
    await this.db
      .insertInto('projects')
      .values({ id: newId('prj'), org_id: org.id, name: 'default', created_at: now })
      .execute();
    return org;
  }

  /** What the org still owns besides its built-ins and default project. */
  async owned(orgId: string): Promise<Owned> {
    const out: Owned = {};
    for (const kind of OWNED_KINDS) {
      let q = this.db
        .selectFrom(kind)
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('org_id', '=', orgId);
      if (kind === 'projects') q = q.where('name', '!=', 'default');
      if (kind === 'agent_cards' || kind === 'profiles') q = q.where('built_in', '=', 0);
      if (kind === 'runners') q = q.where('state', 'not in', ['terminated', 'offline']);
      const n = Number((await q.executeTakeFirst())?.n ?? 0);
      if (n) out[kind] = n;
    }
    return out;
  }

  /** The org's work still running: open sessions and live runners (even a forced delete waits for them). */
  async running(orgId: string): Promise<{ sessions: number; runners: number }> {
    const count = async (t: 'sessions' | 'runners', states: readonly string[], op: 'in' | 'not in') =>
      Number(
        (
          await this.db
            .selectFrom(t)
            .select((eb) => eb.fn.countAll<number>().as('n'))
            .where('org_id', '=', orgId)
            .where('state', op, [...states])
            .executeTakeFirst()
        )?.n ?? 0,
      );
    return {
      sessions: await count('sessions', SESSION_TERMINAL, 'not in'),
      runners: await count('runners', RUNNER_LIVE, 'in'),
    };
  }

  /** Deletes the org and every row it owns (run in a transaction, after the caller's checks). */
  async deleteCascade(orgId: string): Promise<void> {
    // task_logs carry no org: delete them through the org's sessions.
    const sessions = this.db.selectFrom('sessions').select('id').where('org_id', '=', orgId);
    await this.db.deleteFrom('task_logs').where('session_id', 'in', sessions).execute();
    for (const t of CASCADE_TABLES) await this.db.deleteFrom(t).where('org_id', '=', orgId).execute();
    await this.db.deleteFrom('orgs').where('id', '=', orgId).execute();
  }

  listProjects(scope: OrgScope): Promise<Project[]> {
    return inScope(scope, async () => {
      const rows = await this.db
        .selectFrom('projects')
        .selectAll()
        .where('org_id', '=', scope.orgId)
        .orderBy('name')
        .execute();
      return rows.map((r) => ({ id: r.id, orgId: r.org_id, name: r.name, createdAt: Number(r.created_at) }));
    });
  }

  /** A project of the org by id or name. */
  getProject(scope: OrgScope, idOrName: string): Promise<Project | null> {
    return inScope(scope, async () => {
      const r = await this.db
        .selectFrom('projects')
        .selectAll()
        .where('org_id', '=', scope.orgId)
        .where((eb) => eb.or([eb('id', '=', idOrName), eb('name', '=', idOrName)]))
        .executeTakeFirst();
      return r ? { id: r.id, orgId: r.org_id, name: r.name, createdAt: Number(r.created_at) } : null;
    });
  }

  createProject(scope: OrgScope, name: string, now = Date.now()): Promise<Project> {
    return inScope(scope, async () => {
      const p = { id: newId('prj'), orgId: scope.orgId, name, createdAt: now };
      await this.db.insertInto('projects').values({ id: p.id, org_id: p.orgId, name, created_at: now }).execute();
      return p;
    });
  }

  /** What still refers to the project: its sessions and pools. */
  projectUse(scope: OrgScope, projectId: string): Promise<{ sessions: number; pools: number }> {
    return inScope(scope, async () => {
      const count = async (t: 'sessions' | 'pools') =>
        Number(
          (
            await this.db
              .selectFrom(t)
              .select((eb) => eb.fn.countAll<number>().as('n'))
              .where('org_id', '=', scope.orgId)
              .where('project_id', '=', projectId)
              .executeTakeFirst()
          )?.n ?? 0,
        );
      return { sessions: await count('sessions'), pools: await count('pools') };
    });
  }

  deleteProject(scope: OrgScope, projectId: string): Promise<boolean> {
    return inScope(scope, async () => {
      const r = await this.db
        .deleteFrom('projects')
        .where('org_id', '=', scope.orgId)
        .where('id', '=', projectId)
        .executeTakeFirst();
      return Number(r.numDeletedRows) === 1;
    });
  }

  listMembers(scope: OrgScope): Promise<Member[]> {
    return inScope(scope, async () => {
      const rows = await this.db
        .selectFrom('members')
        .selectAll()
        .where('org_id', '=', scope.orgId)
        .orderBy('name')
        .execute();
      return rows.map(toMember);
    });
  }

  getMember(scope: OrgScope, idOrName: string): Promise<Member | null> {
    return inScope(scope, async () => {
      const r = await this.db
        .selectFrom('members')
        .selectAll()
        .where('org_id', '=', scope.orgId)
        .where((eb) => eb.or([eb('id', '=', idOrName), eb('name', '=', idOrName)]))
        .executeTakeFirst();
      return r ? toMember(r) : null;
    });
  }

  addMember(scope: OrgScope, name: string, role: string, now = Date.now()): Promise<Member> {
    return inScope(scope, async () => {
      const m = { id: newId('mem'), org_id: scope.orgId, name, role, created_at: now };
      await this.db.insertInto('members').values(m).execute();
      return toMember(m);
    });
  }

  removeMember(scope: OrgScope, id: string): Promise<boolean> {
    return inScope(scope, async () => {
      const r = await this.db
        .deleteFrom('members')
        .where('org_id', '=', scope.orgId)
        .where('id', '=', id)
        .executeTakeFirst();
      return Number(r.numDeletedRows) === 1;
    });
  }
}

function toMember(r: { id: string; org_id: string; name: string; role: string; created_at: number }): Member {
  return { id: r.id, orgId: r.org_id, name: r.name, role: r.role, createdAt: Number(r.created_at) };
}
