/**
 * A workspace moves between providers through the store: a session on the `local` provider is
 * suspended (`terminate_preserve_storage` snapshots its workspace first), its local pool is turned
 * off, and the resume is placed on the `docker` provider, whose new container restores every
 * file, mode and symlink from the store over the gateway before the next task runs.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  createSession,
  dockerDescribe,
  ensureTestImage,
  forceClean,
  runTask,
  sessionIn,
  startDockerServer,
  taskDone,
} from './docker.support.js';
import { json, type ServerHandle } from './harness.js';

const BUILD = [
  'set -e',
  'mkdir -p src/lib',
  "printf 'hello\\n' > src/lib/a.txt",
  "printf '#!/bin/sh\\necho hi\\n' > run.sh && chmod 755 run.sh",
  'printf secret > key && chmod 600 key',
  'head -c 200000 /dev/urandom > blob.bin',
  'ln -s src/lib/a.txt link',
].join('\n');
const LIST = [
  'find . -mindepth 1 | LC_ALL=C sort | while IFS= read -r p; do',
  '  if [ -L "$p" ]; then echo "L $p -> $(readlink "$p")";',
  '  elif [ -d "$p" ]; then echo "D $p $(stat -c %a "$p")";',
  '  else echo "F $p $(stat -c \'%a %s\' "$p") $(sha256sum < "$p" | cut -c1-16)"; fi',
  'done',
].join('\n');

/** The provider of the session's sandbox, as the API shows it. */
const providerOf = (s: object) => (s as { sandboxProvider?: string | null }).sandboxProvider;

dockerDescribe('workspaces across providers', () => {
  let srv: ServerHandle;
  let prefix: string;
  beforeAll(async () => {
    await ensureTestImage();
    ({ srv, prefix } = await startDockerServer({
      pools: [
        'local: {provider: local, mode: managed, priority: 20, max_runners: 2}',
        'dock: {provider: docker, mode: managed, priority: 10, max_runners: 2}',
      ].join('\n'),
    }));
  });
  afterAll(async () => {
    await srv?.destroy();
    if (prefix) await forceClean(prefix);
  });

  it('local -> docker: the resume on another provider restores the workspace from the store', {
    timeout: 180_000,
  }, async () => {
    const s = await createSession(srv, { prompt: BUILD });
    expect((await taskDone(srv, s.tasks![0]!.id)).state).toBe('succeeded');
    const onLocal = await sessionIn(srv, s.id, ['idle']);
    expect(providerOf(onLocal)).toBe('local');
    const before = await runTask(srv, s.id, LIST);
    expect(before).toContain('L ./link -> src/lib/a.txt');
    await sessionIn(srv, s.id, ['idle']);

    const sus = await srv.mctl(['-o', 'json', 'sessions', 'suspend', s.id]);
    expect(sus.code, sus.stderr).toBe(0);
    await sessionIn(srv, s.id, ['suspended']);
    const snaps = json<{ reason: string }[]>(await srv.mctl(['-o', 'json', 'workspaces', 'list', '--session', s.id]));
    expect(snaps.map((x) => x.reason)).toEqual(['suspend']);

    const off = await srv.api('PATCH', '/v1/pools/local', { active: false });
    expect(off.status, JSON.stringify(off.body)).toBe(200);
    const res = await srv.mctl(['sessions', 'resume', s.id]);
    expect(res.code, res.stderr).toBe(0);
    const after = await runTask(srv, s.id, LIST);
    const onDocker = await sessionIn(srv, s.id, ['idle', 'active']);
    expect(providerOf(onDocker)).toBe('docker');
    expect(after).toEqual(before);
    expect((await srv.mctl(['sessions', 'cancel', s.id])).code).toBe(0);
  });
});
