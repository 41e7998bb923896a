/**
 * `mctl ... --wait` rides the server's watch stream (`GET /v1/tasks/:id/watch`): it makes no
 * requests while the task runs, returns with the final state once the server says the task ended,
 * and when the stream breaks (a proxy cut it, the server went away) it reads the task once and opens
 * the stream again, so an end that fell in the gap is not missed; `--timeout` still ends the wait
 * with status 124 while the stream keeps breaking. A loopback proxy in front of the real server
 * cuts the streams and records the requests mctl makes.
 */
import { existsSync } from 'node:fs';
import { createServer, type IncomingMessage, request, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, type ServerHandle, startServer, until } from './harness.js';

/** How the proxy treats the n-th watch request (0-based): pass it, or cut it. */
type WatchPlan = (n: number, req: IncomingMessage, res: ServerResponse, forward: () => Promise<void>) => Promise<void>;

interface Proxy {
  url: string;
  /** Every request since the last `use`, as `METHOD /path`. */
  requests: string[];
  /** Clears the record and treats watch streams by `plan`, counting them from 0 again. */
  use(plan: WatchPlan): void;
  /** Passes a stream on and cuts it right after its first `status` event. */
  cutAfterFirst(req: IncomingMessage, res: ServerResponse): Promise<void>;
  close(): Promise<void>;
}

