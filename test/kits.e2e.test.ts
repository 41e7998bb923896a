/**
 * Kits: user kits from marionette.yaml and the API compose with an agent card's kits and a
 * session's `--kit`s (order kept, installs deduplicated, two versions of one kit refused naming
 * both), `detect` skips an install, a failing install aborts the task naming the kit and the
 * command with its output in the log, postAcquire runs in the cloned workspace, kit env reaches
 * the task (PATH augmented), and the `git` requirement routes away from pools that lack it.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeRepo, type TestRepo } from './git.support.js';
import { type ServerHandle, startServer, until } from './harness.js';

let srv: ServerHandle;
let repo: TestRepo;
/** Where the test's kit installs its tool (one folder for every runner of the test's server). */
let tools: string;

const config = (tools: string) => `
kits:
  - id: mytool
    version: "1.0"
    detect: "test -x \\"${tools}/mytool/bin/mytool\\""
    install_commands:
      - "echo install >> \\"${tools}/mytool-installs\\""
      - "mkdir -p \\"${tools}/mytool/bin\\" && printf '#!/bin/sh\\\\necho mytool-ran\\\\n' > \\"${tools}/mytool/bin/mytool\\" && chmod +x \\"${tools}/mytool/bin/mytool\\""
    post_acquire: ["echo acquired > acquired.txt"]
    pre_release: ["true"]
    env: {MYTOOL_HOME: /opt/mytool, PATH: "${tools}/mytool/bin:$PATH"}
  - id: mytool
    version: "2.0"
    install_commands: ["true"]
  - id: present
    version: "1"
    detect: "true"
    install_commands: ["echo never-run; exit 9"]
  - id: broken
    version: "1"
    install_commands: ["echo broken-output; exit 3"]
`;

beforeAll(async () => {
  repo = makeRepo();
  tools = join(repo.root, 'tools');
  mkdirSync(tools);
  srv = await startServer({ config: config(tools) });
});
afterAll(async () => {
  await srv?.destroy();
  repo?.cleanup();
});

async function finish(
  args: string[],
): Promise<{ state: string; error: string | null; log: string; code: number; stderr: string }> {
  const r = await srv.mctl(['-o', 'json', 'sessions', 'create', ...args]);
  if (r.code !== 0) return { state: 'refused', error: null, log: '', code: r.code, stderr: r.stderr };
  const taskId = (JSON.parse(r.stdout) as { tasks: { id: string }[] }).tasks[0]!.id;
  const t = await until(
    async () => {
      const x = await srv.api<{ state: string; error: string | null }>('GET', `/v1/tasks/${taskId}`);
      return ['succeeded', 'failed', 'cancelled', 'timed_out'].includes(x.body.state) ? x.body : null;
    },
    'the task to finish',
    90_000,
  );
  const logs = await srv.api<{ items: { line: string }[] }>('GET', `/v1/tasks/${taskId}/logs?limit=5000`);
  return { state: t.state, error: t.error, log: logs.body.items.map((l) => l.line).join('\n'), code: 0, stderr: '' };
}

