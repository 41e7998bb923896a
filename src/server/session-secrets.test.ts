/**
 * A session's env at rest, on SQLite and PostgreSQL: rows written before encryption (plain values)
 * are sealed at start and keep working; a row sealed with a key the server lacks stops the start
 * with a clear error and is left as it was; a previous key opens and is re-sealed with the new one
 * (rotation); event data is redacted before it is written.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { freshDatabase, postgresDescribe } from '../../test/pg.support.js';
import { newId } from '../core/ids.js';
import { openStore, type Store, type StoreOptions } from '../store/index.js';
import type { SessionRequest } from '../store/records.js';
import { REDACTED, Redactor } from './redact.js';
import { newSecretKeyText, parseSecretKey, SecretBox, SecretUnreadable } from './secrets.js';
import { openSessionEnv, sealRequest, sealStoredSessionEnv } from './session-secrets.js';

const DIALECTS: {
  name: string;
  open: (o: Partial<StoreOptions>) => Promise<{ store: Store; drop: () => Promise<void> }>;
}[] = [
  {
    name: 'sqlite',
    open: async (o) => {
      const home = mkdtempSync(join(tmpdir(), 'mrn-secrets-'));
      const store = await openStore({ home, ...o });
      return { store, drop: async () => rmSync(home, { recursive: true, force: true }) };
    },
  },
  {
    name: 'postgres',
    open: async (o) => {
      const db = await freshDatabase();
      const store = await openStore({ home: tmpdir(), databaseUrl: db.url, ...o });
      return { store, drop: db.drop };
    },
  },
];

const k1 = parseSecretKey(newSecretKeyText(), 'k1');
const k2 = parseSecretKey(newSecretKeyText(), 'k2');
const PLANTED = 'planted-value-7f3a9c1e';

function request(env: Record<string, string>): SessionRequest {
  return {
    agent: 'shell',
    prompt: null,
    provider: null,
    pool: null,
    selector: null,
    profile: null,
    authMode: 'byok',
    env,
  };
}

for (const dialect of DIALECTS) {
  (dialect.name === 'postgres' ? postgresDescribe : describe)(`session env at rest: ${dialect.name}`, () => {
    let store: Store;
    let drop: () => Promise<void>;
    let orgId: string;
    let projectId: string;
    const redacted = new Redactor();

    beforeEach(async () => {
      redacted.add(PLANTED);
      ({ store, drop } = await dialect.open({ redact: (d) => redacted.redactDeep(d) }));
      ({ orgId, projectId } = await store.auth.ensureDefaultTenancy());
    });
    afterEach(async () => {
      await store.close();
      await drop();
    });

    /** Inserts a session whose stored request is `req` as given (plain or sealed). */
    const insert = async (req: SessionRequest, id = newId('ses')) => {
      const now = Date.now();
      await store.sessions.insert({
        id,
        org_id: orgId,
        project_id: projectId,
        agent: 'shell',
        state: 'scheduling',
        state_reason: null,
        pool_id: null,
        runner_id: null,
        request: JSON.stringify(req),
        placement: null,
        wait_for_capacity: 1,
        priority: 0,
        suspend: null,
        created_at: now,
        updated_at: now,
        ended_at: null,
      });
      return id;
    };
    const raw = async (id: string) =>
      (await store.db.selectFrom('sessions').select('request').where('id', '=', id).executeTakeFirstOrThrow()).request;

    it('seals plain rows written before encryption; they open to the same values; a second start changes nothing', async () => {
      const plain = await insert(request({ TOKEN: PLANTED, EMPTY: '' }));
      const none = await insert(request({}));
      const box = new SecretBox([k1]);
      const r = new Redactor();
      expect(await sealStoredSessionEnv(store, box, r)).toBe(1);
      const text = await raw(plain);
      expect(text).not.toContain(PLANTED);
      expect(text).toContain(`mse:1:${k1.id}:`);
      expect(r.redact(`x ${PLANTED}`)).toBe(`x ${REDACTED}`);
      const s = (await store.sessions.get(plain))!;
      expect(openSessionEnv(box, r, s)).toEqual({ TOKEN: PLANTED, EMPTY: '' });
      expect(await sealStoredSessionEnv(store, box, r)).toBe(0);
      expect(await raw(plain)).toBe(text);
      expect(JSON.parse(await raw(none)).env).toEqual({});
    });

    it('a row sealed with another key stops the start with both key ids named, and nothing changes', async () => {
      const id = newId('ses');
      const sealed = sealRequest(new SecretBox([k1]), new Redactor(), id, request({ TOKEN: PLANTED }));
      await insert(sealed, id);
      const plainId = await insert(request({ OTHER: 'plain-other-value' }));
      const before = [await raw(id), await raw(plainId)];
      const err = await sealStoredSessionEnv(store, new SecretBox([k2]), new Redactor()).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SecretUnreadable);
      expect((err as Error).message).toBe(
        `1 stored session env value was sealed with key ${k1.id}, but this server has key ${k2.id} (k2)`,
      );
      expect((err as SecretUnreadable).hint).toContain('Nothing was changed');
      expect([await raw(id), await raw(plainId)]).toEqual(before);
      // With the right key back, the row opens as before.
      const s = (await store.sessions.get(id))!;
      expect(openSessionEnv(new SecretBox([k1]), new Redactor(), s)).toEqual({ TOKEN: PLANTED });
    });

    it('rotation: with the old key as previous, rows are re-sealed with the new key', async () => {
      const id = newId('ses');
      await insert(sealRequest(new SecretBox([k1]), new Redactor(), id, request({ TOKEN: PLANTED })), id);
      expect(await sealStoredSessionEnv(store, new SecretBox([k2, k1]), new Redactor())).toBe(1);
      expect(await raw(id)).toContain(`mse:1:${k2.id}:`);
      const s = (await store.sessions.get(id))!;
      expect(openSessionEnv(new SecretBox([k2]), new Redactor(), s)).toEqual({ TOKEN: PLANTED });
    });

    it('a sealed value moved to another session does not open there', async () => {
      const a = newId('ses');
      const sealed = sealRequest(new SecretBox([k1]), new Redactor(), a, request({ TOKEN: PLANTED }));
      const b = await insert(sealed);
      const s = (await store.sessions.get(b))!;
      expect(() => openSessionEnv(new SecretBox([k1]), new Redactor(), s)).toThrow(/did not authenticate/);
    });

    it('event data is redacted before it is written', async () => {
      const id = await insert(request({}));
      await store.sessions.addEvent(id, orgId, 'task_finished', { error: `exit 1: ${PLANTED}`, n: 2 });
      const row = await store.db
        .selectFrom('session_events')
        .select('data')
        .where('session_id', '=', id)
        .executeTakeFirstOrThrow();
      expect(row.data).not.toContain(PLANTED);
      expect((await store.sessions.events(id))[0]?.data).toEqual({ error: `exit 1: ${REDACTED}`, n: 2 });
    });
  });
}

