/**
 * API tokens and the audit log end to end, on a real server: a revocation, a rotation and an
 * expiry hold from the very next request (the server keeps no token cache); bad input is a 400 or
 * 409 naming what was wrong (an unknown role, a bad or zero duration, revoking twice, rotating a
 * revoked token); list never shows a secret; a project-scoped token sees and makes only its
 * project's tokens and sessions (another project's are 404); and the audit log has every mutation, every refusal (with the revoked token
 * named) and every runner registration and credential use, accepted or refused, filterable.
 */
import { request } from 'node:http';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROTOCOL_VERSION } from '../src/protocol/messages.js';
import { type ServerHandle, startServer, until } from './harness.js';
import { expectProblem } from './problems.support.js';

interface Tok {
  id: string;
  name: string;
  role: string;
  projectId: string | null;
  status: string;
  expiresAt: number | null;
  token: string;
}
interface AuditRow {
  action: string;
  outcome: string;
  status: number | null;
  actorName: string | null;
  actorTokenId: string | null;
  resource: string | null;
  remoteAddr: string | null;
  method: string | null;
  route: string | null;
  detail: string | null;
  at: number;
}

/** A WebSocket upgrade to the gateway with `credential`: the status it is answered. */
function connectStatus(port: number, credential: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({
      host: '127.0.0.1',
      port,
      path: '/v1/connect',
      headers: {
        connection: 'Upgrade',
        upgrade: 'websocket',
        'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
        'sec-websocket-version': '13',
        authorization: `Bearer ${credential}`,
      },
    });
    req.on('response', (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('upgrade', (_res, socket) => {
      socket.destroy();
      resolve(101);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('API tokens and the audit log', () => {
  let srv: ServerHandle;
  const create = (body: unknown, token?: string) => srv.api<Tok>('POST', '/v1/tokens', body, token);
  const audit = (q = '') => srv.api<{ items: AuditRow[] }>('GET', `/v1/audit${q}`).then((r) => r.body.items);

  beforeAll(async () => {
    srv = await startServer();
  }, 60_000);
  afterAll(async () => {
    await srv?.destroy();
  });

  it('revokes at once: the next request with the token is refused, saying it was revoked', async () => {
    const t = (await create({ role: 'viewer', name: 'short-lived' })).body;
    expect((await srv.api('GET', '/v1/pools', undefined, t.token)).status).toBe(200);
    const r = await srv.api<Tok>('DELETE', `/v1/tokens/${t.id}`);
    expect(r.status).toBe(200);
    expect(r.body.status).toBe('revoked');
    expectProblem(
      await srv.api('GET', '/v1/pools', undefined, t.token),
      401,
      new RegExp(`API token ${t.id} was revoked at`),
    );
    // Twice: a 409, and nothing changes.
    expectProblem(await srv.api('DELETE', `/v1/tokens/${t.id}`), 409, /already revoked/);
    expectProblem(await srv.api('POST', `/v1/tokens/${t.id}/rotate`, {}), 409, /is revoked/);
    expectProblem(await srv.api('DELETE', '/v1/tokens/tok_nothing'), 404, /API token "tok_nothing" not found/);
  });

  it('rotates at once: the old secret is refused on the next request, the new one works', async () => {
    const t = (await create({ role: 'member', name: 'rotating' })).body;
    expect((await srv.api('GET', '/v1/sessions', undefined, t.token)).status).toBe(200);
    const r = await srv.api<Tok>('POST', `/v1/tokens/${t.id}/rotate`, { expiresIn: '1h' });
    expect(r.status).toBe(201);
    expect(r.body.id).toBe(t.id);
    expect(r.body.token).not.toBe(t.token);
    expect(r.body.expiresAt).toBeGreaterThan(Date.now());
    expectProblem(await srv.api('GET', '/v1/sessions', undefined, t.token), 401, /invalid API token/);
    expect((await srv.api('GET', '/v1/sessions', undefined, r.body.token)).status).toBe(200);
  });

  it('expires: refused once its time is up, saying it expired; a rotation needs a new expiry', async () => {
    const t = (await create({ role: 'viewer', name: 'one-second', expiresIn: 1 })).body;
    expect(t.expiresAt).toBeGreaterThan(Date.now() - 1000);
    const refused = await until(
      async () => {
        const r = await srv.api('GET', '/v1/pools', undefined, t.token);
        return r.status === 401 ? r : null;
      },
      'the token to expire',
      30_000,
    );
    expectProblem(refused, 401, new RegExp(`API token ${t.id} expired at`));
    const listed = await srv.api<{ items: Tok[] }>('GET', '/v1/tokens');
    expect(listed.body.items.find((x) => x.id === t.id)?.status).toBe('expired');
    expectProblem(
      await srv.api('POST', `/v1/tokens/${t.id}/rotate`, {}),
      409,
      /has expired; rotate it with a new expiry/,
    );
    const again = await srv.api<Tok>('POST', `/v1/tokens/${t.id}/rotate`, { expiresIn: '1h' });
    expect(again.status).toBe(201);
    expect((await srv.api('GET', '/v1/pools', undefined, again.body.token)).status).toBe(200);
  }, 60_000);

  it('refuses bad input naming what was wrong, and creates nothing', async () => {
    const before = (await srv.api<{ items: Tok[] }>('GET', '/v1/tokens')).body.items.length;
    expectProblem(await create({ role: 'superuser' }), 400, /role: expected one of viewer, member, operator, admin/);
    expectProblem(await create({}), 400, /role/);
    expectProblem(
      await create({ role: 'viewer', expiresIn: '5parsecs' }),
      400,
      /expiresIn: "5parsecs" is not a duration/,
    );
    expectProblem(await create({ role: 'viewer', expiresIn: 0 }), 400, /expiresIn: 0 must be longer than zero/);
    expectProblem(await create({ role: 'viewer', expiresIn: '99999d' }), 400, /expiresIn: "99999d" is out of range/);
    expectProblem(await create({ role: 'viewer', org: 'nope' }), 404, /org "nope" not found/);
    expectProblem(await create({ role: 'viewer', project: 'nope' }), 404, /project "nope" not found/);
    expectProblem(await create({ role: 'viewer', color: 'red' }), 400, /unknown field "color"/);
    expectProblem(await srv.api('POST', `/v1/tokens/x/rotate`, { expiresIn: 'soon' }), 404, /not found/);
    // A role above the caller's own.
    const op = (await create({ role: 'operator' })).body;
    expect((await srv.api('POST', '/v1/tokens', { role: 'viewer' }, op.token)).status).toBe(403);
    expect((await srv.api<{ items: Tok[] }>('GET', '/v1/tokens')).body.items.length).toBe(before + 1);
  });

  it('lists tokens without secrets; a project-scoped admin sees and makes only its project’s', async () => {
    const t = (await create({ role: 'admin', name: 'web-admin', project: 'default' })).body;
    const listed = await srv.api<{ items: Tok[] }>('GET', '/v1/tokens');
    const text = JSON.stringify(listed.body);
    expect(text).not.toContain(t.token);
    expect(text).not.toContain(srv.token);
    expect(text).not.toMatch(/mrt_|hash/);
    // Another project of the same org, made in the database (project routes are not this test's).
    const db = new Database(join(srv.home, 'marionette.db'));
    const org = db.prepare("select org_id from api_tokens where name = 'bootstrap-admin'").get() as { org_id: string };
    db.prepare('insert into projects (id, org_id, name, created_at) values (?, ?, ?, ?)').run(
      'prj_other',
      org.org_id,
      'other',
      Date.now(),
    );
    db.close();
    const other = (await create({ role: 'viewer', name: 'other-viewer', project: 'other' })).body;
    expect(other.projectId).toBe('prj_other');
    const mine = await srv.api<{ items: Tok[] }>('GET', '/v1/tokens', undefined, t.token);
    expect(mine.body.items.map((x) => x.name)).toEqual(['web-admin']);
    expectProblem(await create({ role: 'viewer', project: 'other' }, t.token), 403, /limited to project/);
    const made = await create({ role: 'viewer', name: 'web-viewer' }, t.token);
    expect(made.body.projectId).toBe(t.projectId);
    expectProblem(await srv.api('DELETE', `/v1/tokens/${other.id}`, undefined, t.token), 404, /not found/);
    expectProblem(await srv.api('GET', '/v1/audit', undefined, t.token), 403, /needs a token for the whole org/);
    expect(
      (await srv.api<{ role: string; projectId: string }>('GET', '/v1/whoami', undefined, t.token)).body,
    ).toMatchObject({
      role: 'admin',
      projectId: t.projectId,
      name: 'web-admin',
    });
  });

  it('records mutations, refusals and runner registrations, and filters them', async () => {
    const t = (await create({ role: 'viewer', name: 'audited' })).body;
    await srv.api('POST', '/v1/pools', { name: 'nope', provider: 'local' }, t.token); // 403
    await srv.api('DELETE', `/v1/tokens/${t.id}`);
    await srv.api('GET', '/v1/pools', undefined, t.token); // 401: revoked
    await srv.api('GET', '/v1/pools', undefined, 'mrt_not-a-token'); // 401: unknown
    const created = (await audit(`?action=createApiToken&resource=${t.id}`))[0]!;
    expect(created).toMatchObject({
      action: 'createApiToken',
      outcome: 'ok',
      status: 201,
      actorName: 'bootstrap-admin',
      method: 'POST',
      route: '/v1/tokens',
      resource: t.id,
      remoteAddr: '127.0.0.1',
    });
    const byActor = await audit('?actor=audited');
    expect(byActor.map((e) => [e.action, e.outcome, e.status])).toEqual([
      ['listPools', 'refused', 401],
      ['createPool', 'refused', 403],
    ]);
    expect(byActor[0]!.detail).toMatch(/was revoked at/);
    expect(byActor[1]!.detail).toMatch(/role viewer may not call createPool/);
    expect(byActor[1]!.actorTokenId).toBe(t.id);
    expect((await audit(`?action=revokeApiToken&resource=${t.id}`)).length).toBe(1);
    // The unknown token belongs to no org: the install admin sees it.
    const refused = await audit('?outcome=refused&limit=10');
    expect(refused.some((e) => e.actorTokenId === null && /no such token/.test(e.detail ?? ''))).toBe(true);
    // No secret anywhere in the log.
    const all = JSON.stringify(await audit('?limit=1000'));
    expect(all).not.toContain(t.token);
    expect(all).not.toMatch(/mrt_[A-Za-z0-9_-]{20}/);
    // Runners: the local pool's managed runner registered and connected at start.
    const reg = await until(
      async () => {
        const items = await audit('?action=runner.*');
        return items.length >= 2 ? items : null;
      },
      'runner events',
      30_000,
    );
    expect(reg.map((e) => e.action)).toEqual(expect.arrayContaining(['runner.register', 'runner.connect']));
    expect(reg.every((e) => e.outcome === 'ok')).toBe(true);
    // A refused registration and a refused credential, over TCP: with the address.
    const bad = await fetch(`http://127.0.0.1:${srv.gatewayPort}/v1/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ protocol: PROTOCOL_VERSION, token: 'mrg_bogus', name: 'intruder', agentVersion: 'x' }),
    });
    expect(bad.status).toBe(401);
    expect(await connectStatus(srv.gatewayPort, 'mrc_bogus')).toBe(401);
    const refusedRunners = await audit('?action=runner.*&outcome=refused');
    const register = refusedRunners.find((e) => e.action === 'runner.register' && e.actorName === 'intruder');
    expect(register).toMatchObject({ status: 401, remoteAddr: '127.0.0.1' });
    expect(register!.detail).toMatch(/^token_unknown: /);
    const connect = refusedRunners.find(
      (e) => e.action === 'runner.connect' && e.detail === 'unknown runner credential',
    );
    expect(connect).toMatchObject({ status: 401, remoteAddr: '127.0.0.1', resource: null });
    // since / until / limit, and bad filters.
    const now = Date.now();
    expect(await audit(`?since=${now + 60_000}`)).toEqual([]);
    expect((await audit('?since=1h&limit=2')).length).toBe(2);
    expect((await audit(`?until=${new Date(created.at).toISOString()}&resource=${t.id}`)).length).toBe(0);
    expectProblem(await srv.api('GET', '/v1/audit?since=yesterday'), 400, /since: "yesterday" is not an instant/);
    expectProblem(await srv.api('GET', '/v1/audit?limit=0'), 400, /limit/);
    expectProblem(await srv.api('GET', '/v1/audit?outcome=maybe'), 400, /outcome/);
  }, 60_000);
});
