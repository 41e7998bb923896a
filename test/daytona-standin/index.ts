/**
 * @module A local stand-in of the Daytona API for tests (never shipped): the REST subset the
 * daytona provider's SDK calls make (`@daytona/api-client`: `/sandbox` create, get, list by
 * labels, delete, start, stop, archive, labels, snapshot; `/snapshots/{id}` get and delete) and
 * the toolbox API the SDK's `process` calls (`/toolbox/{sandboxId}/process/execute`,
 * `/process/session`, `/process/session/{id}/exec`), with bearer-token auth and Daytona's error
 * envelope (`{ statusCode, message, error }`). Sandboxes are Docker containers on the host
 * network (./engine.ts), so the agent in one really starts, dials a test server's gateway on
 * loopback and runs tasks. Faults can be injected per operation (status, message, times,
 * Retry-After) to test auth, quota, rate-limit and half-made provisions.
 *
 * @example
 * const d = await startDaytonaStandin({ docker, snapshots: { 'marionette-agent': TEST_IMAGE }, mounts });
 * new DaytonaSandboxProvider({ gateway }, { env: { DAYTONA_API_KEY: d.apiKey, DAYTONA_API_URL: d.url } });
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type Dockerode from 'dockerode';
import { TunnelProxy } from '../tunnel-proxy.support.js';
import { SandboxEngine, type SandboxRec } from './engine.js';

/** The Docker label key of every stand-in container and image (the value is the stand-in's id). */
export const DAYTONA_STANDIN_LABEL = 'io.marionette.test.daytona-standin';

/** Operations a fault can be injected into. */
export type FaultOp = 'create' | 'start-container' | 'get' | 'list' | 'delete' | 'stop' | 'start' | 'session-exec';

export interface Fault {
  status: number;
  message: string;
  /** How many calls fail (default 1). */
  times?: number;
  /** `Retry-After` seconds (429). */
  retryAfter?: number;
}

export interface DaytonaStandin {
  /** The API URL (`http://127.0.0.1:PORT/api`): the SDK's `apiUrl`. */
  url: string;
  apiKey: string;
  id: string;
  engine: SandboxEngine;
  /** Every API call as `METHOD /path` (query left off), in order. */
  calls: string[];
  /** The next `times` calls of `op` fail with `fault`. */
  fail(op: FaultOp, fault: Fault): void;
  /** The Docker container of a sandbox (by id or name). */
  containerOf(idOrName: string): string | undefined;
  leftovers(): Promise<string[]>;
  /** The preview-link proxy of isolated sandboxes (`GET /sandbox/{id}/ports/{port}/preview-url`), else null. */
  tunnel: TunnelProxy | null;
  close(): Promise<void>;
}

export interface DaytonaStandinOptions {
  docker: Dockerode;
  /** Snapshots that exist from the start: name → local Docker image. */
  snapshots: Record<string, string>;
  /** Bind mounts of every sandbox container (read-only). */
  mounts?: Array<{ source: string; target: string }>;
  /** Sandboxes behind NAT whose `ports` only preview links reach (../tunnel-proxy.support.ts). */
  isolated?: { ports: number[] };
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

const REASONS: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  409: 'Conflict',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
};

/** Splits a command line into words as a shell would for plain words and quotes (the toolbox's /process/execute runs no shell). */
export function splitWords(cmd: string): string[] {
  const out: string[] = [];
  let cur = '';
  let has = false;
  for (let i = 0; i < cmd.length; i++) {
    const c = cmd[i]!;
    if (c === "'") {
      const end = cmd.indexOf("'", i + 1);
      cur += cmd.slice(i + 1, end < 0 ? cmd.length : end);
      i = end < 0 ? cmd.length : end;
      has = true;
    } else if (c === '"') {
      i++;
      while (i < cmd.length && cmd[i] !== '"') {
        if (cmd[i] === '\\' && i + 1 < cmd.length) i++;
        cur += cmd[i];
        i++;
      }
      has = true;
    } else if (c === '\\' && i + 1 < cmd.length) {
      cur += cmd[++i];
      has = true;
    } else if (/\s/.test(c)) {
      if (has) out.push(cur);
      cur = '';
      has = false;
    } else {
      cur += c;
      has = true;
    }
  }
  if (has) out.push(cur);
  return out;
}

async function body(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const text = Buffer.concat(chunks).toString();
  if (!text) return {};
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new HttpError(400, 'request body is not JSON');
  }
}