describe('kits', () => {
  it('lists built-in and config kits; shows one; refuses an unknown one', async () => {
    const list = await srv.mctl(['kits', 'list']);
    expect(list.code, list.stderr).toBe(0);
    for (const k of [
      'node@system',
      'python@system',
      'go@system',
      'rust@system',
      'java@system',
      'mytool@1.0',
      'mytool@2.0',
    ])
      expect(list.stdout).toContain(k);
    const show = await srv.mctl(['kits', 'show', 'mytool@1.0']);
    expect(show.stdout).toContain('(config)');
    expect(show.stdout).toContain('MYTOOL_HOME=/opt/mytool');
    const unknown = await srv.mctl(['sessions', 'create', '--agent', 'shell', '--kit', 'nope@1', '--prompt', 'true']);
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toContain('unknown kit "nope@1"');
  });

  it('a card kit and the same session kit install once; postAcquire runs in the clone; env and PATH reach the task', async () => {
    const card = await srv.api('POST', '/v1/agents', {
      name: 'tooled',
      command: ['bash', '-c', '{{prompt}}'],
      kits: ['mytool@1.0'],
    });
    expect(card.status).toBe(201);
    const f = await finish([
      '--agent',
      'tooled',
      '--kit',
      'mytool@1.0',
      '--repo',
      `file://${repo.bare}`,
      '--prompt',
      'cat acquired.txt; echo "HOME_VAR=$MYTOOL_HOME"; mytool; cat README',
    ]);
    expect(f.state, `${f.error}\n${f.log}`).toBe('succeeded');
    expect(f.log).toContain('acquired');
    expect(f.log).toContain('HOME_VAR=/opt/mytool');
    expect(f.log).toContain('mytool-ran');
    expect(f.log).toContain('version 3');
    expect(f.log.indexOf('kit mytool@1.0: installing')).toBeLessThan(f.log.indexOf('cloning'));
    const installs = readFileSync(join(tools, 'mytool-installs'), 'utf8');
    expect(installs.trim().split('\n')).toHaveLength(1);

    // A later session: detect finds the tool this runner machine installed, and skips the install.
    const again = await finish(['--agent', 'shell', '--kit', 'mytool@1.0', '--prompt', 'mytool']);
    expect(again.state, again.log).toBe('succeeded');
    expect(again.log).toMatch(/kit mytool@1\.0: (already present|installed on this runner before)/);
    expect(readFileSync(join(tools, 'mytool-installs'), 'utf8').trim().split('\n')).toHaveLength(1);
  });

  it('two versions of one kit are refused at create, naming both and where they came from', async () => {
    const f = await finish(['--agent', 'tooled', '--kit', 'mytool@2.0', '--prompt', 'true']);
    expect(f.state).toBe('refused');
    expect(f.stderr).toContain(
      'kit mytool: mytool@1.0 (from agent card tooled) conflicts with mytool@2.0 (from the session)',
    );
  });

  it('detect skips an install', async () => {
    const f = await finish(['--agent', 'shell', '--kit', 'present@1', '--prompt', 'echo ran']);
    expect(f.state, f.log).toBe('succeeded');
    expect(f.log).toContain('kit present@1: already present (detect passed), install skipped');
    expect(f.log).not.toContain('never-run');
  });

  it('a failing install aborts the task naming the kit and the command, its output in the log', async () => {
    const f = await finish(['--agent', 'shell', '--kit', 'broken@1', '--prompt', 'echo should-not-run']);
    expect(f.state).toBe('failed');
    expect(f.error).toBe('kit broken@1: install command failed (exit 3): echo broken-output; exit 3');
    expect(f.log).toContain('broken-output');
    expect(f.log).not.toContain('should-not-run');
  });

  it('user kits through the API: create, refuse a duplicate, use, delete', async () => {
    const c = await srv.mctl([
      'kits',
      'create',
      'apikit@0.1',
      '--install',
      'true',
      '--env',
      'APIKIT=yes',
      '--post-acquire',
      'echo post-ran',
    ]);
    expect(c.code, c.stderr).toBe(0);
    const dup = await srv.mctl(['kits', 'create', 'apikit@0.1']);
    expect(dup.code).not.toBe(0);
    expect(dup.stderr).toContain('already exists');
    const builtin = await srv.mctl(['kits', 'create', 'node@system']);
    expect(builtin.stderr).toContain('built in');
    const f = await finish(['--agent', 'shell', '--kit', 'apikit', '--prompt', 'echo "APIKIT=$APIKIT"']);
    expect(f.state, f.log).toBe('succeeded');
    expect(f.log).toContain('APIKIT=yes');
    expect(f.log).toContain('post-ran');
    const d = await srv.mctl(['kits', 'delete', 'apikit@0.1']);
    expect(d.code, d.stderr).toBe(0);
    const gone = await srv.mctl(['kits', 'show', 'apikit']);
    expect(gone.code).not.toBe(0);
    const bad = await srv.api('POST', '/v1/kits', { id: 'Bad Id', version: '1' });
    expect(bad.status).toBe(400);
  });

  it('a repository adds the git requirement: a pool that does not provide it is passed over with the reason', async () => {
    const pool = await srv.api('POST', '/v1/pools', {
      name: 'nogit',
      provider: 'local',
      priority: 100,
      runtimeProvides: { runtimeKinds: ['native'], requirementKinds: [] },
    });
    expect(pool.status, JSON.stringify(pool.body)).toBe(201);
    const dry = await srv.mctl([
      '-o',
      'json',
      'sessions',
      'create',
      '--agent',
      'shell',
      '--repo',
      `file://${repo.bare}`,
      '--full-history',
      '--pool',
      'nogit',
      '--dry-run',
    ]);
    expect(dry.stdout).toMatch(/requires git, full-history-clone/);
  });
});
