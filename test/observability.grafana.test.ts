/**
 * deploy/grafana/marionette.json: valid dashboard JSON whose every query names only metrics the
 * server's registry has (a renamed metric would leave a panel silently empty).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ServerContext } from '../src/server/context.js';
import { EventBus } from '../src/server/events.js';
import { ServerMetrics } from '../src/server/metrics.js';
import { ROOT } from './harness.js';

interface Panel {
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  targets: { refId: string; expr: string }[];
}

describe('the Grafana dashboard', () => {
  it('queries only metrics the server exports, and each metric of the issue has a panel', () => {
    // Only the registry's names are read: the store is never called (gauges collect at scrape time).
    const ctx = { bus: new EventBus(), store: { observeCommits: () => () => {} } } as unknown as ServerContext;
    const metrics = new ServerMetrics(ctx);
    const names = new Set(metrics.registry.getMetricsAsArray().map((m) => m.name));
    metrics.close();
    const dash = JSON.parse(readFileSync(join(ROOT, 'deploy', 'grafana', 'marionette.json'), 'utf8')) as {
      uid: string;
      panels: Panel[];
    };
    expect(dash.uid).toBe('marionette-overview');
    const used = new Set<string>();
    for (const p of dash.panels) {
      expect(p.targets.length, p.title).toBeGreaterThan(0);
      for (const t of p.targets)
        for (const [m] of t.expr.matchAll(/\b(?:marionette|nodejs|process)_[a-z0-9_]+/g)) {
          const base = m.replace(/_(bucket|sum|count)$/, '');
          expect(names.has(m) || names.has(base), `${p.title}: ${m}`).toBe(true);
          used.add(base);
        }
    }
    for (const n of names) if (n.startsWith('marionette_')) expect(used.has(n), `no panel shows ${n}`).toBe(true);
    expect(used.has('nodejs_eventloop_lag_p99_seconds')).toBe(true);
  });
});
