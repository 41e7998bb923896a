/**
 * @module Whether the server can write: the store (SQLite file or PostgreSQL) and server.log.
 * Write failures that mean "no space" or "the store cannot write" are recorded here with their
 * cause; GET /v1/healthz reports them, the API refuses writes with 507 while the store cannot
 * write, and a probe retries a harmless write every second until one works, so the server
 * recovers by itself when space returns.
 */
import { statfs } from 'node:fs/promises';
import { InsufficientStorage, toError } from '../core/errors.js';

export type StorageComponent = 'store' | 'log';

/** `disk_full`: no space (ENOSPC, SQLITE_FULL, PostgreSQL 53100); `write_failing`: any other write error. */
export type StorageReason = 'disk_full' | 'write_failing';

export interface StorageProblem {
  component: StorageComponent;
  reason: StorageReason;
  message: string;
  /** When it started (ms since the epoch). */
  since: number;
}

const DISK_FULL = new Set(['ENOSPC', 'EDQUOT', 'SQLITE_FULL', '53100']);
/** Errors that say the store cannot write at all (not: this one statement was wrong). */
const WRITE_FAILING = /^(SQLITE_IOERR|SQLITE_READONLY|SQLITE_CANTOPEN|SQLITE_CORRUPT|EIO$|EROFS$|58030$|53000$)/;

/**
 * Classifies an error from a write: a StorageReason when it is about storage, else null.
 * @example storageReason(Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' })) === 'disk_full'
 */
export function storageReason(e: unknown): StorageReason | null {
  const code = (e as { code?: unknown } | null)?.code;
  if (typeof code === 'string') {
    if (DISK_FULL.has(code)) return 'disk_full';
    if (WRITE_FAILING.test(code)) return 'write_failing';
  }
  // The group-commit driver wraps a failed batch's error; its message keeps the cause.
  const message = e instanceof Error ? e.message : '';
  if (/database or disk is full|ENOSPC|no space left on device/i.test(message)) return 'disk_full';
  return null;
}

/**
 * Throws an ENOSPC error unless the filesystem holding `dir` has room again: at least 1% of its
 * size, between 1 MiB and 64 MiB. (A tiny write can succeed on a nearly full disk, in space a
 * failed write left allocated, so a write probe alone would report recovery too early.)
 */
export async function ensureFreeSpace(dir: string): Promise<void> {
  const fs = await statfs(dir);
  const free = fs.bavail * fs.bsize;
  const total = fs.blocks * fs.bsize;
  const need = Math.max(1 << 20, Math.min(64 << 20, Math.floor(total / 100)));
  if (free >= need) return;
  throw Object.assign(
    new Error(
      `only ${(free / (1 << 20)).toFixed(1)} MiB free on the filesystem of ${dir} (waiting for ${need >> 20} MiB)`,
    ),
    { code: 'ENOSPC' },
  );
}

export class StorageHealth {
  private readonly problems = new Map<StorageComponent, StorageProblem>();
  private probeTimer: NodeJS.Timeout | null = null;
  private probing = false;

  /**
   * @param probe a harmless store write; run every `probeMs` while the store is failing, until it works
   * @param onChange called when a component starts or stops failing (for the log)
   */
  constructor(
    private readonly probe: () => Promise<void>,
    private readonly onChange: (component: StorageComponent, problem: StorageProblem | null) => void = () => {},
    private readonly probeMs = 1000,
  ) {}

  /** Records `e` when it is a storage failure; returns whether it was. */
  failed(component: StorageComponent, e: unknown): boolean {
    const reason = storageReason(e);
    if (!reason) return false;
    const before = this.problems.get(component);
    const message = toError(e).message;
    if (before?.reason === reason) {
      before.message = message;
      return true;
    }
    const problem = { component, reason, message, since: before?.since ?? Date.now() };
    this.problems.set(component, problem);
    this.onChange(component, problem);
    if (component === 'store') this.startProbe();
    return true;
  }

  /** A write worked: the component is healthy again. */
  ok(component: StorageComponent): void {
    if (!this.problems.delete(component)) return;
    this.onChange(component, null);
  }

  /** The store's problem, if it cannot write now. */
  get store(): StorageProblem | null {
    return this.problems.get('store') ?? null;
  }

  /** Every current problem, store first. */
  list(): StorageProblem[] {
    return [...this.problems.values()].sort((a, b) => a.component.localeCompare(b.component)).reverse();
  }

  private startProbe(): void {
    if (this.probeTimer) return;
    this.probeTimer = setInterval(() => {
      if (!this.problems.has('store')) return this.stopProbe();
      if (this.probing) return;
      this.probing = true;
      this.probe()
        .then(() => this.ok('store'))
        .catch((e: unknown) => this.failed('store', e))
        .finally(() => {
          this.probing = false;
        });
    }, this.probeMs);
    this.probeTimer.unref();
  }

  private stopProbe(): void {
    if (this.probeTimer) clearInterval(this.probeTimer);
    this.probeTimer = null;
  }

  close(): void {
    this.stopProbe();
  }
}

/** The 507 the API answers with while the store cannot write. */
export function storageRefusal(p: Pick<StorageProblem, 'reason' | 'message' | 'since'>): InsufficientStorage {
  const what = p.reason === 'disk_full' ? 'disk full' : 'store write failing';
  return new InsufficientStorage(`${what}: the server cannot store anything now, nothing was written (${p.message})`, {
    hint: 'free space where $MARIONETTE_HOME (or the database) lives; the server recovers by itself, then retry',
    details: { reason: p.reason, since: new Date(p.since).toISOString() },
  });
}

/** The body of GET /v1/healthz: `ok` false with each problem (component, reason, message, since) while any. */
export function healthReport(h: StorageHealth | undefined): {
  ok: boolean;
  problems: { component: StorageComponent; reason: StorageReason; message: string; since: string }[];
} {
  const problems = (h?.list() ?? []).map((p) => ({ ...p, since: new Date(p.since).toISOString() }));
  return { ok: problems.length === 0, problems };
}
