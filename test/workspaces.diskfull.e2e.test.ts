/**
 * A full workspace store during a snapshot fails cleanly and loses nothing. The store
 * (`$MARIONETTE_HOME/cas`) is a small tmpfs the test mounts (root only: elsewhere the test is
 * skipped with the reason printed; CI runs as root). A `release_to_pool` suspend of a session whose
 * workspace does not fit fails with the store's reason, writes no snapshot row, and leaves the
 * session on its runner with its files, the reason recorded; the database keeps working. Once the
 * workspace fits and the store's garbage is collected (what the failed snapshot wrote belongs to no
 * snapshot), the same suspend succeeds and the resume has the files.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, type ServerHandle, type SessionView, startServer, type TaskView, until } from './harness.js';
import { Agents, createToken, idleRunners } from './pools.helpers.js';

const isRoot = process.getuid?.() === 0;
if (!isRoot) console.log('[workspaces.diskfull] skipped: mounting a tmpfs needs root (CI runs as root)');

let srv: ServerHandle | null = null;
const agents = new Agents();
let home = '';
let mounted = false;

beforeAll(async () => {
  if (!isRoot) return;
  home = mkdtempSync(join(tmpdir(), 'marionette-wsfull-'));
  mkdirSync(join(home, 'cas'));
  // Fails the test (not a skip) when root cannot mount: CI must run it.
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=3m,mode=0700', 'tmpfs', join(home, 'cas')]);
  mounted = true;
  // A grace period of 1 s, so the test can collect what the failed snapshot wrote (as an operator would).
  srv = await startServer({ home, config: 'workspaces:\n  gc_grace: 1s\n' });
  const p = await srv.mctl(['pools', 'create', 'full', '--mode', 'pool', '--provider', 'pool']);
  expect(p.code, p.stderr).toBe(0);
  const { token } = await createToken(srv, ['--pool', 'full']);
  agents.start(srv, ['--token', token, '--name', 'only']);
  await idleRunners(srv, 'full', 1);
});
afterAll(async () => {
  agents.cleanup();
  if (mounted) execFileSync('umount', ['-l', join(home, 'cas')]);
  await srv?.destroy().catch(() => {});
  if (home) rmSync(home, { recursive: true, force: true });
});

async function run(sid: string, prompt: string): Promise<string[]> {
  const t = await srv!.api<TaskView>('POST', `/v1/sessions/${sid}/tasks`, { prompt });
  expect(t.status, JSON.stringify(t.body)).toBe(201);
  const done = await until(async () => {
    const x = (await srv!.api<TaskView>('GET', `/v1/tasks/${t.body.id}`)).body;
    return ['succeeded', 'failed', 'lost', 'cancelled', 'timed_out'].includes(x.state) ? x : null;
  }, 'task to end');
  expect(done.state, done.error ?? '').toBe('succeeded');
  const logs = await srv!.api<{ items: { stream: string; line: string }[] }>('GET', `/v1/tasks/${t.body.id}/logs`);
  return logs.body.items.filter((l) => l.stream === 'stdout').map((l) => l.line);
}

const session = async (id: string) => (await srv!.api<SessionView>('GET', `/v1/sessions/${id}`)).body;
const settle = (id: string, state: string) =>
  until(async () => ((await session(id)).state === state ? session(id) : null), `session ${id} ${state}`);

describe.skipIf(!isRoot)('a full workspace store', { timeout: 180_000 }, () => {
  it('fails the snapshot cleanly, keeps the session and its files, and works once there is room', async () => {
    const created = await srv!.api<SessionView>('POST', '/v1/sessions', { agent: 'shell', pool: 'full' });
    expect(created.status).toBe(201);
    const sid = created.body.id;
    // 8 MB that does not compress, into a 3 MB store.
    await run(sid, 'echo keep > notes.txt; head -c 8000000 /dev/urandom > big.bin');
    await settle(sid, 'idle');

    const sus = await srv!.mctl(['sessions', 'suspend', sid]);
    expect(sus.code).not.toBe(0);
    expect(sus.stderr).toMatch(/snapshot of session .* failed/);
    expect(sus.stderr).toMatch(/no space|ENOSPC|full/i);
    expect(sus.stderr).not.toMatch(/\n\s+at /); // no stack trace
    const after = await settle(sid, 'idle');
    expect(after.stateReason ?? '').toMatch(/failed/);
    expect(after.runnerId).not.toBeNull();
    const rows = json<unknown[]>(await srv!.mctl(['-o', 'json', 'workspaces', 'list', '--session', sid]));
    expect(rows).toEqual([]);
    // The session still works on its files; the database answers.
    expect(await run(sid, 'cat notes.txt; test -f big.bin && echo big-there')).toEqual(['keep', 'big-there']);
    expect((await srv!.api('GET', '/v1/healthz')).status).toBe(200);

    await run(sid, 'rm big.bin');
    await settle(sid, 'idle');
    // What the failed snapshot stored belongs to no snapshot: collecting it makes the room back.
    await new Promise((r) => setTimeout(r, 1500));
    const gc = await srv!.mctl(['workspaces', 'gc']);
    expect(gc.code, gc.stderr).toBe(0);
    const ok = await srv!.mctl(['sessions', 'suspend', sid]);
    expect(ok.code, ok.stderr).toBe(0);
    await settle(sid, 'suspended');
    const snaps = json<{ reason: string }[]>(await srv!.mctl(['-o', 'json', 'workspaces', 'list', '--session', sid]));
    expect(snaps.map((s) => s.reason)).toEqual(['suspend']);
    expect((await srv!.mctl(['sessions', 'resume', sid])).code).toBe(0);
    expect(await run(sid, 'cat notes.txt; ls')).toEqual(['keep', 'notes.txt']);
  });
});
