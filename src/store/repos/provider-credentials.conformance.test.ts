/**
 * Provider credentials in the store and on top of it, on SQLite and PostgreSQL (test/pg.support.ts):
 * one row per org and provider (a replacement keeps its creation time), never another org's, gone
 * with its org; the service seals the values (the row holds no plain value), resolves the org's
 * stored credential over the environment fallback, tells which pools lack one, keeps it readable
 * after the store is reopened with the same key, refuses clearly with another key (start-time check
 * and resolve), and re-seals with the current key when the old one is given as previous.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshDatabase, postgresDescribe } from '../../../test/pg.support.js';
import { checkStoredProviderCredentials, ProviderCredentials } from '../../server/provider-credentials.js';
import { Redactor } from '../../server/redact.js';
import { parseSecretKey, SecretBox } from '../../server/secrets.js';
import { openStore, orgScope, type Store } from '../index.js';

const DIALECTS: {
  name: string;
  open: () => Promise<{ store: Store; reopen: () => Promise<Store>; cleanup: () => Promise<void> }>;
}[] = [
  {
    name: 'sqlite',
    open: async () => {
      const home = mkdtempSync(join(tmpdir(), 'mrn-pcred-'));
      return {
        store: await openStore({ home }),
        reopen: () => openStore({ home }),
        cleanup: async () => rmSync(home, { recursive: true, force: true }),
      };
    },
  },
  {
    name: 'postgres',
    open: async () => {
      const db = await freshDatabase();
      return {
        store: await openStore({ home: tmpdir(), databaseUrl: db.url }),
        reopen: () => openStore({ home: tmpdir(), databaseUrl: db.url }),
        cleanup: db.drop,
      };
    },
  },
];

const key = () => parseSecretKey(randomBytes(32).toString('base64'), 'test key');
const SECRET = `e2b_${randomBytes(16).toString('hex')}`;
const MODAL_SECRET = `as-${randomBytes(16).toString('hex')}`;

for (const dialect of DIALECTS) {
  (dialect.name === 'postgres' ? postgresDescribe : describe)(`provider credentials: ${dialect.name}`, () => {
    let store: Store;
    let reopen: () => Promise<Store>;
    let cleanup: () => Promise<void>;
    let orgId: string;
    let otherOrg: string;
    const k1 = key();

    beforeAll(async () => {
      ({ store, reopen, cleanup } = await dialect.open());
      ({ orgId } = await store.auth.ensureDefaultTenancy());
      otherOrg = (await store.orgs.createOrg('other')).id;
    });
    afterAll(async () => {
      await store?.close();
      await cleanup?.();
    });

    it('keeps one row per org and provider, never another org’s', async () => {
      const org = orgScope(orgId);
      const a = await store.providerCredentials.put(org, { providerId: 'e2b', fields: ['apiKey'], secret: 'x1' }, 1000);
      expect(a).toEqual({ providerId: 'e2b', fields: ['apiKey'], secret: 'x1', createdAt: 1000, updatedAt: 1000 });
      const b = await store.providerCredentials.put(org, { providerId: 'e2b', fields: ['apiKey'], secret: 'x2' }, 2000);
      expect(b).toMatchObject({ secret: 'x2', createdAt: 1000, updatedAt: 2000 });
      await store.providerCredentials.put(orgScope(otherOrg), {
        providerId: 'modal',
        fields: ['tokenId'],
        secret: 'y',
      });
      expect((await store.providerCredentials.list(org)).map((c) => c.providerId)).toEqual(['e2b']);
      expect(await store.providerCredentials.providerIds(org)).toEqual(['e2b']);
      expect(await store.providerCredentials.get(org, 'modal')).toBeNull();
      expect(await store.providerCredentials.delete(org, 'modal')).toBe(false);
      expect((await store.providerCredentials.all()).map((c) => `${c.orgId === orgId}:${c.providerId}`).sort()).toEqual(
        ['false:modal', 'true:e2b'],
      );
      expect(await store.providerCredentials.delete(org, 'e2b')).toBe(true);
      expect(await store.providerCredentials.delete(org, 'e2b')).toBe(false);
      // Deleting an org takes its credentials with it.
      await store.orgs.deleteCascade(otherOrg);
      expect(await store.providerCredentials.all()).toEqual([]);
    });

    it('seals the values, resolves stored over environment, and names the pools that lack one', async () => {
      const redactor = new Redactor();
      const creds = new ProviderCredentials({
        store,
        secrets: new SecretBox([k1]),
        redactor,
        env: { VERCEL_TOKEN: 'vercel-env-token-value', E2B_API_KEY: 'e2b-env-key-value' },
      });
      const org = orgScope(orgId);
      // Environment fallback first; daytona has none; local takes no credential.
      expect(await creds.resolveProviderCredential(orgId, 'e2b')).toEqual({ apiKey: 'e2b-env-key-value' });
      expect(await creds.resolveProviderCredential(orgId, 'daytona')).toBeNull();
      expect(await creds.resolveProviderCredential(orgId, 'local')).toBeNull();
      expect([...(await creds.missing(orgId, ['local', 'e2b', 'daytona', 'modal', 'vercel']))].sort()).toEqual([
        'daytona',
        'modal',
      ]);
      const v = await creds.set(org, 'e2b', { apiKey: SECRET });
      expect(v).toMatchObject({ provider: 'e2b', source: 'stored', fields: ['apiKey'] });
      expect(JSON.stringify(v)).not.toContain(SECRET);
      await creds.set(org, 'modal', { tokenId: 'ak-1', tokenSecret: MODAL_SECRET });
      const row = await store.providerCredentials.get(org, 'modal');
      expect(row?.secret.startsWith('mse:1:')).toBe(true);
      expect(row?.secret).not.toContain(MODAL_SECRET);
      expect(await creds.resolveProviderCredential(orgId, 'e2b')).toEqual({ apiKey: SECRET });
      expect(await creds.resolveProviderCredential(orgId, 'modal')).toEqual({
        tokenId: 'ak-1',
        tokenSecret: MODAL_SECRET,
      });
      expect([...(await creds.missing(orgId, ['e2b', 'daytona', 'modal']))]).toEqual(['daytona']);
      // Another org sees none of it.
      const third = (await store.orgs.createOrg('third')).id;
      expect(await creds.resolveProviderCredential(third, 'modal')).toBeNull();
      expect(await creds.resolveProviderCredential(third, 'e2b')).toEqual({ apiKey: 'e2b-env-key-value' });
      // The secret values are known to the redactor.
      expect(redactor.redact(`x ${SECRET} ${MODAL_SECRET} vercel-env-token-value`)).not.toMatch(
        /e2b_|as-|vercel-env-token-value/,
      );
      // Bad input: errors name the field or provider, never a value.
      await expect(creds.set(org, 'modal', { tokenId: 'ak-1' })).rejects.toThrow(
        /credential field tokenSecret is required/,
      );
      await expect(creds.set(org, 'e2b', { apiKey: SECRET, other: SECRET })).rejects.toThrow(
        /unknown credential field "other"; its fields are apiKey$/,
      );
      await expect(creds.set(org, 'docker', { apiKey: SECRET })).rejects.toThrow(/provider docker takes no credential/);
      await expect(creds.set(org, 'nosuch', { apiKey: SECRET })).rejects.toThrow(/unknown provider "nosuch"/);
      const list = await creds.list(org);
      expect(list.map((c) => `${c.provider}:${c.source}`)).toEqual([
        'e2b:stored',
        'daytona:none',
        'modal:stored',
        'vercel:environment',
      ]);
      expect(JSON.stringify(list)).not.toMatch(new RegExp(`${SECRET}|${MODAL_SECRET}|vercel-env-token-value`));
    });

    it('stays readable after a reopen with the same key; another key is refused clearly; rotation re-seals', async () => {
      await store.close();
      store = await reopen();
      const same = new ProviderCredentials({ store, secrets: new SecretBox([k1]), redactor: new Redactor(), env: {} });
      expect(await same.resolveProviderCredential(orgId, 'e2b')).toEqual({ apiKey: SECRET });
      expect(await checkStoredProviderCredentials(store, new SecretBox([k1]), new Redactor())).toBe(0);

      const k2 = key();
      const before = (await store.providerCredentials.all()).map((c) => c.secret);
      const wrong = new ProviderCredentials({ store, secrets: new SecretBox([k2]), redactor: new Redactor(), env: {} });
      await expect(wrong.resolveProviderCredential(orgId, 'e2b')).rejects.toThrow(
        new RegExp(`sealed with key ${k1.id}, but this server has key ${k2.id}`),
      );
      await expect(checkStoredProviderCredentials(store, new SecretBox([k2]), new Redactor())).rejects.toThrow(
        new RegExp(`2 stored provider credentials were sealed with key ${k1.id}, but this server has key ${k2.id}`),
      );
      expect((await store.providerCredentials.all()).map((c) => c.secret)).toEqual(before);

      // Rotation: the new key current, the old one previous: every row is sealed again with the new key.
      expect(await checkStoredProviderCredentials(store, new SecretBox([k2, k1]), new Redactor())).toBe(2);
      const rotated = new ProviderCredentials({
        store,
        secrets: new SecretBox([k2]),
        redactor: new Redactor(),
        env: {},
      });
      expect(await rotated.resolveProviderCredential(orgId, 'modal')).toMatchObject({ tokenSecret: MODAL_SECRET });
    });
  });
}
