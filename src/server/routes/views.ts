/**
 * @module How a session is shown by the API: its record plus `sandboxProvider`, the provider id of
 * the pool it was placed on (null before placement), and its env's names only (values never leave
 * the server). Every route that answers a session uses it.
 */
import type { Session, Task } from '../../store/records.js';
import { envNames } from '../session-secrets.js';
import type { SessionService } from '../sessions.js';

/** A session as answered: `request.env` holds the env's names only, never its values. */
export type SessionView = Omit<Session, 'request'> & {
  request: Omit<Session['request'], 'env'> & { env: string[] };
  sandboxProvider: string | null;
};

/** Adds `sandboxProvider` to each session (one catalog read for all of them). */
export async function sessionViews(sessions: SessionService, list: Session[]): Promise<SessionView[]> {
  const pools = list.some((s) => s.poolId !== null) ? await sessions.allPools() : [];
  return list.map((s) => {
    let provider: string | null = null;
    if (s.poolId !== null) {
      provider = pools.find((p) => p.id === s.poolId)?.providerId ?? null;
      // A pool deleted since (only once the session ended): the placement recorded its provider.
      provider ??= s.placement?.verdicts.find((v) => v.poolId === s.poolId)?.providerId ?? null;
    }
    return { ...s, request: { ...s.request, env: envNames(s.request) }, sandboxProvider: provider };
  });
}

export async function sessionView(sessions: SessionService, s: Session): Promise<SessionView> {
  return (await sessionViews(sessions, [s]))[0]!;
}

export async function sessionWithTasks(
  sessions: SessionService,
  s: Session,
  tasks: Task[],
): Promise<SessionView & { tasks: Task[] }> {
  return { ...(await sessionView(sessions, s)), tasks };
}
