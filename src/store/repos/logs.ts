/**
 * @module Task log lines. `(task_id, seq)` is unique and inserts ignore duplicates, so a runner
 * that resends after a reconnect can never double a line. Lines are stored in the escaped form of
 * `../logtext.ts` (NUL, lone surrogates), so any line round-trips on both databases. Pages come
 * back in seq order: a task's lines by seq, a session's by task (its ordinal) then seq, whatever
 * order they arrived in; the cursor is the id of the last line seen.
 *
 * `append` is the one hot write of the server (a runner may send 100,000 lines a second), so it is
 * one statement per batch whatever its size, written per dialect: the batch travels as one
 * parameter (a JSON array on SQLite, read with `json_each`; arrays on PostgreSQL, read with
 * `unnest`). A Kysely insert of 1,000 rows spent more time building and compiling 6,000
 * parameters than the database spent storing them.
 */
import { type Kysely, type Selectable, sql } from 'kysely';
import { InvalidRequest } from '../../core/errors.js';
import { escapeLine, unescapeLine } from '../logtext.js';
import type { LogLine } from '../records.js';
import type { Database, Dialect, TaskLogsTable } from '../schema.js';

export interface NewLogLine {
  seq: number;
  stream: 'stdout' | 'stderr' | 'system';
  line: string;
  ts: number;
}

const toLogLine = (r: Selectable<TaskLogsTable>): LogLine => ({
  id: Number(r.id),
  taskId: r.task_id,
  sessionId: r.session_id,
  seq: r.seq,
  stream: r.stream as LogLine['stream'],
  line: unescapeLine(r.line),
  ts: Number(r.ts),
});

