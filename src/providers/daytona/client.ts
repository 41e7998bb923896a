/**
 * @module The part of Daytona the provider uses, as a small structural interface
 * ({@link DaytonaApi}), and its implementation on the official `@daytonaio/sdk`: sandboxes
 * (create from a snapshot, get, list by labels, start, stop, archive, delete, relabel, snapshot),
 * snapshots (delete), and the toolbox's process API (run a command and wait; start a long-running
 * command in a session). Tests may pass any object of this shape; the server uses the SDK.
 *
 * The SDK is made with `useDeprecatedPolling` (state waits poll `GET /sandbox/{id}` instead of
 * holding a socket.io connection per client) and with every credential field given, so it never
 * reads DAYTONA_* variables or `.env` files itself. The SDK module is imported on the first call
 * (it takes seconds to load on a busy machine), never at server start.
 */
import type { Daytona, Sandbox } from '@daytonaio/sdk';
import type { DaytonaCredential } from './credentials.js';
import { isNotFound } from './errors.js';

/** What the provider reads of a sandbox. */
export interface DaytonaSandboxView {
  id: string;
  name: string;
  /** Daytona's state: `creating`, `started`, `stopped`, `archived`, `error`, `destroyed`, ... */
  state: string;
  labels: Record<string, string>;
  errorReason?: string;
  cpu?: number;
  memory?: number;
  disk?: number;
}

export interface DaytonaCreate {
  name: string;
  snapshot: string;
  envVars: Record<string, string>;
  labels: Record<string, string>;
  resources?: { cpu?: number; memory?: number; disk?: number };
  autoStopInterval: number;
}

export interface DaytonaApi {
  /** Creates a sandbox and waits until it is started (throws when it ends in `error` or times out). */
  create(p: DaytonaCreate, timeoutSec: number): Promise<DaytonaSandboxView>;
  /** Waits until the sandbox is started (throws when it ends in `error` or times out). */
  waitStarted(idOrName: string, timeoutSec: number): Promise<DaytonaSandboxView>;
  /** The sandbox by id or name, or null when Daytona does not know it (or it is destroyed). */
  get(idOrName: string): Promise<DaytonaSandboxView | null>;
  /** Every sandbox carrying all of `labels`. */
  list(labels: Record<string, string>): Promise<DaytonaSandboxView[]>;
  /** Deletes the sandbox and waits until it is destroyed; gone already is fine. */
  remove(idOrName: string, timeoutSec: number): Promise<void>;
  start(idOrName: string, timeoutSec: number): Promise<void>;
  stop(idOrName: string, timeoutSec: number): Promise<void>;
  archive(idOrName: string): Promise<void>;
  setLabels(idOrName: string, labels: Record<string, string>): Promise<void>;
  /** Captures the sandbox's filesystem as snapshot `name` and waits until done. */
  createSnapshot(idOrName: string, name: string, timeoutSec: number): Promise<void>;
  /** Whether snapshot `name` exists. */
  snapshotExists(name: string): Promise<boolean>;
  /** Deletes snapshot `name`; gone already is fine. */
  removeSnapshot(name: string): Promise<void>;
  /** The names of every snapshot of the organization. */
  listSnapshots(): Promise<string[]>;
  /** Starts `command` in a new toolbox session `sessionId` without waiting for it (the session keeps it running). */
  startCommand(idOrName: string, sessionId: string, command: string): Promise<void>;
  /** Runs `command` through the toolbox and waits: its exit code and output (Daytona returns one combined stream). */
  exec(
    idOrName: string,
    command: string,
    opts: { cwd?: string; env?: Record<string, string>; timeoutSec?: number },
  ): Promise<{ exitCode: number; output: string }>;
  /** The preview link of the sandbox's `port` (its URL and the token a private sandbox's link wants). */
  previewLink(idOrName: string, port: number): Promise<{ url: string; token: string }>;
  close(): Promise<void>;
}

function view(s: Sandbox): DaytonaSandboxView {
  return {
    id: s.id,
    name: s.name,
    state: String(s.state ?? 'unknown'),
    labels: { ...(s.labels ?? {}) },
    ...(s.errorReason ? { errorReason: s.errorReason } : {}),
    ...(typeof s.cpu === 'number' ? { cpu: s.cpu } : {}),
    ...(typeof s.memory === 'number' ? { memory: s.memory } : {}),
    ...(typeof s.disk === 'number' ? { disk: s.disk } : {}),
  };
}

