import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, request } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ensureSelfSigned, fingerprint, makeSelfSigned } from './tls-selfsigned.js';

const dir = mkdtempSync(join(tmpdir(), 'marionette-tls-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function get(port: number, host: string, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host, port, path: '/', ca, servername: host === '127.0.0.1' ? '' : host }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => {
        body += d.toString();
      });
      res.on('end', () => resolve(body));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('self-signed certificate', () => {
  it('is a valid X.509 certificate openssl reads, with the names asked for and the same fingerprint', () => {
    const { cert } = makeSelfSigned(['localhost', '127.0.0.1', '::1', 'box.example']);
    const file = join(dir, 'c.pem');
    writeFileSync(file, cert);
    const text = execFileSync('openssl', ['x509', '-in', file, '-noout', '-text'], { encoding: 'utf8' });
    expect(text).toContain('DNS:localhost');
    expect(text).toContain('IP Address:127.0.0.1');
    expect(text).toContain('IP Address:0:0:0:0:0:0:0:1');
    expect(text).toContain('DNS:box.example');
    expect(text).toContain('ecdsa-with-SHA256');
    const fp = execFileSync('openssl', ['x509', '-in', file, '-noout', '-fingerprint', '-sha256'], {
      encoding: 'utf8',
    });
    expect(fp.trim().split('=')[1]).toBe(fingerprint(cert));
    execFileSync('openssl', ['verify', '-CAfile', file, file]);
  });

  it('serves TLS that a client trusting the certificate accepts, by IP and by name', async () => {
    const { cert, key } = makeSelfSigned(['localhost', '127.0.0.1']);
    const server = createServer({ cert, key }, (_q, r) => r.end('hello'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    try {
      expect(await get(port, '127.0.0.1', cert)).toBe('hello');
      expect(await get(port, 'localhost', cert)).toBe('hello');
      // Another self-signed certificate is not trusted for it.
      await expect(get(port, '127.0.0.1', makeSelfSigned(['127.0.0.1']).cert)).rejects.toThrow();
    } finally {
      server.close();
    }
  });

  it('is made once in the home (key 0600) and reused', () => {
    const tls = join(dir, 'home', 'tls');
    const a = ensureSelfSigned(tls, ['localhost']);
    expect(a.created).toBe(true);
    expect(statSync(a.keyFile).mode & 0o777).toBe(0o600);
    expect(statSync(tls).mode & 0o777).toBe(0o700);
    const b = ensureSelfSigned(tls, ['localhost']);
    expect(b.created).toBe(false);
  });
});
