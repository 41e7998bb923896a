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
