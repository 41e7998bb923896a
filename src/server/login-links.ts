/**
 * @module One-time dashboard login links (`mctl dashboard`): a signed-in caller asks for a code; the
 * code, opened in a browser within {@link LINK_TTL_MS}, is exchanged once for a new API token with
 * the caller's org, project and role that expires after {@link SESSION_TTL_MS}. Codes live in this
 * server process's memory, hashed, at most {@link MAX_LINKS} at once: a link is good on the replica
 * that made it, until that process stops (docs/dashboard.md).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { Unauthorized } from '../core/errors.js';
import type { ApiPrincipal } from '../store/repos/auth.js';

export const LINK_TTL_MS = 5 * 60_000;
export const SESSION_TTL_MS = 12 * 60 * 60_000;
const MAX_LINKS = 1000;

interface Pending {
  hash: Buffer;
  principal: Pick<ApiPrincipal, 'orgId' | 'projectId' | 'role' | 'name'>;
  expiresAt: number;
}

const digest = (code: string) => createHash('sha256').update(code).digest();

export class LoginLinks {
  private readonly pending = new Map<string, Pending>();

  /** A new one-time code for `principal`. */
  create(principal: ApiPrincipal, now = Date.now()): { code: string; expiresAt: number } {
    this.sweep(now);
    while (this.pending.size >= MAX_LINKS) {
      const oldest = this.pending.keys().next();
      if (oldest.done) break;
      this.pending.delete(oldest.value);
    }
    const id = randomBytes(6).toString('hex');
    const secret = randomBytes(24).toString('base64url');
    const code = `mdl_${id}_${secret}`;
    const expiresAt = now + LINK_TTL_MS;
    const { orgId, projectId, role, name } = principal;
    this.pending.set(id, { hash: digest(code), principal: { orgId, projectId, role, name }, expiresAt });
    return { code, expiresAt };
  }

  /** Takes the code (it works once) and returns whom it was made for; Unauthorized naming why otherwise. */
  take(code: string, now = Date.now()): Pending['principal'] {
    const m = /^mdl_([0-9a-f]{12})_[A-Za-z0-9_-]{32}$/.exec(code);
    if (!m) throw new Unauthorized('this is not a dashboard login code (copy the whole link `mctl dashboard` printed)');
    const found = this.pending.get(m[1]!);
    if (!found || !timingSafeEqual(found.hash, digest(code)))
      throw new Unauthorized(
        'this login link was already used, or was made by another server process',
        'run `mctl dashboard` again for a new link',
      );
    this.pending.delete(m[1]!);
    if (found.expiresAt <= now)
      throw new Unauthorized('this login link expired (links work for 5 minutes)', 'run `mctl dashboard` again');
    return found.principal;
  }

  private sweep(now: number): void {
    for (const [id, p] of this.pending) if (p.expiresAt <= now) this.pending.delete(id);
  }
}
