/**
 * Building a task's assignment: a card that is gone fails the task ("agent … no longer exists");
 * a failing catalog read (the database) is an error of its own and fails nothing. It used to be
 * caught as `.catch(() => null)`, so a database error failed the task as if the agent were gone.
 */
import { describe, expect, it } from 'vitest';
import { NotFound, nullIfNotFound } from '../core/errors.js';
import type { AgentCard } from '../core/types.js';
import type { Session, Task } from '../store/records.js';
import type { ServerContext } from './context.js';
import type { RunnerControl } from './runner-control.js';
import { SessionCatalog } from './session-catalog.js';
import { TaskLifecycle } from './task-lifecycle.js';

const session = {
  id: 'ses_1',
  orgId: 'org_1',
  agent: 'shell',
  request: { profile: null },
} as unknown as Session;
const task = { id: 'tsk_1', sessionId: 'ses_1', runnerId: null, prompt: 'echo hi' } as unknown as Task;

/** A context whose catalog read is `cards`, recording every task state write. */
function setup(cards: () => Promise<AgentCard[]>) {
  const writes: unknown[][] = [];
  const ctx = {
    store: {
      pools: {
        catalogAll: async () => ({
          cards: (await cards()).map((card) => ({ orgId: 'org_1', card })),
          profiles: [],
        }),
        listAll: async () => [],
      },
      tasks: {
        transition: async (...args: unknown[]) => {
          writes.push(args);
          return true;
        },
        get: async () => null,
      },
    },
  } as unknown as ServerContext;
  const lifecycle = new TaskLifecycle(ctx, {} as RunnerControl, new SessionCatalog(ctx), () => {});
  return { lifecycle, writes };
}

describe('TaskLifecycle.buildAssignment', () => {
  it('lets a database error through and fails nothing', async () => {
    const { lifecycle, writes } = setup(async () => {
      throw new Error('SQLITE_IOERR: disk I/O error');
    });
    await expect(lifecycle.buildAssignment(session, task, {})).rejects.toThrow('disk I/O error');
    expect(writes).toEqual([]);
  });

  it('fails the task when its agent card is gone', async () => {
    const { lifecycle, writes } = setup(async () => []);
    expect(await lifecycle.buildAssignment(session, task, {})).toBeNull();
    expect(writes).toHaveLength(1);
    expect(writes[0]?.[1]).toBe('failed');
    expect(writes[0]?.[2]).toMatchObject({ error: 'agent shell no longer exists' });
  });
});

describe('nullIfNotFound', () => {
  it('turns only NotFound into null', async () => {
    expect(await Promise.reject(new NotFound('pool', 'external')).catch(nullIfNotFound)).toBeNull();
    await expect(Promise.reject(new Error('connection refused')).catch(nullIfNotFound)).rejects.toThrow(
      'connection refused',
    );
  });
});