/** Forwards to `target`; watch streams go through `plan`. */
async function startProxy(target: string): Promise<Proxy> {
  const t = new URL(target);
  let watches = 0;
  let plan: WatchPlan = (_n, _req, _res, forward) => forward();
  const proxy: Proxy = {
    url: '',
    requests: [],
    cutAfterFirst: () => Promise.resolve(),
    use(p) {
      plan = p;
      watches = 0;
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
  /** Forwards the request; `onData` sees each chunk of the answer after it is passed on. */
  const pass = (req: IncomingMessage, res: ServerResponse, onData?: (chunk: string) => void) =>
    new Promise<void>((resolve) => {
      const up = request(
        { host: t.hostname, port: t.port, path: req.url, method: req.method, headers: req.headers },
        (ans) => {
          res.writeHead(ans.statusCode ?? 502, ans.headers);
          ans.on('data', (c: Buffer) => {
            if (res.destroyed) return;
            res.write(c);
            onData?.(c.toString());
          });
          ans.on('end', () => {
            res.end();
            resolve();
          });
          ans.on('error', () => resolve());
          res.on('close', () => {
            ans.destroy();
            resolve();
          });
        },
      );
      up.on('error', () => {
        res.destroy();
        resolve();
      });
      req.pipe(up);
    });
  const server: Server = createServer((req, res) => {
    proxy.requests.push(`${req.method} ${req.url}`);
    if (req.method === 'GET' && /\/watch(\?|$)/.test(req.url ?? '')) {
      const n = watches++;
      void plan(n, req, res, () => pass(req, res));
      return;
    }
    void pass(req, res);
  });
  proxy.cutAfterFirst = (req, res) =>
    pass(req, res, (chunk) => {
      if (chunk.includes('event: status')) res.destroy();
    });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  proxy.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return proxy;
}

describe('mctl --wait on the watch stream', () => {
  let srv: ServerHandle;
  let proxy: Proxy;
  let sessionId: string;
  beforeAll(async () => {
    srv = await startServer();
    proxy = await startProxy(srv.apiUrl);
    // A running session: its runner stays bound between tasks.
    const r = await srv.mctl(['-o', 'json', 'sessions', 'create', '--agent', 'shell', '--prompt', 'true', '--wait']);
    expect(r.code, r.stderr).toBe(0);
    sessionId = json<{ id: string }>(r).id;
  });
  afterAll(async () => {
    await proxy?.close();
    await srv?.destroy();
  });
  const viaProxy = (args: string[]) => srv.mctl(args, { env: { MARIONETTE_SERVER: proxy.url } });
  const taskState = async (id: string) => (await srv.api<{ state: string }>('GET', `/v1/tasks/${id}`)).body.state;

  it('makes no request while the task runs: the create, one stream, and the final state from it', async () => {
    proxy.use((_n, _req, _res, forward) => forward());
    const r = await viaProxy(['tasks', 'create', '--session', sessionId, '--prompt', 'sleep 1.5; exit 3', '--wait']);
    expect(r.code, r.stderr).toBe(3);
    const [id, final] = r.stdout.trim().split('\n');
    expect(final).toMatch(new RegExp(`^task ${id} failed \\(exit 3\\).*; session ${sessionId} `));
    expect(proxy.requests).toEqual([`POST /v1/sessions/${sessionId}/tasks`, `GET /v1/tasks/${id}/watch`]);
  });

  it('a stream cut mid-wait: reads the task once, opens the stream again, and ends with the final state', async () => {
    proxy.use((n, req, res, forward) => (n === 0 ? proxy.cutAfterFirst(req, res) : forward()));
    const r = await viaProxy(['tasks', 'create', '--session', sessionId, '--prompt', 'sleep 1; exit 5', '--wait']);
    expect(r.code, r.stderr).toBe(5);
    const [id, final] = r.stdout.trim().split('\n');
    expect(final).toMatch(new RegExp(`^task ${id} failed \\(exit 5\\)`));
    const watches = proxy.requests.filter((q) => q === `GET /v1/tasks/${id}/watch`);
    expect(watches.length).toBe(2);
    expect(proxy.requests).toContain(`GET /v1/tasks/${id}`);
  });

  it('the task ends while no stream is open: the one read after the break finds it ended', async () => {
    let taskId = '';
    proxy.use(async (n, req, res) => {
      if (n === 0) {
        taskId = /\/v1\/tasks\/([^/]+)\/watch/.exec(req.url ?? '')![1]!;
        return proxy.cutAfterFirst(req, res);
      }
      // Every later stream is held until the task has ended, then cut without an answer.
      await until(async () => (await taskState(taskId)) === 'succeeded', 'the task to end', 30_000);
      res.destroy();
    });
    const r = await viaProxy(['tasks', 'create', '--session', sessionId, '--prompt', 'sleep 1; echo done', '--wait']);
    expect(r.code, r.stderr).toBe(0);
    const [id, final] = r.stdout.trim().split('\n');
    expect(id).toBe(taskId);
    expect(final).toMatch(new RegExp(`^task ${id} succeeded; session ${sessionId} `));
    expect(proxy.requests.filter((q) => q === `GET /v1/tasks/${id}`).length).toBeGreaterThanOrEqual(2);
  });

  it('--timeout still ends the wait with status 124 while every stream is cut', async () => {
    proxy.use((_n, req, res) => proxy.cutAfterFirst(req, res));
    const r = await viaProxy([
      'tasks',
      'create',
      '--session',
      sessionId,
      '--prompt',
      'sleep 20',
      '--wait',
      '--timeout',
      '2s',
    ]);
    expect(r.code, r.stderr).toBe(124);
    expect(r.stderr).toContain('stopped waiting after 2s');
    const id = r.stdout.trim().split('\n')[0]!;
    // Backing off while it keeps breaking: a handful of streams in 2 s, not a tight loop.
    const watches = proxy.requests.filter((q) => q === `GET /v1/tasks/${id}/watch`).length;
    expect(watches).toBeGreaterThanOrEqual(2);
    expect(watches).toBeLessThan(20);
    await srv.api('POST', `/v1/tasks/${id}/cancel`, {});
    await until(async () => ['cancelled', 'failed'].includes(await taskState(id)), 'the task to be cancelled', 30_000);
  });
});

describe('mctl --wait across a server restart', () => {
  let srv: ServerHandle;
  afterAll(async () => {
    await srv?.destroy();
  });

  it('the server is killed and started again mid-wait: the wait reconnects and ends with the final state', async () => {
    srv = await startServer();
    const s = await srv.mctl(['-o', 'json', 'sessions', 'create', '--agent', 'shell', '--prompt', 'true', '--wait']);
    expect(s.code, s.stderr).toBe(0);
    const sessionId = json<{ id: string }>(s).id;
    const marker = `${srv.home}/task-started`;
    const waiting = srv.mctl(
      ['tasks', 'create', '--session', sessionId, '--prompt', `touch ${marker}; sleep 3; exit 7`, '--wait'],
      { timeoutMs: 120_000 },
    );
    // Kill the server only once the task runs, so the end falls while mctl has no server to ask.
    await until(async () => existsSync(marker) || null, 'the task to start', 60_000);
    await srv.stop(true);
    srv = await srv.restart();
    const r = await waiting;
    expect(r.code, r.stderr).toBe(7);
    const [id, final] = r.stdout.trim().split('\n');
    expect(final).toMatch(new RegExp(`^task ${id} failed \\(exit 7\\)`));
    expect((await srv.api<{ state: string; exitCode: number }>('GET', `/v1/tasks/${id}`)).body).toMatchObject({
      state: 'failed',
      exitCode: 7,
    });
  });
});
