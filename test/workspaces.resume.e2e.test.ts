/**
 * Workspaces through the store, end to end with real pool runners: a `release_to_pool` suspend
 * snapshots the workspace, and the resume on another runner gets every file, mode and symlink back;
 * the snapshot downloads as a tar that unpacks to the same tree; two forks of one checkpoint share
 * its chunks, each starts from its files, and they diverge (the diff says how); collection frees
 * an ended fork's snapshot and what only it used, and every kept snapshot still reads whole; a
 * corrupt and a missing chunk each fail a fork's restore naming the snapshot and the path.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FsBackend, readManifest } from '../src/cas/index.js';
import { json, type ServerHandle, type SessionView, startServer, type TaskView, until } from './harness.js';
import { Agents, createToken, idleRunners } from './pools.helpers.js';

let srv: ServerHandle;
const agents = new Agents();
const scratch = mkdtempSync(join(tmpdir(), 'mrn-ws-e2e-'));

beforeAll(async () => {
  // Collection only on demand, with a grace of a second and no grace for ended sessions' snapshots.
  srv = await startServer({ config: 'workspaces: {gc_interval: 0, gc_grace: 1s, ended_retention: 0}\n' });
  const p = await srv.mctl(['pools', 'create', 'farm', '--mode', 'pool', '--provider', 'pool', '--priority', '10']);
  expect(p.code, p.stderr).toBe(0);
  const { token } = await createToken(srv, ['--pool', 'farm']);
  for (const who of ['a', 'b', 'c', 'd'])
    agents.start(srv, ['--token', token, '--name', who, '--labels', `who=${who}`]);
  await idleRunners(srv, 'farm', 4);
});
afterAll(async () => {
  agents.cleanup();
  await srv?.destroy();
  rmSync(scratch, { recursive: true, force: true });
});

const LONG = 'n'.repeat(120);
/** A tree with what a workspace holds: modes, an empty file, a binary and its copy, symlinks (one dangling), spaces, a long path, 3000 small files. */
const BUILD = [
  'set -e',
  'mkdir -p src/deep/er/still "with space"',
  "printf 'hello\\n' > src/a.txt",
  "printf '#!/bin/sh\\necho hi\\n' > run.sh && chmod 755 run.sh",
  'printf secret > private.key && chmod 600 private.key',
  ': > empty',
  'head -c 300000 /dev/urandom > blob.bin && cp blob.bin blob-copy.bin',
  'ln -s src/a.txt link-to-a && ln -s missing/target dangling',
  'echo x > "with space/file name.txt"',
  `echo deep > src/deep/er/still/${LONG}.txt`,
  'chmod 700 src/deep',
  // Past the store's batch of 256 ids per query, many times over.
  'mkdir many && for i in $(seq 1 1500); do echo "file $i" > many/f$i; done',
].join('\n');
/** One line per entry: type, path, mode, size and content hash (files) or target (symlinks). */
const LIST = [
  'echo "many: $(ls many | wc -l) $(cd many && ls | LC_ALL=C sort | xargs cat | sha256sum | cut -c1-16)"',
  "find . -mindepth 1 -not -path './many/*' | LC_ALL=C sort | while IFS= read -r p; do",
  '  if [ -L "$p" ]; then echo "L $p -> $(readlink "$p")";',
  '  elif [ -d "$p" ]; then echo "D $p $(stat -c %a "$p")";',
  '  else echo "F $p $(stat -c \'%a %s\' "$p") $(sha256sum < "$p" | cut -c1-16)"; fi',
  'done',
].join('\n');

const session = async (id: string) => (await srv.api<SessionView>('GET', `/v1/sessions/${id}`)).body;

async function finished(taskId: string): Promise<TaskView> {
  const t = await until(
    async () => {
      const t = (await srv.api<TaskView>('GET', `/v1/tasks/${taskId}`)).body;
      return ['succeeded', 'failed', 'lost', 'cancelled', 'timed_out'].includes(t.state) ? t : null;
    },
    `task ${taskId} to end`,
    60_000,
  );
  expect(t.state, t.error ?? '').toBe('succeeded');
  return t;
}

/** Runs `prompt` as a new task of `sid` and returns the task and its stdout lines. */
async function run(sid: string, prompt: string): Promise<{ task: TaskView; lines: string[] }> {
  const t = await srv.api<TaskView>('POST', `/v1/sessions/${sid}/tasks`, { prompt });
  expect(t.status, JSON.stringify(t.body)).toBe(201);
  const task = await finished(t.body.id);
  const logs = await srv.api<{ items: { taskId: string; stream: string; line: string }[] }>(
    'GET',
    `/v1/tasks/${task.id}/logs?limit=10000`,
  );
  return { task, lines: logs.body.items.filter((l) => l.stream === 'stdout').map((l) => l.line) };
}

async function settle(sid: string, states: string[]): Promise<SessionView> {
  return until(
    async () => {
      const s = await session(sid);
      return states.includes(s.state) ? s : null;
    },
    `session ${sid} to be ${states.join('/')}`,
  );
}

