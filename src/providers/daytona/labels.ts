/**
 * @module The labels on every Daytona sandbox the provider creates (who owns it: install, org,
 * pool, session, runner) and its names: the sandbox is named after its runner, so a provision that
 * failed before Daytona answered with an id can still be found and deleted by name.
 */
import type { OwnedObject, OwnedRole, SandboxSpec } from '../types.js';

export interface LabelKeys {
  managed: string;
  install: string;
  org: string;
  pool: string;
  session: string;
  runner: string;
}

export function labelKeys(prefix: string): LabelKeys {
  return {
    managed: `${prefix}.managed`,
    install: `${prefix}.install`,
    org: `${prefix}.org`,
    pool: `${prefix}.pool`,
    session: `${prefix}.session`,
    runner: `${prefix}.runner`,
  };
}

/** The owner labels of `spec`'s runner sandbox. */
export function ownerLabels(prefix: string, spec: SandboxSpec, installId: string | null): Record<string, string> {
  const k = labelKeys(prefix);
  return {
    [k.managed]: 'true',
    [k.org]: spec.orgId,
    [k.pool]: spec.poolId,
    [k.runner]: spec.runnerId,
    ...(spec.sessionId ? { [k.session]: spec.sessionId } : {}),
    ...(installId ? { [k.install]: installId } : {}),
  };
}

/** Lowercase letters, digits and dashes only. */
export function safeName(s: string): string {
  return s
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '');
}

/** The sandbox name of a runner. */
export function sandboxName(runnerId: string): string {
  return `marionette-${safeName(runnerId)}`.slice(0, 63);
}

/** The name prefix of every suspend snapshot. */
export const SUSPEND_SNAPSHOT_PREFIX = 'marionette-suspend-';

/**
 * The Daytona snapshot name a runner's `snapshot` suspend writes. Daytona snapshots carry no
 * labels, so the owners are in the name: session, then runner (ids `<kind>_<alnum>` written
 * `<kind>-<alnum>`), which {@link parseSnapshotName} reads back for reaping.
 * @example snapshotName('ses_0abc', 'run_0def') === 'marionette-suspend-ses-0abc-run-0def'
 */
export function snapshotName(sessionId: string | null, runnerId: string): string {
  return `${SUSPEND_SNAPSHOT_PREFIX}${safeName(sessionId ?? 'none-none')}-${safeName(runnerId)}`;
}

/** The owners a suspend snapshot's name records, or null when the name is not one of ours. */
export function parseSnapshotName(name: string): { session: string; runner: string } | null {
  const m = /^marionette-suspend-([a-z]+)-([a-z0-9]+)-([a-z]+)-([a-z0-9]+)$/.exec(name);
  if (!m) return null;
  return { session: m[1] === 'none' ? '' : `${m[1]}_${m[2]}`, runner: `${m[3]}_${m[4]}` };
}

/** A listed suspend snapshot as an owned object: storage of its session (no install id: adopted by the session's store). */
export function ownedSnapshot(name: string): OwnedObject | null {
  const owner = parseSnapshotName(name);
  if (!owner) return null;
  return {
    role: 'storage',
    kind: 'snapshot',
    id: name,
    name: `snapshot ${name}`,
    owner: { ...owner, pool: '', org: '', install: '' },
  };
}

/** Stopped or archived sandboxes are kept storage (a suspended session's); running ones are sandboxes. */
export function roleOfState(state: string): OwnedRole {
  return ['stopped', 'stopping', 'archived', 'archiving'].includes(state) ? 'storage' : 'sandbox';
}

/** A listed sandbox as an owned object. */
export function ownedSandbox(
  prefix: string,
  s: { id: string; name: string; state: string; labels: Record<string, string> },
): OwnedObject {
  const k = labelKeys(prefix);
  const l = s.labels;
  return {
    role: roleOfState(s.state),
    kind: 'sandbox',
    id: s.id,
    name: `${s.name} (${s.state})`,
    owner: {
      session: l[k.session] ?? '',
      runner: l[k.runner] ?? '',
      pool: l[k.pool] ?? '',
      org: l[k.org] ?? '',
      install: l[k.install] ?? '',
    },
  };
}
