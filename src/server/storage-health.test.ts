/**
 * Storage health: which errors mean "disk full" or "the store cannot write", and the life of a
 * problem: recorded once with its cause, probed until a write works, then cleared.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { StorageHealth, storageReason, storageRefusal } from './storage-health.js';

const err = (code: string, message = code) => Object.assign(new Error(message), { code });

describe('storageReason', () => {
  it('classifies disk-full and write-failing errors of SQLite, PostgreSQL and the OS', () => {
    expect(storageReason(err('SQLITE_FULL', 'database or disk is full'))).toBe('disk_full');
    expect(storageReason(err('ENOSPC'))).toBe('disk_full');
    expect(storageReason(err('EDQUOT'))).toBe('disk_full');
    expect(storageReason(err('53100', 'could not extend file'))).toBe('disk_full');
    expect(storageReason(new Error('the transaction was rolled back: database or disk is full'))).toBe('disk_full');
    expect(storageReason(err('SQLITE_IOERR_WRITE'))).toBe('write_failing');
    expect(storageReason(err('SQLITE_READONLY'))).toBe('write_failing');
    expect(storageReason(err('EROFS'))).toBe('write_failing');
    // Not about storage: a constraint, a bad query, a connection refused.
    expect(storageReason(err('SQLITE_CONSTRAINT_UNIQUE'))).toBeNull();
    expect(storageReason(err('23505'))).toBeNull();
    expect(storageReason(err('ECONNREFUSED'))).toBeNull();
    expect(storageReason('nope')).toBeNull();
  });
});

describe('StorageHealth', () => {
  it('records a problem once, probes until a write works, then clears it', async () => {
    let probeWorks = false;
    let probes = 0;
    const changes: string[] = [];
    const h = new StorageHealth(
      async () => {
        probes++;
        if (!probeWorks) throw err('ENOSPC', 'still full');
      },
      (c, p) => changes.push(`${c}:${p ? p.reason : 'ok'}`),
      20,
    );
    expect(h.failed('store', err('SQLITE_CONSTRAINT'))).toBe(false);
    expect(h.failed('store', err('SQLITE_FULL', 'database or disk is full'))).toBe(true);
    expect(h.failed('store', err('SQLITE_FULL', 'database or disk is full'))).toBe(true);
    expect(h.store).toMatchObject({ component: 'store', reason: 'disk_full' });
    await sleep(100);
    expect(probes).toBeGreaterThan(0);
    // The probe's own failure updates the cause.
    expect(h.store?.message).toBe('still full');
    probeWorks = true;
    for (let i = 0; i < 100 && h.store; i++) await sleep(20);
    expect(h.store).toBeNull();
    expect(changes).toEqual(['store:disk_full', 'store:ok']);
    const refusal = storageRefusal({ reason: 'disk_full', message: 'x', since: 0 });
    expect(refusal.code).toBe('insufficient_storage');
    expect(refusal.message).toBe('disk full: the server cannot store anything now, nothing was written (x)');
    h.close();
  });
});
