/**
 * @module Task log lines. `(task_id, seq)` is unique and inserts ignore duplicates, so a runner
 * that resends after a reconnect can never double a line.
 */
import type { Kysely, Selectable } from 'kysely';
import type { LogLine } from '../records.js';
import type { Database, TaskLogsTable } from '../schema.js';

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
  line: r.line,
  ts: Number(r.ts),
});

export class LogRepo {
  constructor(private readonly db: Kysely<Database>) {}

  /** Appends lines (duplicates by seq are ignored). Returns the rows actually inserted, in seq order. */
  async append(taskId: string, sessionId: string, lines: NewLogLine[]): Promise<LogLine[]> {
    if (lines.length === 0) return [];
    const rows = await this.db
      .insertInto('task_logs')
      .values(
        lines.map((l) => ({
          task_id: taskId,
          session_id: sessionId,
          seq: l.seq,
          stream: l.stream,
          line: l.line,
          ts: l.ts,
        })),
      )
      .onConflict((oc) => oc.columns(['task_id', 'seq']).doNothing())
      .returningAll()
      .execute();
    return rows.map(toLogLine).sort((a, b) => a.seq - b.seq);
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

  /** A page of lines after cursor `after` (a line id), for one task or a whole session. */
  async page(filter: { taskId?: string; sessionId?: string }, after: number, limit: number): Promise<LogLine[]> {
    let q = this.db.selectFrom('task_logs').selectAll().where('id', '>', after);
    if (filter.taskId) q = q.where('task_id', '=', filter.taskId);
    if (filter.sessionId) q = q.where('session_id', '=', filter.sessionId);
    const rows = await q.orderBy('id').limit(limit).execute();
    return rows.map(toLogLine);
  }
}
