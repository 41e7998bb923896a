/**
 * Every error reply of the REST API is RFC 9457 problem+json (`application/problem+json` with
 * type, title, status and detail), including the ones Fastify and Node's HTTP parser send before
 * any route runs: no route, a bad percent-encoding, an over-long path parameter (414), headers
 * over the size limit (431), an unreadable request, and the body faults (malformed, empty, too
 * large, not JSON).
 */
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { type ServerHandle, startServer } from './harness.js';
import { expectProblem, oversized } from './problems.support.js';

let srv: ServerHandle;
beforeAll(async () => {
  srv = await startServer();
});
afterAll(async () => {
  await srv?.destroy();
});

/** Sends raw bytes to the API port; resolves with the status, content type and parsed body. */
function raw(request: string): Promise<{ status: number; type: string | null; body: unknown }> {
  return new Promise((resolve, reject) => {
    const sock = connect(srv.apiPort, '127.0.0.1');
    let data = '';
    sock.setEncoding('utf8');
    sock.on('data', (c: string) => {
      data += c;
    });
    sock.on('error', reject);
    sock.on('close', () => {
      const [head = '', body = ''] = data.split('\r\n\r\n');
      const status = Number(/^HTTP\/1\.1 (\d+)/.exec(head)?.[1] ?? 0);
      const type = /\r\ncontent-type: ([^\r]+)/i.exec(head)?.[1] ?? null;
      let parsed: unknown = body;
      try {
        parsed = JSON.parse(body);
      } catch {
        /* keep text */
      }
      resolve({ status, type, body: parsed });
    });
    sock.end(request);
  });
}

async function post(path: string, body: string, contentType: string | null) {
  const headers: Record<string, string> = { authorization: `Bearer ${srv.token}` };
  if (contentType) headers['content-type'] = contentType;
  const res = await fetch(`${srv.apiUrl}${path}`, { method: 'POST', headers, body });
  const text = await res.text();
  return { status: res.status, type: res.headers.get('content-type'), body: JSON.parse(text) as unknown };
}

describe('framework errors are problem+json', () => {
  it('no route (404) and no token (401)', async () => {
    expectProblem(await srv.api('GET', '/v1/nothing'), 404, /route "GET \/v1\/nothing" not found/);
    expectProblem(await srv.api('GET', '/v1/sessions', undefined, null), 401, /missing bearer token/);
  });

  it('bad percent-encoding in the path (400)', async () => {
    expectProblem(await srv.api('GET', '/v1/sessions/%E0%A4%A'), 400, /not valid percent-encoding/);
    expectProblem(await srv.api('GET', '/v1/tasks/%zz/logs'), 400, /not valid percent-encoding/);
  });

  it('a path parameter over the length limit (414)', async () => {
    expectProblem(
      await srv.api('GET', `/v1/sessions/${'x'.repeat(200)}`),
      414,
      /path parameter is over 100 characters/,
    );
  });

  it('a URL over the header size limit (431), and a request the parser cannot read (400)', async () => {
    expectProblem(await srv.api('GET', `/v1/sessions/${'x'.repeat(20_000)}`), 431, /over the size limit/);
    expectProblem(
      await raw('GET /v1/healthz HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n'),
      400,
      /could not be parsed/,
    );
  });

  it('body faults: malformed, empty, too large, not JSON', async () => {
    expectProblem(await post('/v1/sessions', '{"agent": ', 'application/json'), 400, /malformed JSON body/);
    expectProblem(await post('/v1/sessions', '', 'application/json'), 400, /request body is empty/);
    expectProblem(await oversized(srv, '/v1/sessions', 2 * 1024 * 1024), 413, /over the \d+ byte limit/);
    expectProblem(
      await post('/v1/sessions', 'agent=shell', 'text/plain'),
      400,
      /unsupported content type "text\/plain"/,
    );
    expectProblem(
      await post('/v1/sessions', 'agent=shell', 'application/x-www-form-urlencoded'),
      400,
      /unsupported content type/,
    );
  });
});
