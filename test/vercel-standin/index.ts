/**
 * @module A local stand-in of Vercel Sandbox for tests (never shipped): the Sandbox API
 * (./api.ts) as `@vercel/sandbox` 3.x speaks it, whose sessions are Docker containers on the host
 * network (./sandboxes.ts), so a runner's `marionette-agent` really starts, dials the test
 * server's gateway on loopback and runs tasks. The SDK has no base-URL option: point it here with
 * the provider's `apiUrl` (a rewriting `fetch`, the SDK's documented `fetch` option). Each
 * stand-in labels its containers with its own random id, so two test runs never touch each
 * other's; `close` removes them.
 *
 * @example
 * const v = await startVercelStandin({ docker, images: { 'marionette-agent': 'marionette/agent:latest' } });
 * new VercelSandboxProvider({ apiUrl: v.url, gateway }, { credential: v.credential });
 */
import { randomBytes } from 'node:crypto';
import type Dockerode from 'dockerode';
import { type Fault, VercelApiServer } from './api.js';
import { Sandboxes } from './sandboxes.js';

/** The Docker label key of every stand-in container (the value is the stand-in's id). */
export const STANDIN_LABEL = 'io.marionette.test.vercel-standin';

export interface VercelStandin {
  url: string;
  /** The one credential it accepts (token, team and project). */
  credential: { token: string; teamId: string; projectId: string };
  id: string;
  sandboxes: Sandboxes;
  api: VercelApiServer;
  /** Queues a fault the API answers with before doing anything. */
  fail(fault: Fault): void;
  /** Containers and snapshot images of this stand-in still on the engine, as readable names. */
  leftovers(): Promise<string[]>;
  close(): Promise<void>;
}

export interface VercelStandinOptions {
  docker: Dockerode;
  /** Image name (as the provider names it) → local Docker image (never pulled). */
  images: Record<string, string>;
  /** Host paths mounted read-only into every sandbox (the test checkout's agent and Node). */
  mounts?: Array<{ host: string; at: string }>;
}

export async function startVercelStandin(opts: VercelStandinOptions): Promise<VercelStandin> {
  const id = randomBytes(5).toString('hex');
  const credential = {
    token: `vercel_standin_${randomBytes(12).toString('hex')}`,
    teamId: `team_${id}`,
    projectId: `prj_${id}`,
  };
  const sandboxes = new Sandboxes(opts.docker, { key: STANDIN_LABEL, value: id }, opts.images, opts.mounts ?? []);
  const api = new VercelApiServer(sandboxes, credential.token, credential.teamId);
  await api.listen();
  return {
    url: api.url,
    credential,
    id,
    sandboxes,
    api,
    fail: (f) => api.faults.push(f),
    leftovers: () => sandboxes.leftovers(),
    async close() {
      await api.close();
      await sandboxes.close();
    },
  };
}
