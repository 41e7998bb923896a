/**
 * A healthy, very verbose task completes exactly once: 2,000,000 lines on SQLite and 1,000,000 on
 * PostgreSQL (when one is reachable, see test/pg.support.ts) through a real server and a real local
 * runner. Before flow control, heartbeats waited behind log batches, the task was declared lost at
 * the 30 s lease and run again, and the agent buffered everything (434 MB at 1M lines). Every line
 * is stored once and in order (checked in the database itself), and the agent's RSS, sampled from
 * /proc during the run, stays under a generous bound.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { type ServerHandle, type SessionView, startServer, until } from './harness.js';
import { freshDatabase, postgresDescribe } from './pg.support.js';

/** The largest RSS (bytes) of this home's agent processes seen so far, sampled every 250 ms. */
function sampleAgentRss(home: string): { max: () => number; stop: () => void } {
  const socketEnv = `MARIONETTE_GATEWAY=unix:${join(home, 'run', 'gateway.sock')}`;
  let max = 0;
  const timer = setInterval(() => {
    for (const d of readdirSync('/proc')) {
      if (!/^\d+$/.test(d)) continue;
      try {
        if (!readFileSync(`/proc/${d}/cmdline`, 'utf8').includes('marionette-agent')) continue;
        if (!readFileSync(`/proc/${d}/environ`, 'utf8').split('\0').includes(socketEnv)) continue;
        const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${d}/status`, 'utf8'));
        if (m) max = Math.max(max, Number(m[1]) * 1024);
      } catch {
        /* gone */
      }
    }
  }, 250);
  return { max: () => max, stop: () => clearInterval(timer) };
}

interface Check {
  count: number;
  minSeq: number;
  maxSeq: number;
  /** Lines whose text is not their seq (seq N must read N: `seq 1 N` printed it). */
  wrong: number;
}

async function runVerbose(srv: ServerHandle, lines: number, check: () => Promise<Check>): Promise<void> {
  const rss = sampleAgentRss(srv.home);
  try {
    const created = await srv.api<{ id: string }>('POST', '/v1/sessions', {
      agent: 'shell',
      prompt: `seq 1 ${lines}`,
    });
    expect(created.status).toBe(201);
    const s = await until(
      async () => {
        const v = (await srv.api<SessionView>('GET', `/v1/sessions/${created.body.id}`)).body;
        const t = v.tasks[0];
        return t && !['queued', 'assigned', 'running'].includes(t.state) ? v : null;
      },
      'the verbose task to end',
      400_000,
    );
    expect(s.tasks).toHaveLength(1); // no retry
    expect(s.tasks[0]).toMatchObject({ state: 'succeeded', attempt: 1, exitCode: 0 });
    const c = await check();
    expect(c).toEqual({ count: lines, minSeq: 1, maxSeq: lines, wrong: 0 });
    // The API pages agree (first and last page).
    const t = s.tasks[0]!;
    const head = await srv.api<{ items: { seq: number; line: string }[] }>('GET', `/v1/tasks/${t.id}/logs?limit=3`);
    expect(head.body.items.map((l) => l.line)).toEqual(['1', '2', '3']);
    await sleep(300);
    expect(rss.max()).toBeGreaterThan(0);
    expect(rss.max()).toBeLessThan(200 * 1024 * 1024);
    console.log(`verbose task: ${lines} lines, agent max RSS ${(rss.max() / 1048576).toFixed(0)} MB`);
  } finally {
    rss.stop();
  }
}

const CHECK_SQL = `SELECT count(*) AS count, min(seq) AS "minSeq", max(seq) AS "maxSeq",
  sum(CASE WHEN line = CAST(seq AS TEXT) THEN 0 ELSE 1 END) AS wrong FROM task_logs`;

describe('a verbose task is never declared lost', () => {
  let srv: ServerHandle | undefined;
  afterAll(async () => srv?.destroy());

  it('2,000,000 lines on SQLite: one attempt, every line once and in order, agent memory bounded', async () => {
    srv = await startServer();
    const home = srv.home;
    await runVerbose(srv, 2_000_000, async () => {
      const db = new Database(join(home, 'marionette.db'), { readonly: true });
      try {
        const r = db.prepare(CHECK_SQL).get() as Record<string, number>;
        return { count: r.count!, minSeq: r.minSeq!, maxSeq: r.maxSeq!, wrong: r.wrong! };
      } finally {
        db.close();
      }
    });
  }, 420_000);
});

postgresDescribe('a verbose task is never declared lost (PostgreSQL)', () => {
  let srv: ServerHandle | undefined;
  let db: Awaited<ReturnType<typeof freshDatabase>> | undefined;
  afterAll(async () => {
    await srv?.destroy();
    await db?.drop();
  });

  it('1,000,000 lines on PostgreSQL: one attempt, every line once and in order', async () => {
    db = await freshDatabase();
    const url = db.url;
    srv = await startServer({ env: { MARIONETTE_DATABASE_URL: url } });
    await runVerbose(srv, 1_000_000, async () => {
      const q = new pg.Client({ connectionString: url });
      await q.connect();
      try {
        const r = (await q.query(CHECK_SQL)).rows[0] as Record<string, string>;
        return { count: Number(r.count), minSeq: Number(r.minSeq), maxSeq: Number(r.maxSeq), wrong: Number(r.wrong) };
      } finally {
        await q.end();
      }
    });
  }, 420_000);
});