export class LogRepo {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: Dialect = 'sqlite',
  ) {}

  /** Appends lines (duplicates by seq are ignored). Returns the rows actually inserted, in seq order. */
  async append(taskId: string, sessionId: string, lines: NewLogLine[]): Promise<LogLine[]> {
    if (lines.length === 0) return [];
    const bySeq = new Map(lines.map((l) => [l.seq, l]));
    const made = (id: number, seq: number): LogLine => {
      const l = bySeq.get(seq)!;
      return { id, taskId, sessionId, seq, stream: l.stream, line: l.line, ts: l.ts };
    };
    if (this.dialect === 'postgres') {
      const { rows } = await sql<{ id: string; seq: number }>`
        INSERT INTO task_logs (task_id, session_id, seq, stream, line, ts)
        SELECT ${taskId}, ${sessionId}, u.seq, u.stream, u.line, u.ts
        FROM unnest(${lines.map((l) => l.seq)}::int[], ${lines.map((l) => l.stream)}::text[],
                    ${lines.map((l) => escapeLine(l.line))}::text[], ${lines.map((l) => l.ts)}::bigint[])
             AS u(seq, stream, line, ts)
        ON CONFLICT (task_id, seq) DO NOTHING
        RETURNING id, seq`.execute(this.db);
      return rows.map((r) => made(Number(r.id), r.seq)).sort((a, b) => a.seq - b.seq);
    }
    // SQLite has one writer, and AUTOINCREMENT gives the rows one statement inserts consecutive
    // ids, in json_each order: the last id and the count say which ids are ours, with no RETURNING.
    const batch = JSON.stringify(lines.map((l) => [l.seq, l.stream, escapeLine(l.line), l.ts]));
    // `WHERE true` keeps SQLite from reading ON CONFLICT as part of the SELECT's join.
    const r = await sql`
      INSERT INTO task_logs (task_id, session_id, seq, stream, line, ts)
      SELECT ${taskId}, ${sessionId}, value ->> 0, value ->> 1, value ->> 2, value ->> 3
      FROM json_each(${batch}) WHERE true
      ON CONFLICT (task_id, seq) DO NOTHING`.execute(this.db);
    const n = Number(r.numAffectedRows ?? 0);
    if (n === 0) return [];
    const last = Number(r.insertId);
    if (n === lines.length) return lines.map((l, i) => made(last - n + 1 + i, l.seq)).sort((a, b) => a.seq - b.seq);
    const ours = await this.db
      .selectFrom('task_logs')
      .select(['id', 'seq'])
      .where('id', '>', last - n)
      .where('id', '<=', last)
      .execute();
    return ours.map((o) => made(Number(o.id), o.seq)).sort((a, b) => a.seq - b.seq);
  }

  /** The highest seq stored for a task, or 0. */
  async maxSeq(taskId: string): Promise<number> {
    const r = await this.db
      .selectFrom('task_logs')
      .select((eb) => eb.fn.max('seq').as('m'))
      .where('task_id', '=', taskId)
      .executeTakeFirst();
    return Number(r?.m ?? 0);
  }

  /**
   * The highest seq `n` such that every line 1..n of the task is stored (0 when line 1 is not).
   * This, not the highest seq, is what a runner may forget: anything after it may have a hole.
   */
  async contiguousSeq(taskId: string): Promise<number> {
    const r = await this.db
      .selectFrom('task_logs')
      .select((eb) => [eb.fn.max('seq').as('m'), eb.fn.countAll().as('n')])
      .where('task_id', '=', taskId)
      .executeTakeFirst();
    const max = Number(r?.m ?? 0);
    if (Number(r?.n ?? 0) === max) return max; // seqs are unique and positive: no hole
    const first = await this.db
      .selectFrom('task_logs')
      .select('seq')
      .where('task_id', '=', taskId)
      .where('seq', '=', 1)
      .executeTakeFirst();
    if (!first) return 0;
    const gap = await this.db
      .selectFrom('task_logs as a')
      .select((eb) => eb.fn.min('a.seq').as('s'))
      .where('a.task_id', '=', taskId)
      .where(({ not, exists, selectFrom }) =>
        not(
          exists(
            selectFrom('task_logs as b')
              .select('b.seq')
              .whereRef('b.task_id', '=', 'a.task_id')
              .where((eb) => eb('b.seq', '=', eb('a.seq', '+', 1))),
          ),
        ),
      )
      .executeTakeFirst();
    return Number(gap?.s ?? 0);
  }

  /** Lines `from..to` (inclusive) of a task, in seq order. */
  async range(taskId: string, from: number, to: number): Promise<LogLine[]> {
    const rows = await this.db
      .selectFrom('task_logs')
      .selectAll()
      .where('task_id', '=', taskId)
      .where('seq', '>=', from)
      .where('seq', '<=', to)
      .orderBy('seq')
      .execute();
    return rows.map(toLogLine);
  }

  /**
   * A page of lines after cursor `after` (the id of the last line seen; 0 = from the start), for
   * one task (seq order) or a whole session (task ordinal, then seq).
   */
  async page(filter: { taskId?: string; sessionId?: string }, after: number, limit: number): Promise<LogLine[]> {
    let taskIds: string[];
    if (filter.taskId) taskIds = [filter.taskId];
    else {
      const tasks = await this.db
        .selectFrom('tasks')
        .select('id')
        .where('session_id', '=', filter.sessionId ?? '')
        .orderBy('ordinal')
        .execute();
      taskIds = tasks.map((t) => t.id);
    }
    let start = 0;
    let afterSeq = 0;
    if (after > 0) {
      const cursor = await this.db
        .selectFrom('task_logs')
        .select(['task_id', 'seq'])
        .where('id', '=', after)
        .executeTakeFirst();
      start = cursor ? taskIds.indexOf(cursor.task_id) : -1;
      if (!cursor || start < 0)
        throw new InvalidRequest(
          `after=${after} is not a line of this ${filter.taskId ? 'task' : 'session'}: pass the id of the last line you read, or 0`,
        );
      afterSeq = cursor.seq;
    }
    const out: LogLine[] = [];
    for (let i = start; i < taskIds.length && out.length < limit; i++) {
      const rows = await this.db
        .selectFrom('task_logs')
        .selectAll()
        .where('task_id', '=', taskIds[i]!)
        .where('seq', '>', i === start ? afterSeq : 0)
        .orderBy('seq')
        .limit(limit - out.length)
        .execute();
      for (const r of rows) out.push(toLogLine(r));
    }
    return out;
  }
}
