/**
 * `mctl ... --wait` says what it made and how it ended: the id at once on stdout, the final state
 * at the end, and with `-o json` the session (task) as finished. `sessions show` is `get`, and a
 * session's JSON names its provider (`sandboxProvider`).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, type ServerHandle, startServer } from './harness.js';

interface Session {
  id: string;
  state: string;
  sandboxProvider: string | null;
  tasks: { id: string; state: string; exitCode: number | null }[];
}

describe('mctl --wait output', () => {
  let srv: ServerHandle;
  beforeAll(async () => {
    srv = await startServer();
  });
  afterAll(async () => {
    await srv?.destroy();
  });

  it('sessions create --wait prints the session id, then the final state', async () => {
    const r = await srv.mctl(['sessions', 'create', '--agent', 'shell', '--prompt', 'echo hi', '--wait']);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^ses_\S+$/);
    expect(lines[1]).toMatch(new RegExp(`^task tsk_\\S+ succeeded; session ${lines[0]} (active|idle)$`));
  });

  it('a failed task: the id, the final state with the exit code, and that exit status', async () => {
    const r = await srv.mctl(['sessions', 'create', '--agent', 'shell', '--prompt', 'exit 7', '--wait']);
    expect(r.code).toBe(7);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^ses_\S+$/);
    expect(lines[1]).toMatch(/^task tsk_\S+ failed \(exit 7\)/);
    expect(r.stderr).toContain('exit code 7');
  });

  it('-o json --wait prints the session as finished, not as created', async () => {
    const r = await srv.mctl(['-o', 'json', 'sessions', 'create', '--agent', 'shell', '--prompt', 'true', '--wait']);
    expect(r.code, r.stderr).toBe(0);
    const s = json<Session>(r);
    expect(s.id).toMatch(/^ses_/);
    expect(s.tasks[0]?.state).toBe('succeeded');
    expect(s.tasks[0]?.exitCode).toBe(0);
    expect(s.sandboxProvider).toBe('local');
  });

  it('tasks create --wait prints the task id, then the final state; -o json the finished task', async () => {
    const s = json<Session>(await srv.mctl(['-o', 'json', 'sessions', 'create', '--agent', 'shell']));
    const t = await srv.mctl(['tasks', 'create', '--session', s.id, '--prompt', 'true', '--wait']);
    expect(t.code, t.stderr).toBe(0);
    const lines = t.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^tsk_\S+$/);
    expect(lines[1]).toBe(`task ${lines[0]} succeeded; session ${s.id} ${lines[1]!.split(' ').pop()}`);
    const j = await srv.mctl(['-o', 'json', 'tasks', 'create', '--session', s.id, '--prompt', 'true', '--wait']);
    expect(j.code, j.stderr).toBe(0);
    expect(json<{ state: string }>(j).state).toBe('succeeded');
  });

  it('sessions show works like get, and its JSON names the provider (sandboxProvider)', async () => {
    const id = (await srv.mctl(['sessions', 'create', '--agent', 'shell', '--prompt', 'true', '--wait'])).stdout.split(
      '\n',
    )[0]!;
    const show = await srv.mctl(['-o', 'json', 'sessions', 'show', id]);
    const get = await srv.mctl(['-o', 'json', 'sessions', 'get', id]);
    expect(show.code, show.stderr).toBe(0);
    const a = json<Session>(show);
    expect(a.sandboxProvider).toBe('local');
    expect(a.id).toBe(json<Session>(get).id);
    const table = await srv.mctl(['sessions', 'show', id]);
    expect(table.stdout).toMatch(/PROVIDER/);
    expect(table.stdout).toContain(id);
  });
});
