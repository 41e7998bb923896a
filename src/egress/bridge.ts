/**
 * @module The in-sandbox end of the egress proxy: a TCP listener on loopback (`127.0.0.1:<port>`)
 * that forwards every connection to the proxy's unix socket, bind-mounted into a sandbox whose
 * network namespace has nothing but loopback. The task's `HTTP_PROXY` / `HTTPS_PROXY` point at it,
 * so the proxy is its only way out. Used by the agent in docker containers (`NetworkMode: none`)
 * and in nested sandboxes (`{ proxySocket }`).
 */
import { once } from 'node:events';
import net from 'node:net';

/** The loopback port the bridge listens on inside a sandbox unless told otherwise. */
export const EGRESS_BRIDGE_PORT = 3128;
/** The env var naming the proxy's socket inside a sandbox (set by the provider; the agent starts the bridge). */
export const EGRESS_SOCKET_ENV = 'MARIONETTE_EGRESS_SOCKET';

export interface EgressBridge {
  /** `http://127.0.0.1:<port>`: the value of HTTP_PROXY / HTTPS_PROXY. */
  url: string;
  port: number;
  close(): Promise<void>;
}

/**
 * Listens on `host:port` (default 127.0.0.1:3128; port 0 picks one) and pipes each connection to `socketPath`.
 * @example const b = await startEgressBridge('/run/marionette/egress/egress.sock'); process.env.HTTPS_PROXY = b.url;
 */
export async function startEgressBridge(
  socketPath: string,
  opts: { host?: string; port?: number } = {},
): Promise<EgressBridge> {
  const host = opts.host ?? '127.0.0.1';
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const up = net.connect(socketPath);
    sockets.add(client).add(up);
    const end = () => {
      client.destroy();
      up.destroy();
      sockets.delete(client);
      sockets.delete(up);
    };
    client.on('error', end).on('close', end);
    up.on('error', end).on('close', end);
    client.pipe(up).pipe(client);
  });
  server.listen(opts.port ?? EGRESS_BRIDGE_PORT, host);
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: `http://${host}:${port}`,
    port,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * The environment a task behind the bridge gets: the proxy for HTTP and HTTPS (both spellings,
 * as tools differ), and loopback excluded so local servers still work.
 */
export function egressProxyEnv(url: string): Record<string, string> {
  const noProxy = 'localhost,127.0.0.1,::1';
  return {
    HTTP_PROXY: url,
    HTTPS_PROXY: url,
    http_proxy: url,
    https_proxy: url,
    NO_PROXY: noProxy,
    no_proxy: noProxy,
  };
}
