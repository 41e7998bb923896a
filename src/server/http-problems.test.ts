import { connect } from 'node:net';
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { installProblemHandlers, problemServerOptions } from './http-problems.js';

describe('problem replies from the HTTP parser', () => {
  it('answers a request that does not arrive in time with a 408 problem', async () => {
    const app = Fastify({
      logger: false,
      requestTimeout: 200,
      http: { connectionsCheckingInterval: 50 },
      ...problemServerOptions(),
    });
    installProblemHandlers(app, () => {});
    app.get('/x', async () => ({ ok: true }));
    await app.listen({ host: '127.0.0.1', port: 0 });
    try {
      const { port } = app.server.address() as { port: number };
      const sock = connect(port, '127.0.0.1');
      let data = '';
      sock.setEncoding('utf8');
      sock.on('data', (c: string) => {
        data += c;
      });
      const closed = new Promise<void>((r) => sock.on('close', () => r()));
      sock.write('GET /x HTTP/1.1\r\nHost: x\r\n'); // the headers never end
      await closed;
      expect(data).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
      expect(data).toMatch(/content-type: application\/problem\+json/i);
      const body = JSON.parse(data.split('\r\n\r\n')[1]!) as { type: string; status: number; detail: string };
      expect(body).toMatchObject({ status: 408, type: 'https://marionette.dev/problems/request-timeout' });
    } finally {
      await app.close();
    }
  });
});

describe('problem replies while the server closes', () => {
  it('answers a request that arrives during close with a 503 problem', async () => {
    const app = Fastify({ logger: false, ...problemServerOptions() });
    installProblemHandlers(app, () => {});
    let entered!: () => void;
    const inSlow = new Promise<void>((r) => {
      entered = r;
    });
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    app.get('/slow', async () => {
      entered();
      await gate;
      return { ok: true };
    });
    app.get('/fast', async () => ({ ok: true }));
    await app.listen({ host: '127.0.0.1', port: 0 });
    const { port } = app.server.address() as { port: number };
    const sock = connect(port, '127.0.0.1');
    let data = '';
    sock.setEncoding('utf8');
    sock.on('data', (c: string) => {
      data += c;
    });
    const closed = new Promise<void>((r) => sock.on('close', () => r()));
    const fastArrived = new Promise<void>((r) =>
      app.server.on('request', (req: { url?: string }) => {
        if (req.url === '/fast') r();
      }),
    );
    // A keep-alive connection busy with a request when the server starts closing (so it is not
    // closed as idle); the next request on it arrives while the server closes.
    sock.write('GET /slow HTTP/1.1\r\nHost: x\r\n\r\n');
    await inSlow;
    const closing = app.close();
    // Closing has begun once the server stops listening (after the preClose hooks ran).
    while (app.server.listening) await new Promise((r) => setTimeout(r, 10));
    sock.write('GET /fast HTTP/1.1\r\nHost: x\r\n\r\n');
    await fastArrived;
    release();
    await closed;
    await closing;
    const replies = data.split(/(?=HTTP\/1\.1 )/);
    expect(replies).toHaveLength(2);
    expect(replies[0]).toMatch(/^HTTP\/1\.1 200/);
    expect(replies[1]).toMatch(/^HTTP\/1\.1 503/);
    expect(replies[1]).toMatch(/content-type: application\/problem\+json/i);
    const body = JSON.parse(replies[1]!.split('\r\n\r\n')[1]!) as { type: string; status: number; detail: string };
    expect(body).toMatchObject({ status: 503, type: 'https://marionette.dev/problems/service-unavailable' });
    expect(body.detail).toMatch(/shutting down/);
  });
});
