/**
 * Tenancy end to end, on the real server: orgs, projects and members through the API and `mctl`;
 * a second org's token gets 404 (never 403) for every kind of the first org's resources, by id
 * and by name, for reads and writes, and the first org's counts are unchanged; a session of the
 * second org is never placed on, nor told about, the first org's pools; bad input (duplicate
 * names, unknown org or project, deleting the default org or project) is refused naming why; and
 * `mctl dispatch --project P --sandbox-pool POOL` runs a prompt in that project on that pool.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore, type Store } from '../src/store/index.js';
import { type ServerHandle, type SessionView, startServer, until } from './harness.js';
import { expectProblem } from './problems.support.js';

type Listing = { items: { id?: string; name?: string }[] };

describe('tenancy', () => {
  let srv: ServerHandle;
  let store: Store;
  let acme: { id: string; name: string };
  let acmeToken: string;
  const D = () => undefined; // the default org's token (the harness's)
  const A = () => acmeToken;

  beforeAll(async () => {
    srv = await startServer();
    const r = await srv.api<{ id: string; name: string; default: boolean }>('POST', '/v1/orgs', { name: 'acme' });
    expect(r.status).toBe(201);
    expect(r.body.default).toBe(false);
    acme = r.body;
    // The tokens part owns how tokens are made through the API; the store makes one for the test.
    store = await openStore({ home: srv.home });
    acmeToken = (await store.auth.createApiToken(acme.id, 'acme-admin', 'admin')).token;
  });
  afterAll(async () => {
    await store?.close();
    await srv?.destroy();
  });

  it("refuses another org every kind of resource with 404, leaving the owner's counts unchanged", async () => {
    // The default org's resources of every kind.
    const created = await srv.api<SessionView>('POST', '/v1/sessions', { agent: 'shell', prompt: 'echo tenancy-ok' });
    expect(created.status).toBe(201);
    const session = created.body;
    const task = session.tasks[0]!;
    await until(
      async () => {
        const t = await srv.api<{ state: string }>('GET', `/v1/tasks/${task.id}`);
        return t.body.state === 'succeeded';
      },
      'the default org task to succeed',
      60_000,
    );
    const pool = await srv.api<{ id: string }>('POST', '/v1/pools', { name: 'secret-pool', mode: 'pool' });
    expect(pool.status).toBe(201);
    expect((await srv.api('POST', '/v1/profiles', { name: 'secret-profile' })).status).toBe(201);
    expect(
      (await srv.api('POST', '/v1/agents', { name: 'secret-agent', command: ['echo', '{{prompt}}'] })).status,
    ).toBe(201);
    const regToken = await srv.api<{ id: string }>('POST', '/v1/runners/tokens', { pool: 'secret-pool' });
    expect(regToken.status).toBe(201);
    expect((await srv.api('POST', '/v1/projects', { name: 'web' })).status).toBe(201);
    expect((await srv.api('POST', '/v1/members', { name: 'alice@example.com', role: 'admin' })).status).toBe(201);
    const runnerId = (await srv.api<SessionView>('GET', `/v1/sessions/${session.id}`)).body.runnerId;
    expect(runnerId).toBeTruthy();
    const defaultOrg = (await srv.api<Listing>('GET', '/v1/orgs')).body.items.find((o) => o.name === 'default')!;
    await store.costs.addRunnerCost(
      {
        id: runnerId!,
        orgId: defaultOrg.id!,
        sessionId: session.id,
        poolId: pool.body.id,
        providerId: 'local',
        createdAt: Date.now() - 1000,
      },
      Date.now(),
      'per-second',
    );

    const lists = [
      '/v1/sessions',
      '/v1/tasks',
      '/v1/runners?all=true',
      '/v1/pools',
      '/v1/profiles',
      '/v1/agents',
      '/v1/runners/tokens',
      '/v1/costs',
      '/v1/projects',
      '/v1/members',
      '/v1/orgs',
    ];
    const counts = async (tok: () => string | undefined) => {
      const out: Record<string, string[]> = {};
      for (const path of lists) {
        const r = await srv.api<Listing>('GET', path, undefined, tok());
        expect(r.status, path).toBe(200);
        out[path] = r.body.items.map((i) => i.id ?? i.name ?? JSON.stringify(i)).sort();
      }
      return out;
    };
    const before = await counts(D);

    const refused: [string, string, unknown?][] = [
      ['GET', `/v1/sessions/${session.id}`],
      ['GET', `/v1/sessions/${session.id}/explain`],
      ['GET', `/v1/sessions/${session.id}/events`],
      ['GET', `/v1/sessions/${session.id}/logs`],
      ['POST', `/v1/sessions/${session.id}/cancel`],
      ['POST', `/v1/sessions/${session.id}/tasks`, { prompt: 'echo stolen' }],
      ['POST', `/v1/sessions/${session.id}/suspend`, {}],
      ['POST', `/v1/sessions/${session.id}/resume`],
      ['GET', `/v1/tasks/${task.id}`],
      ['GET', `/v1/tasks/${task.id}/logs`],
      ['GET', `/v1/tasks/${task.id}/watch`],
      ['POST', `/v1/tasks/${task.id}/cancel`],
      ['GET', `/v1/runners/${runnerId}`],
      ['POST', `/v1/runners/${runnerId}/drain`],
      ['GET', '/v1/pools/secret-pool'],
      ['GET', `/v1/pools/${pool.body.id}`],
      ['PATCH', '/v1/pools/secret-pool', { priority: 5 }],
      ['DELETE', '/v1/pools/secret-pool'],
      ['DELETE', '/v1/pools/local'],
      ['GET', '/v1/profiles/secret-profile'],
      ['DELETE', '/v1/profiles/secret-profile'],
      ['GET', '/v1/agents/secret-agent'],
      ['PUT', '/v1/agents/secret-agent', { command: ['true'] }],
      ['DELETE', '/v1/agents/secret-agent'],
      ['POST', '/v1/agents/secret-agent/render', { prompt: 'x' }],
      ['POST', `/v1/runners/tokens/${regToken.body.id}/revoke`],
      ['POST', `/v1/runners/tokens/${regToken.body.id}/rotate`, {}],
      ['POST', '/v1/runners/tokens', { pool: 'secret-pool' }],
      ['DELETE', '/v1/projects/web'],
      ['DELETE', '/v1/members/alice@example.com'],
      ['GET', `/v1/orgs/${defaultOrg.id}`],
      ['GET', '/v1/orgs/default'],
    ];
    for (const [method, path, body] of refused) {
      const r = await srv.api(method, path, body, A());
      expect(r.status, `${method} ${path}: ${JSON.stringify(r.body)}`).toBe(404);
    }
    // Naming another org's pool, profile or agent in a request reads as naming one that does not exist.
    for (const [field, value, detail] of [
      ['pool', 'secret-pool', /unknown pool "secret-pool"/],
      ['profile', 'secret-profile', /unknown profile "secret-profile"/],
      ['agent', 'secret-agent', /unknown agent "secret-agent"/],
      ['project', 'web', /unknown project "web"/],
    ] as const) {
      const r = await srv.api('POST', '/v1/sessions', { agent: 'shell', [field]: value }, A());
      expectProblem(r, 400, detail);
    }
    // The other org's lists hold nothing of the first's.
    const theirs = await counts(A);
    for (const path of lists)
      for (const id of before[path]!)
        if (![acme.id, 'shell', 'claude', 'codex', 'gemini', 'opencode', 'gpu-large', 'default'].includes(id))
          expect(theirs[path], path).not.toContain(id);
    expect(theirs['/v1/orgs']).toEqual([acme.id]);
    // And the owner's are as they were (nothing cancelled, deleted, revoked or added). Runners and
    // cost events come and go on their own (warm runners, a runner stopping): none of them went.
    const after = await counts(D);
    for (const path of lists)
      if (path === '/v1/runners?all=true' || path === '/v1/costs')
        expect(after[path], path).toEqual(expect.arrayContaining(before[path]!));
      else expect(after[path], path).toEqual(before[path]);
    const still = await srv.api<SessionView>('GET', `/v1/sessions/${session.id}`);
    expect(still.body.tasks).toHaveLength(1);
    expect(still.body.state).not.toBe('cancelled');
  });

  it("never places a session on another org's pool, nor names one in its verdicts", async () => {
    const dry = await srv.api<{ decision: { chosenPoolId: string | null; verdicts: unknown[]; summary: string } }>(
      'POST',
      '/v1/sessions',
      { agent: 'shell', dryRun: true },
      A(),
    );
    expect(dry.status).toBe(200);
    expect(dry.body.decision.chosenPoolId).toBeNull();
    expect(dry.body.decision.verdicts).toEqual([]);
    const s = await srv.api<SessionView>('POST', '/v1/sessions', { agent: 'shell', prompt: 'echo acme' }, A());
    expect(s.status).toBe(201);
    const seen = await until(async () => {
      const r = await srv.api<SessionView>('GET', `/v1/sessions/${s.body.id}`, undefined, A());
      return r.body.stateReason ? r.body : null;
    }, 'the acme session to be told why it waits');
    expect(seen.poolId).toBeNull();
    expect(seen.stateReason).toMatch(/no pools exist/);
    // With a pool of its own (same name as the other org's: names are per org), it runs there.
    const own = await srv.api<{ id: string }>(
      'POST',
      '/v1/pools',
      { name: 'local', provider: 'local', mode: 'managed', maxRunners: 1 },
      A(),
    );
    expect(own.status).toBe(201);
    const done = await until(
      async () => {
        const r = await srv.api<SessionView>('GET', `/v1/sessions/${s.body.id}`, undefined, A());
        return r.body.tasks[0]?.state === 'succeeded' ? r.body : null;
      },
      'the acme task to run on its own pool',
      60_000,
    );
    expect(done.poolId).toBe(own.body.id);
    const runner = await srv.api<{ orgId: string; poolId: string }>(
      'GET',
      `/v1/runners/${done.runnerId}`,
      undefined,
      A(),
    );
    expect(runner.body).toMatchObject({ orgId: acme.id, poolId: own.body.id });
    // Its session is the other org's 404 in turn.
    expect((await srv.api('GET', `/v1/sessions/${s.body.id}`)).status).toBe(404);
  });

  it('refuses bad tenancy input, naming what was wrong', async () => {
    expectProblem(await srv.api('POST', '/v1/orgs', { name: 'acme' }), 409, /org "acme" already exists/);
    expectProblem(await srv.api('POST', '/v1/orgs', { name: 'Bad Name' }), 400, /name: names are lowercase/);
    expectProblem(await srv.api('POST', '/v1/orgs', { name: 'other' }, A()), 403, /needs a token of the default org/);
    expectProblem(await srv.api('DELETE', '/v1/orgs/nope'), 404, /org "nope" not found/);
    expectProblem(await srv.api('DELETE', '/v1/orgs/default'), 409, /the default org cannot be deleted/);
    expectProblem(await srv.api('POST', '/v1/projects', { name: 'web' }), 409, /project "web" already exists/);
    expectProblem(await srv.api('DELETE', '/v1/projects/default'), 409, /the default project cannot be deleted/);
    expectProblem(await srv.api('DELETE', '/v1/projects/nope'), 404, /project "nope" not found/);
    expectProblem(
      await srv.api('POST', '/v1/members', { name: 'alice@example.com', role: 'admin' }),
      409,
      /member "alice@example.com" already exists/,
    );
    expectProblem(await srv.api('POST', '/v1/members', { name: 'bob', role: 'owner' }), 400, /role/);
    expectProblem(await srv.api('POST', '/v1/sessions', { agent: 'shell', project: 'nope' }), 400, /unknown project/);
    expectProblem(await srv.api('POST', '/v1/pools', { name: 'p2', mode: 'pool', project: 'nope' }), 400, /project/);
    // mctl says the same, without a stack trace.
    const dup = await srv.mctl(['orgs', 'create', 'acme']);
    expect(dup.code).not.toBe(0);
    expect(dup.stderr).toMatch(/org "acme" already exists/);
    expect(dup.stderr).not.toMatch(/\n\s+at /);
  });

  it('deletes an org only once it owns nothing, or with --force once nothing of it runs', async () => {
    const before = (await srv.api<Listing>('GET', '/v1/orgs')).body.items.length;
    // acme owns a session and a pool (from the test above); its session is finished and idle or done.
    const refused = await srv.mctl(['orgs', 'delete', 'acme']);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/org acme still owns .*session.*pool/);
    // Open sessions and live runners stop even --force.
    const list = await srv.api<{ items: { id: string; state: string }[] }>('GET', '/v1/sessions', undefined, A());
    for (const s of list.body.items)
      if (!['completed', 'failed', 'cancelled'].includes(s.state))
        await srv.api('POST', `/v1/sessions/${s.id}/cancel`, undefined, A());
    await srv.api('PATCH', '/v1/pools/local', { active: false, minRunners: 0 }, A());
    const runners = await srv.api<{ items: { id: string }[] }>('GET', '/v1/runners', undefined, A());
    for (const r of runners.body.items) await srv.api('POST', `/v1/runners/${r.id}/drain`, undefined, A());
    const forced = await until(
      async () => {
        const r = await srv.mctl(['orgs', 'delete', 'acme', '--force']);
        return r.code === 0 ? r : null;
      },
      'acme to be deletable with --force once its runners are gone',
      60_000,
    );
    expect(forced.stdout).toMatch(/deleted org_/);
    expect((await srv.api<Listing>('GET', '/v1/orgs')).body.items.length).toBe(before - 1);
    expect((await srv.api('GET', '/v1/orgs/acme')).status).toBe(404);
    // The default org's own things are untouched.
    expect((await srv.api('GET', '/v1/pools/secret-pool')).status).toBe(200);
  });

  it('runs `mctl dispatch --project P --sandbox-pool POOL` in that project on that pool', async () => {
    const r = await srv.mctl(
      [
        'dispatch',
        '--project',
        'web',
        '--sandbox-pool',
        'local',
        '--agent',
        'shell',
        '--wait',
        'echo dispatched-$((40+2))',
      ],
      {
        timeoutMs: 90_000,
      },
    );
    expect(r.code, r.stderr).toBe(0);
    const id = r.stdout.split('\n')[0]!.trim();
    const logs = await srv.api<{ items: { line: string }[] }>('GET', `/v1/sessions/${id}/logs`);
    expect(logs.body.items.map((l) => l.line)).toContain('dispatched-42');
    const s = await srv.api<SessionView & { projectId: string; poolId: string }>('GET', `/v1/sessions/${id}`);
    const web = (await srv.api<{ items: { id: string; name: string }[] }>('GET', '/v1/projects')).body.items.find(
      (p) => p.name === 'web',
    )!;
    const local = (await srv.api<{ id: string }>('GET', '/v1/pools/local')).body;
    expect(s.body.projectId).toBe(web.id);
    expect(s.body.poolId).toBe(local.id);
    const bad = await srv.mctl(['dispatch', '--project', 'nope', '--agent', 'shell', 'echo x']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/unknown project "nope"/);
  });
});
