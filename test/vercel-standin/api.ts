/**
 * @module The stand-in's HTTP API: the subset of Vercel's Sandbox API (v2/v3, as `@vercel/sandbox`
 * 3.x calls it) the provider uses: `POST /v3/sandboxes` (create from an image or a snapshot),
 * `GET /v2/sandboxes` (list by `namePrefix`, cursor paging), `GET`/`DELETE /v2/sandboxes/{name}`,
 * `POST /v2/sandboxes/sessions/{id}/cmd` (with `wait`: an NDJSON stream of the command, its log
 * lines and the finished command; without: the started command), `GET .../cmd/{cmdId}`,
 * `POST .../stop`, `POST .../snapshot`, and `GET`/`DELETE /v2/sandboxes/snapshots/{id}`.
 * Authenticated by `Authorization: Bearer <token>` and the `teamId` query, with Vercel's error body
 * (`{ error: { code, message } }`). Faults can be queued (a 429, a quota 402) to test the
 * provider's handling. Test support only.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Sandboxes, StandinCommand, StandinSandbox, StandinSession, StandinSnapshot } from './sandboxes.js';

export interface Fault {
  /** Matches `METHOD /path` (e.g. /^POST \/v3\/sandboxes$/). */
  match: RegExp;
  status: number;
  code?: string;
  message: string;
  /** Sent as `Retry-After` (seconds) when set. */
  retryAfter?: number;
  /** How many requests it answers (default 1). */
  times?: number;
}

const PAGE = 50;

function sandboxView(s: StandinSandbox, current: StandinSession | undefined) {
  return {
    name: s.name,
    persistent: false,
    region: s.region,
    vcpus: s.vcpus,
    memory: s.memory,
    image: s.image,
    timeout: s.timeout,
    createdAt: s.createdAt,
    updatedAt: s.updatedAt,
    currentSessionId: s.currentSessionId,
    ...(s.currentSnapshotId ? { currentSnapshotId: s.currentSnapshotId } : {}),
    status: current?.status ?? 'stopped',
    cwd: '/vercel/sandbox',
    tags: s.tags,
    totalActiveCpuDurationMs: 0,
  };
}

function sessionView(x: StandinSession) {
  return {
    id: x.id,
    memory: x.memory,
    vcpus: x.vcpus,
    region: x.region,
    timeout: x.timeout,
    status: x.status,
    requestedAt: x.createdAt,
    startedAt: x.startedAt,
    ...(x.stoppedAt !== undefined ? { stoppedAt: x.stoppedAt, activeCpuDurationMs: 0 } : {}),
    ...(x.sourceSnapshotId ? { sourceSnapshotId: x.sourceSnapshotId } : {}),
    createdAt: x.createdAt,
    cwd: '/vercel/sandbox',
    updatedAt: x.stoppedAt ?? x.startedAt,
  };
}

function commandView(c: StandinCommand) {
  return {
    id: c.id,
    name: c.name,
    args: c.args,
    cwd: c.cwd,
    sessionId: c.sessionId,
    exitCode: c.exitCode,
    startedAt: c.startedAt,
    ...(c.durationMs !== undefined ? { durationMs: c.durationMs } : {}),
  };
}

function snapshotView(s: StandinSnapshot) {
  return {
    id: s.id,
    sourceSessionId: s.sourceSessionId,
    region: 'iad1',
    status: s.status,
    sizeBytes: 1024,
    createdAt: s.createdAt,
    updatedAt: s.createdAt,
    ...(s.expiresAt !== undefined ? { expiresAt: s.expiresAt } : {}),
  };
}

async function body(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  return text ? (JSON.parse(text) as Record<string, unknown>) : {};
}

export class VercelApiServer {
  readonly server: Server;
  url = '';
  readonly faults: Fault[] = [];
  /** Every request seen (`METHOD /path`), for tests. */
  readonly seen: string[] = [];
  /** When set, the next create makes its sandbox and then holds its answer this long. */
  holdNextCreateMs = 0;

