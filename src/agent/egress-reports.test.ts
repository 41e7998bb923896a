import { afterEach, describe, expect, it } from 'vitest';
import type { RunnerMessage } from '../protocol/messages.js';
import { RunnerMessage as RunnerMessageSchema } from '../protocol/messages.js';
import { EgressReports } from './egress-reports.js';

type Report = Extract<RunnerMessage, { type: 'egress.denied' }>;

describe('EgressReports', () => {
  let r: EgressReports | null = null;
  afterEach(() => r?.close());

  it('batches per task and host with counts, bounded, in frames the protocol accepts', () => {
    const sent: Report[] = [];
    r = new EgressReports((m) => sent.push(m) > 0, 60_000);
    for (let i = 0; i < 5000; i++) r.push('t1', { host: 'denied.test', port: 443, method: 'CONNECT', at: i });
    for (let i = 0; i < 300; i++) r.push('t1', { host: `h${i}.test`, port: 80, method: 'GET', at: i });
    r.push('t2', { host: 'x'.repeat(400), port: 80, method: 'GET', at: 1 });
    expect(sent).toEqual([]);
    r.flush();
    expect(sent.map((m) => m.taskId)).toEqual(['t1', 't2']);
    const t1 = sent[0]!.denials;
    expect(t1).toHaveLength(100);
    expect(t1.reduce((n, d) => n + d.count, 0)).toBe(5300);
    for (const m of sent) expect(RunnerMessageSchema.safeParse(m).success).toBe(true);
  });

  it('keeps what it could not send for the next flush', () => {
    let up = false;
    const sent: Report[] = [];
    r = new EgressReports((m) => up && sent.push(m) > 0, 60_000);
    r.push('t1', { host: 'a.test', port: 80, method: 'GET', at: 1 });
    r.flush();
    up = true;
    r.push('t1', { host: 'a.test', port: 80, method: 'GET', at: 2 });
    r.flush();
    expect(sent).toHaveLength(1);
    expect(sent[0]!.denials).toEqual([{ host: 'a.test', port: 80, method: 'GET', at: 2, count: 2 }]);
  });
});
