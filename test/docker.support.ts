/**
 * @module Shared pieces of the docker end-to-end tests: a server whose docker provider uses a
 * label prefix of its own, helpers to wait on sessions and tasks through the API, and the final
 * leak check (nothing labelled with the prefix may be left).
 */
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { expect } from 'vitest';
import { isTerminalTask } from '../src/core/states.js';
import type { TaskState } from '../src/core/types.js';
import { docker, uniquePrefix } from '../src/providers/docker/docker.test-support.js';
import { listOwned, removeContainer, removeImage, removeVolume } from '../src/providers/docker/provider.js';
import { type ServerHandle, type SessionView, startServer, type TaskView, until } from './harness.js';

export { docker, dockerDescribe, engine, ensureTestImage } from '../src/providers/docker/docker.test-support.js';

/** A session as the API returns it, with the suspend record the docker tests read. */
export interface SessionObj extends Omit<SessionView, 'tasks'> {
  suspend: { strategy: string; requested: string | null; handle: unknown; escalatedFrom?: string } | null;
  tasks?: TaskObj[];
}
export type TaskObj = TaskView;

/**
 * A server with a docker provider under a fresh label prefix (or `prefix`, to share one between
 * servers); `pools` is YAML under `pools:`.
 */
export async function startDockerServer(opts: {
  pools: string;
  docker?: string;
  prefix?: string;
}): Promise<{ srv: ServerHandle; prefix: string }> {
  const prefix = opts.prefix ?? uniquePrefix();
  const config = [
    'providers:',
    '  docker:',
    `    labelPrefix: ${prefix}`,
    '    network: none',
    ...(opts.docker ?? '')
      .split('\n')
      .filter((l) => l.trim())
      .map((l) => `    ${l}`),
    'pools:',
    ...opts.pools
      .split('\n')
      .filter((l) => l.trim())
      .map((l) => `  ${l}`),
    '',
  ].join('\n');
  const srv = await startServer({ config });
  return { srv, prefix };
}

export async function createSession(srv: ServerHandle, body: Record<string, unknown>): Promise<SessionObj> {
  const r = await srv.api<SessionObj>('POST', '/v1/sessions', { agent: 'shell', ...body });
  if (r.status !== 201) throw new Error(`create session: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

export async function getSession(srv: ServerHandle, id: string): Promise<SessionObj> {
  const r = await srv.api<SessionObj>('GET', `/v1/sessions/${id}`);
  if (r.status !== 200) throw new Error(`get session: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

export async function addTask(srv: ServerHandle, sessionId: string, prompt: string): Promise<TaskObj> {
  const r = await srv.api<TaskObj>('POST', `/v1/sessions/${sessionId}/tasks`, { prompt });
  if (r.status !== 201) throw new Error(`add task: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

export async function getTask(srv: ServerHandle, id: string): Promise<TaskObj> {
  return (await srv.api<TaskObj>('GET', `/v1/tasks/${id}`)).body;
}

/** Waits for a task to end; returns it. */
export function taskDone(srv: ServerHandle, id: string, ms = 60_000): Promise<TaskObj> {
  return until(
    async () => {
      const t = await getTask(srv, id);
      return isTerminalTask(t.state as TaskState) ? t : null;
    },
    `task ${id} to finish`,
    ms,
  );
}

export function sessionIn(srv: ServerHandle, id: string, states: string[], ms = 60_000): Promise<SessionObj> {
  return until(
    async () => {
      const s = await getSession(srv, id);
      return states.includes(s.state) ? s : null;
    },
    `session ${id} to be ${states.join(' or ')}`,
    ms,
  );
}

/** The task's output lines, in order. */
export async function taskLines(srv: ServerHandle, id: string): Promise<string[]> {
  const r = await srv.api<{ items: Array<{ line: string; stream: string }> }>(
    'GET',
    `/v1/tasks/${id}/logs?limit=10000`,
  );
  return r.body.items.filter((l) => l.stream !== 'system').map((l) => l.line);
}

/** Runs `prompt` as a new task in the session and returns its output once it succeeded. */
export async function runTask(srv: ServerHandle, sessionId: string, prompt: string): Promise<string[]> {
  const t = await addTask(srv, sessionId, prompt);
  const done = await taskDone(srv, t.id);
  const lines = await taskLines(srv, t.id);
  expect(done.state, `task ${t.id} (${prompt}): ${done.error}\n${lines.join('\n')}`).toBe('succeeded');
  return lines;
}

/** Containers with the prefix, by owner runner. */
export async function containersOf(prefix: string, runnerId: string) {
  return docker.listContainers({ all: true, filters: { label: [`${prefix}.runner=${runnerId}`] } });
}

/** Cost events written by the server (read straight from its SQLite store). */
export function costEvents(home: string): Array<{ runner_id: string; billing_model: string; seconds: number }> {
  const db = new Database(join(home, 'marionette.db'), { readonly: true });
  try {
    return db.prepare('select runner_id, billing_model, seconds from cost_events').all() as never;
  } finally {
    db.close();
  }
}

/** The install id a server keeps in its SQLite store (every object it creates is labelled with it). */
export function installIdOf(home: string): string {
  const db = new Database(join(home, 'marionette.db'), { readonly: true });
  try {
    return (db.prepare("select value from meta where key = 'install_id'").get() as { value: string }).value;
  } finally {
    db.close();
  }
}

/** Every object under the prefix, as `kind name` strings. */
export async function owned(prefix: string): Promise<string[]> {
  return (await listOwned(docker, { labelPrefix: prefix })).map((o) => `${o.kind} ${o.name}`);
}

/** The leak check every test ends with: the server removed everything it labelled. */
export async function expectNothingLeft(prefix: string, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  let left = await owned(prefix);
  while (left.length > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200));
    left = await owned(prefix);
  }
  expect(left).toEqual([]);
}

/** After the assertions: removes whatever a failed test left, so one failure does not leak into other runs. */
export async function forceClean(prefix: string): Promise<void> {
  for (const o of await listOwned(docker, { labelPrefix: prefix })) {
    if (o.kind === 'container') await removeContainer(docker, o.id);
  }
  for (const o of await listOwned(docker, { labelPrefix: prefix })) {
    if (o.kind === 'image') await removeImage(docker, o.id);
    if (o.kind === 'volume') await removeVolume(docker, o.id);
  }
}