describe('session env at rest: no old plain copy in the SQLite files', () => {
  it('values sealed at start leave no plain bytes in the database or WAL once it is closed', async () => {
    const home = mkdtempSync(join(tmpdir(), 'mrn-secrets-'));
    try {
      const store = await openStore({ home });
      const { orgId, projectId } = await store.auth.ensureDefaultTenancy();
      const now = Date.now();
      // Several rows on a page, one of them holding the planted value in plain text (as written by
      // a version without encryption).
      for (let i = 0; i < 30; i++)
        await store.sessions.insert({
          id: newId('ses'),
          org_id: orgId,
          project_id: projectId,
          agent: 'shell',
          state: 'scheduling',
          state_reason: null,
          pool_id: null,
          runner_id: null,
          request: JSON.stringify(request({ A: i === 7 ? PLANTED : `other-${i}`, PAD: 'p'.repeat(100) })),
          placement: null,
          wait_for_capacity: 1,
          priority: 0,
          suspend: null,
          created_at: now + i,
          updated_at: now,
          ended_at: null,
        });
      await store.close();
      const reopened = await openStore({ home });
      expect(await sealStoredSessionEnv(reopened, new SecretBox([k1]), new Redactor())).toBe(30);
      await reopened.close();
      for (const f of readdirSync(home)) expect(readFileSync(join(home, f)).includes(PLANTED), f).toBe(false);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });
});
