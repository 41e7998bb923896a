/**
 * The door's decision for one principal and one operation (the route × role walk over a real
 * server is test/auth.roles.e2e.test.ts): an operation missing from the role table is refused to
 * every token, admin included; a role below the one needed and a project token on an org-wide
 * operation are refused, each saying why.
 */
import { describe, expect, it } from 'vitest';
import { accessOf, ROLES, roleAllows } from '../api/roles.js';
import { Forbidden } from '../core/errors.js';
import { checkAccess } from './auth.js';

const p = (role: string, projectId: string | null = null) => ({ tokenId: 't', orgId: 'o', role, projectId, name: 'n' });

describe('checkAccess', () => {
  it('refuses an operation missing from the role table to every role', () => {
    expect(accessOf('deleteEverything')).toBeUndefined();
    expect(accessOf('toString')).toBeUndefined();
    for (const role of ROLES)
      expect(() => checkAccess(p(role), 'deleteEverything', accessOf('deleteEverything'))).toThrow(
        /operation deleteEverything is not in the role table/,
      );
  });

  it('orders the roles, and knows no role outside them', () => {
    expect(roleAllows('admin', 'viewer')).toBe(true);
    expect(roleAllows('member', 'member')).toBe(true);
    expect(roleAllows('member', 'operator')).toBe(false);
    expect(roleAllows('root', 'viewer')).toBe(false);
    expect(roleAllows('anything', 'public')).toBe(true);
  });

  it('refuses a low role and a project token on an org-wide operation, saying why', () => {
    expect(() => checkAccess(p('viewer'), 'createPool', accessOf('createPool'))).toThrow(Forbidden);
    expect(() => checkAccess(p('viewer'), 'createPool', accessOf('createPool'))).toThrow(
      /role viewer may not call createPool: it needs operator or above/,
    );
    expect(() => checkAccess(p('admin', 'prj_1'), 'createPool', accessOf('createPool'))).toThrow(
      /limited to project prj_1; createPool needs a token for the whole org/,
    );
    expect(() => checkAccess(p('member', 'prj_1'), 'createSession', accessOf('createSession'))).not.toThrow();
  });
});

describe('installAuth', () => {
  it('refuses a route added around the route helper (in no table) to every token, and 404s no route', async () => {
    const { default: Fastify } = await import('fastify');
    const { installAuth } = await import('./auth.js');
    const { installProblemHandlers } = await import('./http-problems.js');
    const app = Fastify();
    const principal = p('admin');
    const ctx = {
      store: {
        apiTokens: {
          principal: async (secret: string) => (secret === 'good' ? principal : null),
          refusal: async () => ({ reason: 'unknown' as const }),
          touch: async () => {},
        },
      },
      log: { warn: () => {} },
    } as unknown as Parameters<typeof installAuth>[1];
    installAuth(app, ctx);
    installProblemHandlers(app, () => {});
    app.get('/v1/raw', async () => ({ reached: true }));
    const get = (url: string, token?: string) =>
      app.inject({ method: 'GET', url, headers: token ? { authorization: `Bearer ${token}` } : {} });
    const raw = await get('/v1/raw', 'good');
    expect(raw.statusCode).toBe(403);
    expect(raw.json().detail).toMatch(/operation GET \/v1\/raw is not in the role table/);
    expect((await get('/v1/raw')).statusCode).toBe(401);
    expect((await get('/v1/nothing', 'good')).statusCode).toBe(404);
    await app.close();
  });
});
