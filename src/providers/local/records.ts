/**
 * @module What the `local` provider started, recorded on disk so that a server that crashed (or
 * another provider instance on the same home) can find it again: each runner's state dir
 * (`$MARIONETTE_HOME/runners/<runner>.state`) holds `sandbox.json`, the runner's handle and
 * owners (install, runner, session, pool, org). `terminate` removes the state dir, record
 * included, only once the runner's process groups are gone; so a record on disk means "this
 * runner's processes may still run". Workspaces are not listed: they stay when a runner ends
 * (docs/providers/local.md) and go by `destroyStorage`.
 */
import { readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { OwnedObject, SandboxHandle } from '../types.js';

const RECORD = 'sandbox.json';

/** A runner process group the provider started, with the handle that stops it. */
export interface LocalOwned extends OwnedObject {
  role: 'sandbox';
  kind: 'process';
  handle: SandboxHandle;
}

interface RecordFile {
  owner: OwnedObject['owner'];
  handle: SandboxHandle;
}

/** Writes the record into the runner's state dir (atomically: a crash leaves the old one or the new one). */
export function writeRecord(stateDir: string, owner: OwnedObject['owner'], handle: SandboxHandle): void {
  const tmp = join(stateDir, `${RECORD}.tmp`);
  writeFileSync(tmp, JSON.stringify({ owner, handle } satisfies RecordFile), { mode: 0o600 });
  renameSync(tmp, join(stateDir, RECORD));
}

/** Every recorded runner under `runnersDir` (`<runner>.state/sandbox.json`); unreadable records are skipped. */
export function readRecords(runnersDir: string): LocalOwned[] {
  let names: string[];
  try {
    names = readdirSync(runnersDir);
  } catch (e: unknown) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  const out: LocalOwned[] = [];
  for (const n of names) {
    if (!n.endsWith('.state')) continue;
    let rec: RecordFile;
    try {
      rec = JSON.parse(readFileSync(join(runnersDir, n, RECORD), 'utf8')) as RecordFile;
    } catch {
      continue; // no record (a runner from before records, or mid-provision): nothing to go on
    }
    const runner = n.slice(0, -'.state'.length);
    out.push({
      role: 'sandbox',
      kind: 'process',
      id: runner,
      name: `pid ${rec.handle.externalId}`,
      owner: rec.owner,
      handle: rec.handle,
    });
  }
  return out;
}
