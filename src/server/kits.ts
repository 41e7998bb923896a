/**
 * @module Kits on the server side: the kits an org knows (its own from the API, then the config
 * file's, then the built-in ones; the first holding an id wins) and a session's composed demand
 * (its agent card's kits, then its own `--kit`s; src/core/kits.ts).
 */
import { BUILTIN_KITS, type ComposedToolchainDemand, composeKits, type Kit } from '../core/kits.js';
import type { AgentCard } from '../core/types.js';
import type { OrgScope } from '../store/index.js';
import type { ServerContext } from './context.js';

/** Every kit the org can use, in lookup order. */
export async function knownKits(ctx: ServerContext, org: OrgScope): Promise<Kit[]> {
  return [...(await ctx.store.kits.list(org)), ...ctx.config.kits, ...BUILTIN_KITS];
}

/** The session's composed demand; null when neither card nor session names a kit. Throws InvalidRequest. */
export async function sessionDemand(
  ctx: ServerContext,
  org: OrgScope,
  card: Pick<AgentCard, 'name' | 'kits'>,
  sessionKits: readonly string[] | undefined,
): Promise<ComposedToolchainDemand | null> {
  const requests = [
    ...card.kits.map((ref) => ({ ref, from: `agent card ${card.name}` })),
    ...(sessionKits ?? []).map((ref) => ({ ref, from: 'the session' })),
  ];
  if (!requests.length) return null;
  return composeKits(requests, await knownKits(ctx, org));
}
