/**
 * The cross-replica change feed: two replicas on one PostgreSQL. A session created through replica
 * A runs on a runner attached only to replica B (A decides, B delivers), and A's follow tail, its
 * `--wait` and its event stream all see the lines and the end that B stored; a pool created through
 * A is in B's catalog at once.
 */
import { afterAll, expect, it } from 'vitest';
import type { SessionView } from './harness.js';
import { until } from './harness.js';
import { postgresDescribe } from './pg.support.js';
import { Agents, createToken, idleRunners } from './pools.helpers.js';
import { type Replicas, replicas } from './replicas.support.js';

const CONFIG = `
database:
  loop_lease: 2s
providers:
  pool:
    pools:
      edge: {}
`;

const agents = new Agents();
let r: Replicas | null = null;
const aborts: AbortController[] = [];
afterAll(async () => {
  for (const a of aborts) a.abort();
  agents.cleanup();
  await r?.destroy();
});

/** Collects an SSE stream's text until aborted. */
function collect(url: string, token: string): { text: () => string } {
  const ac = new AbortController();
  aborts.push(ac);
  let text = '';
  void (async () => {
    const res = await fetch(url, {
      headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' },
      signal: ac.signal,
    });
    const dec = new TextDecoder();
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) text += dec.decode(chunk);
  })().catch(() => {});
  return { text: () => text };
}

postgresDescribe('change feed across replicas', () => {
  it('a session created through A runs on a runner attached to B, and A sees it all', {
    timeout: 240_000,
  }, async () => {
    r = await replicas();
    const a = await r.add(CONFIG);
    const b = await r.add(CONFIG);
    const token = (await createToken(b, ['--pool', 'edge'])).token;
    agents.start(b, ['--token', token, '--name', 'on-b']);
    const [runner] = await idleRunners(a, 'edge', 1);
    const events = collect(`${a.apiUrl}/v1/events`, a.token);
    await until(async () => (events.text().includes(': connected') ? true : null), 'the event stream');

    const follow = await a.mctl(
      [
        'sessions',
        'create',
        '--agent',
        'shell',
        '--pool',
        'edge',
        '--prompt',
        'for i in $(seq 1 50); do echo "line-$i"; done; echo from-b',
        '--follow',
        '--timeout',
        '90s',
      ],
      { timeoutMs: 120_000 },
    );
    expect(follow.code, follow.stderr).toBe(0);
    const lines = follow.stdout.split('\n').filter((l) => /^line-\d+$/.test(l));
    expect(lines).toEqual(Array.from({ length: 50 }, (_, i) => `line-${i + 1}`));
    expect(follow.stdout).toContain('from-b');

    const list = await a.api<{ items: { id: string }[] }>('GET', '/v1/sessions');
    const id = list.body.items[0]!.id;
    const s = (await a.api<SessionView>('GET', `/v1/sessions/${id}`)).body;
    expect(s.tasks).toHaveLength(1);
    expect(s.tasks[0]).toMatchObject({ state: 'succeeded', runnerId: runner!.id });
    // A's event stream carried the end B recorded.
    await until(
      async () =>
        events.text().includes(`"id":"${s.tasks[0]!.id}"`) && events.text().includes('"state":"succeeded"')
          ? true
          : null,
      'the task end on A’s event stream',
    );

    // A second task on the same (now bound) session, through A with --wait.
    const wait = await a.mctl(
      ['tasks', 'create', '--session', id, '--prompt', 'echo again', '--wait', '--timeout', '90s'],
      {
        timeoutMs: 120_000,
      },
    );
    expect(wait.code, wait.stderr).toBe(0);
    const after = (await a.api<SessionView>('GET', `/v1/sessions/${id}`)).body;
    expect(after.tasks.map((t) => t.state)).toEqual(['succeeded', 'succeeded']);
    expect(after.tasks[1]!.runnerId).toBe(runner!.id);

    // A pool created through A is in B's catalog at once (B read its catalog above): a session
    // created through B names it.
    expect((await a.api('POST', '/v1/pools', { name: 'late', mode: 'pool', provider: 'pool' })).status).toBe(201);
    const late = await until(
      async () => {
        const c = await b.api<{ id: string }>('POST', '/v1/sessions', { agent: 'shell', pool: 'late', prompt: 'true' });
        return c.status === 201 ? c.body : null;
      },
      'B to know the pool created through A',
      10_000,
    );
    expect(late.id).toMatch(/^ses_/);
  });
});
