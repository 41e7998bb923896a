/**
 * The PostgreSQL the tests use: found without MARIONETTE_TEST_DATABASE_URL when one runs here,
 * and every suite gets an empty database of its own, even after a server used another one on the
 * same server, dropped at the end.
 */
import { expect, it } from 'vitest';
import { openStore } from '../src/store/index.js';
import { freshDatabase, postgres, postgresDescribe } from './pg.support.js';

async function tables(url: string): Promise<string[]> {
  const pg = await import('pg');
  const c = new pg.default.Client({ connectionString: url });
  await c.connect();
  try {
    const r = await c.query<{ t: string }>(
      "SELECT table_name AS t FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1",
    );
    return r.rows.map((x) => x.t);
  } finally {
    await c.end();
  }
}

async function exists(name: string): Promise<boolean> {
  if (!postgres.ok) return false;
  const pg = await import('pg');
  const c = new pg.default.Client({ connectionString: postgres.url });
  await c.connect();
  try {
    return (await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])).rowCount === 1;
  } finally {
    await c.end();
  }
}

postgresDescribe('test PostgreSQL', () => {
  it('gives each suite an empty database, whatever a server left in another, and drops it', async () => {
    const used = await freshDatabase();
    const store = await openStore({ home: '/nonexistent', databaseUrl: used.url });
    await store.auth.ensureDefaultTenancy();
    await store.close();
    expect(await tables(used.url)).toContain('sessions');

    const next = await freshDatabase();
    expect(next.name).not.toBe(used.name);
    expect(await tables(next.url)).toEqual([]);
    const again = await openStore({ home: '/nonexistent', databaseUrl: next.url });
    await again.close();

    await used.drop();
    await next.drop();
    expect(await exists(used.name)).toBe(false);
    expect(await exists(next.name)).toBe(false);
  });
});
