import { describe, expect, it } from 'vitest';
import { parseFrame, RunnerMessage } from './messages.js';

/** The zod schema's own verdict, bypassing the hand-written check of `logs` frames. */
const bySchema = (frame: unknown) => RunnerMessage.safeParse(frame).success;

describe('the logs frame check', () => {
  const line = { seq: 1, stream: 'stdout', line: 'x', ts: 1 };
  const frames: unknown[] = [
    { type: 'logs', taskId: 't', lines: [line] },
    { type: 'logs', taskId: 't', lines: [line, { ...line, seq: 2, stream: 'system', line: '\u0000\udc80' }] },
    { type: 'logs', taskId: 't', lines: [] },
    { type: 'logs', taskId: 't', lines: Array(5001).fill(line) },
    { type: 'logs', taskId: 't', lines: Array(5000).fill(line) },
    { type: 'logs', taskId: 1, lines: [line] },
    { type: 'logs', lines: [line] },
    { type: 'logs', taskId: 't', lines: [line], extra: 1 },
    { type: 'logs', taskId: 't', lines: 'no' },
    { type: 'logs', taskId: 't', lines: [null] },
    { type: 'logs', taskId: 't', lines: [[1]] },
    { type: 'logs', taskId: 't', lines: [{ ...line, seq: 0 }] },
    { type: 'logs', taskId: 't', lines: [{ ...line, seq: 1.5 }] },
    { type: 'logs', taskId: 't', lines: [{ ...line, seq: '1' }] },
    { type: 'logs', taskId: 't', lines: [{ ...line, stream: 'stdin' }] },
    { type: 'logs', taskId: 't', lines: [{ ...line, line: 5 }] },
    { type: 'logs', taskId: 't', lines: [{ ...line, ts: '1' }] },
    { type: 'logs', taskId: 't', lines: [{ ...line, extra: true }] },
    { type: 'logs', taskId: 't', lines: [{ seq: 1, stream: 'stdout', line: 'x' }] },
  ];

  it('accepts and refuses exactly what the schema does, naming the bad field', () => {
    for (const f of frames) {
      const r = parseFrame(RunnerMessage, JSON.stringify(f));
      expect(r.ok, JSON.stringify(f).slice(0, 120)).toBe(bySchema(f));
      if (!r.ok) expect(r.error).toMatch(/^(message|taskId|lines)/);
    }
    const bad = parseFrame(
      RunnerMessage,
      JSON.stringify({ type: 'logs', taskId: 't', lines: [line, { ...line, seq: -1 }] }),
    );
    expect(bad).toEqual({ ok: false, error: 'lines.1.seq: expected a positive integer' });
  });
});
