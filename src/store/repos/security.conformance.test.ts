/**
 * API tokens and the audit log in the store, on SQLite and PostgreSQL (test/pg.support.ts): a
 * token's principal is refused from the moment it is revoked or expires, a rotation leaves the old
 * secret dead, a revocation happens once, and audit events come back newest first through every
 * filter (actor by id or name, action or action prefix, resource, outcome, since/until, limit),
 * never another org's.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshDatabase, postgresDescribe } from '../../../test/pg.support.js';
import { newId } from '../../core/ids.js';
import { openStore, type Store } from '../index.js';

const DIALECTS: { name: string; open: () => Promise<{ store: Store; cleanup: () => Promise<void> }> }[] = [
  {
    name: 'sqlite',
    open: async () => {
      const home = mkdtempSync(join(tmpdir(), 'mrn-sec-'));
      return { store: await openStore({ home }), cleanup: async () => rmSync(home, { recursive: true, force: true }) };
    },
  },
  {
    name: 'postgres',
    open: async () => {
      const db = await freshDatabase();
      return { store: await openStore({ home: tmpdir(), databaseUrl: db.url }), cleanup: db.drop };
    },
  },
];

for (const dialect of DIALECTS) {
  (dialect.name === 'postgres' ? postgresDescribe : describe)(`tokens and audit: ${dialect.name}`, () => {
    let store: Store;
    let cleanup: () => Promise<void>;
    let orgId: string;
    let projectId: string;
    let otherOrg: string;
    beforeAll(async () => {
      ({ store, cleanup } = await dialect.open());
      ({ orgId, projectId } = await store.auth.ensureDefaultTenancy());
      otherOrg = newId('org');
      await store.db.insertInto('orgs').values({ id: otherOrg, name: 'other', created_at: Date.now() }).execute();
    });
    afterAll(async () => {
      await store?.close();
      await cleanup?.();
    });

    it('resolves a live token to its principal, and refuses it once revoked, expired or rotated', async () => {
      const now = Date.now();
      const t = await store.apiTokens.create({ orgId, projectId, name: 'ci', role: 'member', expiresAt: now + 60_000 });
      expect(await store.apiTokens.principal(t.token, now)).toEqual({
        tokenId: t.id,
        orgId,
        projectId,
        role: 'member',
        name: 'ci',
      });
      // Expiry: refused at the instant it passes, and said why.
      expect(await store.apiTokens.principal(t.token, now + 60_000)).toBeNull();
      expect((await store.apiTokens.refusal(t.token, now + 60_000)).reason).toBe('expired');
      // Rotation: the old secret is dead at once, the new one works, same id.
      const r = await store.apiTokens.rotate(orgId, t.id, now + 120_000);
      expect(r?.id).toBe(t.id);
      expect(await store.apiTokens.principal(t.token, now)).toBeNull();
      expect((await store.apiTokens.principal(r!.token, now + 60_000))?.tokenId).toBe(t.id);
      // Revocation: once; a second is refused, and a revoked token cannot be rotated back to life.
      expect(await store.apiTokens.revoke(otherOrg, t.id)).toBe(false);
      expect(await store.apiTokens.revoke(orgId, t.id)).toBe(true);
      expect(await store.apiTokens.revoke(orgId, t.id)).toBe(false);
      expect(await store.apiTokens.principal(r!.token, now)).toBeNull();
      expect((await store.apiTokens.refusal(r!.token)).reason).toBe('revoked');
      expect(await store.apiTokens.rotate(orgId, t.id)).toBeNull();
      expect((await store.apiTokens.refusal('mrt_nothing')).reason).toBe('unknown');
      // Listing: the org's (or one project's) tokens, never another org's; no hashes.
      await store.apiTokens.create({ orgId: otherOrg, name: 'theirs', role: 'admin' });
      const mine = await store.apiTokens.list(orgId);
      expect(mine.map((x) => x.name)).toContain('ci');
      expect(mine.map((x) => x.name)).not.toContain('theirs');
      expect(JSON.stringify(mine)).not.toContain('hash');
      expect((await store.apiTokens.list(orgId, projectId)).map((x) => x.name)).toEqual(['ci']);
    });

    it('lists audit events newest first through every filter, never another org', async () => {
      const base = 1_800_000_000_000;
      const ev = (i: number, action: string, actor: string, org: string | null = orgId) =>
        store.audit.record({
          at: base + i * 1000,
          orgId: org,
          actorTokenId: `tok_${actor}`,
          actorName: actor,
          action,
          method: 'POST',
          route: '/v1/x',
          resource: `res_${i % 2}`,
          status: action === 'denied' ? 403 : 201,
          outcome: action === 'denied' ? 'refused' : 'ok',
          remoteAddr: '127.0.0.1',
          detail: null,
        });
      for (let i = 0; i < 6; i++) await ev(i, i < 3 ? 'createPool' : 'runner.register', i % 2 ? 'bob' : 'ann');
      await ev(6, 'denied', 'eve');
      await ev(7, 'createPool', 'mallory', otherOrg);
      const list = (f: Partial<Parameters<Store['audit']['list']>[0]> = {}) =>
        store.audit.list({ orgId, limit: 100, since: base, ...f }).then((r) => r.map((e) => e.at - base));
      expect(await list()).toEqual([6000, 5000, 4000, 3000, 2000, 1000, 0]);
      expect(await list({ actor: 'bob' })).toEqual([5000, 3000, 1000]);
      expect(await list({ actor: 'tok_ann' })).toEqual([4000, 2000, 0]);
      expect(await list({ action: 'createPool' })).toEqual([2000, 1000, 0]);
      expect(await list({ action: 'runner.*' })).toEqual([5000, 4000, 3000]);
      expect(await list({ resource: 'res_1' })).toEqual([5000, 3000, 1000]);
      expect(await list({ outcome: 'refused' })).toEqual([6000]);
      expect(await list({ since: base + 2000, until: base + 5000 })).toEqual([4000, 3000, 2000]);
      expect(await list({ limit: 2 })).toEqual([6000, 5000]);
      expect((await store.audit.list({ orgId: otherOrg, limit: 100, since: base })).map((e) => e.actorName)).toEqual([
        'mallory',
      ]);
    });
  });
}
