/**
 * @module The tags on every Modal sandbox the provider creates (who owns it: install, org, pool,
 * session, runner), and a listed sandbox as an owned object for the reconciler.
 */
import type { OwnedObject, SandboxSpec } from '../types.js';

export interface TagKeys {
  managed: string;
  install: string;
  org: string;
  pool: string;
  session: string;
  runner: string;
}

export function tagKeys(prefix: string): TagKeys {
  return {
    managed: `${prefix}.managed`,
    install: `${prefix}.install`,
    org: `${prefix}.org`,
    pool: `${prefix}.pool`,
    session: `${prefix}.session`,
    runner: `${prefix}.runner`,
  };
}

/** The owner tags of `spec`'s runner sandbox. */
export function ownerTags(prefix: string, spec: SandboxSpec, installId: string | null): Record<string, string> {
  const k = tagKeys(prefix);
  return {
    [k.managed]: 'true',
    [k.org]: spec.orgId,
    [k.pool]: spec.poolId,
    [k.runner]: spec.runnerId,
    ...(spec.sessionId ? { [k.session]: spec.sessionId } : {}),
    ...(installId ? { [k.install]: installId } : {}),
  };
}

/** A listed sandbox as an owned object (a Modal sandbox keeps no storage once it ends: always role `sandbox`). */
export function ownedSandbox(prefix: string, s: { id: string; tags: Record<string, string> }): OwnedObject {
  const k = tagKeys(prefix);
  const t = s.tags;
  return {
    role: 'sandbox',
    kind: 'sandbox',
    id: s.id,
    name: `sandbox ${s.id}`,
    owner: {
      session: t[k.session] ?? '',
      runner: t[k.runner] ?? '',
      pool: t[k.pool] ?? '',
      org: t[k.org] ?? '',
      install: t[k.install] ?? '',
    },
  };
}
