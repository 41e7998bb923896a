/**
 * @module The server's Prometheus metrics (prom-client), served at `GET /metrics`. One registry per
 * server (two servers in one process never share counters). Counters and histograms move from the
 * event bus (tasks finishing, runners leaving `provisioning`, sessions suspending and resuming, log
 * lines) and from the store (commit latency); the gauges (queue depth, waiting sessions and their
 * reasons, runners by state) are read from the store when scraped, so they are right on every
 * replica. Event-loop lag and the process's own figures come from prom-client's default metrics.
 * Every metric is listed in docs/observability.md; deploy/grafana/ holds a dashboard for them.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { isTerminalTask } from '../core/states.js';
import type { Runner, Session } from '../store/records.js';
import type { ServerContext } from './context.js';

/** Seconds, for latencies from about a millisecond to a minute. */
const FAST_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
/** Seconds, for provisioning, suspend and resume: a second to ten minutes. */
const SLOW_BUCKETS = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600];
/** How many tasks, runners and sessions the event-driven metrics remember at most (oldest forgotten first). */
const REMEMBER = 20_000;

/** A Map that forgets its oldest entries past `max` (insertion order). */
class Bounded<K, V> extends Map<K, V> {
  constructor(private readonly max: number) {
    super();
  }
  override set(key: K, value: V): this {
    if (!this.has(key) && this.size >= this.max) {
      const oldest = this.keys().next();
      if (!oldest.done) this.delete(oldest.value);
    }
    return super.set(key, value);
  }
}

export class ServerMetrics {
  readonly registry = new Registry();
  private readonly offs: (() => void)[] = [];
  /** Pool and provider of each runner seen (tasks carry only their runner's id). */
  private readonly runnerHome = new Bounded<string, { poolId: string; providerId: string }>(REMEMBER);
  /** Runners seen in `provisioning` (and not yet out of it): when they were created. */
  private readonly provisioning = new Bounded<string, number>(REMEMBER);
  /** Tasks already counted as finished (the bus may say a finished task changed again). */
  private readonly finished = new Bounded<string, true>(REMEMBER);
  /** Tasks whose start was already observed. */
  private readonly started = new Bounded<string, true>(REMEMBER);
  /** Sessions in `suspending` / `resuming`: since when (ms). */
  private readonly suspendOps = new Bounded<string, { kind: 'suspend' | 'resume'; since: number }>(REMEMBER);

  readonly dispatch = new Histogram({
    name: 'marionette_dispatch_latency_seconds',
    help: 'From a task being queued to its agent process starting on a runner, by pool',
    labelNames: ['pool'] as const,
    buckets: FAST_BUCKETS,
    registers: [this.registry],
  });
  readonly tasksFinished = new Counter({
    name: 'marionette_tasks_finished_total',
    help: 'Tasks that reached a final state, by outcome (succeeded, failed, cancelled, timed_out, lost)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  readonly provisionSeconds = new Histogram({
    name: 'marionette_provisioning_seconds',
    help: 'From a managed runner being created to it leaving provisioning (connected), by provider',
    labelNames: ['provider'] as const,
    buckets: SLOW_BUCKETS,
    registers: [this.registry],
  });
  readonly provisionFailures = new Counter({
    name: 'marionette_provisioning_failures_total',
    help: 'Runners that ended (offline or terminated) while still provisioning, by provider',
    labelNames: ['provider'] as const,
    registers: [this.registry],
  });
  readonly logLines = new Counter({
    name: 'marionette_log_lines_total',
    help: 'Task log lines received from runners',
    registers: [this.registry],
  });
  readonly logBytes = new Counter({
    name: 'marionette_log_bytes_total',
    help: 'Bytes of task log lines received from runners (UTF-8 text of the lines)',
    registers: [this.registry],
  });
  readonly suspendSeconds = new Histogram({
    name: 'marionette_suspend_duration_seconds',
    help: 'How long suspending (suspending → suspended) and resuming (resuming → active) took, by operation',
    labelNames: ['operation'] as const,
    buckets: SLOW_BUCKETS,
    registers: [this.registry],
  });
  readonly commitSeconds = new Histogram({
    name: 'marionette_store_commit_seconds',
    help: 'A store transaction from its start to being durable (SQLite: including its group commit)',
    buckets: FAST_BUCKETS,
    registers: [this.registry],
  });

