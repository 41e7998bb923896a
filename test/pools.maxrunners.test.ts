/**
 * max_runners holds under racing provisioning: the assigner and the autoscaler may both decide a
 * managed pool has room at the same moment; the count and the new runner row are one transaction,
 * so only as many runners as there are slots come to exist and the rest are refused with PoolFull.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadServerConfig } from '../src/config/index.js';
import { type RunningServer, startServer } from '../src/server/main.js';
import { PoolFull } from '../src/server/runner-provision.js';

let home: string;
let srv: RunningServer;

beforeAll(async () => {
  home = mkdtempSync(join(tmpdir(), 'marionette-maxrunners-'));
  const cfg = join(home, 'marionette.yaml');
  writeFileSync(
    cfg,
    ['server: { log_level: warn }', 'pools:', '  capped: { provider: local, max_runners: 2 }', ''].join('\n'),
  );
  srv = await startServer(loadServerConfig({ config: cfg, home, port: 0, gatewayPort: 0 }, {}));
});

afterAll(async () => {
  await srv?.close({ terminateRunners: true });
  rmSync(home, { recursive: true, force: true });
});

describe('max_runners', () => {
  it('lets racing provisions fill the free slots and refuses the rest', async () => {
    const pool = (await srv.sessions.allPools()).find((p) => p.name === 'capped')!;
    const results = await Promise.allSettled(Array.from({ length: 5 }, () => srv.runners.provision(pool, null)));
    const made = results.filter((r) => r.status === 'fulfilled');
    const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(made).toHaveLength(2);
    expect(refused).toHaveLength(3);
    for (const r of refused) {
      expect(r.reason).toBeInstanceOf(PoolFull);
      expect((r.reason as Error).message).toContain('pool capped already has its max_runners (2) live runners');
    }
    expect(await srv.ctx.store.runners.countLive(pool.id)).toBe(2);
  });
});
