/**
 * The agents' outcome readers and log rendering, against event streams recorded from the real
 * CLIs (claude-code 2.1.332, codex 0.171.0) talking to the loopback stand-ins in test/agents.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { outcomeReader, renderLogLine } from './index.js';

const fixture = (name: string) =>
  readFileSync(new URL(`./fixtures/${name}.jsonl`, import.meta.url), 'utf8')
    .split('\n')
    .filter(Boolean);

function read(kind: 'claude' | 'codex' | 'gemini' | 'opencode', lines: string[]) {
  const r = outcomeReader(kind)!;
  for (const l of lines) r.line(l);
  return r.outcome();
}

describe('claude outcome', () => {
  it('success: the result event, its session id, usage and cost', () => {
    const o = read('claude', fixture('claude-success'));
    expect(o.status).toBe('succeeded');
    expect(o.error).toBeNull();
    expect(o.conversationId).toMatch(/^[0-9a-f-]{36}$/);
    expect(o.usage?.inputTokens).toBeGreaterThan(0);
    expect(o.costUsd).toBeGreaterThan(0);
    expect(o.permissionDenials).toEqual([]);
    expect(o.summary).toBe('Wrote hello.txt and ran the command.');
  });

  it('permission denials are recorded once each, though is_error is false', () => {
    const o = read('claude', fixture('claude-denied'));
    expect(o.status).toBe('succeeded');
    expect(o.permissionDenials.map((d) => d.tool)).toEqual(['Write', 'Bash']);
  });

  it("a 401 is a failure with Claude's own message", () => {
    const o = read('claude', fixture('claude-401'));
    expect(o.status).toBe('failed');
    expect(o.error).toContain('Invalid API key');
  });

  it('no result event: unknown, with the last API error if any', () => {
    const lines = fixture('claude-401').filter((l) => !l.includes('"type":"result"'));
    const o = read('claude', lines);
    expect(o.status).toBe('unknown');
    expect(o.error).toContain('Invalid API key');
  });

  it('ignores lines that are not JSON objects', () => {
    const o = read('claude', ['plain text', '[1,2]', '{"broken"', ...fixture('claude-success')]);
    expect(o.status).toBe('succeeded');
  });
});

describe('codex outcome', () => {
  it('success: thread id, turn usage, the final message', () => {
    const o = read('codex', fixture('codex-success'));
    expect(o.status).toBe('succeeded');
    expect(o.conversationId).toMatch(/^[0-9a-f-]{36}$/);
    expect(o.usage?.inputTokens).toBeGreaterThan(0);
    expect(o.summary).toBe('Wrote hello.txt and ran the command.');
  });

  it("a 401 is a failure with the API's message", () => {
    const o = read('codex', fixture('codex-401'));
    expect(o.status).toBe('failed');
    expect(o.error).toContain('Incorrect API key');
  });

  it('killed while reconnecting: unknown, with the last error event', () => {
    const o = read('codex', [
      '{"type":"thread.started","thread_id":"t1"}',
      '{"type":"turn.started"}',
      '{"type":"error","message":"Reconnecting... waiting for network"}',
    ]);
    expect(o).toMatchObject({ status: 'unknown', error: 'Reconnecting... waiting for network', conversationId: 't1' });
  });
});

describe('gemini and opencode outcomes (documented event shapes)', () => {
  it('gemini: init session, result status and error', () => {
    const ok = read('gemini', [
      '{"type":"init","session_id":"g1","model":"gemini-x"}',
      '{"type":"message","role":"assistant","content":"done","delta":true}',
      '{"type":"result","status":"success","stats":{"input_tokens":5,"output_tokens":2}}',
    ]);
    expect(ok).toMatchObject({ status: 'succeeded', conversationId: 'g1', summary: 'done' });
    const bad = read('gemini', ['{"type":"result","status":"error","error":{"message":"API key not valid"}}']);
    expect(bad).toMatchObject({ status: 'failed', error: 'API key not valid' });
  });

  it('opencode: session id, step tokens and cost, error events', () => {
    const ok = read('opencode', [
      '{"type":"text","sessionID":"ses_1","part":{"type":"text","text":"hi"}}',
      '{"type":"step_finish","sessionID":"ses_1","part":{"tokens":{"input":3,"output":4,"cache":{"read":1,"write":0}},"cost":0.5}}',
    ]);
    expect(ok).toMatchObject({ status: 'succeeded', conversationId: 'ses_1', costUsd: 0.5 });
    const bad = read('opencode', [
      '{"type":"error","sessionID":"s","error":{"name":"APIError","data":{"message":"Unauthorized"}}}',
    ]);
    expect(bad).toMatchObject({ status: 'failed', error: 'Unauthorized' });
    expect(read('opencode', []).status).toBe('unknown');
  });
});

describe('readable logs', () => {
  it('claude events become text, tool calls with input, tool results and a summary', () => {
    const text = fixture('claude-success').flatMap(renderLogLine).join('\n');
    expect(text).toContain('I will write the file.');
    expect(text).toContain('→ Write {"file_path":');
    expect(text).toContain('→ Bash {"command":"echo ran > ran.txt"');
    expect(text).toContain('← File created successfully');
    expect(text).toMatch(/✓ done \(3 turns, \$[0-9.]+\): Wrote hello.txt and ran the command./);
  });

  it('codex events become the command, its exit, the edit and the message', () => {
    const text = fixture('codex-success').flatMap(renderLogLine).join('\n');
    expect(text).toContain("→ /bin/bash -lc 'echo ran > ran.txt'");
    expect(text).toContain('← exit 0');
    expect(text).toContain('→ edit add ');
    expect(text).toContain('Wrote hello.txt and ran the command.');
  });

  it('other lines are printed as they are', () => {
    expect(renderLogLine('hello')).toEqual(['hello']);
    expect(renderLogLine('{"unrelated":1}')).toEqual(['{"unrelated":1}']);
  });
});
