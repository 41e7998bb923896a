/**
 * Log batches are bounded by size as well as by count, so long lines (one agent event each) never
 * make a frame the gateway refuses (16 MiB), which would otherwise be resent forever.
 */
import { describe, expect, it } from 'vitest';
import type { LogEntry } from '../protocol/messages.js';
import { LogShipper } from './logship.js';

describe('log batches', () => {
  it('split long lines into frames under the gateway limit, losing none', () => {
    const batches: LogEntry[][] = [];
    const ship = new LogShipper('tsk', (_t, lines) => {
      batches.push(lines);
      return true;
    });
    for (let i = 0; i < 20; i++) ship.push('stdout', 'x'.repeat(1024 * 1024));
    ship.flush();
    ship.dispose();
    expect(batches.flat().map((e) => e.seq)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    for (const b of batches)
      expect(JSON.stringify({ type: 'logs', taskId: 'tsk', lines: b }).length).toBeLessThan(16 * 1024 * 1024);
    expect(batches.length).toBeGreaterThan(1);
  });

  it('one line over the batch bound still goes, alone', () => {
    const batches: LogEntry[][] = [];
    const ship = new LogShipper('tsk', (_t, lines) => {
      batches.push(lines);
      return true;
    });
    ship.push('stdout', 'y'.repeat(3 * 1024 * 1024));
    ship.push('stdout', 'z');
    ship.flush();
    ship.dispose();
    expect(batches.map((b) => b.length)).toEqual([1, 1]);
  });
});
