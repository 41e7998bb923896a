/**
 * @module The one check every API error test makes: the reply is an RFC 9457 problem document
 * (`application/problem+json`, a stable `type`, a `title`, the HTTP `status`, a `detail` naming
 * what was wrong).
 */
import { request } from 'node:http';
import { expect } from 'vitest';

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  hint?: string;
}

/** Asserts `r` is a problem with `status` whose detail matches `detail`. */
export function expectProblem(
  r: { status: number; type: string | null; body: unknown },
  status: number,
  detail: RegExp,
): void {
  expect(r.status, JSON.stringify(r.body)).toBe(status);
  expect(r.type).toContain('application/problem+json');
  const p = r.body as Problem;
  expect(p.status).toBe(status);
  expect(p.type).toMatch(/^https:\/\/marionette\.dev\/problems\/[a-z0-9-]+$/);
  expect(p.title).toBeTruthy();
  expect(p.detail).toMatch(detail);
}

/**
 * POSTs to `path` announcing a `length`-byte JSON body but sending only its first bytes: the
 * server answers an oversized body from its Content-Length alone. (Sending the whole body raced
 * the server's reply and close: the client's write could fail with a reset before it read the 413.)
 */
export function oversized(
  srv: { apiUrl: string; token: string },
  path: string,
  length: number,
): Promise<{ status: number; type: string | null; body: unknown }> {
  return new Promise((resolve, reject) => {
    const req = request(`${srv.apiUrl}${path}`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${srv.token}`,
        'content-type': 'application/json',
        'content-length': String(length),
      },
    });
    req.on('response', (res) => {
      let text = '';
      res.on('data', (c: Buffer) => {
        text += c.toString();
      });
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'] ?? null, body: JSON.parse(text) });
        req.destroy();
      });
    });
    req.on('error', reject);
    req.write(`{"agent": "shell", "prompt": "${'x'.repeat(1024)}`);
  });
}
