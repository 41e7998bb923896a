/**
 * The API's contract as a client sees it: success statuses (a dry run is 200, not 201), list
 * filters that refuse an unknown state naming the valid ones, a session's `sandboxProvider`, and
 * an OpenAPI document with an operationId and a success-response schema for every operation.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OPERATIONS } from '../src/api/operations.js';
import { RUNNER_STATES, SESSION_STATES, TASK_STATES } from '../src/core/states.js';
import { type ServerHandle, type SessionView, startServer, until } from './harness.js';
import { expectProblem } from './problems.support.js';

describe('API contract', () => {
  let srv: ServerHandle;
  beforeAll(async () => {
    srv = await startServer();
  });
  afterAll(async () => {
    await srv?.destroy();
  });

  it('answers a dry-run session 200 with the decision and writes nothing; a real one 201', async () => {
    const dry = await srv.api<{ dryRun: boolean; decision: { chosenPoolId: string | null } }>('POST', '/v1/sessions', {
      agent: 'shell',
      dryRun: true,
    });
    expect(dry.status).toBe(200);
    expect(dry.body.dryRun).toBe(true);
    expect(dry.body.decision.chosenPoolId).toBeTruthy();
    expect((await srv.api<{ items: unknown[] }>('GET', '/v1/sessions')).body.items).toEqual([]);
    const real = await srv.api<SessionView>('POST', '/v1/sessions', { agent: 'shell' });
    expect(real.status).toBe(201);
  });

  it('refuses an unknown state in list filters with a 400 naming the valid states', async () => {
    const cases: [string, readonly string[]][] = [
      ['/v1/sessions?state=bogus', SESSION_STATES],
      ['/v1/sessions?state=active,bogus', SESSION_STATES],
      ['/v1/tasks?state=bogus', TASK_STATES],
      ['/v1/runners?state=bogus', RUNNER_STATES],
    ];
    for (const [path, states] of cases) {
      const r = await srv.api('GET', path);
      expectProblem(r, 400, /^query: state: unknown state "bogus"; valid states: /);
      expect((r.body as { detail: string }).detail).toContain(states.join(', '));
    }
    // Valid filters (several states, spaces after commas) still answer.
    expect((await srv.api('GET', '/v1/sessions?state=active,%20idle')).status).toBe(200);
    expect((await srv.api('GET', '/v1/tasks?state=succeeded,failed')).status).toBe(200);
    expect((await srv.api('GET', '/v1/runners?state=idle')).status).toBe(200);
  });

  it("names a session's provider (sandboxProvider): null before placement, the pool's provider after", async () => {
    const created = await srv.api<SessionView & { sandboxProvider: string | null }>('POST', '/v1/sessions', {
      agent: 'shell',
      selector: 'marionette-test-nothing-has=this',
    });
    expect(created.status).toBe(201);
    expect(created.body.sandboxProvider).toBeNull();
    const s = await srv.api<SessionView & { sandboxProvider: string | null }>('POST', '/v1/sessions', {
      agent: 'shell',
      prompt: 'true',
    });
    expect(s.status).toBe(201);
    const placed = await until(
      async () => {
        const r = await srv.api<SessionView & { sandboxProvider: string | null }>('GET', `/v1/sessions/${s.body.id}`);
        return r.body.poolId ? r.body : null;
      },
      'the session to be placed',
      60_000,
    );
    expect(placed.sandboxProvider).toBe('local');
    const listed = await srv.api<{ items: { id: string; sandboxProvider: string | null }[] }>('GET', '/v1/sessions');
    expect(listed.body.items.find((i) => i.id === s.body.id)?.sandboxProvider).toBe('local');
    const cancelled = await srv.api<{ sandboxProvider: string | null }>('POST', `/v1/sessions/${s.body.id}/cancel`, {});
    expect(cancelled.body.sandboxProvider).toBe('local');
  });

  it('documents every operation with an operationId and a success-response schema', async () => {
    interface Content {
      schema?: { properties?: Record<string, { enum?: string[] }> };
    }
    interface Op {
      operationId?: string;
      responses: Record<string, { content?: Record<string, Content> }>;
    }
    const doc = (
      await srv.api<{
        paths: Record<string, Record<string, Op>>;
      }>('GET', '/v1/openapi.json')
    ).body;
    const ids: string[] = [];
    for (const [path, methods] of Object.entries(doc.paths))
      for (const [method, op] of Object.entries(methods)) {
        expect(op.operationId, `${method} ${path}`).toBeTruthy();
        ids.push(op.operationId!);
        // A WebSocket route answers 101 Switching Protocols (its frames are in docs/api.md).
        if (op.responses['101']) continue;
        const success = Object.entries(op.responses).filter(([code]) => /^2/.test(code));
        expect(success.length, `${method} ${path}`).toBeGreaterThan(0);
        for (const [, r] of success) {
          const content = r.content ?? {};
          const schema = (content['application/json'] ?? content['text/event-stream'])?.schema;
          expect(schema, `${method} ${path}`).toBeTruthy();
        }
      }
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.sort()).toEqual(Object.keys(OPERATIONS).sort());
    const create = doc.paths['/v1/sessions']!.post!;
    expect(Object.keys(create.responses).sort()).toEqual(['200', '201', 'default']);
    const get = doc.paths['/v1/sessions/{id}']!.get!;
    const props = get.responses['200']?.content?.['application/json']?.schema?.properties ?? {};
    expect(props.sandboxProvider).toBeTruthy();
    expect(props.state?.enum).toEqual([...SESSION_STATES]);
  });
});
