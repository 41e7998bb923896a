/**
 * @module The session side's catalog: agent cards, profiles and pools as last read. Every request
 * and every assigner pass reads it and it rarely changes, so it is read once and kept until
 * `invalidate()` (every write to it goes through PoolService, which says so after the write).
 */
import { InvalidRequest } from '../core/errors.js';
import type { AgentCard, Pool, Profile } from '../core/types.js';
import type { ServerContext } from './context.js';

/** What placement reads besides runners; changes only through PoolService (see `SessionCatalog.view`). */
export interface Catalog {
  cards: AgentCard[];
  profiles: Profile[];
  pools: Pool[];
}

export class SessionCatalog {
  private catalog: Promise<Catalog> | null = null;
  /** The catalog once `catalog` has resolved (readable without awaiting, e.g. inside a transaction). */
  private catalogLoaded: Catalog | null = null;

  constructor(private readonly ctx: ServerContext) {}

  /** The catalog if it has been read and not invalidated since (no await). */
  get loaded(): Catalog | null {
    return this.catalogLoaded;
  }

  /** Forgets the catalog: the next read reads it again. */
  invalidate(): void {
    this.catalog = null;
    this.catalogLoaded = null;
  }

  /**
   * The catalog (agent cards, profiles, pools) as last read. Every request and every assigner pass
   * reads it and it rarely changes, so it is read once and kept until `invalidate()`: every
   * write to it goes through PoolService, which calls that after the write.
   */
  view(): Promise<Catalog> {
    if (this.catalog) return this.catalog;
    const { store, orgId } = this.ctx;
    const read = (async () => ({
      cards: await store.pools.agentCards(orgId),
      profiles: await store.pools.profiles(orgId),
      pools: await store.pools.list(orgId),
    }))();
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

  async agentCards(): Promise<AgentCard[]> {
    return (await this.view()).cards;
  }

  /** The org's pools, from the catalog. */
  async pools(): Promise<Pool[]> {
    return (await this.view()).pools;
  }

  /** A pool by id, from the catalog. */
  async poolById(id: string): Promise<Pool | null> {
    return (await this.view()).pools.find((p) => p.id === id) ?? null;
  }

  async agentCard(name: string): Promise<AgentCard> {
    const cards = await this.agentCards();
    const card = cards.find((c) => c.name === name);
    if (!card)
      throw new InvalidRequest(
        `unknown agent ${JSON.stringify(name)}; known agents: ${cards.map((c) => c.name).join(', ')}`,
        {
          hint: 'list them with `mctl agents list`, or add one with `mctl agents create`',
        },
      );
    return card;
  }

  async profile(name: string): Promise<Profile> {
    const all = (await this.view()).profiles;
    const p = all.find((x) => x.name === name);
    if (!p)
      throw new InvalidRequest(
        `unknown profile ${JSON.stringify(name)}; known profiles: ${all.map((x) => x.name).join(', ') || '(none)'}`,
      );
    return p;
  }
}
