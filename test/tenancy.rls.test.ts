/**
 * PostgreSQL row-level security, the second wall behind the repositories' org scope: refused
 * where it could not hold (SQLite, a superuser); under an ordinary role that owns the tables, a
 * statement run for one org sees and writes only that org's rows even without a `where org_id`,
 * while the system's own reads see every org.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { inScope, openStore, orgScope, type Store } from '../src/store/index.js';
import { BIN, run, type SessionView, startServer, until } from './harness.js';
import { freshDatabase, postgres, postgresDescribe } from './pg.support.js';

/** Starts the real server with row-level security configured; it must refuse, saying why. */
async function serveRefused(databaseUrl: string | null): Promise<{ code: number; stderr: string }> {
  const home = mkdtempSync(join(tmpdir(), 'mrn-rls-srv-'));
  try {
    writeFileSync(join(home, 'marionette.yaml'), 'database:\n  row_level_security: true\n');
    return await run(
      BIN.marionette,
      ['serve', '--port', '0', '--gateway-port', '0', '--config', join(home, 'marionette.yaml')],
      { MARIONETTE_HOME: home, MARIONETTE_DATABASE_URL: databaseUrl ?? '' },
      60_000,
    );
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}

async function admin(url: string, statements: string[]): Promise<void> {
  const pg = await import('pg');
  const c = new pg.default.Client({ connectionString: url });
  await c.connect();
  try {
    for (const s of statements) await c.query(s);
  } finally {
    await c.end();
  }
}

it('refuses row-level security on SQLite, naming why', async () => {
  const home = mkdtempSync(join(tmpdir(), 'mrn-rls-'));
  try {
    await expect(openStore({ home, rowLevelSecurity: true })).rejects.toThrow(
      /database\.row_level_security is on, but the store is SQLite/,
    );
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
  const srv = await serveRefused(null);
  expect(srv.code).toBe(1);
  expect(srv.stderr).toMatch(/row_level_security is on, but the store is SQLite/);
  expect(srv.stderr).not.toMatch(/\n\s+at /);
});

postgresDescribe('row-level security on PostgreSQL', () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  const role = `mrn_rls_${process.pid}_${randomBytes(3).toString('hex')}`;
  const password = randomBytes(12).toString('hex');
  let roleUrl = '';
  let store: Store | null = null;

  beforeAll(async () => {
    db = await freshDatabase();
    await admin(db.url, [
      `CREATE ROLE "${role}" LOGIN PASSWORD '${password}' NOSUPERUSER NOBYPASSRLS`,
      `ALTER DATABASE "${db.name}" OWNER TO "${role}"`,
    ]);
    const u = new URL(db.url);
    u.username = role;
    u.password = password;
    roleUrl = u.toString();
  });
  afterAll(async () => {
    await store?.close();
    await db?.drop();
    if (postgres.ok) await admin(postgres.url, [`DROP ROLE IF EXISTS "${role}"`]);
  });

  it('refuses to open as a superuser, which policies never bind', async () => {
    // A database of its own: the superuser's migrations own its tables.
    const su = await freshDatabase();
    try {
      await expect(openStore({ home: '/nonexistent', databaseUrl: su.url, rowLevelSecurity: true })).rejects.toThrow(
        /connects as "[^"]+", a superuser/,
      );
      const srv = await serveRefused(su.url);
      expect(srv.code).toBe(1);
      expect(srv.stderr).toMatch(/connects as "[^"]+", a superuser/);
    } finally {
      await su.drop();
    }
  });

  it("binds every statement run for an org to that org's rows, reads and writes", async () => {
    store = await openStore({ home: '/nonexistent', databaseUrl: roleUrl, pgSchema: 'mrn', rowLevelSecurity: true });
    const a = await store.orgs.createOrg('rls-a');
    const b = await store.orgs.createOrg('rls-b');
    const A = orgScope(a.id);
    await store.orgs.createProject(A, 'web');
    // The system's own reads see every org.
    const all = await store.db.selectFrom('projects').select(['org_id', 'name']).execute();
    expect(new Set(all.map((p) => p.org_id))).toEqual(new Set([a.id, b.id]));
    // A statement for org A with no `where org_id` at all still sees A's rows only: the database's wall.
    const seen = await inScope(A, () => store!.db.selectFrom('projects').select(['org_id', 'name']).execute());
    expect(seen.map((p) => p.org_id)).toEqual([a.id, a.id]);
    expect((await inScope(A, () => store!.db.selectFrom('orgs').select('id').execute())).map((o) => o.id)).toEqual([
      a.id,
    ]);
    // Nor can it write a row of another org, or change or delete one.
    await expect(
      inScope(A, () =>
        store!.db
          .insertInto('projects')
          .values({ id: 'prj_forged', org_id: b.id, name: 'forged', created_at: Date.now() })
          .execute(),
      ),
    ).rejects.toThrow(/row-level security/);
    const changed = await inScope(A, () =>
      store!.db.updateTable('projects').set({ name: 'taken' }).where('org_id', '=', b.id).executeTakeFirst(),
    );
    expect(Number(changed.numUpdatedRows)).toBe(0);
    const gone = await inScope(A, () => store!.db.deleteFrom('projects').where('org_id', '=', b.id).executeTakeFirst());
    expect(Number(gone.numDeletedRows)).toBe(0);
    expect((await store.orgs.listProjects(orgScope(b.id))).map((p) => p.name)).toEqual(['default']);
    // The repositories' scoped reads agree.
    expect((await store.orgs.listProjects(A)).map((p) => p.name)).toEqual(['default', 'web']);
    await store.close();
    store = null;
  });

  it('runs the real server with the policies on: sessions run, and another org still gets 404', async () => {
    // A database of its own, owned by the role (the stores above use schema mrn of the first one).
    const own = await freshDatabase();
    await admin(own.url, [`ALTER DATABASE "${own.name}" OWNER TO "${role}"`]);
    const u = new URL(own.url);
    u.username = role;
    u.password = password;
    const srvUrl = u.toString();
    const srv = await startServer({
      config: 'database:\n  row_level_security: true\n',
      env: { MARIONETTE_DATABASE_URL: srvUrl },
    });
    try {
      const s = await srv.api<SessionView>('POST', '/v1/sessions', { agent: 'shell', prompt: 'echo under-rls' });
      expect(s.status).toBe(201);
      await until(
        async () =>
          (await srv.api<SessionView>('GET', `/v1/sessions/${s.body.id}`)).body.tasks[0]?.state === 'succeeded',
        'the task to succeed with row-level security on',
        60_000,
      );
      const org = await srv.api<{ id: string }>('POST', '/v1/orgs', { name: 'rls-c' });
      expect(org.status).toBe(201);
      const other = await openStore({ home: srv.home, databaseUrl: srvUrl, rowLevelSecurity: true });
      try {
        const { token } = await other.auth.createApiToken(org.body.id, 'c-admin', 'admin');
        expect((await srv.api('GET', `/v1/sessions/${s.body.id}`, undefined, token)).status).toBe(404);
        expect((await srv.api<{ items: unknown[] }>('GET', '/v1/sessions', undefined, token)).body.items).toEqual([]);
      } finally {
        await other.close();
      }
    } finally {
      await srv.destroy();
      await own.drop();
    }
  });

  it('turns the policies off again when the setting is off, and the store keeps working', async () => {
    store = await openStore({ home: '/nonexistent', databaseUrl: roleUrl, pgSchema: 'mrn' });
    expect((await store.orgs.listOrgs()).map((o) => o.name)).toEqual(['rls-a', 'rls-b']);
    // (The server above used the public schema of the same database, this store its own.)
    await store.close();
    store = null;
  });
});
