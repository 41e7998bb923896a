/**
 * @module A local stand-in of E2B for tests (never shipped): the control-plane REST API
 * (./api.ts) and the in-sandbox envd API (./envd.ts) as the `e2b` SDK speaks them, whose
 * sandboxes are Docker containers on the host network (./sandboxes.ts), so a runner's
 * `marionette-agent` really starts, dials the test server's gateway on loopback and runs tasks.
 * Point the SDK at it with `apiUrl` and `sandboxUrl`. Each stand-in labels its containers with
 * its own random id, so two test runs never touch each other's; `close` removes them.
 *
 * @example
 * const e = await startE2bStandin({ docker, templates: { 'marionette-agent': 'marionette/agent:latest' } });
 * new E2bSandboxProvider({ apiUrl: e.apiUrl, sandboxUrl: e.sandboxUrl, ... }, { defaultApiKey: e.apiKey });
 */
import { randomBytes } from 'node:crypto';
import type Dockerode from 'dockerode';
import { TunnelProxy } from '../tunnel-proxy.support.js';
import { E2bApiServer, type Fault } from './api.js';
import { EnvdServer } from './envd.js';
import { Sandboxes } from './sandboxes.js';

/** The Docker label key of every stand-in container (the value is the stand-in's id). */
export const STANDIN_LABEL = 'io.marionette.test.e2b-standin';

export interface E2bStandin {
  apiUrl: string;
  sandboxUrl: string;
  /** The one API key it accepts. */
  apiKey: string;
  id: string;
  sandboxes: Sandboxes;
  api: E2bApiServer;
  /** Queues a fault the API answers with before doing anything. */
  fail(fault: Fault): void;
  /** Containers of this stand-in still on the engine, as readable names. */
  leftovers(): Promise<string[]>;
  /** The sandbox-host proxy of isolated sandboxes (`tunnelUrl`: `<url>/{sandboxId}/{port}`), else null. */
  tunnel: TunnelProxy | null;
  close(): Promise<void>;
}

export interface E2bStandinOptions {
  docker: Dockerode;
  /** Template name → local image (never pulled). */
  templates: Record<string, string>;
  /** Host paths mounted read-only into every sandbox (the test checkout's agent and Node). */
  mounts?: Array<{ host: string; at: string }>;
  /**
   * Sandboxes behind NAT (they cannot reach the host's loopback), whose `ports` are reached only
   * through the stand-in's model of E2B's sandbox host (../tunnel-proxy.support.ts).
   */
  isolated?: { ports: number[] };
}

export async function startE2bStandin(opts: E2bStandinOptions): Promise<E2bStandin> {
  const id = randomBytes(5).toString('hex');
  const apiKey = `e2b_standin_${randomBytes(12).toString('hex')}`;
  const sandboxes = new Sandboxes(
    opts.docker,
    { key: STANDIN_LABEL, value: id },
    opts.templates,
    opts.mounts ?? [],
    opts.isolated ?? null,
  );
  // E2B's sandbox host: a running sandbox's port, for anyone (no traffic token: sandboxes are not `secure`).
  const tunnel = opts.isolated
    ? new TunnelProxy(async (id, port) => {
        const s = sandboxes.all.get(id);
        return s?.state === 'running' ? sandboxes.publishedPort(s, port) : null;
      })
    : null;
  await tunnel?.listen();
  const api = new E2bApiServer(sandboxes, apiKey);
  const envd = new EnvdServer(sandboxes);
  await api.listen();
  await envd.listen();
  return {
    apiUrl: api.url,
    sandboxUrl: envd.url,
    apiKey,
    id,
    sandboxes,
    api,
    fail: (f) => api.faults.push(f),
    leftovers: () => sandboxes.leftovers(),
    tunnel,
    async close() {
      await tunnel?.close();
      await api.close();
      await envd.close();
      await sandboxes.close();
    },
  };
}
