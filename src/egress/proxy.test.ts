/** @module The egress proxy's edges (loopback only): malformed requests, the connection cap, a dead upstream; and the ledger's counting and throttling. */
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { EgressLedger, type EgressReport } from './ledger.js';
import { EgressProxy } from './proxy.js';

const open: EgressProxy[] = [];
afterEach(async () => {
  for (const p of open.splice(0)) await p.close();
});

async function proxy(policy: ConstructorParameters<typeof EgressProxy>[0]['policy'], max?: number) {
  const p = await new EgressProxy({
    policy,
    listen: { host: '127.0.0.1', port: 0 },
    ...(max ? { maxConnections: max } : {}),
  }).start();
  open.push(p);
  return Number(p.address.split(':').pop());
}

/** Sends raw bytes, returns the first line of the answer. */
function raw(port: number, text: string): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(text));
    let buf = '';
    s.on('data', (d) => {
      buf += d.toString();
      if (buf.includes('\r\n')) {
        resolve(buf.split('\r\n')[0] as string);
        s.destroy();
      }
    });
    s.on('close', () => resolve(buf.split('\r\n')[0] ?? ''));
  });
}

describe('EgressProxy edges', () => {
  it('refuses a malformed CONNECT target and a non-absolute request with 400', async () => {
    const port = await proxy('open');
    expect(await raw(port, 'CONNECT no-port-[x] HTTP/1.1\r\n\r\n')).toBe('HTTP/1.1 400 Bad Request');
    expect(await raw(port, 'CONNECT host:99999 HTTP/1.1\r\n\r\n')).toBe('HTTP/1.1 400 Bad Request');
    expect(await raw(port, 'GET /relative HTTP/1.1\r\nHost: x\r\n\r\n')).toBe('HTTP/1.1 400 Bad Request');
  });

  it('none refuses everything; the denial names the policy', async () => {
    const port = await proxy('none');
    expect(await raw(port, 'CONNECT 127.0.0.1:1 HTTP/1.1\r\n\r\n')).toBe('HTTP/1.1 403 Forbidden');
  });

  it('an allowed host that does not answer: 502, and the slot is given back', async () => {
    const dead = net.createServer();
    await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r));
    const deadPort = (dead.address() as AddressInfo).port;
    await new Promise<void>((r) => dead.close(() => r()));
    const port = await proxy({ allow: ['127.0.0.1/32'] }, 1);
    expect(await raw(port, `CONNECT 127.0.0.1:${deadPort} HTTP/1.1\r\n\r\n`)).toBe('HTTP/1.1 502 Bad Gateway');
    expect(await raw(port, `CONNECT 127.0.0.1:${deadPort} HTTP/1.1\r\n\r\n`)).toBe('HTTP/1.1 502 Bad Gateway');
  });

  it('past maxConnections new tunnels get 503 until one closes', async () => {
    const up = http.createServer((_q, r) => r.end('ok'));
    await new Promise<void>((r) => up.listen(0, '127.0.0.1', r));
    const upPort = (up.address() as AddressInfo).port;
    const port = await proxy({ allow: ['127.0.0.1/32'] }, 2);
    const held: net.Socket[] = [];
    for (let i = 0; i < 2; i++) {
      const s = net.connect(port, '127.0.0.1');
      held.push(s);
      await new Promise<void>((r) => {
        s.once('data', () => r());
        s.write(`CONNECT 127.0.0.1:${upPort} HTTP/1.1\r\n\r\n`);
      });
    }
    expect(await raw(port, `CONNECT 127.0.0.1:${upPort} HTTP/1.1\r\n\r\n`)).toBe('HTTP/1.1 503 Service Unavailable');
    for (const s of held) s.destroy();
    await new Promise((r) => setTimeout(r, 100));
    expect(await raw(port, `CONNECT 127.0.0.1:${upPort} HTTP/1.1\r\n\r\n`)).toBe('HTTP/1.1 200 Connection Established');
    up.close();
  });
});

describe('EgressLedger', () => {
  it('counts every denial per session and pool, reports the first per host at once and then at most one per window', () => {
    const reports: EgressReport[] = [];
    const ledger = new EgressLedger((r) => reports.push(r), 1000);
    const owner = { orgId: 'o', sessionId: 's1', poolId: 'p', runnerId: 'r1' };
    const other = { ...owner, sessionId: 's2', runnerId: 'r2' };
    for (let i = 0; i < 50; i++)
      ledger.denied(owner, { host: 'evil.example', port: 443, method: 'CONNECT', at: 10 + i });
    ledger.denied(owner, { host: 'other.example', port: 80, method: 'GET', at: 100 });
    ledger.denied(other, { host: 'evil.example', port: 443, method: 'CONNECT', at: 100 });
    ledger.denied(owner, { host: 'evil.example', port: 443, method: 'CONNECT', at: 1500 });
    expect(ledger.sessionDenied('s1')).toBe(52);
    expect(ledger.sessionDenied('s2')).toBe(1);
    expect(ledger.poolDenied('p')).toBe(53);
    expect(reports.map((r) => [r.owner.sessionId, r.host, r.sessionDenied, r.hostDenied, r.poolDenied])).toEqual([
      ['s1', 'evil.example', 1, 1, 1],
      ['s1', 'other.example', 51, 1, 51],
      ['s2', 'evil.example', 1, 1, 52],
      ['s1', 'evil.example', 52, 51, 53],
    ]);
  });
});
