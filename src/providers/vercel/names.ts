/**
 * @module The names and tags of the Vercel sandboxes the provider creates. A sandbox is named
 * after its runner (`<prefix>-<runner id>`), so a provision that failed before Vercel answered is
 * still found and deleted by name, and listing by the name prefix finds every one of them. Vercel
 * allows five tags per sandbox: they name the owners (install, org, pool, session, runner).
 */
import type { OwnedObject, OwnedRole, SandboxSpec } from '../types.js';

export interface TagKeys {
  install: string;
  org: string;
  pool: string;
  session: string;
  runner: string;
}

export function tagKeys(prefix: string): TagKeys {
  return {
    install: `${prefix}-install`,
    org: `${prefix}-org`,
    pool: `${prefix}-pool`,
    session: `${prefix}-session`,
    runner: `${prefix}-runner`,
  };
}

/** The owner tags of `spec`'s runner sandbox (five: Vercel's limit). */
export function ownerTags(prefix: string, spec: SandboxSpec, installId: string | null): Record<string, string> {
  const k = tagKeys(prefix);
  return {
    [k.org]: spec.orgId,
    [k.pool]: spec.poolId,
    [k.runner]: spec.runnerId,
    ...(spec.sessionId ? { [k.session]: spec.sessionId } : {}),
    ...(installId ? { [k.install]: installId } : {}),
  };
}

/** Lowercase letters, digits and dashes only. */
function safeName(s: string): string {
  return s
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '');
}

/** The sandbox name of a runner. */
export function sandboxName(prefix: string, runnerId: string): string {
  return `${prefix}-${safeName(runnerId)}`.slice(0, 63);
}

/** Stopped sandboxes are kept storage (a `snapshot` suspend's, until its restore); running ones are sandboxes. */
export function roleOfStatus(status: string): OwnedRole {
  return ['stopped', 'stopping', 'snapshotting'].includes(status) ? 'storage' : 'sandbox';
}

/** A listed sandbox as an owned object. */
export function ownedSandbox(
  prefix: string,
  s: { name: string; status: string; tags: Record<string, string> },
): OwnedObject {
  const k = tagKeys(prefix);
  const t = s.tags;
  return {
    role: roleOfStatus(s.status),
    kind: 'sandbox',
    id: s.name,
    name: `${s.name} (${s.status})`,
    owner: {
      session: t[k.session] ?? '',
      runner: t[k.runner] ?? '',
      pool: t[k.pool] ?? '',
      org: t[k.org] ?? '',
      install: t[k.install] ?? '',
    },
  };
}
