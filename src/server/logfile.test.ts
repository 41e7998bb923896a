/**
 * The server log's destination never blocks or loops on a write error: on /dev/full (every write
 * is ENOSPC) lines are dropped and counted, the failure is reported once, flushing and closing
 * return at once; on a normal file every line arrives in order.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { LogFile } from './logfile.js';

describe('LogFile', () => {
  it('writes every line in order', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'marionette-logfile-'));
    try {
      const f = new LogFile(join(dir, 'server.log'));
      for (let i = 0; i < 1000; i++) f.write(`{"n":${i}}\n`);
      await new Promise<void>((resolve) => f.flush(() => resolve()));
      f.write('{"n":"last"}\n');
      await f.close();
      const lines = readFileSync(join(dir, 'server.log'), 'utf8').trim().split('\n');
      expect(lines).toHaveLength(1001);
      expect(lines[0]).toBe('{"n":0}');
      expect(lines[999]).toBe('{"n":999}');
      expect(lines[1000]).toBe('{"n":"last"}');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('on ENOSPC drops and counts lines, reports once, and flushes and closes without blocking', async () => {
    const statuses: (string | null)[] = [];
    const f = new LogFile('/dev/full', {
      retryAfterMs: 50,
      onStatus: (e) => statuses.push(e ? ((e as NodeJS.ErrnoException).code ?? e.message) : null),
    });
    for (let i = 0; i < 100; i++) f.write(`line ${i}\n`);
    await new Promise<void>((resolve) => f.flush(() => resolve()));
    expect(f.error?.message).toMatch(/ENOSPC/);
    expect(f.droppedLines).toBeGreaterThan(0);
    // It retries by itself (and keeps failing here), without piling up memory or reports.
    await sleep(300);
    for (let i = 0; i < 100_000; i++) f.write(`more ${i}\n`);
    expect(statuses).toEqual(['ENOSPC']);
    const t = performance.now();
    f.flushSync();
    await f.close();
    expect(performance.now() - t).toBeLessThan(5_000);
  });
});
