/**
 * @module Two installs on one Docker Engine, with the same label prefix: each labels what it
 * creates with its own install id and reaps only that, so neither removes the other's containers
 * or volumes, however many reconcile ticks pass (before install ids, each reaper removed the
 * other's objects within one tick).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { uniquePrefix } from '../src/providers/docker/docker.test-support.js';
import {
  containersOf,
  createSession,
  docker,
  dockerDescribe,
  ensureTestImage,
  expectNothingLeft,
  forceClean,
  getSession,
  installIdOf,
  runTask,
  type SessionObj,
  sessionIn,
  startDockerServer,
  taskDone,
} from './docker.support.js';
import type { ServerHandle } from './harness.js';

const POOLS = 'd: {provider: docker, mode: managed, max_runners: 2}';
/** The reconciler's period (src/server/main.ts). */
const RECONCILE_MS = 10_000;

dockerDescribe('two installs on one engine', () => {
  const prefix = uniquePrefix(); // shared by both servers, as the default prefix would be
  const servers: ServerHandle[] = [];
  beforeAll(ensureTestImage);
  afterAll(async () => {
    for (const s of servers) await s.destroy();
    await forceClean(prefix);
  });

  it("never remove each other's containers or volumes", async () => {
    for (let i = 0; i < 2; i++) servers.push((await startDockerServer({ pools: POOLS, prefix })).srv);
    const [a, b] = servers as [ServerHandle, ServerHandle];
    expect(installIdOf(a.home)).not.toBe(installIdOf(b.home));
    const sessions: Array<[ServerHandle, SessionObj]> = [];
    for (const srv of servers) {
      const s = await createSession(srv, { pool: 'd', prompt: 'echo ready > /workspace/mark; echo ready' });
      expect((await taskDone(srv, s.tasks![0]!.id)).state).toBe('succeeded');
      sessions.push([srv, await sessionIn(srv, s.id, ['idle'])]);
    }
    const labelled = async () =>
      (await docker.listContainers({ all: true, filters: { label: [`${prefix}.managed=true`] } })).length;
    expect(await labelled()).toBe(2);
    // Longer than two reconcile ticks of each server, each of which sees the other's objects.
    await new Promise((r) => setTimeout(r, 2 * RECONCILE_MS + 3000));
    for (const [srv, s] of sessions) {
      expect(await containersOf(prefix, s.runnerId!)).toHaveLength(1);
      // Same runner, same workspace volume: nothing was lost or replaced.
      expect(await runTask(srv, s.id, 'cat /workspace/mark')).toEqual(['ready']);
      expect((await getSession(srv, s.id)).runnerId).toBe(s.runnerId);
      const events = await srv.api<{ items: { type: string }[] }>('GET', `/v1/sessions/${s.id}/events`);
      expect(events.body.items.map((e) => e.type)).not.toContain('runner_lost');
    }
    // Each install's objects carry its own id.
    for (const [srv, s] of sessions) {
      const [c] = await containersOf(prefix, s.runnerId!);
      expect(c?.Labels[`${prefix}.install`]).toBe(installIdOf(srv.home));
    }
    for (const [srv, s] of sessions) expect((await srv.api('POST', `/v1/sessions/${s.id}/cancel`)).status).toBe(200);
    await expectNothingLeft(prefix);
  });
});
