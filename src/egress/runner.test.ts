/** @module From a task's egress policy to the launcher's network option (unix sockets only). */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { taskEgress } from './runner.js';

const dir = mkdtempSync(join(tmpdir(), 'mn-egress-r-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('taskEgress', () => {
  it('open and unset: host; none: none; no proxy', async () => {
    expect((await taskEgress(undefined, join(dir, 'a.sock'))).network).toBe('host');
    expect((await taskEgress('open', join(dir, 'a.sock'))).network).toBe('host');
    const none = await taskEgress('none', join(dir, 'a.sock'));
    expect(none).toMatchObject({ network: 'none', proxy: null });
    expect(existsSync(join(dir, 'a.sock'))).toBe(false);
  });

  it('an allow list: the proxy on the socket, refusing what is not listed; gone after close', async () => {
    const sock = join(dir, 'b.sock');
    const denied: string[] = [];
    const e = await taskEgress({ allow: ['ok.test'] }, sock, (d) => denied.push(d.host));
    expect(e.network).toEqual({ proxySocket: sock });
    const answer = await new Promise<string>((resolve) => {
      const s = net.connect(sock, () => s.write('CONNECT nope.test:443 HTTP/1.1\r\n\r\n'));
      s.once('data', (d) => resolve(d.toString().split('\r\n')[0] ?? ''));
    });
    expect(answer).toBe('HTTP/1.1 403 Forbidden');
    expect(denied).toEqual(['nope.test']);
    await e.close();
    expect(existsSync(sock)).toBe(false);
  });
});
