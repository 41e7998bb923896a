import { describe, expect, it } from 'vitest';
import type { Runner, Session, Task } from '../store/records.js';
import { EventBus } from './events.js';
import type { FinishedSpan } from './otlp.js';
import { otlpBody } from './otlp.js';
import { SessionTracer } from './traces.js';

const session = (state: string, at: number) =>
  ({
    id: 'ses_1',
    agent: 'shell',
    state,
    stateReason: null,
    poolId: 'pool_1',
    placement: null,
    createdAt: 100,
    updatedAt: at,
    endedAt: null,
  }) as unknown as Session;
const runner = (state: string, at: number) =>
  ({
    id: 'run_1',
    sessionId: 'ses_1',
    poolId: 'pool_1',
    providerId: 'local',
    state,
    createdAt: 110,
    updatedAt: at,
  }) as unknown as Runner;
const task = (state: string, patch: Partial<Task>) =>
  ({
    id: 'task_1',
    sessionId: 'ses_1',
    ordinal: 1,
    state,
    runnerId: 'run_1',
    exitCode: null,
    error: null,
    createdAt: 105,
    assignedAt: null,
    startedAt: null,
    finishedAt: null,
    ...patch,
  }) as unknown as Task;

describe('SessionTracer', () => {
  it("makes one trace of a session's path even when its runner's and task's events come before the session's", () => {
    const bus = new EventBus();
    const spans: FinishedSpan[] = [];
    const tracer = new SessionTracer(bus, (s) => spans.push(s));
    bus.emit('runner:updated', { runner: runner('provisioning', 110) });
    bus.emit('runner:updated', { runner: runner('idle', 300) });
    bus.emit('task:updated', { task: task('running', { assignedAt: 310, startedAt: 320 }) });
    bus.emit('session:updated', { session: session('active', 305) });
    bus.emit('task:updated', {
      task: task('succeeded', { assignedAt: 310, startedAt: 320, finishedAt: 400, exitCode: 0 }),
    });
    bus.emit('session:updated', { session: { ...session('cancelled', 500), endedAt: 500 } });
    tracer.close();
    expect(spans.map((s) => [s.name, s.startMs, s.endMs])).toEqual([
      ['provision', 110, 300],
      ['assign', 105, 310],
      ['decide', 100, 305],
      ['run', 320, 400],
      ['session', 100, 500],
    ]);
    const root = spans.at(-1)!;
    expect(root.parentSpanId).toBeNull();
    for (const s of spans.slice(0, -1)) {
      expect(s.traceId).toBe(root.traceId);
      expect(s.parentSpanId).toBe(root.spanId);
    }
    // Nanoseconds as decimal strings, ids as given: the OTLP JSON encoding.
    const body = otlpBody([root]) as { resourceSpans: { scopeSpans: { spans: Record<string, unknown>[] }[] }[] };
    expect(body.resourceSpans[0]!.scopeSpans[0]!.spans[0]).toMatchObject({
      traceId: root.traceId,
      startTimeUnixNano: '100000000',
      endTimeUnixNano: '500000000',
    });
  });

  it('marks a runner that ended while provisioning and a failed task as errors', () => {
    const bus = new EventBus();
    const spans: FinishedSpan[] = [];
    const tracer = new SessionTracer(bus, (s) => spans.push(s));
    bus.emit('session:updated', { session: session('scheduling', 101) });
    bus.emit('runner:updated', { runner: runner('provisioning', 110) });
    bus.emit('runner:updated', { runner: runner('terminated', 150) });
    bus.emit('task:updated', {
      task: task('failed', { assignedAt: 160, startedAt: 170, finishedAt: 180, error: 'exit 2' }),
    });
    tracer.close();
    expect(spans.find((s) => s.name === 'provision')?.error).toBe('runner ended while provisioning (terminated)');
    expect(spans.find((s) => s.name === 'run')?.error).toBe('exit 2');
    expect(spans.some((s) => s.name === 'decide')).toBe(false);
  });
});