interface Snap {
  id: string;
  sessionId: string;
  reason: string;
  files: number;
  bytes: number;
  bytesNew: number;
  manifestId: string;
}

describe('workspaces through the store', { timeout: 400_000 }, () => {
  let sid = '';
  let before: string[] = [];

  it('release_to_pool snapshots the workspace; the resume on another runner has every file, mode and symlink', async () => {
    const created = await srv.api<SessionView>('POST', '/v1/sessions', { agent: 'shell', pool: 'farm', prompt: BUILD });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    sid = created.body.id;
    await finished(created.body.tasks[0]!.id);
    await settle(sid, ['idle']);
    const listed = await run(sid, LIST);
    before = listed.lines;
    expect(before.length).toBeGreaterThan(12);
    expect(before[0]).toMatch(/^many: 1500 [0-9a-f]{16}$/);
    expect(before).toContain('L ./dangling -> missing/target');
    expect(before.some((l) => l.startsWith('F ./private.key 600 '))).toBe(true);
    const firstRunner = listed.task.runnerId!;
    await settle(sid, ['idle']);

    const sus = await srv.mctl(['sessions', 'suspend', sid]);
    expect(sus.code, sus.stderr).toBe(0);
    await settle(sid, ['suspended']);
    const snaps = json<Snap[]>(await srv.mctl(['-o', 'json', 'workspaces', 'list', '--session', sid]));
    expect(snaps).toHaveLength(1);
    expect(snaps[0]).toMatchObject({ sessionId: sid, reason: 'suspend' });
    expect(snaps[0]!.bytes).toBeGreaterThan(600_000);

    // Occupy the runner that held it, so the resume has to land on another one.
    const who = (await srv.api<{ labels: Record<string, string> }>('GET', `/v1/runners/${firstRunner}`)).body.labels
      .who;
    const blocker = await srv.api<SessionView>('POST', '/v1/sessions', {
      agent: 'shell',
      pool: 'farm',
      selector: `who=${who}`,
      prompt: 'sleep 600',
    });
    expect(blocker.status).toBe(201);
    await until(
      async () => (await session(blocker.body.id)).tasks[0]?.state === 'running',
      'the blocker to run on the first runner',
    );
    expect((await srv.mctl(['sessions', 'resume', sid])).code).toBe(0);
    const after = await run(sid, LIST);
    expect(after.task.runnerId).not.toBe(firstRunner);
    expect(after.lines).toEqual(before);
    expect((await srv.mctl(['sessions', 'cancel', blocker.body.id])).code).toBe(0);
  });

  it('downloads a snapshot as a tar that unpacks to the same tree', async () => {
    const [snap] = json<Snap[]>(await srv.mctl(['-o', 'json', 'workspaces', 'list', '--session', sid]));
    const tarFile = join(scratch, 'snap.tar');
    const d = await srv.mctl(['workspaces', 'download', snap!.id, '--file', tarFile]);
    expect(d.code, d.stderr).toBe(0);
    const out = join(scratch, 'unpacked');
    mkdirSync(out);
    const x = spawnSync('tar', ['-xf', tarFile, '-C', out], { encoding: 'utf8' });
    expect(x.status, x.stderr).toBe(0);
    const l = spawnSync('bash', ['-c', LIST], { cwd: out, encoding: 'utf8' });
    expect(l.stdout.split('\n').filter(Boolean)).toEqual(before);
    const show = await srv.mctl(['workspaces', 'show', snap!.id]);
    expect(show.code, show.stderr).toBe(0);
    expect(show.stdout).toContain('blob-copy.bin');
  });

  it('forks a checkpoint twice: both start from its files, share its chunks and diverge', async () => {
    await settle(sid, ['idle']);
    const cp = await srv.mctl(['-o', 'json', 'sessions', 'snapshot', sid]);
    expect(cp.code, cp.stderr).toBe(0);
    const checkpoint = json<Snap>(cp);
    expect(checkpoint.reason).toBe('checkpoint');
    // Nothing changed since the suspend's snapshot: nothing new went to the store but a manifest piece.
    expect(checkpoint.bytesNew).toBeLessThan(100_000);

    const forks: string[] = [];
    for (const [i, change] of ['echo one > fork.txt', 'echo two > fork.txt; rm empty'].entries()) {
      const f = await srv.mctl(['-o', 'json', 'sessions', 'fork', sid, '--snapshot', checkpoint.id]);
      expect(f.code, f.stderr).toBe(0);
      const fork = json<SessionView>(f);
      forks.push(fork.id);
      const listed = await run(fork.id, LIST);
      expect(listed.lines, `fork ${i}`).toEqual(before);
      await run(fork.id, change);
    }
    const snaps: Snap[] = [];
    for (const f of forks) {
      await settle(f, ['idle']);
      const r = await srv.mctl(['-o', 'json', 'sessions', 'snapshot', f]);
      expect(r.code, r.stderr).toBe(0);
      snaps.push(json<Snap>(r));
    }
    // Each fork's snapshot adds only what it changed (and a manifest piece): the 600 KB of binaries are the checkpoint's chunks.
    for (const s of snaps) expect(s.bytesNew).toBeLessThan(100_000);
    const diff = await srv.mctl(['-o', 'json', 'workspaces', 'diff', snaps[0]!.id, snaps[1]!.id]);
    expect(diff.code, diff.stderr).toBe(0);
    expect(json(diff)).toMatchObject({ added: [], removed: ['empty'], changed: ['fork.txt'] });
    const fromCheckpoint = json<{ added: string[] }>(
      await srv.mctl(['-o', 'json', 'workspaces', 'diff', checkpoint.id, snaps[0]!.id]),
    );
    expect(fromCheckpoint.added).toEqual(['fork.txt']);
    endedFork = { sid: forks[1]!, snap: snaps[1]!.id };
    keptFork = snaps[0]!.id;
  });

  it('collects an ended session’s snapshots and only what no kept snapshot uses', async () => {
    expect((await srv.mctl(['sessions', 'cancel', endedFork.sid])).code).toBe(0);
    const objects = () => readdirSync(join(srv.home, 'cas', 'objects'), { recursive: true }).length;
    const before = objects();
    const dry = await srv.mctl(['-o', 'json', 'workspaces', 'gc', '--dry-run']);
    expect(dry.code, dry.stderr).toBe(0);
    // The ended fork's two rows: its first (the fork) and its checkpoint.
    expect(json(dry)).toMatchObject({ dryRun: true, snapshotsDeleted: 2 });
    expect(objects()).toBe(before);
    await new Promise((r) => setTimeout(r, 1500)); // past the grace period
    const gc = await srv.mctl(['workspaces', 'gc']);
    expect(gc.code, gc.stderr).toBe(0);
    expect(gc.stdout).toMatch(/^freed [1-9]\d* objects .*; 2 snapshots removed by retention/);
    expect((await srv.api('GET', `/v1/workspaces/${endedFork.snap}`)).status).toBe(404);
    // Every kept snapshot still reads whole (a download verifies every chunk).
    for (const s of json<Snap[]>(await srv.mctl(['-o', 'json', 'workspaces', 'list']))) {
      const d = await srv.mctl(['workspaces', 'download', s.id, '--file', join(scratch, `${s.id}.tar`)]);
      expect(d.code, `${s.id}: ${d.stderr}`).toBe(0);
    }
    expect(json<Snap[]>(await srv.mctl(['-o', 'json', 'workspaces', 'list'])).map((s) => s.id)).toContain(keptFork);
  });

  it('a corrupt chunk and a missing chunk each fail the restore naming the snapshot and the path', async () => {
    const snap = (await srv.api<Snap>('GET', `/v1/workspaces/${keptFork}`)).body;
    const store = new FsBackend(join(srv.home, 'cas'));
    let chunk = '';
    for await (const e of readManifest(store, snap.manifestId)) if (e.path === 'blob.bin') chunk = e.chunks![1]!;
    expect(chunk).toMatch(/^[0-9a-f]{64}$/);
    const file = join(srv.home, 'cas', 'objects', chunk.slice(0, 2), chunk.slice(2));
    const good = readFileSync(file);
    for (const [what, damage] of [
      ['corrupt', () => writeFileSync(file, Buffer.concat([good.subarray(0, 8), Buffer.from('garbage')]))],
      ['missing', () => rmSync(file)],
    ] as const) {
      damage();
      const f = await srv.mctl(['-o', 'json', 'sessions', 'fork', snap.sessionId, '--snapshot', snap.id]);
      expect(f.code, f.stderr).toBe(0);
      const fork = json<SessionView>(f);
      const t = await srv.api<TaskView>('POST', `/v1/sessions/${fork.id}/tasks`, { prompt: 'ls' });
      const failed = await until(async () => {
        const x = (await srv.api<TaskView>('GET', `/v1/tasks/${t.body.id}`)).body;
        return ['succeeded', 'failed', 'lost'].includes(x.state) ? x : null;
      }, `the ${what} chunk's restore to end`);
      expect(failed.state, what).toBe('failed');
      // The fork's own first snapshot, which names the same manifest.
      const first = (await srv.api<{ latest: Snap }>('GET', `/v1/sessions/${fork.id}/workspace`)).body.latest;
      expect(first.manifestId).toBe(snap.manifestId);
      expect(failed.error, what).toContain(first.id);
      expect(failed.error, what).toContain(what);
      expect(failed.error, what).toMatch(/blob(-copy)?\.bin/); // the copy shares the chunk
      expect((await srv.mctl(['sessions', 'cancel', fork.id])).code).toBe(0);
    }
    writeFileSync(file, good);
  });
});

let endedFork = { sid: '', snap: '' };
let keptFork = '';
