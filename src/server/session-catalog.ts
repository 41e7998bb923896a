/**
 * @module The session side's catalog: agent cards, profiles and pools of every org as last read.
 * Every request and every assigner pass reads it and it rarely changes, so it is read once and
 * kept until `invalidate()` (every write to it goes through PoolService or the agent and org
 * routes, which say so after the write). A request sees only its own org's part (`org`), and
 * placement evaluates a session against its own org's part only.
 */
import { InvalidRequest } from '../core/errors.js';
import type { AgentCard, Pool, Profile } from '../core/types.js';
import type { OrgScope } from '../store/index.js';
import type { ServerContext } from './context.js';

/** One org's agent cards, profiles and pools (what placement reads besides runners). */
export interface Catalog {
  cards: AgentCard[];
  profiles: Profile[];
  pools: Pool[];
}

/** Every org's catalog as one read (the assigner's view). */
export interface InstallCatalog {
  /** Every org's pools. */
  pools: Pool[];
  /** Every org's cards and profiles with their org (for the assigner's world key). */
  cards: { orgId: string; card: AgentCard }[];
  profiles: { orgId: string; profile: Profile }[];
  /** One org's part (empty for an org with nothing). */
  org(orgId: string): Catalog;
}

const EMPTY: Catalog = Object.freeze({ cards: [], profiles: [], pools: [] }) as Catalog;

function build(
  pools: Pool[],
  cards: { orgId: string; card: AgentCard }[],
  profiles: { orgId: string; profile: Profile }[],
): InstallCatalog {
  const byOrg = new Map<string, Catalog>();
  const of = (orgId: string) => {
    const known = byOrg.get(orgId);
    if (known) return known;
    const c: Catalog = { cards: [], profiles: [], pools: [] };
    byOrg.set(orgId, c);
    return c;
  };
  for (const p of pools) of(p.orgId).pools.push(p);
  for (const c of cards) of(c.orgId).cards.push(c.card);
  for (const p of profiles) of(p.orgId).profiles.push(p.profile);
  return { pools, cards, profiles, org: (orgId) => byOrg.get(orgId) ?? EMPTY };
}

export class SessionCatalog {
  private catalog: Promise<InstallCatalog> | null = null;
  /** The catalog once `catalog` has resolved (readable without awaiting, e.g. inside a transaction). */
  private catalogLoaded: InstallCatalog | null = null;

  constructor(private readonly ctx: ServerContext) {}

  /** The catalog if it has been read and not invalidated since (no await). */
  get loaded(): InstallCatalog | null {
    return this.catalogLoaded;
  }

  /** Forgets the catalog: the next read reads it again. */
  invalidate(): void {
    this.catalog = null;
    this.catalogLoaded = null;
  }

  /** Every org's catalog as last read (see the module note). */
  view(): Promise<InstallCatalog> {
    if (this.catalog) return this.catalog;
    const { store } = this.ctx;
    const read = (async () => {
      const { cards, profiles } = await store.pools.catalogAll();
      return build(await store.pools.listAll(), cards, profiles);
    })();
    this.catalog = read;
    read.then(
      (c) => {
        if (this.catalog === read) this.catalogLoaded = c;
      },
      // A failed read is not kept.
      () => {
        if (this.catalog === read) this.catalog = null;
      },
    );
    return read;
  }

  /** One org's catalog. */
  async org(scope: OrgScope): Promise<Catalog> {
    return (await this.view()).org(scope.orgId);
  }

  async agentCards(scope: OrgScope): Promise<AgentCard[]> {
    return (await this.org(scope)).cards;
  }

  /** The org's pools, from the catalog. */
  async pools(scope: OrgScope): Promise<Pool[]> {
    return (await this.org(scope)).pools;
  }

  /** Every org's pools (the autoscaler's and preemption's view). */
  async allPools(): Promise<Pool[]> {
    return (await this.view()).pools;
  }

  /** A pool by id, whatever its org, from the catalog. */
  async poolById(id: string): Promise<Pool | null> {
    return (await this.view()).pools.find((p) => p.id === id) ?? null;
  }

  /** The agent card named `name` in the org, or null when there is none (a failing read throws). */
  async findAgentCard(orgId: string, name: string): Promise<AgentCard | null> {
    return (await this.view()).org(orgId).cards.find((c) => c.name === name) ?? null;
  }

  /** The profile named `name` in the org, or null when there is none (a failing read throws). */
  async findProfile(orgId: string, name: string): Promise<Profile | null> {
    return (await this.view()).org(orgId).profiles.find((p) => p.name === name) ?? null;
  }

  async agentCard(scope: OrgScope, name: string): Promise<AgentCard> {
    const cards = await this.agentCards(scope);
    const card = cards.find((c) => c.name === name);
    if (!card)
      throw new InvalidRequest(
        `unknown agent ${JSON.stringify(name)}; known agents: ${cards.map((c) => c.name).join(', ') || '(none)'}`,
        {
          hint: 'list them with `mctl agents list`, or add one with `mctl agents create`',
        },
      );
    return card;
  }

  async profile(scope: OrgScope, name: string): Promise<Profile> {
    const all = (await this.org(scope)).profiles;
    const p = all.find((x) => x.name === name);
    if (!p)
      throw new InvalidRequest(
        `unknown profile ${JSON.stringify(name)}; known profiles: ${all.map((x) => x.name).join(', ') || '(none)'}`,
      );
    return p;
  }
}
