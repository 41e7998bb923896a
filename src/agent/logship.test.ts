import { describe, expect, it } from 'vitest';
import type { LogEntry } from '../protocol/messages.js';
import { LogShipper } from './logship.js';

function shipper(opts: Partial<ConstructorParameters<typeof LogShipper>[2]> = {}) {
  const sent: LogEntry[][] = [];
  const pressure: boolean[] = [];
  let up = true;
  const s = new LogShipper(
    't',
    (_t, lines) => {
      if (up) sent.push(lines);
      return up;
    },
    { flushMs: 1_000_000, ...opts },
    (p) => pressure.push(p),
  );
  return { s, sent, pressure, setUp: (v: boolean) => (up = v) };
}

describe('log shipping window', () => {
  it('asks to pause the pipes when the window is full and to resume once acks bring it under half', () => {
    const { s, pressure } = shipper({ windowLines: 100, maxBatchLines: 10 });
    for (let i = 0; i < 99; i++) s.push('stdout', `l${i}`);
    expect(pressure).toEqual([]);
    s.push('stdout', 'l99');
    expect(pressure).toEqual([true]);
    s.ack(40); // 60 left: still over half
    expect(pressure).toEqual([true]);
    s.ack(50);
    expect(pressure).toEqual([true, false]);
    expect(s.pending).toBe(50);
  });

  it('counts bytes too, and caps a batch by size', () => {
    const { s, sent, pressure } = shipper({ windowBytes: 10_000, maxBatchBytes: 2_000, maxBatchLines: 1000 });
    for (let i = 0; i < 12; i++) s.push('stdout', 'x'.repeat(900));
    expect(pressure).toEqual([true]);
    s.flush();
    expect(sent.every((b) => b.length <= 2)).toBe(true);
    expect(sent.flat().map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
  });

  it('resends what follows the ack after a reconnect or a resend request', async () => {
    const { s, sent, setUp } = shipper({ maxBatchLines: 5 });
    for (let i = 0; i < 10; i++) s.push('stdout', `l${i}`);
    s.ack(3);
    setUp(false);
    s.push('stdout', 'l10');
    expect(s.flush()).toBe(false);
    setUp(true);
    sent.length = 0;
    s.resumeFrom(6);
    expect(sent.flat().map((e) => e.seq)).toEqual([7, 8, 9, 10, 11]);
    sent.length = 0;
    s.resendAfter(1);
    await new Promise((r) => setTimeout(r, 20));
    expect(sent.flat().map((e) => e.seq)).toEqual([7, 8, 9, 10, 11]);
  });

  it('keeps output up to the limit, says so once, discards the rest and counts it', () => {
    const { s, sent } = shipper({ limits: { lines: 3, bytes: 1_000_000 } });
    for (let i = 0; i < 10; i++) s.push(i % 2 ? 'stderr' : 'stdout', `l${i}`);
    s.push('system', 'setup note'); // system lines are never limited
    s.finish();
    s.flush();
    const lines = sent.flat();
    expect(lines.filter((l) => l.stream !== 'system').map((l) => l.line)).toEqual(['l0', 'l1', 'l2']);
    const sys = lines.filter((l) => l.stream === 'system').map((l) => l.line);
    expect(sys[0]).toContain('output limit reached after 3 lines');
    expect(sys[1]).toBe('setup note');
    expect(sys[2]).toBe('discarded 7 lines (21 bytes) past the output limit');
    expect(lines.map((l) => l.seq)).toEqual([1, 2, 3, 4, 5, 6]);
  });
});