export async function startDaytonaStandin(opts: DaytonaStandinOptions): Promise<DaytonaStandin> {
  const id = randomBytes(5).toString('hex');
  const apiKey = `dtn_${randomBytes(16).toString('hex')}`;
  const engine = new SandboxEngine({
    docker: opts.docker,
    label: { key: DAYTONA_STANDIN_LABEL, value: id },
    mounts: opts.mounts ?? [],
    isolated: opts.isolated ?? null,
  });
  // Preview links: a private sandbox's port, for a request carrying its preview token.
  const previewTokens = new Map<string, string>();
  const tunnel = opts.isolated
    ? new TunnelProxy(async (idOrName, port, req) => {
        const s = engine.find(idOrName);
        if (!s || req.headers['x-daytona-preview-token'] !== previewTokens.get(s.id)) return null;
        return engine.publishedPort(s, port);
      })
    : null;
  await tunnel?.listen();
  for (const [name, image] of Object.entries(opts.snapshots)) engine.addSnapshot(name, image);
  const faults = new Map<FaultOp, Fault & { left: number }>();
  const calls: string[] = [];
  let base = '';
  const org = randomUUID();

  const fault = (op: FaultOp) => {
    const f = faults.get(op);
    if (!f || f.left <= 0) return;
    f.left--;
    throw new HttpError(f.status, f.message, f.retryAfter !== undefined ? { 'retry-after': String(f.retryAfter) } : {});
  };
  const dto = (s: SandboxRec) => ({
    id: s.id,
    name: s.name,
    organizationId: org,
    snapshot: s.snapshot,
    user: 'agent',
    env: s.env,
    labels: s.labels,
    public: false,
    target: 'us',
    cpu: s.cpu,
    gpu: 0,
    memory: s.memory,
    disk: s.disk,
    state: s.state,
    desiredState: s.state,
    errorReason: s.errorReason,
    autoStopInterval: 0,
    autoArchiveInterval: 10080,
    autoDeleteInterval: -1,
    volumes: [],
    createdAt: s.createdAt,
    updatedAt: s.updatedAt,
    toolboxProxyUrl: `${base}/toolbox`,
  });
  const sandbox = (idOrName: string) => {
    const s = engine.find(decodeURIComponent(idOrName));
    if (!s) throw new HttpError(404, `Sandbox with ID or name ${idOrName} not found`);
    return s;
  };
  const started = (s: SandboxRec) => {
    if (s.state !== 'started') throw new HttpError(409, `Sandbox ${s.id} is not started (state: ${s.state})`);
  };

  async function api(method: string, path: string, q: URLSearchParams, b: () => Promise<Record<string, unknown>>) {
    let m: RegExpExecArray | null;
    if (method === 'POST' && path === '/sandbox') {
      fault('create');
      const p = await b();
      const snapName = String(p.snapshot ?? '');
      const snap = engine.findSnapshot(snapName);
      if (!snap)
        throw new HttpError(400, `Snapshot ${snapName} not found. Did you add it through the Daytona Dashboard?`);
      const name = typeof p.name === 'string' && p.name ? p.name : randomUUID();
      if (engine.find(name)) throw new HttpError(409, `Sandbox with name ${name} already exists`);
      const s = engine.record({
        name,
        snapshot: snap.name,
        labels: (p.labels as Record<string, string>) ?? {},
        env: (p.env as Record<string, string>) ?? {},
        cpu: Number(p.cpu ?? 1),
        memory: Number(p.memory ?? 1),
        disk: Number(p.disk ?? 3),
      });
      const f = faults.get('start-container');
      let failStart: string | undefined;
      if (f && f.left > 0) {
        f.left--;
        failStart = f.message;
      }
      void engine.boot(s, snap.imageName, failStart);
      return dto(s);
    }
    if (method === 'GET' && path === '/sandbox') {
      fault('list');
      const want = q.get('labels') ? (JSON.parse(q.get('labels')!) as Record<string, string>) : {};
      const items = [...engine.sandboxes.values()]
        .filter((s) => Object.entries(want).every(([k, v]) => s.labels[k] === v))
        .map(dto);
      return { items, total: items.length, nextCursor: null };
    }
    m = /^\/sandbox\/([^/]+)$/.exec(path);
    if (m) {
      if (method === 'GET') {
        fault('get');
        return dto(sandbox(m[1]!));
      }
      if (method === 'DELETE') {
        fault('delete');
        const s = sandbox(m[1]!);
        await engine.destroy(s);
        return dto(s);
      }
    }
    m = /^\/sandbox\/([^/]+)\/ports\/(\d+)\/preview-url$/.exec(path);
    if (m && method === 'GET') {
      const s = sandbox(m[1]!);
      if (!tunnel) throw new HttpError(400, 'this stand-in has no preview links (start it with `isolated`)');
      let token = previewTokens.get(s.id);
      if (!token) {
        token = randomBytes(16).toString('hex');
        previewTokens.set(s.id, token);
      }
      return { sandboxId: s.id, url: `${tunnel.url.replace(/^ws/, 'http')}/${s.id}/${m[2]}`, token };
    }
    m = /^\/sandbox\/([^/]+)\/(start|stop|archive|labels|snapshot|toolbox-proxy-url)$/.exec(path);
    if (m) {
      const s = sandbox(m[1]!);
      switch (`${method} ${m[2]}`) {
        case 'POST start':
          fault('start');
          if (s.state !== 'started') {
            if (!['stopped', 'archived'].includes(s.state))
              throw new HttpError(400, `Sandbox is not in a startable state (${s.state})`);
            await engine.start(s);
          }
          return dto(s);
        case 'POST stop':
          fault('stop');
          if (s.state !== 'stopped' && s.state !== 'archived') await engine.stop(s);
          return dto(s);
        case 'POST archive':
          if (s.state !== 'stopped') throw new HttpError(400, 'Sandbox is not stopped');
          engine.archive(s);
          return dto(s);
        case 'PUT labels': {
          const p = await b();
          s.labels = { ...((p.labels as Record<string, string>) ?? {}) };
          return { labels: s.labels };
        }
        case 'POST snapshot': {
          const p = await b();
          const name = String(p.name ?? '');
          if (!name) throw new HttpError(400, 'name is required');
          if (engine.findSnapshot(name)) throw new HttpError(409, `Snapshot with name ${name} already exists`);
          if (!s.containerId) throw new HttpError(400, 'Sandbox has no filesystem yet');
          await engine.snapshot(s, name);
          return dto(s);
        }
        case 'GET toolbox-proxy-url':
          return { url: `${base}/toolbox` };
      }
    }
    if (method === 'GET' && path === '/snapshots') {
      const page = Math.max(1, Number(q.get('page') ?? 1));
      const limit = Math.max(1, Number(q.get('limit') ?? 100));
      const all = [...engine.snapshots.values()].map((x) => ({
        id: x.id,
        name: x.name,
        imageName: x.imageName,
        state: 'active',
        createdAt: x.createdAt,
      }));
      const items = all.slice((page - 1) * limit, page * limit);
      return { items, total: all.length, page, totalPages: Math.max(1, Math.ceil(all.length / limit)) };
    }
    m = /^\/snapshots\/([^/]+)$/.exec(path);
    if (m) {
      const snap = engine.findSnapshot(decodeURIComponent(m[1]!));
      if (!snap) throw new HttpError(404, `Snapshot ${m[1]} not found`);
      if (method === 'GET')
        return { id: snap.id, name: snap.name, imageName: snap.imageName, state: 'active', createdAt: snap.createdAt };
      if (method === 'DELETE') {
        await engine.removeSnapshot(snap);
        return {};
      }
    }
    throw new HttpError(404, `Cannot ${method} /api${path}`);
  }

  async function toolbox(method: string, sandboxId: string, path: string, b: () => Promise<Record<string, unknown>>) {
    const s = sandbox(sandboxId);
    if (method === 'POST' && path === '/process/execute') {
      started(s);
      const p = await b();
      const argv = splitWords(String(p.command ?? ''));
      if (!argv.length) throw new HttpError(400, 'command is required');
      const r = await engine.exec(s, argv, {
        ...(p.envs ? { env: p.envs as Record<string, string> } : {}),
        ...(typeof p.cwd === 'string' ? { cwd: p.cwd } : {}),
      });
      return { exitCode: r.exitCode, result: r.stdout + r.stderr };
    }
    if (method === 'POST' && path === '/process/session') {
      started(s);
      await b();
      return {};
    }
    const m = /^\/process\/session\/([^/]+)\/exec$/.exec(path);
    if (method === 'POST' && m) {
      started(s);
      fault('session-exec');
      const p = await b();
      const cmdId = randomUUID();
      const detach = p.runAsync === true || p.async === true;
      const r = await engine.exec(s, ['sh', '-c', String(p.command ?? '')], { detach });
      return detach
        ? { cmdId }
        : { cmdId, exitCode: r.exitCode, output: r.stdout + r.stderr, stdout: r.stdout, stderr: r.stderr };
    }
    throw new HttpError(404, `Cannot ${method} /toolbox/${sandboxId}${path}`);
  }

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://standin');
    const method = req.method ?? 'GET';
    const reply = (status: number, payload: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(JSON.stringify(payload));
    };
    void (async () => {
      try {
        if (req.headers.authorization !== `Bearer ${apiKey}`) throw new HttpError(401, 'Invalid credentials');
        if (url.pathname.startsWith('/api/')) {
          const path = url.pathname.slice(4);
          calls.push(`${method} ${path}`);
          reply(200, await api(method, path, url.searchParams, () => body(req)));
          return;
        }
        const m = /^\/toolbox\/([^/]+)(\/.*)$/.exec(url.pathname);
        if (m) {
          calls.push(`${method} /toolbox${m[2]}`);
          reply(200, await toolbox(method, m[1]!, m[2]!, () => body(req)));
        } else throw new HttpError(404, `Cannot ${method} ${url.pathname}`);
      } catch (e: unknown) {
        const status = e instanceof HttpError ? e.status : 500;
        const headers = e instanceof HttpError ? e.headers : {};
        reply(
          status,
          { statusCode: status, message: (e as Error).message, error: REASONS[status] ?? 'Error' },
          headers,
        );
      }
    })();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url: `${base}/api`,
    apiKey,
    id,
    engine,
    calls,
    fail(op, f) {
      faults.set(op, { ...f, left: f.times ?? 1 });
    },
    containerOf: (idOrName) => engine.find(idOrName)?.containerId,
    leftovers: () => engine.leftovers(),
    tunnel,
    async close() {
      await tunnel?.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await engine.close();
    },
  };
}
