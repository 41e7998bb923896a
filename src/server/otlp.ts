/**
 * @module A small OTLP/HTTP trace exporter (the JSON encoding of the OpenTelemetry protocol):
 * finished spans are queued and POSTed to `<endpoint>/v1/traces` in batches, once a second or at
 * {@link BATCH} spans. The queue is bounded ({@link MAX_QUEUED}; past it the oldest spans are
 * dropped and counted), a failed export is logged (at most once a minute) and its spans dropped:
 * tracing never holds the server back. `close` sends what is queued.
 */
import type { Logger } from 'pino';
import { toError } from '../core/errors.js';
import { VERSION } from '../paths.js';

const BATCH = 512;
const MAX_QUEUED = 10_000;
const FLUSH_MS = 1000;
const TIMEOUT_MS = 10_000;

export type SpanAttributes = Record<string, string | number | boolean>;

/** A finished span. Ids are lowercase hex: trace 32 digits, span 16. Times in ms since the epoch. */
export interface FinishedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string | null;
  name: string;
  startMs: number;
  endMs: number;
  attributes: SpanAttributes;
  /** An error status with this message; absent: unset (ok). */
  error?: string;
}

const nanos = (ms: number) => `${BigInt(Math.round(ms * 1000)) * 1000n}`;

function attribute(key: string, value: string | number | boolean) {
  if (typeof value === 'boolean') return { key, value: { boolValue: value } };
  if (typeof value === 'number')
    return Number.isInteger(value)
      ? { key, value: { intValue: String(value) } }
      : { key, value: { doubleValue: value } };
  return { key, value: { stringValue: value } };
}

/** The OTLP JSON body for `spans`. */
export function otlpBody(spans: readonly FinishedSpan[]): unknown {
  return {
    resourceSpans: [
      {
        resource: {
          attributes: [attribute('service.name', 'marionette'), attribute('service.version', VERSION)],
        },
        scopeSpans: [
          {
            scope: { name: 'marionette', version: VERSION },
            spans: spans.map((s) => ({
              traceId: s.traceId,
              spanId: s.spanId,
              ...(s.parentSpanId ? { parentSpanId: s.parentSpanId } : {}),
              name: s.name,
              kind: 1, // SPAN_KIND_INTERNAL
              startTimeUnixNano: nanos(s.startMs),
              endTimeUnixNano: nanos(Math.max(s.startMs, s.endMs)),
              attributes: Object.entries(s.attributes).map(([k, v]) => attribute(k, v)),
              status: s.error ? { code: 2, message: s.error } : {},
            })),
          },
        ],
      },
    ],
  };
}

export class OtlpExporter {
  private queue: FinishedSpan[] = [];
  private readonly timer: NodeJS.Timeout;
  private sending: Promise<void> = Promise.resolve();
  private lastWarn = 0;
  dropped = 0;
  exported = 0;

  constructor(
    private readonly endpoint: string,
    private readonly log: Logger,
  ) {
    this.timer = setInterval(() => this.flush(), FLUSH_MS);
    this.timer.unref();
  }

  add(span: FinishedSpan): void {
    this.queue.push(span);
    if (this.queue.length > MAX_QUEUED) this.dropped += this.queue.splice(0, this.queue.length - MAX_QUEUED).length;
    if (this.queue.length >= BATCH) this.flush();
  }

  /** Sends what is queued (one request at a time, in order). */
  flush(): Promise<void> {
    if (this.queue.length === 0) return this.sending;
    const batch = this.queue.splice(0, BATCH);
    this.sending = this.sending.then(() => this.send(batch));
    if (this.queue.length > 0) return this.flush();
    return this.sending;
  }

  private async send(batch: FinishedSpan[]): Promise<void> {
    try {
      const res = await fetch(`${this.endpoint}/v1/traces`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(otlpBody(batch)),
        signal: AbortSignal.timeout(TIMEOUT_MS),
      });
      await res.arrayBuffer().catch(() => undefined);
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      this.exported += batch.length;
    } catch (e: unknown) {
      this.dropped += batch.length;
      const now = Date.now();
      if (now - this.lastWarn > 60_000) {
        this.lastWarn = now;
        this.log.warn(
          { err: toError(e), endpoint: this.endpoint, dropped: this.dropped },
          'exporting traces failed (dropped)',
        );
      }
    }
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }
}
