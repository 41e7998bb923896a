/**
 * A docker session on a real engine, end to end: its repository is cloned inside the container
 * (over git:// from a `git daemon` container this test starts on a network of its own; nothing
 * leaves the machine), `mctl sessions exec` streams from inside the container, and
 * `mctl sessions cp` copies a file and a directory in and out of its /workspace.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { TEST_IMAGE } from '../src/providers/docker/docker.test-support.js';
import {
  createSession,
  docker,
  dockerDescribe,
  ensureTestImage,
  forceClean,
  sessionIn,
  startDockerServer,
  taskDone,
  taskLines,
} from './docker.support.js';
import { makeRepo, type TestRepo } from './git.support.js';
import type { ServerHandle } from './harness.js';

dockerDescribe('docker session: clone, exec and cp', () => {
  let srv: ServerHandle;
  let prefix: string;
  let repo: TestRepo;
  let here: string;
  const net = `mtest-git-${randomBytes(4).toString('hex')}`;
  let gitd: { id: string } | null = null;
  beforeAll(async () => {
    await ensureTestImage();
    repo = makeRepo();
    here = mkdtempSync(join(tmpdir(), 'mctl-dcp-'));
    await docker.createNetwork({ Name: net, Driver: 'bridge', Internal: true });
    const c = await docker.createContainer({
      Image: TEST_IMAGE,
      User: '0:0',
      Entrypoint: [
        'git',
        'daemon',
        '--export-all',
        '--reuseaddr',
        '--base-path=/srv',
        '--listen=0.0.0.0',
        '--port=9418',
        '/srv',
      ],
      Cmd: [],
      HostConfig: { NetworkMode: net, Binds: [`${repo.root}:/srv:ro`] },
      NetworkingConfig: { EndpointsConfig: { [net]: { Aliases: ['gitd'] } } },
    });
    gitd = c;
    await c.start();
    ({ srv, prefix } = await startDockerServer({
      pools: `d: {provider: docker, mode: managed, max_runners: 1, sandbox_config: {network: ${net}}}`,
    }));
  });
  afterAll(async () => {
    await srv?.destroy();
    if (prefix) await forceClean(prefix);
    if (gitd)
      await docker
        .getContainer(gitd.id)
        .remove({ force: true })
        .catch(() => {});
    await docker
      .getNetwork(net)
      .remove()
      .catch(() => {});
    repo?.cleanup();
    if (here) rmSync(here, { recursive: true, force: true });
  });

  it('clones in the container; exec streams; cp goes both ways', async () => {
    const s = await createSession(srv, {
      pool: 'd',
      repo: { url: 'git://gitd/repo.git', ref: 'feature' },
      prompt: 'cat README FEATURE; pwd',
    });
    const t = s.tasks![0]!;
    const done = await taskDone(srv, t.id, 180_000);
    const lines = await taskLines(srv, t.id);
    expect(done.state, `${done.error}\n${lines.join('\n')}`).toBe('succeeded');
    expect(lines).toEqual(['version 3', 'feature', '/workspace']);
    await sessionIn(srv, s.id, ['idle']);

    const head = await srv.mctl(['sessions', 'exec', s.id, '--', 'git', 'rev-parse', 'HEAD']);
    expect(head.code, head.stderr).toBe(0);
    expect(head.stdout.trim()).toBe(repo.feature);

    writeFileSync(join(here, 'in.txt'), 'into the box\n');
    mkdirSync(join(here, 'dir', 'sub'), { recursive: true });
    writeFileSync(join(here, 'dir', 'sub', 'f.txt'), 'nested\n');
    for (const [a, b] of [
      [join(here, 'in.txt'), `${s.id}:in.txt`],
      [join(here, 'dir'), `${s.id}:.`],
    ] as const) {
      const r = await srv.mctl(['sessions', 'cp', a, b]);
      expect(r.code, r.stderr).toBe(0);
    }
    const ex = await srv.mctl([
      'sessions',
      'exec',
      s.id,
      '--',
      'bash',
      '-c',
      'cat in.txt dir/sub/f.txt; stat -c %u in.txt',
    ]);
    expect(ex.code, ex.stderr).toBe(0);
    expect(ex.stdout).toBe('into the box\nnested\n1000\n');

    const out = await srv.mctl(['sessions', 'cp', `${s.id}:/workspace/FEATURE`, join(here, 'FEATURE.copy')]);
    expect(out.code, out.stderr).toBe(0);
    expect(readFileSync(join(here, 'FEATURE.copy'), 'utf8')).toBe('feature\n');
    const outside = await srv.mctl(['sessions', 'cp', `${s.id}:/etc/passwd`, join(here, 'x')]);
    expect(outside.code).toBe(1);
    expect(outside.stderr).toContain('outside the session');
    await srv.mctl(['sessions', 'cancel', s.id]);
  });
});