  constructor(
    private readonly sb: Sandboxes,
    private readonly token: string,
    private readonly teamId: string,
  ) {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((e: unknown) => {
        if (!res.headersSent) this.error(res, 500, 'internal_error', String(e));
        else res.end();
      });
    });
  }

  async listen(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as { port: number }).port}`;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }

  private send(res: ServerResponse, status: number, data: unknown, headers: Record<string, string> = {}) {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify(data));
  }

  private error(res: ServerResponse, status: number, code: string, message: string, headers?: Record<string, string>) {
    this.send(res, status, { error: { code, message } }, headers);
  }

  private session(id: string): StandinSession | undefined {
    return this.sb.sessions.get(id);
  }

  private sandboxAnswer(s: StandinSandbox) {
    const current = this.sb.sessions.get(s.currentSessionId);
    return { sandbox: sandboxView(s, current), session: current ? sessionView(current) : null, routes: [] };
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://standin');
    const route = `${req.method} ${url.pathname}`;
    this.seen.push(route);
    if (req.headers.authorization !== `Bearer ${this.token}`)
      return this.error(res, 403, 'forbidden', 'Not authorized: the token is invalid or expired');
    if (url.searchParams.get('teamId') !== this.teamId)
      return this.error(res, 403, 'forbidden', `Not authorized: no access to team ${url.searchParams.get('teamId')}`);
    const fault = this.faults.find((f) => f.match.test(route));
    if (fault) {
      fault.times = (fault.times ?? 1) - 1;
      if (fault.times <= 0) this.faults.splice(this.faults.indexOf(fault), 1);
      return this.error(
        res,
        fault.status,
        fault.code ?? 'fault',
        fault.message,
        fault.retryAfter !== undefined ? { 'retry-after': String(fault.retryAfter) } : {},
      );
    }
    const at = (re: RegExp) => re.exec(route);
    if (route === 'POST /v3/sandboxes' || route === 'POST /v2/sandboxes') return this.create(req, res);
    if (route === 'GET /v2/sandboxes') {
      const prefix = url.searchParams.get('namePrefix') ?? '';
      const project = url.searchParams.get('project');
      const all = [...this.sb.sandboxes.values()].filter(
        (s) => s.name.startsWith(prefix) && (!project || s.projectId === project),
      );
      const start = Number(url.searchParams.get('cursor') ?? '0');
      const limit = Number(url.searchParams.get('limit') ?? PAGE);
      const page = all.slice(start, start + limit);
      return this.send(res, 200, {
        sandboxes: page.map((s) => sandboxView(s, this.sb.sessions.get(s.currentSessionId))),
        pagination: { count: page.length, next: start + limit < all.length ? String(start + limit) : null },
      });
    }
    let m = at(/^(GET|DELETE) \/v2\/sandboxes\/snapshots\/([^/]+)$/);
    if (m) {
      const snap = this.sb.snapshots.get(decodeURIComponent(m[2]!));
      if (!snap) return this.error(res, 404, 'not_found', 'Snapshot not found');
      if (m[1] === 'DELETE') await this.sb.deleteSnapshot(snap);
      return this.send(res, 200, { snapshot: snapshotView(snap) });
    }
    m = at(/^POST \/v2\/sandboxes\/sessions\/([^/]+)\/(cmd|stop|snapshot)$/);
    if (m) {
      const session = this.session(decodeURIComponent(m[1]!));
      if (!session) return this.error(res, 404, 'not_found', 'Session not found');
      if (m[2] === 'stop') {
        await this.sb.stop(session);
        const s = this.sb.sandboxes.get(session.sandbox);
        return this.send(res, 200, {
          session: sessionView(session),
          ...(s ? { sandbox: sandboxView(s, session) } : {}),
        });
      }
      if (session.status !== 'running')
        return this.error(res, 410, 'sandbox_stopped', `The sandbox session ${session.id} is ${session.status}`);
      if (m[2] === 'snapshot') {
        const b = await body(req);
        const snap = await this.sb.snapshot(session, typeof b.expiration === 'number' ? b.expiration : undefined);
        return this.send(res, 201, { snapshot: snapshotView(snap), session: sessionView(session) });
      }
      return this.command(req, res, session);
    }
    m = at(/^GET \/v2\/sandboxes\/sessions\/([^/]+)\/cmd\/([^/]+)$/);
    if (m) {
      const cmd = this.sb.commands.get(decodeURIComponent(m[2]!));
      if (!cmd || cmd.sessionId !== m[1]) return this.error(res, 404, 'not_found', 'Command not found');
      if (url.searchParams.get('wait') === 'true') await cmd.done;
      return this.send(res, 200, { command: commandView(cmd) });
    }
    m = at(/^(GET|DELETE) \/v2\/sandboxes\/([^/]+)$/);
    if (m) {
      const name = decodeURIComponent(m[2]!);
      if (m[1] === 'GET') {
        const s = this.sb.sandboxes.get(name);
        if (!s) return this.error(res, 404, 'not_found', `Sandbox ${name} not found`);
        return this.send(res, 200, { ...this.sandboxAnswer(s), resumed: false });
      }
      const answer = this.sb.sandboxes.get(name);
      const view = answer ? sandboxView(answer, this.sb.sessions.get(answer.currentSessionId)) : null;
      const s = await this.sb.remove(name, url.searchParams.get('deleteOrphanSnapshots') === 'true');
      if (!s || !view) return this.error(res, 404, 'not_found', `Sandbox ${name} not found`);
      return this.send(res, 200, { sandbox: { ...view, status: 'stopped' } });
    }
    this.error(res, 404, 'not_found', `the stand-in has no ${route}`);
  }

  private async create(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const b = await body(req);
    const name = typeof b.name === 'string' ? b.name : `sbx-${Date.now()}`;
    const tags = (b.tags ?? {}) as Record<string, string>;
    if (Object.keys(tags).length > 5) return this.error(res, 400, 'bad_request', 'A sandbox may have at most 5 tags');
    if (this.sb.sandboxes.has(name)) return this.error(res, 409, 'conflict', `A sandbox named ${name} already exists`);
    const source = b.source as { type?: string; snapshotId?: string } | undefined;
    const made = await this.sb.create({
      name,
      projectId: String(b.projectId ?? ''),
      ...(source?.type === 'snapshot' && source.snapshotId ? { snapshotId: source.snapshotId } : {}),
      ...(typeof b.image === 'string' ? { image: b.image } : {}),
      tags,
      vcpus: (b.resources as { vcpus?: number } | undefined)?.vcpus ?? 2,
      timeout: typeof b.timeout === 'number' ? b.timeout : 300_000,
      region: typeof b.region === 'string' ? b.region : 'iad1',
      env: (b.env ?? {}) as Record<string, string>,
    });
    if ('unknown' in made)
      return this.error(
        res,
        made.unknown.startsWith('snapshot') ? 404 : 400,
        'bad_request',
        `${made.unknown} not found`,
      );
    if (this.holdNextCreateMs > 0) {
      const ms = this.holdNextCreateMs;
      this.holdNextCreateMs = 0;
      await new Promise((r) => setTimeout(r, ms));
    }
    return this.send(res, 200, this.sandboxAnswer(made));
  }

  private async command(req: IncomingMessage, res: ServerResponse, session: StandinSession): Promise<void> {
    const b = await body(req);
    const p = {
      cmd: String(b.command ?? 'true'),
      args: Array.isArray(b.args) ? b.args.map(String) : [],
      env: (b.env ?? {}) as Record<string, string>,
      ...(typeof b.cwd === 'string' ? { cwd: b.cwd } : {}),
    };
    if (b.wait !== true) {
      const cmd = await this.sb.run(session, p, () => {});
      return this.send(res, 200, { command: commandView(cmd) });
    }
    res.writeHead(200, { 'content-type': 'application/x-ndjson' });
    const pending: string[] = [];
    let started = false;
    const line = (v: unknown) => res.write(`${JSON.stringify(v)}\n`);
    const cmd = await this.sb.run(session, p, (stream, data) => {
      if (started) line({ stream, data });
      else pending.push(JSON.stringify({ stream, data }));
    });
    line({ command: commandView(cmd) });
    started = true;
    for (const l of pending) res.write(`${l}\n`);
    await cmd.done;
    line({ command: commandView(cmd) });
    res.end();
  }
}
