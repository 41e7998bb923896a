/**
 * @module A session's `env` at rest: its values are sealed (./secrets.ts) in the stored request,
 * each bound to its session and name, and opened only where a task's environment is built. Every
 * value sealed or opened is fed to the redactor, so logs, events and errors never show it.
 *
 * At start, `sealStoredSessionEnv` seals the values of rows written before encryption existed (and
 * re-seals values of a previous key, for rotation). It refuses to start, changing nothing, when a
 * row was sealed with a key the server does not have.
 */

import type { Store } from '../store/index.js';
import type { Session, SessionRequest } from '../store/records.js';
import type { Redactor } from './redact.js';
import { SecretBox, SecretUnreadable } from './secrets.js';

/** The associated data binding a sealed env value to its session and name. */
function envContext(sessionId: string, name: string): string {
  return `session:${sessionId}:env:${name}`;
}

/** `env` with every value sealed for session `sessionId` (already sealed values are kept). */
export function sealEnv(
  box: SecretBox,
  redactor: Redactor,
  sessionId: string,
  env: Record<string, string>,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (SecretBox.isSealed(value)) {
      out[name] = value;
      continue;
    }
    redactor.add(value);
    out[name] = box.seal(value, envContext(sessionId, name));
  }
  return out;
}

/** The request of session `sessionId` as it is stored: its env values sealed. */
export function sealRequest(
  box: SecretBox,
  redactor: Redactor,
  sessionId: string,
  request: SessionRequest,
): SessionRequest {
  return { ...request, env: sealEnv(box, redactor, sessionId, request.env ?? {}) };
}

/**
 * The session's env in plain text, for a task's environment (values of rows written before
 * encryption existed are plain already). Throws SecretUnreadable when a value cannot be opened.
 */
export function openSessionEnv(
  box: SecretBox,
  redactor: Redactor,
  session: Pick<Session, 'id' | 'request'>,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(session.request.env ?? {})) {
    const plain = SecretBox.isSealed(value) ? box.open(value, envContext(session.id, name)) : value;
    redactor.add(plain);
    out[name] = plain;
  }
  return out;
}

/** The session with its env opened (see openSessionEnv). */
export function withOpenEnv<S extends Pick<Session, 'id' | 'request'>>(box: SecretBox, redactor: Redactor, s: S): S {
  return { ...s, request: { ...s.request, env: openSessionEnv(box, redactor, s) } };
}

/** The names of the session's env, never the values (what the API shows). */
export function envNames(request: Pick<SessionRequest, 'env'>): string[] {
  return Object.keys(request.env ?? {}).sort();
}

/**
 * At start: seals plain env values of stored sessions and re-seals those of a previous key;
 * feeds the values of sessions that have not ended to the redactor. Throws SecretUnreadable
 * (before writing anything) when some row was sealed with a key this server lacks.
 * @returns how many sessions were (re)sealed.
 */
export async function sealStoredSessionEnv(
  store: Pick<Store, 'sessions'>,
  box: SecretBox,
  redactor: Redactor,
): Promise<number> {
  const rows = await store.sessions.withEnv();
  const unknown = new Map<string, number>();
  const parsed: { id: string; ended: boolean; request: SessionRequest }[] = [];
  for (const r of rows) {
    const request = JSON.parse(r.request) as SessionRequest;
    for (const v of Object.values(request.env ?? {}))
      if (SecretBox.isSealed(v) && !box.canOpen(v)) {
        const id = SecretBox.keyIdOf(v) ?? '?';
        unknown.set(id, (unknown.get(id) ?? 0) + 1);
      }
    parsed.push({ id: r.id, ended: r.ended, request });
  }
  if (unknown.size)
    throw new SecretUnreadable(
      `${[...unknown].map(([id, n]) => `${n} stored session env value${n === 1 ? ' was' : 's were'} sealed with key ${id}`).join(', ')}, but this server has key ${box.current.id} (${box.current.source})`,
      'start the server with the key that sealed them (MARIONETTE_SECRET_KEY, or restore $MARIONETTE_HOME/secret.key); to rotate keys, pass the old one in MARIONETTE_SECRET_KEY_PREVIOUS. Nothing was changed.',
    );
  let changed = 0;
  for (const p of parsed) {
    const env = p.request.env ?? {};
    const values = Object.values(env);
    const stale = values.some((v) => !SecretBox.isSealed(v) || box.isStale(v));
    if (!stale && p.ended) continue;
    const plain = openSessionEnv(box, redactor, { id: p.id, request: p.request });
    if (!stale) continue;
    const sealed = sealEnv(box, redactor, p.id, plain);
    await store.sessions.setRequest(p.id, JSON.stringify({ ...p.request, env: sealed }));
    changed++;
  }
  return changed;
}
