/**
 * @module The stand-ins' model of a vendor's port tunnel (E2B's sandbox host
 * `<port>-<sandboxId>.<domain>`, Daytona's preview link): one loopback HTTP server that takes a
 * WebSocket upgrade for `/<sandboxId>/<port>/...` and relays it, bytes as they are, to that
 * sandbox's container port, published on a loopback port of its own (the stand-in's `resolve`
 * finds it, and may refuse the request, e.g. without Daytona's preview token). `dropAll` cuts
 * every relayed connection at once, as a tunnel that goes away would. Test support only.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';

export class TunnelProxy {
  private readonly server: Server;
  private readonly live = new Set<Duplex>();
  url = '';
  /** Upgrades relayed so far (each one tunnel connection). */
  relayed = 0;

  constructor(
    /** The loopback port of sandbox `id`'s container `port`, or null (no such sandbox, not running, refused). */
    private readonly resolve: (id: string, port: number, req: IncomingMessage) => Promise<number | null>,
  ) {
    this.server = createServer((_req, res) => {
      res.writeHead(404).end('only WebSocket upgrades');
    });
    this.server.on('upgrade', (req, socket, head) => void this.relay(req, socket, head));
  }

  async listen(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `ws://127.0.0.1:${(this.server.address() as { port: number }).port}`;
  }

  private async relay(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    socket.on('error', () => socket.destroy());
    const m = /^\/([^/]+)\/(\d+)(\/.*)?$/.exec(req.url ?? '');
    const port = m ? await this.resolve(decodeURIComponent(m[1]!), Number(m[2]), req).catch(() => null) : null;
    if (!m || port === null) {
      socket.end('HTTP/1.1 502 Bad Gateway\r\nConnection: close\r\n\r\nno such sandbox port');
      return;
    }
    const up: Socket = connect(port, '127.0.0.1');
    up.on('error', () => {
      up.destroy();
      socket.destroy();
    });
    up.once('connect', () => {
      this.relayed++;
      const lines = [`${req.method} ${m![3] ?? '/'} HTTP/1.1`];
      for (let i = 0; i < req.rawHeaders.length; i += 2) lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
      up.write(`${lines.join('\r\n')}\r\n\r\n`);
      if (head.length) up.write(head);
      this.live.add(socket);
      this.live.add(up);
      socket.pipe(up).pipe(socket);
    });
    const gone = () => {
      this.live.delete(socket);
      this.live.delete(up);
      socket.destroy();
      up.destroy();
    };
    socket.on('close', gone);
    up.on('close', gone);
  }

  /** Cuts every relayed connection (the tunnel drops). */
  dropAll(): number {
    const n = this.live.size / 2;
    for (const c of [...this.live]) c.destroy();
    return n;
  }

  async close(): Promise<void> {
    this.dropAll();
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}