/** {@link DaytonaApi} on `@daytonaio/sdk`, for one credential. */
export function sdkDaytonaApi(cred: DaytonaCredential, requestTimeoutMs = 60_000): DaytonaApi {
  let made: Promise<Daytona> | undefined;
  const sdk = () =>
    (made ??= import('@daytonaio/sdk').then(
      (m) =>
        new m.Daytona({
          apiKey: cred.apiKey,
          apiUrl: cred.apiUrl,
          ...(cred.target ? { target: cred.target } : {}),
          useDeprecatedPolling: true,
          requestTimeoutMs,
        }),
    ));
  const sandbox = async (idOrName: string) => (await sdk()).get(idOrName);
  return {
    async create(p, timeoutSec) {
      const s = await (await sdk()).create(
        {
          name: p.name,
          snapshot: p.snapshot,
          envVars: p.envVars,
          labels: p.labels,
          autoStopInterval: p.autoStopInterval,
          ...(p.resources && Object.keys(p.resources).length ? { resources: p.resources } : {}),
        },
        { timeout: timeoutSec },
      );
      return view(s);
    },
    async waitStarted(idOrName, timeoutSec) {
      const s = await sandbox(idOrName);
      await s.waitUntilStarted(timeoutSec);
      return view(s);
    },
    async get(idOrName) {
      try {
        const s = await sandbox(idOrName);
        return s.state === 'destroyed' ? null : view(s);
      } catch (e: unknown) {
        if (isNotFound(e)) return null;
        throw e;
      }
    },
    async list(labels) {
      const out: DaytonaSandboxView[] = [];
      for await (const s of (await sdk()).list({ labels })) if (s.state !== 'destroyed') out.push(view(s));
      return out;
    },
    async remove(idOrName, timeoutSec) {
      let s: Sandbox;
      try {
        s = await sandbox(idOrName);
      } catch (e: unknown) {
        if (isNotFound(e)) return;
        throw e;
      }
      if (s.state === 'destroyed') return;
      try {
        await s.delete(timeoutSec, true);
      } catch (e: unknown) {
        if (!isNotFound(e)) throw e;
      }
    },
    async start(idOrName, timeoutSec) {
      await (await sandbox(idOrName)).start(timeoutSec);
    },
    async stop(idOrName, timeoutSec) {
      await (await sandbox(idOrName)).stop(timeoutSec);
    },
    async archive(idOrName) {
      await (await sandbox(idOrName)).archive();
    },
    async setLabels(idOrName, labels) {
      await (await sandbox(idOrName)).setLabels(labels);
    },
    async createSnapshot(idOrName, name, timeoutSec) {
      await (await sandbox(idOrName)).createSnapshot(name, timeoutSec);
    },
    async snapshotExists(name) {
      try {
        await (await sdk()).snapshot.get(name);
        return true;
      } catch (e: unknown) {
        if (isNotFound(e)) return false;
        throw e;
      }
    },
    async removeSnapshot(name) {
      try {
        await (await sdk()).snapshot.delete(name);
      } catch (e: unknown) {
        if (!isNotFound(e)) throw e;
      }
    },
    async listSnapshots() {
      const out: string[] = [];
      for (let page = 1; ; page++) {
        const r = await (await sdk()).snapshot.list({ page, limit: 100 });
        out.push(...r.items.map((x) => x.name));
        if (page >= (r.totalPages ?? 1) || r.items.length === 0) return out;
      }
    },
    async previewLink(idOrName, port) {
      const l = await (await sandbox(idOrName)).getPreviewLink(port);
      return { url: l.url, token: l.token };
    },
    async startCommand(idOrName, sessionId, command) {
      const s = await sandbox(idOrName);
      await s.process.createSession(sessionId);
      await s.process.executeSessionCommand(sessionId, { command, runAsync: true });
    },
    async exec(idOrName, command, opts) {
      const s = await sandbox(idOrName);
      const r = await s.process.executeCommand(command, opts.cwd, opts.env, opts.timeoutSec);
      return { exitCode: r.exitCode ?? -1, output: r.result ?? '' };
    },
    async close() {
      if (made) await (await made)[Symbol.asyncDispose]();
    },
  };
}
