/**
 * One conformance suite, run on every store dialect: SQLite always, PostgreSQL when one is
 * reachable (test/pg.support.ts finds it: MARIONETTE_TEST_DATABASE_URL, else a local server; a
 * skip names the reason, MARIONETTE_REQUIRE_POSTGRES=1 makes it a failure). Each PostgreSQL suite
 * runs on a database of its own, created for it and dropped afterwards.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshDatabase, postgresDescribe } from '../../test/pg.support.js';
import { IllegalTransition } from '../core/errors.js';
import { newId } from '../core/ids.js';
import type { RunnerState } from '../core/types.js';
import { openStore, orgScope, type Store } from './index.js';

/** A fresh store; `reopen` opens the same database again (as a server restart does). */
interface Opened {
  store: Store;
  reopen: () => Promise<Store>;
  cleanup: () => Promise<void>;
}

const DIALECTS: { name: string; open: () => Promise<Opened> }[] = [
  {
    name: 'sqlite',
    open: async () => {
      const home = mkdtempSync(join(tmpdir(), 'mrn-store-'));
      const store = await openStore({ home });
      return {
        store,
        reopen: () => openStore({ home }),
        cleanup: async () => rmSync(home, { recursive: true, force: true }),
      };
    },
  },
  {
    name: 'postgres',
    open: async () => {
      const db = await freshDatabase();
      const store = await openStore({ home: tmpdir(), databaseUrl: db.url });
      return { store, reopen: () => openStore({ home: tmpdir(), databaseUrl: db.url }), cleanup: db.drop };
    },
  },
];

