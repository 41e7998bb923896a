/**
 * A task's output and limits with real child processes: one JSON event longer than 64 KiB
 * arrives as one line (an agent's tool result often is), a longer-than-bounded line is still cut,
 * and a task past its timeout is killed (its whole process group) and reported timed out.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { TaskAssignment } from '../protocol/messages.js';
import { MAX_LINE, RunningTask } from './task.js';

const dir = mkdtempSync(join(tmpdir(), 'marionette-task-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function assignment(script: string, timeoutMs: number | null = null): TaskAssignment {
  return {
    taskId: 'tsk_1',
    sessionId: 'ses_1',
    agent: 'shell',
    command: ['bash', '-c', script],
    env: { WHERE: '{{workspace}}/x' },
    workspace: null,
    setup: [],
    resumeAfterSeq: 0,
    outcome: 'exit',
    timeoutMs,
  };
}

function runTask(a: TaskAssignment) {
  const lines: { stream: string; text: string }[] = [];
  const t = new RunningTask(a, dir, { line: (stream, text) => lines.push({ stream, text }), started: () => {} }, null);
  return { t, lines };
}

describe('task output lines', () => {
  it('one 300 KiB JSON event arrives whole, as one line', async () => {
    const { t, lines } = runTask(
      assignment(`node -e 'process.stdout.write(JSON.stringify({type:"x",pad:"a".repeat(300*1024)})+"\\n")'`),
    );
    const r = await t.done;
    expect(r.exitCode).toBe(0);
    const out = lines.filter((l) => l.stream === 'stdout');
    expect(out).toHaveLength(1);
    expect((JSON.parse(out[0]!.text) as { pad: string }).pad).toHaveLength(300 * 1024);
  });

  it('a line past the bound is cut, so memory stays bounded', async () => {
    const { t, lines } = runTask(assignment(`head -c ${MAX_LINE + 10} /dev/zero | tr '\\0' a`));
    await t.done;
    const out = lines.filter((l) => l.stream === 'stdout');
    expect(out.map((l) => l.text.length)).toEqual([MAX_LINE, 10]);
  });

  it('{{workspace}} in the environment is the task workspace', async () => {
    const { t, lines } = runTask(assignment('echo "$WHERE"'));
    await t.done;
    expect(lines.find((l) => l.stream === 'stdout')?.text).toBe(`${dir}/x`);
  });
});

describe('task timeout', () => {
  it('kills the process group and reports timed out', async () => {
    const started = Date.now();
    const { t } = runTask(assignment('sleep 60 & sleep 60; wait', 500));
    const r = await t.done;
    expect(r.timedOut).toBe(true);
    expect(r.cancelled).toBe(false);
    expect(r.error).toBe('timed out after 1s');
    expect(Date.now() - started).toBeLessThan(30_000);
  });
});
