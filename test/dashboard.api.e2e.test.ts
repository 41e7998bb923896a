/**
 * The dashboard's API on the real server: the org event stream (`GET /v1/events`) carries the
 * caller's org's changes and never another org's, a project token's stream only its project's
 * (sessions, tasks, runners bound to them, workspace snapshots, the pools it may use) and never
 * another project's, and
 * it asks to be asked for as a stream and refuses a bad token; one-time login links work once,
 * carry the maker's role, and refuse a malformed, used or unknown code naming which.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ServerHandle, startServer } from './harness.js';
import { expectProblem } from './problems.support.js';

let srv: ServerHandle;

beforeAll(async () => {
  srv = await startServer();
});
afterAll(async () => {
  await srv?.destroy();
});

type Ev = { event: string; data: Record<string, unknown> };

/** Reads `GET /v1/events` with `token` into `events` until `stop` is aborted; `ready` once it is open. */
function listen(token: string, events: Ev[], stop: AbortSignal): { done: Promise<void>; ready: Promise<void> } {
  let open!: () => void;
  const ready = new Promise<void>((r) => {
    open = r;
  });
  const done = (async () => {
    const res = await fetch(`${srv.apiUrl}/v1/events`, {
      headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' },
      signal: stop,
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '';
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        buf += value;
        for (let cut = buf.indexOf('\n\n'); cut >= 0; cut = buf.indexOf('\n\n')) {
          const block = buf.slice(0, cut);
          buf = buf.slice(cut + 2);
          if (block === ': connected') open();
          const ev = /^event: (.+)$/m.exec(block)?.[1];
          const data = /^data: (.+)$/m.exec(block)?.[1];
          if (ev && data) events.push({ event: ev, data: JSON.parse(data) as Record<string, unknown> });
        }
      }
    } catch (e: unknown) {
      if (!stop.aborted) throw e;
    } finally {
      open();
    }
  })();
  // A refused stream fails `ready` at once (with the status it got), not a wait for events later.
  return { done, ready: Promise.race([ready, done]) };
}

