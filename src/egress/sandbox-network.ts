/**
 * @module The `{ proxySocket }` network of a nested sandbox (src/agent/sandbox/, the launcher's
 * `SandboxNetwork`): a network namespace of its own with only loopback, the egress proxy's unix
 * socket (on the runner's side) bound in read-write at the same path, and the task wrapped so that
 * a small bridge starts first inside the namespace, listening on 127.0.0.1 and forwarding to the
 * socket; the task gets HTTP_PROXY / HTTPS_PROXY pointing at it. The proxy is then its only way out.
 *
 * The bridge is a few lines of JavaScript run by the runner's own Node (`node -e`), so nothing of
 * the marionette package needs to be visible inside the sandbox, only the Node binary (the system
 * folders are bound read-only). It starts the task once it listens, passes signals on, and exits
 * with the task's status. It is the same forwarding as ./bridge.ts, kept inline on purpose.
 *
 * Wiring (one branch in the launcher's network setup):
 * `if (typeof network === 'object') return proxyNetworkSetup(network.proxySocket);`
 * gVisor needs `--host-uds=open` to connect to a bound host socket.
 */
import { egressProxyEnv } from './bridge.js';

/** The port the in-sandbox bridge listens on (the sandbox has a loopback of its own). */
export const SANDBOX_BRIDGE_PORT = 3128;

/** What the launcher needs from a network option (the sandbox's `NetworkSetup`, structurally). */
export interface ProxyNetworkSetup {
  shareHostNetwork: false;
  binds: Array<{ path: string; rw: boolean }>;
  env: Record<string, string>;
  wrap(argv: string[]): string[];
}

/** The bridge, run as `node -e BRIDGE_SOURCE <socket> <port> <argv...>` (CommonJS, node: builtins only). */
export const BRIDGE_SOURCE = [
  "const net=require('node:net'),{spawn}=require('node:child_process');",
  'const [sock,port,...argv]=process.argv.slice(1);',
  'const s=net.createServer(c=>{const u=net.connect(sock);const e=()=>{c.destroy();u.destroy()};',
  "c.on('error',e).on('close',e);u.on('error',e).on('close',e);c.pipe(u).pipe(c)});",
  "s.on('error',e=>{console.error('marionette egress bridge: '+e.message);process.exit(1)});",
  "s.listen(Number(port),'127.0.0.1',()=>{const ch=spawn(argv[0],argv.slice(1),{stdio:'inherit'});",
  "for(const g of ['SIGTERM','SIGINT','SIGHUP'])process.on(g,()=>ch.kill(g));",
  "ch.on('error',e=>{console.error(argv[0]+': '+e.message);process.exit(127)});",
  "ch.on('exit',(code,sig)=>process.exit(code===null?128+(require('node:os').constants.signals[sig]||1):code))});",
].join('');

/**
 * The setup for `{ proxySocket }`: a new network namespace, the socket bound read-write, the
 * proxy env, and the task started behind the bridge by `node` (default: this process's Node).
 * @example proxyNetworkSetup('/run/marionette/egress/run_1.sock').wrap(['curl', 'https://x']) // [node, '-e', ..., 'curl', 'https://x']
 */
export function proxyNetworkSetup(proxySocket: string, opts: { node?: string; port?: number } = {}): ProxyNetworkSetup {
  const port = opts.port ?? SANDBOX_BRIDGE_PORT;
  const node = opts.node ?? process.execPath;
  return {
    shareHostNetwork: false,
    binds: [{ path: proxySocket, rw: true }],
    env: egressProxyEnv(`http://127.0.0.1:${port}`),
    wrap: (argv) => [node, '-e', BRIDGE_SOURCE, proxySocket, String(port), ...argv],
  };
}
