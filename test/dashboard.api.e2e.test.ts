/**
 * The dashboard's API on the real server: the org event stream (`GET /v1/events`) carries the
 * caller's org's changes and never another org's, asks to be asked for as a stream, and needs a
 * whole-org token; one-time login links work once, carry the maker's role, and refuse a malformed,
 * used or unknown code naming which.
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

/** Reads `GET /v1/events` with `token` into `events` until `stop` is aborted. */
function listen(token: string, events: { event: string; data: Record<string, unknown> }[], stop: AbortSignal) {
  return (async () => {
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
          const ev = /^event: (.+)$/m.exec(block)?.[1];
          const data = /^data: (.+)$/m.exec(block)?.[1];
          if (ev && data) events.push({ event: ev, data: JSON.parse(data) as Record<string, unknown> });
        }
      }
    } catch (e: unknown) {
      if (!stop.aborted) throw e;
    }
  })();
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
    const mine: { event: string; data: Record<string, unknown> }[] = [];
    const theirs: { event: string; data: Record<string, unknown> }[] = [];
    const stop = new AbortController();
    const a = listen(srv.token, mine, stop.signal);
    const b = listen(other.body.token, theirs, stop.signal);
    try {
      // Both streams are open before the session starts (the server writes a comment at once).
      await new Promise((r) => setTimeout(r, 300));
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
      await Promise.allSettled([a, b]);
    }
  }, 60_000);

  it('is asked for as a stream, with a token for the whole org', async () => {
    expectProblem(await srv.api('GET', '/v1/events'), 400, /Accept: text\/event-stream/);
    const p = await srv.api<{ token: string }>('POST', '/v1/tokens', { role: 'viewer', project: 'default', name: 'p' });
    const res = await fetch(`${srv.apiUrl}/v1/events`, {
      headers: { authorization: `Bearer ${p.body.token}`, accept: 'text/event-stream' },
    });
    expect(res.status).toBe(403);
    expect(((await res.json()) as { detail: string }).detail).toMatch(/limited to project/);
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
