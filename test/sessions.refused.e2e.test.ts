/**
 * A session request the server refuses writes nothing (no session, task or event):
 * - an unknown provider id is a 400 naming the provider ids of the registry (it was accepted,
 *   and the session waited forever for a provider that does not exist);
 * - `waitForCapacity: false` with no pool that can take the session is a 422 with the verdicts
 *   (it still wrote a `failed` session with its task and event).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROVIDER_IDS } from '../src/providers/registry.js';
import { type ServerHandle, startServer } from './harness.js';
import { expectProblem, type Problem } from './problems.support.js';

describe('refused session requests', () => {
  let srv: ServerHandle;
  beforeAll(async () => {
    srv = await startServer();
  });
  afterAll(async () => {
    await srv?.destroy();
  });

  /** Everything a refused session request could have written. */
  async function written() {
    const get = async (path: string) => (await srv.api<{ items: unknown[] }>('GET', path)).body.items;
    return { sessions: await get('/v1/sessions?limit=1000'), tasks: await get('/v1/tasks?limit=1000') };
  }

  it('refuses an unknown provider id, naming the known ones from the provider registry', async () => {
    const before = await written();
    const r = await srv.api<Problem>('POST', '/v1/sessions', { agent: 'shell', provider: 'nope', prompt: 'echo hi' });
    expectProblem(r, 400, /^provider: unknown provider "nope"; known providers: /);
    for (const id of PROVIDER_IDS) expect(r.body.detail).toContain(id);
    expectProblem(
      await srv.api('POST', '/v1/sessions', { agent: 'shell', provider: 'nope', dryRun: true }),
      400,
      /unknown provider/,
    );
    expect(await written()).toEqual(before);
  });

  it('refuses an unplaceable waitForCapacity:false request with its reasons, writing nothing', async () => {
    const before = await written();
    const r = await srv.api<Problem & { verdicts: unknown[]; sessionId?: string }>('POST', '/v1/sessions', {
      agent: 'shell',
      prompt: 'echo never',
      selector: 'os=plan9',
      waitForCapacity: false,
    });
    expectProblem(r, 422, /no pool can take this session/);
    expect(r.body.verdicts.length).toBeGreaterThan(0);
    expect(r.body.sessionId).toBeUndefined();
    expect(await written()).toEqual(before);
    const failed = await srv.api<{ items: unknown[] }>('GET', '/v1/sessions?state=failed');
    expect(failed.body.items).toEqual([]);
  });
});
