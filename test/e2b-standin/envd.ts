/**
 * @module The stand-in's envd: the in-sandbox daemon the `e2b` SDK talks to, reached through one
 * URL (the SDK's `sandboxUrl`) with the sandbox named by the `E2b-Sandbox-Id` header, as E2B's
 * proxy routes it. It serves `GET /health` and the Connect protocol (JSON codec, as the SDK
 * sends it) for `process.Process/Start`: a server stream of `start`, `data` (base64 stdout and
 * stderr) and `end` (exit code) events, each in a Connect envelope, closed by an end-stream
 * envelope. Test support only.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Sandboxes } from './sandboxes.js';

/** A Connect envelope: flags, big-endian length, JSON payload. */
function envelope(flags: number, payload: unknown): Buffer {
  const json = Buffer.from(JSON.stringify(payload), 'utf8');
  const head = Buffer.alloc(5);
  head.writeUInt8(flags, 0);
  head.writeUInt32BE(json.length, 1);
  return Buffer.concat([head, json]);
}

async function readEnvelope(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const buf = Buffer.concat(chunks);
  if (buf.length < 5) return {};
  const len = buf.readUInt32BE(1);
  return JSON.parse(buf.subarray(5, 5 + len).toString('utf8')) as Record<string, unknown>;
}

export class EnvdServer {
  readonly server: Server;
  url = '';

  constructor(private readonly sandboxes: Sandboxes) {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((e: unknown) => {
        if (!res.headersSent) res.writeHead(500).end(String(e));
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

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const id = String(req.headers['e2b-sandbox-id'] ?? '');
    const s = this.sandboxes.all.get(id);
    const path = new URL(req.url ?? '/', 'http://standin').pathname;
    if (s?.state !== 'running') {
      // E2B's proxy answers 502 for a sandbox that is not running (the SDK's health check reads it so).
      res.writeHead(502, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ code: 502, message: `sandbox ${id} is not running`, sandboxId: id }));
      return;
    }
    if (req.method === 'GET' && path === '/health') {
      res.writeHead(204).end();
      return;
    }
    if (req.method === 'POST' && path === '/process.Process/Start') {
      const msg = await readEnvelope(req);
      const p = (msg.process ?? {}) as { cmd?: string; args?: string[]; envs?: Record<string, string>; cwd?: string };
      res.writeHead(200, { 'content-type': 'application/connect+json' });
      let open = true;
      res.on('close', () => {
        open = false;
      });
      const write = (flags: number, payload: unknown) => {
        if (open) res.write(envelope(flags, payload));
      };
      try {
        await this.sandboxes.exec(
          s,
          { cmd: p.cmd ?? '/bin/bash', args: p.args ?? [], envs: p.envs ?? {}, ...(p.cwd ? { cwd: p.cwd } : {}) },
          {
            onStart: (pid) => write(0, { event: { start: { pid } } }),
            onData: (stream, data) => write(0, { event: { data: { [stream]: data.toString('base64') } } }),
            onEnd: (exitCode) =>
              write(0, { event: { end: { exitCode, exited: true, status: `exit status ${exitCode}` } } }),
          },
        );
        write(2, {});
      } catch (e: unknown) {
        write(2, { error: { code: 'internal', message: String(e) } });
      }
      if (open) res.end();
      return;
    }
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ code: 'unimplemented', message: `the stand-in's envd has no ${req.method} ${path}` }));
  }
}
