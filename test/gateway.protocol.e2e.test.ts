import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { PROTOCOL_VERSION } from '../src/protocol/messages.js';
import { registerOnGateway, type ServerHandle, startServer } from './harness.js';

let srv: ServerHandle;
beforeAll(async () => {
  srv = await startServer();
});
afterAll(async () => {
  await srv?.destroy();
});

function register(
  body: string,
): Promise<{ status: number; body: { code?: string; message?: string; runnerId?: string; credential?: string } }> {
  return registerOnGateway(srv, body);
}

function connect(credential: string | null): Promise<{ ws: WebSocket | null; status: number | null }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(
      `ws+unix:${srv.gatewaySocket}:/v1/connect`,
      credential ? { headers: { authorization: `Bearer ${credential}` } } : {},
    );
    ws.on('open', () => resolve({ ws, status: null }));
    ws.on('unexpected-response', (_req, res) => resolve({ ws: null, status: res.statusCode ?? 0 }));
    ws.on('error', () => resolve({ ws: null, status: -1 }));
  });
}

function next(ws: WebSocket): Promise<Record<string, unknown>> {
  return new Promise((resolve) =>
    ws.once('message', (d) => resolve(JSON.parse(d.toString()) as Record<string, unknown>)),
  );
}

describe('registration', () => {
  it('names the bad field of a malformed registration', async () => {
    const r = await register(JSON.stringify({ protocol: PROTOCOL_VERSION, token: 'x', name: '', agentVersion: '1' }));
    expect(r.status).toBe(400);
    expect(r.body.code).toBe('bad_request');
    expect(r.body.message).toContain('name');
    const j = await register('{not json');
    expect(j.status).toBe(400);
    expect(j.body.message).toContain('not valid JSON');
  });

  it('refuses an unknown token with its own code', async () => {
    const r = await register(
      JSON.stringify({ protocol: PROTOCOL_VERSION, token: 'mrg_nope', name: 'n', agentVersion: '1' }),
    );
    expect(r.status).toBe(401);
    expect(r.body.code).toBe('token_unknown');
    expect(r.body.message).toContain('not recognised');
  });
});

describe('connection', () => {
  it('refuses to connect without a valid credential', async () => {
    expect((await connect(null)).status).toBe(401);
    expect((await connect('mrc_wrong')).status).toBe(401);
  });

  it('answers bad frames with an error naming the problem, and wants hello first', async () => {
    const pool = await srv.api('POST', '/v1/pools', { name: 'probe', mode: 'pool', provider: 'pool' });
    expect(pool.status).toBe(201);
    const tok = await srv.api<{ token: string }>('POST', '/v1/runners/tokens', { pool: 'probe', oneTime: true });
    expect(tok.status).toBe(201);
    const reg = await register(
      JSON.stringify({
        protocol: PROTOCOL_VERSION,
        token: tok.body.token,
        name: 'probe',
        labels: {},
        agentVersion: 'test',
      }),
    );
    expect(reg.status).toBe(200);
    const { ws } = await connect(reg.body.credential!);
    expect(ws).not.toBeNull();
    const sock = ws!;
    sock.send('{oops');
    expect(await next(sock)).toMatchObject({ type: 'error', code: 'bad_frame', message: 'frame is not valid JSON' });
    sock.send(JSON.stringify({ type: 'logs', taskId: 't', lines: [] }));
    const bad = await next(sock);
    expect(bad).toMatchObject({ type: 'error', code: 'bad_frame' });
    expect(String(bad.message)).toContain('lines');
    sock.send(JSON.stringify({ type: 'heartbeat' }));
    expect(await next(sock)).toMatchObject({
      type: 'error',
      code: 'protocol',
      message: 'the first message must be hello',
    });
    sock.close();
  });
});