  constructor(ctx: ServerContext) {
    collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: 20 });
    const { store } = ctx;
    new Gauge({
      name: 'marionette_queue_depth',
      help: 'Queued tasks, by the pool of their session ("none": the session is not placed yet)',
      labelNames: ['pool'] as const,
      registers: [this.registry],
      async collect() {
        this.reset();
        const refs = await store.tasks.queuedRefs();
        const sessions = await store.sessions.getMany([...new Set(refs.map((r) => r.sessionId))]);
        const poolOf = new Map(sessions.map((s) => [s.id, s.poolId ?? 'none']));
        for (const r of refs) this.inc({ pool: poolOf.get(r.sessionId) ?? 'none' });
      },
    });
    new Gauge({
      name: 'marionette_sessions_waiting',
      help: 'Sessions waiting to be placed, by pool and the reason that pool gave (pool "none": no verdicts yet)',
      labelNames: ['pool', 'reason'] as const,
      registers: [this.registry],
      async collect() {
        this.reset();
        for (const s of await store.sessions.listByState(['pending', 'scheduling'])) {
          const verdicts = s.placement?.verdicts ?? [];
          if (verdicts.length === 0) this.inc({ pool: 'none', reason: s.state });
          for (const v of verdicts) this.inc({ pool: v.poolId, reason: v.reason ?? 'chosen' });
        }
      },
    });
    new Gauge({
      name: 'marionette_runners',
      help: 'Live runners, by pool, provider and state',
      labelNames: ['pool', 'provider', 'state'] as const,
      registers: [this.registry],
      async collect() {
        this.reset();
        for (const r of await store.runners.live())
          this.inc({ pool: r.poolId, provider: r.providerId, state: r.state });
      },
    });
    const { bus } = ctx;
    this.offs.push(
      bus.on('runner:updated', ({ runner }) => this.onRunner(runner)),
      bus.on('task:updated', ({ task }) => {
        if (task.state === 'running' && task.startedAt !== null && !this.started.has(task.id)) {
          this.started.set(task.id, true);
          const pool = task.runnerId ? (this.runnerHome.get(task.runnerId)?.poolId ?? 'unknown') : 'unknown';
          this.dispatch.observe({ pool }, Math.max(0, task.startedAt - task.createdAt) / 1000);
        }
        if (isTerminalTask(task.state) && !this.finished.has(task.id)) {
          this.finished.set(task.id, true);
          this.started.delete(task.id);
          this.tasksFinished.inc({ outcome: task.state });
        }
      }),
      bus.on('task:logs', ({ lines }) => {
        let bytes = 0;
        for (const l of lines) bytes += Buffer.byteLength(l.line);
        this.logLines.inc(lines.length);
        this.logBytes.inc(bytes);
      }),
      bus.on('session:updated', ({ session }) => this.onSession(session)),
      store.observeCommits((seconds) => this.commitSeconds.observe(seconds)),
    );
  }

  private onRunner(runner: Runner): void {
    this.runnerHome.set(runner.id, { poolId: runner.poolId, providerId: runner.providerId });
    const provider = runner.providerId;
    if (runner.state === 'provisioning') {
      if (!this.provisioning.has(runner.id)) this.provisioning.set(runner.id, runner.createdAt);
      return;
    }
    const since = this.provisioning.get(runner.id);
    if (since === undefined) return;
    this.provisioning.delete(runner.id);
    if (runner.state === 'offline' || runner.state === 'terminated') this.provisionFailures.inc({ provider });
    else this.provisionSeconds.observe({ provider }, Math.max(0, runner.updatedAt - since) / 1000);
  }

  private onSession(s: Session): void {
    if (s.state === 'suspending' || s.state === 'resuming') {
      const kind = s.state === 'suspending' ? 'suspend' : 'resume';
      if (this.suspendOps.get(s.id)?.kind !== kind) this.suspendOps.set(s.id, { kind, since: s.updatedAt });
      return;
    }
    const op = this.suspendOps.get(s.id);
    if (!op) return;
    this.suspendOps.delete(s.id);
    const done = (op.kind === 'suspend' && s.state === 'suspended') || (op.kind === 'resume' && s.state === 'active');
    if (done) this.suspendSeconds.observe({ operation: op.kind }, Math.max(0, s.updatedAt - op.since) / 1000);
  }

  /** The metrics in Prometheus text format (gauges are read from the store now). */
  async text(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  close(): void {
    for (const off of this.offs.splice(0)) off();
    this.registry.clear();
  }
}
