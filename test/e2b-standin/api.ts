/**
 * @module The stand-in's control-plane API: the REST subset of E2B's API the `e2b` SDK calls for
 * the provider (`POST /v2/sandboxes`, `GET /v2/sandboxes` with the metadata query and
 * `x-next-token` paging, `GET`/`DELETE /sandboxes/{id}`, `POST /sandboxes/{id}/pause`,
 * `POST /v2/sandboxes/{id}/connect`, `POST /sandboxes/{id}/snapshots`, `DELETE /templates/{id}`
 * for a snapshot), authenticated by the `X-API-KEY` header, with E2B's error
 * body (`{ code, message }`). Faults can be queued (a 429, a quota 403) to test the provider's
 * handling. Test support only.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Sandboxes, StandinSandbox } from './sandboxes.js';

export interface Fault {
  /** Matches `METHOD /path` (e.g. /^POST \/v2\/sandboxes$/). */
  match: RegExp;
  status: number;
  message: string;
  /** Sent as `Retry-After` (seconds) when set. */
  retryAfter?: number;
  /** How many requests it answers (default 1). */
  times?: number;
}

/** The envd version the stand-in reports (what the SDK checks features against). */
export const ENVD_VERSION = '0.5.7';

const PAGE = 100;

function view(s: StandinSandbox) {
  return {
    sandboxID: s.sandboxId,
    templateID: s.templateId,
    clientID: 'standin',
    startedAt: s.startedAt.toISOString(),
    endAt: s.endAt.toISOString(),
    cpuCount: s.cpuCount,
    memoryMB: s.memoryMB,
    diskSizeMB: 1024,
    metadata: s.metadata,
    state: s.state,
    envdVersion: ENVD_VERSION,
  };
}

async function body(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  return text ? (JSON.parse(text) as Record<string, unknown>) : {};
}

export class E2bApiServer {
  readonly server: Server;
  url = '';
  readonly faults: Fault[] = [];
  /** When set, the next create makes its sandbox and then holds its answer this long (a caller dying meanwhile leaks it). */
  holdNextCreateMs = 0;
  /** Every request seen (`METHOD /path`), for tests. */
  readonly seen: string[] = [];

  constructor(
    private readonly sandboxes: Sandboxes,
    private readonly apiKey: string,
  ) {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((e: unknown) => this.send(res, 500, { code: 500, message: String(e) }));
    });
  }

  async listen(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    const a = this.server.address() as { port: number };
    this.url = `http://127.0.0.1:${a.port}`;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }

  private send(res: ServerResponse, status: number, data: unknown, headers: Record<string, string> = {}) {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(data === undefined ? '' : JSON.stringify(data));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://standin');
    const route = `${req.method} ${url.pathname}`;
    this.seen.push(route);
    if (req.headers['x-api-key'] !== this.apiKey)
      return this.send(res, 401, { code: 401, message: 'Invalid API key, please visit the dashboard to get one' });
    const fault = this.faults.find((f) => f.match.test(route));
    if (fault) {
      fault.times = (fault.times ?? 1) - 1;
      if (fault.times <= 0) this.faults.splice(this.faults.indexOf(fault), 1);
      return this.send(
        res,
        fault.status,
        { code: fault.status, message: fault.message },
        fault.retryAfter !== undefined ? { 'retry-after': String(fault.retryAfter) } : {},
      );
    }
    const sb = this.sandboxes;
    const at = (re: RegExp) => re.exec(route);
    if (route === 'POST /v2/sandboxes') {
      const b = await body(req);
      const template = String(b.templateID ?? 'base');
      const s = await sb.create(
        template,
        (b.metadata ?? {}) as Record<string, string>,
        (b.envVars ?? {}) as Record<string, string>,
        typeof b.timeout === 'number' ? b.timeout : 300,
      );
      if (!s) return this.send(res, 404, { code: 404, message: `template '${template}' not found` });
      if (this.holdNextCreateMs > 0) {
        const ms = this.holdNextCreateMs;
        this.holdNextCreateMs = 0;
        await new Promise((r) => setTimeout(r, ms));
      }
      return this.send(res, 201, {
        sandboxID: s.sandboxId,
        templateID: s.templateId,
        clientID: 'standin',
        envdVersion: ENVD_VERSION,
        domain: null,
      });
    }
    if (route === 'GET /v2/sandboxes') {
      const want = new URLSearchParams(url.searchParams.get('metadata') ?? '');
      const states = (url.searchParams.get('state') ?? 'running,paused').split(',');
      const all = [...sb.all.values()].filter(
        (s) =>
          states.includes(s.state) &&
          [...want.entries()].every(([k, v]) => s.metadata[decodeURIComponent(k)] === decodeURIComponent(v)),
      );
      const start = Number(url.searchParams.get('nextToken') ?? '0');
      const limit = Number(url.searchParams.get('limit') ?? PAGE);
      const page = all.slice(start, start + limit);
      const next: Record<string, string> = start + limit < all.length ? { 'x-next-token': String(start + limit) } : {};
      return this.send(res, 200, page.map(view), next);
    }
    let m = at(/^(GET|DELETE) \/sandboxes\/([^/]+)$/);
    if (m) {
      const id = decodeURIComponent(m[2]!);
      const s = sb.all.get(id);
      if (!s) return this.send(res, 404, { code: 404, message: `sandbox "${id}" not found` });
      if (m[1] === 'GET') return this.send(res, 200, view(s));
      await sb.kill(id);
      res.writeHead(204).end();
      return;
    }
    m = at(/^POST \/sandboxes\/([^/]+)\/pause$/);
    if (m) {
      const s = sb.all.get(decodeURIComponent(m[1]!));
      if (!s) return this.send(res, 404, { code: 404, message: 'sandbox not found' });
      if (s.state === 'paused') return this.send(res, 409, { code: 409, message: 'sandbox is already paused' });
      await sb.pause(s);
      res.writeHead(204).end();
      return;
    }
    m = at(/^POST \/sandboxes\/([^/]+)\/snapshots$/);
    if (m) {
      const s = sb.all.get(decodeURIComponent(m[1]!));
      if (!s) return this.send(res, 404, { code: 404, message: 'sandbox not found' });
      const snapshotId = await sb.snapshot(s);
      return this.send(res, 201, { snapshotID: snapshotId, names: [snapshotId] });
    }
    m = at(/^DELETE \/templates\/([^/]+)$/);
    if (m) {
      const id = decodeURIComponent(m[1]!);
      if (!(await sb.deleteSnapshot(id)))
        return this.send(res, 404, { code: 404, message: `template '${id}' not found` });
      res.writeHead(204).end();
      return;
    }
    m = at(/^POST \/v2\/sandboxes\/([^/]+)\/connect$/);
    if (m) {
      const s = sb.all.get(decodeURIComponent(m[1]!));
      if (!s) return this.send(res, 404, { code: 404, message: 'sandbox not found' });
      const b = await body(req);
      const wasPaused = s.state === 'paused';
      await sb.resume(s, typeof b.timeout === 'number' ? b.timeout : undefined);
      return this.send(res, wasPaused ? 201 : 200, {
        sandboxID: s.sandboxId,
        templateID: s.templateId,
        clientID: 'standin',
        envdVersion: ENVD_VERSION,
        domain: null,
      });
    }
    this.send(res, 404, { code: 404, message: `the stand-in has no ${route}` });
  }
}
