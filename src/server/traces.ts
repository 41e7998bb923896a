/**
 * @module OpenTelemetry spans for a session's path, made from the event bus when
 * `OTEL_EXPORTER_OTLP_ENDPOINT` is set (./otlp.ts sends them): one trace per session, its root span
 * `session` (created → ended), and under it `decide` (created → first placed), `provision` (a
 * managed runner created → connected), `assign` (a task queued → assigned to a runner) and `run`
 * (its agent started → the task finished, with its outcome). Spans are made from the records'
 * own timestamps, so they are right however late an event arrives; sessions and runners in flight
 * are remembered up to {@link REMEMBER} (the oldest forgotten first).
 */
import { randomBytes } from 'node:crypto';
import { isTerminalSession, isTerminalTask } from '../core/states.js';
import type { Runner, Session, Task } from '../store/records.js';
import type { EventBus } from './events.js';
import type { FinishedSpan, SpanAttributes } from './otlp.js';

const REMEMBER = 20_000;

interface SessionTrace {
  traceId: string;
  rootId: string;
  decided: boolean;
}

const hex = (bytes: number) => randomBytes(bytes).toString('hex');

export class SessionTracer {
  private readonly sessions = new Map<string, SessionTrace>();
  private readonly provisioning = new Map<string, number>();
  private readonly assigned = new Set<string>();
  private readonly offs: (() => void)[];

  constructor(
    bus: EventBus,
    private readonly emit: (span: FinishedSpan) => void,
  ) {
    this.offs = [
      bus.on('session:updated', ({ session }) => this.onSession(session)),
      bus.on('runner:updated', ({ runner }) => this.onRunner(runner)),
      bus.on('task:updated', ({ task }) => this.onTask(task)),
    ];
  }

  private remember<K, V>(map: Map<K, V>, key: K, value: V): void {
    if (map.size >= REMEMBER) {
      const oldest = map.keys().next();
      if (!oldest.done) map.delete(oldest.value);
    }
    map.set(key, value);
  }

  /** The session's trace, made on the first event that names the session (its runner's or task's may come first). */
  private trace(sessionId: string): SessionTrace {
    let t = this.sessions.get(sessionId);
    if (!t) {
      t = { traceId: hex(16), rootId: hex(8), decided: false };
      this.remember(this.sessions, sessionId, t);
    }
    return t;
  }

  private span(
    t: SessionTrace,
    name: string,
    startMs: number,
    endMs: number,
    attributes: SpanAttributes,
    error?: string,
  ) {
    this.emit({
      traceId: t.traceId,
      spanId: hex(8),
      parentSpanId: t.rootId,
      name,
      startMs,
      endMs,
      attributes,
      ...(error ? { error } : {}),
    });
  }

  private onSession(s: Session): void {
    const t = this.trace(s.id);
    const attrs = { 'marionette.session.id': s.id, 'marionette.agent': s.agent };
    if (!t.decided && s.state !== 'pending' && s.state !== 'scheduling') {
      t.decided = true;
      this.span(t, 'decide', s.createdAt, s.updatedAt, {
        ...attrs,
        'marionette.pool.id': s.poolId ?? '',
        'marionette.placement.action': s.placement?.action ?? '',
      });
    }
    if (isTerminalSession(s.state)) {
      this.sessions.delete(s.id);
      this.emit({
        traceId: t.traceId,
        spanId: t.rootId,
        parentSpanId: null,
        name: 'session',
        startMs: s.createdAt,
        endMs: s.endedAt ?? s.updatedAt,
        attributes: { ...attrs, 'marionette.session.state': s.state },
        ...(s.state === 'failed' ? { error: s.stateReason ?? 'failed' } : {}),
      });
    }
  }

  private onRunner(r: Runner): void {
    if (r.state === 'provisioning') {
      if (!this.provisioning.has(r.id)) this.remember(this.provisioning, r.id, r.createdAt);
      return;
    }
    const since = this.provisioning.get(r.id);
    if (since === undefined) return;
    this.provisioning.delete(r.id);
    if (!r.sessionId) return;
    const t = this.trace(r.sessionId);
    const failed = r.state === 'offline' || r.state === 'terminated';
    this.span(
      t,
      'provision',
      since,
      r.updatedAt,
      { 'marionette.runner.id': r.id, 'marionette.pool.id': r.poolId, 'marionette.provider': r.providerId },
      failed ? `runner ended while provisioning (${r.state})` : undefined,
    );
  }

  private onTask(task: Task): void {
    const t = this.trace(task.sessionId);
    const attrs = { 'marionette.task.id': task.id, 'marionette.task.ordinal': task.ordinal };
    if (task.assignedAt !== null && !this.assigned.has(task.id)) {
      if (this.assigned.size >= REMEMBER) this.assigned.clear();
      this.assigned.add(task.id);
      this.span(t, 'assign', task.createdAt, task.assignedAt, {
        ...attrs,
        'marionette.runner.id': task.runnerId ?? '',
      });
    }
    if (isTerminalTask(task.state)) {
      this.assigned.delete(task.id);
      if (task.startedAt === null) return;
      this.span(
        t,
        'run',
        task.startedAt,
        task.finishedAt ?? task.startedAt,
        { ...attrs, 'marionette.task.state': task.state, 'marionette.task.exit_code': task.exitCode ?? -1 },
        task.state === 'succeeded' ? undefined : (task.error ?? task.state),
      );
    }
  }

  close(): void {
    for (const off of this.offs.splice(0)) off();
  }
}