async function waitFor(what: string, ok: () => boolean, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('GET /v1/events', () => {
  it("streams the caller's org's session, task and runner changes and never another org's", async () => {
    const org = await srv.api<{ id: string }>('POST', '/v1/orgs', { name: 'other' });
    expect(org.status).toBe(201);
    const other = await srv.api<{ token: string }>('POST', '/v1/tokens', { role: 'admin', org: 'other', name: 'o' });
    expect(other.status, JSON.stringify(other.body)).toBe(201);
    const mine: Ev[] = [];
    const theirs: Ev[] = [];
    const stop = new AbortController();
    const a = listen(srv.token, mine, stop.signal);
    const b = listen(other.body.token, theirs, stop.signal);
    try {
      // Both streams are open before the session starts (the server writes a comment at once).
      await Promise.all([a.ready, b.ready]);
      const s = await srv.api<{ id: string }>('POST', '/v1/sessions', { agent: 'shell', prompt: 'echo events' });
      expect(s.status).toBe(201);
      await waitFor('the task to succeed on the stream', () =>
        mine.some((e) => e.event === 'task' && e.data.sessionId === s.body.id && e.data.state === 'succeeded'),
      );
      expect(mine.some((e) => e.event === 'session' && e.data.id === s.body.id)).toBe(true);
      expect(mine.some((e) => e.event === 'runner')).toBe(true);
      // Only list fields: no prompt, no request (env names), no placement.
      for (const e of mine) expect(Object.keys(e.data)).not.toContain('request');
      expect(JSON.stringify(mine)).not.toContain('echo events');
      // The other org's stream saw none of it.
      expect(theirs).toEqual([]);
    } finally {
      stop.abort();
      await Promise.allSettled([a.done, b.done]);
    }
  }, 60_000);

  it("gives a project token its project's sessions, tasks, runners, snapshots and pools, and nothing of another project's", async () => {
    for (const name of ['alpha', 'beta']) expect((await srv.api('POST', '/v1/projects', { name })).status).toBe(201);
    const token = async (project: string) => {
      const t = await srv.api<{ token: string }>('POST', '/v1/tokens', { role: 'viewer', project, name: project });
      expect(t.status, JSON.stringify(t.body)).toBe(201);
      return t.body.token;
    };
    const [alphaToken, betaToken] = [await token('alpha'), await token('beta')];
    const all: Ev[] = [];
    const alpha: Ev[] = [];
    const beta: Ev[] = [];
    const stop = new AbortController();
    const streams = [
      listen(srv.token, all, stop.signal),
      listen(alphaToken, alpha, stop.signal),
      listen(betaToken, beta, stop.signal),
    ];
    try {
      await Promise.all(streams.map((s) => s.ready));
      const create = async (project: string, prompt: string) => {
        const s = await srv.api<{ id: string }>('POST', '/v1/sessions', { agent: 'shell', prompt, project });
        expect(s.status, JSON.stringify(s.body)).toBe(201);
        return s.body.id;
      };
      // Both run on the shared `local` pool (no project), one after the other on its runners.
      const a = await create('alpha', 'echo alpha-work');
      const d = await create('default', 'echo default-work');
      const succeeded = (evs: Ev[], sid: string) => () =>
        evs.some((e) => e.event === 'task' && e.data.sessionId === sid && e.data.state === 'succeeded');
      await waitFor('both tasks to succeed on the org stream', () => succeeded(all, a)() && succeeded(all, d)());
      await waitFor("alpha's task on alpha's stream", succeeded(alpha, a));
      // A checkpoint of each once idle: the snapshot event follows its session's project too.
      const idle = async (sid: string) => {
        for (let i = 0; i < 300; i++) {
          const s = await srv.api<{ state: string }>('GET', `/v1/sessions/${sid}`);
          if (s.body.state === 'idle') return;
          await new Promise((r) => setTimeout(r, 100));
        }
        throw new Error(`session ${sid} did not become idle`);
      };
      const snaps: string[] = [];
      for (const sid of [a, d]) {
        await idle(sid);
        const n = await srv.api<{ id: string }>('POST', `/v1/sessions/${sid}/snapshots`, {});
        expect(n.status, JSON.stringify(n.body)).toBe(201);
        snaps.push(n.body.id);
      }
      const [snapA, snapD] = snaps as [string, string];
      await waitFor('both snapshots on the org stream', () =>
        [snapA, snapD].every((id) => all.some((e) => e.event === 'snapshot' && e.data.id === id)),
      );
      await waitFor("alpha's snapshot on alpha's stream", () =>
        alpha.some((e) => e.event === 'snapshot' && e.data.id === snapA && e.data.sessionId === a),
      );
      // The org token still sees everything: both sessions, their tasks and runners.
      for (const sid of [a, d]) {
        expect(all.some((e) => e.event === 'session' && e.data.id === sid)).toBe(true);
        expect(all.some((e) => e.event === 'runner' && e.data.sessionId === sid)).toBe(true);
      }
      // Alpha's stream: its session, its task, the runner while it ran alpha's session...
      expect(alpha.some((e) => e.event === 'session' && e.data.id === a)).toBe(true);
      expect(alpha.some((e) => e.event === 'runner' && e.data.sessionId === a)).toBe(true);
      // ... and nothing of the default project's: not its session, task, snapshot or runner binding.
      const text = JSON.stringify(alpha);
      expect(text).not.toContain(d);
      expect(text).not.toContain(snapD);
      for (const e of alpha) {
        if (e.event === 'session') expect(e.data.id).toBe(a);
        if (e.event === 'task' || e.event === 'snapshot') expect(e.data.sessionId).toBe(a);
        if (e.event === 'runner') expect([a, null]).toContain(e.data.sessionId);
      }
      // Beta has nothing at all: no session of its own, and no pool given to it.
      expect(beta).toEqual([]);
      // The snapshots of its own session are listed for it (the session page reads them), of another
      // project's session not (as if it did not exist), and a listing of the whole org is refused.
      const list = await srv.api<{ items: { id: string }[] }>(
        'GET',
        `/v1/workspaces?session=${a}`,
        undefined,
        alphaToken,
      );
      expect(list.status, JSON.stringify(list.body)).toBe(200);
      expect(list.body.items.map((x) => x.id)).toEqual([snapA]);
      expectProblem(await srv.api('GET', `/v1/workspaces?session=${d}`, undefined, alphaToken), 404, /session/);
      expectProblem(
        await srv.api('GET', '/v1/workspaces', undefined, alphaToken),
        400,
        /limited to project .*\?session=ID/,
      );
      // Pools: a change to one given to a project reaches that project's stream and the org's, and a
      // shared pool's reaches every stream (its sessions may run there).
      const pool = async (name: string, project?: string) => {
        const r = await srv.api<{ id: string }>('POST', '/v1/pools', {
          name,
          provider: 'pool',
          mode: 'pool',
          ...(project ? { project } : {}),
        });
        expect(r.status, JSON.stringify(r.body)).toBe(201);
        return r.body.id;
      };
      const [pa, pb, shared] = [
        await pool('alpha-only', 'alpha'),
        await pool('beta-only', 'beta'),
        await pool('shared'),
      ];
      const poolEvents = (evs: Ev[]) => evs.filter((e) => e.event === 'pool').map((e) => e.data.id);
      await waitFor('the three pools on the org stream', () =>
        [pa, pb, shared].every((id) => poolEvents(all).includes(id)),
      );
      await waitFor("alpha's and the shared pool on alpha's stream", () =>
        [pa, shared].every((id) => poolEvents(alpha).includes(id)),
      );
      await waitFor("beta's and the shared pool on beta's stream", () =>
        [pb, shared].every((id) => poolEvents(beta).includes(id)),
      );
      expect(poolEvents(alpha)).not.toContain(pb);
      expect(poolEvents(beta)).not.toContain(pa);
      // Given to beta, alpha's pool is announced to both (it left one, joined the other).
      expect((await srv.api('PATCH', '/v1/pools/alpha-only', { project: 'beta' })).status).toBe(200);
      await waitFor(
        'the move on both streams',
        () => poolEvents(alpha).filter((id) => id === pa).length === 2 && poolEvents(beta).includes(pa),
      );
    } finally {
      stop.abort();
      await Promise.allSettled(streams.map((s) => s.done));
    }
  }, 120_000);

  it('is asked for as a stream, and refuses a missing, unknown or revoked token', async () => {
    expectProblem(await srv.api('GET', '/v1/events'), 400, /Accept: text\/event-stream/);
    const open = (token: string | null) =>
      fetch(`${srv.apiUrl}/v1/events`, {
        headers: { accept: 'text/event-stream', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      });
    const none = await open(null);
    expect(none.status).toBe(401);
    expect(((await none.json()) as { detail: string }).detail).toMatch(/missing bearer token/);
    const bogus = await open('mrt_not-a-token');
    expect(bogus.status).toBe(401);
    expect(((await bogus.json()) as { detail: string }).detail).toMatch(/invalid API token/);
    const p = await srv.api<{ id: string; token: string }>('POST', '/v1/tokens', {
      role: 'viewer',
      project: 'default',
      name: 'short-lived',
    });
    expect(p.status).toBe(201);
    expect((await srv.api('DELETE', `/v1/tokens/${p.body.id}`)).status).toBe(200);
    const revoked = await open(p.body.token);
    expect(revoked.status).toBe(401);
    expect(((await revoked.json()) as { detail: string }).detail).toMatch(/revoked/);
  });
});

describe('dashboard login links', () => {
  it("work once and give a token with the maker's role", async () => {
    const viewer = await srv.api<{ token: string }>('POST', '/v1/tokens', { role: 'viewer', name: 'looker' });
    const link = await srv.api<{ code: string; path: string; expiresAt: number }>(
      'POST',
      '/v1/dashboard/links',
      undefined,
      viewer.body.token,
    );
    expect(link.status).toBe(201);
    expect(link.body.path).toBe(`/#login=${link.body.code}`);
    expect(link.body.expiresAt).toBeGreaterThan(Date.now());
    const login = await srv.api<{ token: string; role: string; expiresAt: number }>(
      'POST',
      '/v1/dashboard/login',
      { code: link.body.code },
      null,
    );
    expect(login.status, JSON.stringify(login.body)).toBe(201);
    expect(login.body.role).toBe('viewer');
    expect(login.body.expiresAt).toBeGreaterThan(Date.now() + 11 * 3600_000);
    const who = await srv.api<{ role: string; name: string }>('GET', '/v1/whoami', undefined, login.body.token);
    expect(who.body).toMatchObject({ role: 'viewer', name: 'dashboard (looker)' });
    // A viewer's link never gives more: creating a session is still refused.
    expect((await srv.api('POST', '/v1/sessions', { agent: 'shell' }, login.body.token)).status).toBe(403);
    expectProblem(
      await srv.api('POST', '/v1/dashboard/login', { code: link.body.code }, null),
      401,
      /already used, or was made by another server process/,
    );
  });

  it('refuses a malformed code, an unknown one and a missing body, naming what was wrong', async () => {
    expectProblem(
      await srv.api('POST', '/v1/dashboard/login', { code: 'hello' }, null),
      401,
      /not a dashboard login code/,
    );
    expectProblem(
      await srv.api('POST', '/v1/dashboard/login', { code: `mdl_${'0'.repeat(12)}_${'a'.repeat(32)}` }, null),
      401,
      /already used/,
    );
    expectProblem(await srv.api('POST', '/v1/dashboard/login', {}, null), 400, /code/);
    expectProblem(await srv.api('POST', '/v1/dashboard/links', undefined, null), 401, /missing bearer token/);
  });
});
