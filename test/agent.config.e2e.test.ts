/**
 * `marionette-agent --config FILE`: a runner joins with its token, pool, labels and name from a
 * YAML file (flags and env still win), and a bad file is refused naming the key.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, run, type ServerHandle, startServer, until } from './harness.js';
import { Agents, createToken, poolRunners } from './pools.helpers.js';

let srv: ServerHandle;
const agents = new Agents();
beforeAll(async () => {
  srv = await startServer();
  const p = await srv.mctl(['pools', 'create', 'cfgpool', '--mode', 'pool', '--provider', 'pool']);
  expect(p.code, p.stderr).toBe(0);
});
afterAll(async () => {
  agents.cleanup();
  await srv?.destroy();
});

describe('agent config file', () => {
  it('joins with the token, pool, labels and name from the file', async () => {
    const { token } = await createToken(srv, ['--pool', 'cfgpool']);
    const file = join(srv.home, 'agent.yaml');
    writeFileSync(file, `token: ${token}\npool: cfgpool\nname: from-file\nlabels:\n  os: linux\n  vram: 24GB\n`);
    agents.start(srv, ['--config', file]);
    const [runner] = await until(async () => {
      const rs = (await poolRunners(srv, 'cfgpool')).filter((r) => r.state === 'idle');
      return rs.length ? rs : null;
    }, 'runner joined from config file');
    expect(runner!.name).toBe('from-file');
    expect(runner!.labels).toEqual({ os: 'linux', vram: '24GB' });
    const r = await srv.mctl([
      'sessions',
      'create',
      '--agent',
      'shell',
      '--selector',
      'vram>=16GB',
      '--prompt',
      'echo on-file-runner',
      '--wait',
    ]);
    expect(r.code, r.stderr).toBe(0);
  });

  it('refuses an unknown key, naming the file and the key', async () => {
    const file = join(srv.home, 'bad.yaml');
    writeFileSync(file, 'server: 127.0.0.1:1\ncolour: blue\n');
    const r = await run(BIN.agent, ['--config', file], {}, 20_000);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${file}: unknown key colour`);
  });
});