for (const dialect of DIALECTS) {
  (dialect.name === 'postgres' ? postgresDescribe : describe)(`store conformance: ${dialect.name}`, () => {
    let store: Store;
    let reopen: () => Promise<Store>;
    let cleanup: () => Promise<void>;
    let orgId: string;
    let projectId: string;
    let poolId: string;

    /** Inserts a pool (`mode: pool`) and returns its id. */
    const pool = async (name: string) => {
      const now = Date.now();
      const id = newId('pool');
      await store.pools.insert({
        id,
        org_id: orgId,
        name,
        mode: 'pool',
        provider_id: 'pool',
        priority: 0,
        active: 1,
        labels: '{}',
        min_runners: 0,
        max_runners: null,
        idle_timeout_ms: null,
        selector: null,
        runtime_provides: null,
        sandbox_config: '{}',
        lifecycle: 'per-session',
        sandbox_mode: 'runner-is-sandbox',
        suspend_config: '{"strategy":"release_to_pool","fallback":"terminate","minDurationMs":0,"maxDurationMs":null}',
        source: 'api',
        created_at: now,
        updated_at: now,
      });
      return id;
    };

    beforeAll(async () => {
      ({ store, reopen, cleanup } = await dialect.open());
      ({ orgId, projectId } = await store.auth.ensureDefaultTenancy());
      poolId = await pool('p');
    });
    afterAll(async () => {
      await store?.close();
      await cleanup?.();
    });

    const session = async () => {
      const now = Date.now();
      const id = newId('ses');
      await store.sessions.insert({
        id,
        org_id: orgId,
        project_id: projectId,
        agent: 'shell',
        state: 'scheduling',
        state_reason: null,
        pool_id: null,
        runner_id: null,
        request: '{}',
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
    const task = async (sessionId: string) =>
      store.tasks.insert({
        id: newId('tsk'),
        org_id: orgId,
        session_id: sessionId,
        prompt: 'x',
        state: 'queued',
        runner_id: null,
        attempt: 1,
        max_retries: 1,
        retry_of: null,
        exit_code: null,
        error: null,
        cancel_requested: 0,
        created_at: Date.now(),
        assigned_at: null,
        started_at: null,
        finished_at: null,
      });
    const runner = async (opts: { pool?: string; state?: RunnerState } = {}) => {
      const now = Date.now();
      const id = newId('run');
      await store.runners.insert({
        id,
        org_id: orgId,
        pool_id: opts.pool ?? poolId,
        session_id: null,
        name: id,
        state: opts.state ?? 'idle',
        labels: '{}',
        credential_hash: null,
        provider_id: 'pool',
        handle: null,
        agent_version: null,
        draining: 0,
        last_heartbeat_at: now,
        lease_expires_at: now + 60_000,
        idle_since: now,
        created_at: now,
        updated_at: now,
        stopped_at: null,
      });
      return id;
    };

    it('expires a lease only while it is still expired: a runner that renewed meanwhile stays', async () => {
      const r = await runner({ state: 'busy' });
      const now = Date.now();
      await store.runners.renewLease(r, now - 10_000, 5_000); // lapsed 5 s ago
      const seen = (await store.runners.expiredLeases(now)).find((x) => x.id === r);
      expect(seen?.state).toBe('busy');
      // The runner reconnects (its hello renews the lease) before the reaper writes.
      await store.runners.renewLease(r, now, 5_000);
      expect(await store.runners.expireLease(r, 'busy', now)).toBe(false);
      expect((await store.runners.get(r))?.state).toBe('busy');
      // A lease still lapsed is expired, once, and only from the state the reaper read.
      await store.runners.renewLease(r, now - 10_000, 5_000);
      expect(await store.runners.expireLease(r, 'idle', now)).toBe(false);
      expect(await store.runners.expireLease(r, 'busy', now)).toBe(true);
      expect(await store.runners.expireLease(r, 'busy', now)).toBe(false);
      expect((await store.runners.get(r))?.state).toBe('offline');
    });

    it('notes every write to sessions, tasks and runners in the change log (lease renewals aside)', async () => {
      store.changes.take();
      const s = await session();
      const t = await task(s);
      const r = await runner();
      let c = store.changes.take();
      expect([...c.sessions]).toEqual([s]); // the task insert notes its session
      expect([...c.runners]).toEqual([r]);
      const claimed = await store.runners.claim(r, t.id, s);
      expect(claimed?.runnerId).toBe(r);
      await store.runners.renewLease(r, Date.now(), 60_000);
      await store.sessions.update(s, { state_reason: 'x' });
      c = store.changes.take();
      expect([...c.tasks]).toEqual([t.id]);
      expect([...c.runners]).toEqual([r]);
      expect([...c.sessions]).toEqual([s]);
      // A write inside a transaction that rolls back is noted too (a reader reads it again for nothing).
      await expect(
        store.transaction(async (tx) => {
          await tx.tasks.transition(t.id, 'running');
          throw new Error('roll back');
        }),
      ).rejects.toThrow('roll back');
      expect((await store.tasks.get(t.id))?.state).toBe('assigned');
      expect([...store.changes.take().tasks]).toEqual([t.id]);
    });

    it("keeps a task's agent outcome, finds the session's conversation, writes its cost event", async () => {
      const s = await session();
      const t1 = await task(s);
      const t2 = await task(s);
      expect(await store.tasks.lastConversationId(s)).toBeNull();
      const outcome = (conversationId: string | null) => ({
        status: 'succeeded' as const,
        error: null,
        conversationId,
        permissionDenials: [],
        usage: { inputTokens: 10, outputTokens: 2, cacheReadTokens: 1, cacheWriteTokens: 0 },
        costUsd: 0.25,
        model: 'm',
        summary: 'done',
      });
      await store.tasks.update(t1.id, { outcome: JSON.stringify(outcome('conv-1')) });
      await store.tasks.update(t2.id, { outcome: JSON.stringify(outcome(null)) });
      expect(await store.tasks.lastConversationId(s)).toBe('conv-1');
      const got = (await store.tasks.get(t1.id))!;
      expect(got.outcome).toEqual(outcome('conv-1'));
      const r = await runner();
      await store.tasks.addAgentCost({ ...got, finishedAt: Date.now() }, { id: r, poolId, providerId: 'pool' });
      const rows = await store.db.selectFrom('cost_events').selectAll().where('task_id', '=', t1.id).execute();
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({ billing_model: 'agent-reported', session_id: s, model: 'm' });
      expect(Number(rows[0]!.input_tokens)).toBe(10);
      expect(Number(rows[0]!.cost_usd)).toBe(0.25);
    });

    it('numbers tasks per session in order', async () => {
      const s = await session();
      const a = await task(s);
      const b = await task(s);
      expect([a.ordinal, b.ordinal]).toEqual([1, 2]);
    });

    it('refuses transitions the state table does not allow (compare-and-set)', async () => {
      const s = await session();
      const t = await task(s);
      expect(await store.tasks.transition(t.id, 'running')).toBe(false); // queued → running is not in the table
      expect(await store.tasks.transition(t.id, 'cancelled')).toBe(true);
      expect(await store.tasks.transition(t.id, 'queued')).toBe(false); // terminal
      expect((await store.tasks.get(t.id))?.state).toBe('cancelled');
      expect(await store.sessions.transition(s, 'completed')).toBe(false); // scheduling → completed is not allowed
    });

    it('refuses an edge the state table does not list with an error (not false), writing nothing', async () => {
      const s = await session();
      const t = await task(s);
      const r = await runner();
      // queued → running skips `assigned`: asking for it is a defect in the caller, not a lost race.
      await expect(store.tasks.transition(t.id, 'running', {}, ['queued'])).rejects.toThrow(IllegalTransition);
      await expect(store.tasks.transition(t.id, 'running', {}, ['queued'])).rejects.toThrow(
        'tasks: no transition queued → running in the state table',
      );
      expect((await store.tasks.get(t.id))?.state).toBe('queued');
      // Nothing leads back into `pending`.
      await expect(store.sessions.transition(s, 'pending')).rejects.toThrow(/no transition leads into pending/);
      expect((await store.sessions.get(s))?.state).toBe('scheduling');
      await expect(store.runners.transition(r, 'provisioning', {}, ['idle'])).rejects.toThrow(IllegalTransition);
      // Inside a transaction the error rolls the transaction back.
      await expect(
        store.transaction(async (tx) => {
          await tx.sessions.update(s, { state_reason: 'written before the illegal edge' });
          await tx.tasks.transition(t.id, 'succeeded', {}, ['queued']);
        }),
      ).rejects.toThrow(IllegalTransition);
      expect((await store.sessions.get(s))?.stateReason).toBeNull();
      // A guard that does not hold (a race) is still false.
      expect(await store.tasks.transition(t.id, 'cancelled', {}, ['assigned', 'running'])).toBe(false);
    });

    it('deletes a pool with its tokens and runner rows, noting the runners in the change log', async () => {
      const doomed = await pool('doomed');
      const gone = await runner({ pool: doomed, state: 'offline' });
      const kept = await runner();
      await store.auth.createRegistrationToken({
        orgId,
        poolId: doomed,
        kind: 'reusable',
        runnerId: null,
        expiresAt: null,
        description: 'doomed pool token',
      });
      const s = await session();
      await store.sessions.update(s, { pool_id: doomed });
      expect(await store.sessions.countOpenInPool(doomed)).toBe(1);
      expect(await store.sessions.transition(s, 'cancelled', { ended_at: Date.now() })).toBe(true);
      expect(await store.sessions.countOpenInPool(doomed)).toBe(0);
      store.changes.take();
      const done = await store.transaction((tx) => tx.pools.deleteCascade(doomed));
      expect(done.runners).toEqual([gone]);
      // What the assigner reads incrementally: the deleted runner is noted, and reads back as gone.
      const noted = store.changes.take().runners;
      expect([...noted]).toEqual([gone]);
      expect(await store.runners.liveViewsByIds([...noted])).toEqual([]);
      expect(await store.runners.get(gone)).toBeNull();
      expect(await store.runners.get(kept)).not.toBeNull();
      expect(await store.pools.byId(doomed)).toBeNull();
      expect(await store.auth.listRegistrationTokens(orgScope(orgId), doomed)).toEqual([]);
    });

    it('keeps the cost ledger: runner events and their reads, newest first, by session and pool', async () => {
      const s = await session();
      const costly = await pool('costly');
      const base = { orgId, sessionId: s, poolId: costly, providerId: 'pool', createdAt: 1_000 };
      await store.costs.addRunnerCost({ ...base, id: 'run_a' }, 3_000, 'per-second');
      await store.costs.addRunnerCost({ ...base, id: 'run_b', sessionId: null }, 6_000, 'fixed');
      const all = await store.costs.list(orgScope(orgId), { poolId: costly, limit: 10 });
      expect(all.map((c) => [c.runnerId, c.seconds, c.billingModel])).toEqual([
        ['run_b', 5, 'fixed'],
        ['run_a', 2, 'per-second'],
      ]);
      expect((await store.costs.list(orgScope(orgId), { sessionId: s, limit: 10 })).map((c) => c.runnerId)).toEqual([
        'run_a',
      ]);
      expect(await store.costs.list(orgScope(orgId), { poolId: costly, limit: 1 })).toHaveLength(1);
      // The resources a provider recorded on the runner's handle go on its event (migration 021).
      const sized = await pool('sized');
      await store.costs.addRunnerCost({ ...base, id: 'run_c', poolId: sized }, 2_000, 'active-cpu', {
        vcpus: 2,
        memoryMb: 4096,
      });
      const [c] = await store.costs.list(orgScope(orgId), { poolId: sized, limit: 10 });
      expect(c).toMatchObject({
        runnerId: 'run_c',
        billingModel: 'active-cpu',
        resources: { vcpus: 2, memoryMb: 4096 },
      });
      expect(all[0]).not.toHaveProperty('resources');
    });

    it('never gives one task to two runners nor two tasks to one runner, under racing claims', async () => {
      const s = await session();
      const tasks = await Promise.all(Array.from({ length: 20 }, async () => (await task(await session())).id));
      void s;
      const runners = await Promise.all(Array.from({ length: 10 }, () => runner()));
      const attempts: Promise<{ runner: string; task: string; ok: boolean }>[] = [];
      for (const r of runners)
        for (const t of tasks)
          attempts.push(store.runners.claim(r, t, null).then((x) => ({ runner: r, task: t, ok: x !== null })));
      const results = (await Promise.all(attempts)).filter((x) => x.ok);
      expect(results).toHaveLength(10); // each runner exactly once
      expect(new Set(results.map((x) => x.runner)).size).toBe(10);
      expect(new Set(results.map((x) => x.task)).size).toBe(10);
      for (const x of results) expect((await store.tasks.get(x.task))?.runnerId).toBe(x.runner);
    });

    it('stores log lines idempotently by (task, seq)', async () => {
      const s = await session();
      const t = await task(s);
      const lines = (from: number, to: number) =>
        Array.from({ length: to - from + 1 }, (_, i) => ({
          seq: from + i,
          stream: 'stdout' as const,
          line: `l${from + i}`,
          ts: Date.now(),
        }));
      expect(await store.logs.append(t.id, s, lines(1, 5))).toHaveLength(5);
      expect(await store.logs.append(t.id, s, lines(3, 8))).toHaveLength(3); // 3..5 are resends
      expect(await store.logs.maxSeq(t.id)).toBe(8);
      const page = await store.logs.page({ taskId: t.id }, 0, 100);
      expect(page.map((l) => l.line)).toEqual(['l1', 'l2', 'l3', 'l4', 'l5', 'l6', 'l7', 'l8']);
      expect((await store.logs.page({ sessionId: s }, page[3]!.id, 2)).map((l) => l.seq)).toEqual([5, 6]);
    });

    it('round-trips NUL, invalid-byte code units and the escape character itself in log lines', async () => {
      const s = await session();
      const t = await task(s);
      const odd = [
        'nul[\u0000] end',
        'bytes[\udcff\udcfe]',
        'lone high[\ud800] lone low[\udc00]',
        'pair[😀] dle[\u0010] fake escape[\u00100000]',
        '\u0000',
        '',
      ];
      const lines = odd.map((line, i) => ({ seq: i + 1, stream: 'stdout' as const, line, ts: 1 }));
      // One bad line must not cost the batch (PostgreSQL refused the whole batch on one NUL).
      expect(await store.logs.append(t.id, s, lines)).toHaveLength(odd.length);
      expect((await store.logs.page({ taskId: t.id }, 0, 100)).map((l) => l.line)).toEqual(odd);
      expect((await store.logs.range(t.id, 2, 3)).map((l) => l.line)).toEqual(odd.slice(1, 3));
    });

    it('pages in seq order whatever the arrival order, and knows the highest contiguous seq', async () => {
      const s = await session();
      const t1 = await task(s);
      const t2 = await task(s);
      const l = (seqs: number[]) => seqs.map((seq) => ({ seq, stream: 'stdout' as const, line: `s${seq}`, ts: 1 }));
      await store.logs.append(t2.id, s, l([1, 2]));
      await store.logs.append(t1.id, s, l([1, 2, 6, 7]));
      expect(await store.logs.contiguousSeq(t1.id)).toBe(2);
      await store.logs.append(t1.id, s, l([5, 3, 4]));
      expect(await store.logs.contiguousSeq(t1.id)).toBe(7);
      expect(await store.logs.contiguousSeq(t2.id)).toBe(2);
      expect(await store.logs.contiguousSeq('tsk_none')).toBe(0);
      const page = await store.logs.page({ taskId: t1.id }, 0, 100);
      expect(page.map((x) => x.seq)).toEqual([1, 2, 3, 4, 5, 6, 7]);
      // A session: task by task (ordinal), then seq; the cursor is the last line's id.
      const all = await store.logs.page({ sessionId: s }, 0, 100);
      expect(all.map((x) => `${x.taskId === t1.id ? 'a' : 'b'}${x.seq}`)).toEqual([
        'a1',
        'a2',
        'a3',
        'a4',
        'a5',
        'a6',
        'a7',
        'b1',
        'b2',
      ]);
      const next = await store.logs.page({ sessionId: s }, all[5]!.id, 2);
      expect(next.map((x) => `${x.taskId === t1.id ? 'a' : 'b'}${x.seq}`)).toEqual(['a7', 'b1']);
      await expect(store.logs.page({ taskId: t2.id }, all[0]!.id, 2)).rejects.toThrow(/not a line of this task/);
      const noHoleAtStart = await task(s);
      await store.logs.append(noHoleAtStart.id, s, l([2, 3]));
      expect(await store.logs.contiguousSeq(noHoleAtStart.id)).toBe(0);
    });

    it('consumes a one-time registration token once, and tells unknown, expired and revoked apart', async () => {
      const one = await store.auth.createRegistrationToken({ orgId, poolId, kind: 'one-time' });
      const [a, b] = await Promise.all([
        store.auth.consumeRegistrationToken(one.token),
        store.auth.consumeRegistrationToken(one.token),
      ]);
      expect([a.ok, b.ok].filter(Boolean)).toHaveLength(1);
      expect((a.ok ? b : a).ok === false && (a.ok ? b : a)).toMatchObject({ reason: 'used' });
      expect(await store.auth.consumeRegistrationToken('mrg_nope')).toMatchObject({ ok: false, reason: 'unknown' });
      const exp = await store.auth.createRegistrationToken({
        orgId,
        poolId,
        kind: 'reusable',
        expiresAt: Date.now() - 1,
      });
      expect(await store.auth.consumeRegistrationToken(exp.token)).toMatchObject({ ok: false, reason: 'expired' });
      const rev = await store.auth.createRegistrationToken({ orgId, poolId, kind: 'reusable' });
      expect((await store.auth.consumeRegistrationToken(rev.token)).ok).toBe(true);
      expect(await store.auth.revokeRegistrationToken(orgScope(orgId), rev.id)).toBe(true);
      expect(await store.auth.consumeRegistrationToken(rev.token)).toMatchObject({ ok: false, reason: 'revoked' });
    });

    it('keeps API tokens hashed', async () => {
      const { token } = await store.auth.createApiToken(orgId, 't', 'admin');
      const rows = await store.db.selectFrom('api_tokens').select('token_hash').execute();
      expect(rows.some((r) => r.token_hash.includes(token))).toBe(false);
      expect((await store.auth.findApiToken(token))?.orgId).toBe(orgId);
      expect(await store.auth.findApiToken(`${token}x`)).toBeNull();
    });

    it('keeps one install id per store: generated at the first start, the same after a restart, unique', async () => {
      const id = await store.meta.installId();
      expect(id).toMatch(/^ins_[0-9a-z]+$/);
      expect(await store.meta.installId()).toBe(id);
      const again = await reopen();
      try {
        expect(await again.meta.installId()).toBe(id);
      } finally {
        await again.close();
      }
      const other = await dialect.open();
      try {
        expect(await other.store.meta.installId()).not.toBe(id);
      } finally {
        await other.store.close();
        await other.cleanup();
      }
    });
  });
}
