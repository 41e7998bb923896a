/**
 * @module Docker egress compiled per container (see ./egress.ts): an allow list gets
 * `NetworkMode: none`, the proxy's socket folder mounted and the proxy env; the proxy goes with the
 * container; and after a restart (a new provider instance, the old proxies gone) the status check
 * brings the proxy of a running container back at the same socket. Loopback and unix sockets only.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  docker,
  dockerDescribe,
  ensureTestImage,
  expectNoLeaks,
  makeSpec,
  TEST_IMAGE,
  uniquePrefix,
} from './docker.test-support.js';
import { DockerSandboxProvider } from './provider.js';

const prefix = uniquePrefix();
const dir = mkdtempSync(join(tmpdir(), 'mn-egress-d-'));
const config = { image: TEST_IMAGE, network: 'bridge', labelPrefix: prefix, command: ['sleep', '600'] };

/** A CONNECT through the socket; the status line of the answer. */
function connectVia(sock: string, target: string): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(sock, () => s.write(`CONNECT ${target} HTTP/1.1\r\n\r\n`));
    s.once('data', (d) => {
      resolve(d.toString().split('\r\n')[0] ?? '');
      s.destroy();
    });
    s.on('error', (e) => resolve(`error ${e.message}`));
  });
}

dockerDescribe('docker egress', () => {
  beforeAll(ensureTestImage);
  afterAll(async () => {
    await expectNoLeaks(prefix);
    rmSync(dir, { recursive: true, force: true });
  });

  it('an allow list: no network, the proxy mounted and in the env; back after a restart; gone with the container', async () => {
    const denied: string[] = [];
    const a = new DockerSandboxProvider(config, { egressDir: dir, onEgressDenied: (_o, d) => denied.push(d.host) });
    const spec = makeSpec({ egress: { allow: ['allowed.test'] } });
    const h = await a.provision(spec);
    const sock = join(dir, spec.runnerId.replace(/[^a-zA-Z0-9_.-]/g, '-'), 'egress.sock');
    try {
      const c = await docker.getContainer(h.externalId).inspect();
      expect(c.HostConfig.NetworkMode).toBe('none');
      expect(c.Mounts.some((m) => m.Destination === '/run/marionette-egress')).toBe(true);
      expect(c.Config.Env).toEqual(
        expect.arrayContaining([
          'MARIONETTE_EGRESS_SOCKET=/run/marionette-egress/egress.sock',
          'HTTPS_PROXY=http://127.0.0.1:3128',
          'NO_PROXY=localhost,127.0.0.1,::1',
        ]),
      );
      expect(await connectVia(sock, 'denied.test:443')).toBe('HTTP/1.1 403 Forbidden');
      expect(denied).toEqual(['denied.test']);
      // A server restart: the proxies die with it; a new instance finds the container running and revives its proxy.
      await a.egress.close();
      expect(await connectVia(sock, 'denied.test:443')).toMatch(/^error/);
      const b = new DockerSandboxProvider(config, { egressDir: dir });
      expect(await b.status(h)).toBe('running');
      expect(await connectVia(sock, 'denied.test:443')).toBe('HTTP/1.1 403 Forbidden');
      await b.terminate(h);
      expect(await connectVia(sock, 'denied.test:443')).toMatch(/^error/);
    } finally {
      await a.terminate(h);
    }
  });

  it('none: NetworkMode none and no proxy; open: the configured network', async () => {
    const p = new DockerSandboxProvider(config, { egressDir: dir });
    const none = await p.provision(makeSpec({ egress: 'none' }));
    const open = await p.provision(makeSpec({ egress: 'open' }));
    try {
      const n = await docker.getContainer(none.externalId).inspect();
      expect(n.HostConfig.NetworkMode).toBe('none');
      expect(n.Config.Env.some((e) => e.startsWith('HTTPS_PROXY='))).toBe(false);
      expect((await docker.getContainer(open.externalId).inspect()).HostConfig.NetworkMode).toBe('bridge');
    } finally {
      await p.terminate(none);
      await p.terminate(open);
    }
  });
});
