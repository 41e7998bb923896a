/**
 * @module The network side of a nested sandbox, one function per network option, shared by both
 * runtimes. This is the seam for the egress policy (src/egress/): the `{ proxySocket }` case
 * returns a setup whose namespace has no way out but the egress proxy's unix socket (bound in
 * read-write), with `wrap` starting a small bridge inside the namespace (listening on 127.0.0.1,
 * forwarding to the socket) before the task, and `env` setting HTTPS_PROXY/HTTP_PROXY
 * (src/egress/sandbox-network.ts). gVisor connects to a bound host socket only with
 * `--host-uds=open`, which ./gvisor.ts adds when the setup binds one.
 */
import { proxyNetworkSetup } from '../../egress/sandbox-network.js';
import { type SandboxBind, SandboxError, type SandboxNetwork } from './types.js';

export interface NetworkSetup {
  /** true: the runner's own network namespace; false: a new one with only loopback. */
  shareHostNetwork: boolean;
  /** Extra binds the network needs (e.g. the proxy socket, read-write). */
  binds: SandboxBind[];
  /** Extra environment for the task (e.g. HTTPS_PROXY). */
  env: Record<string, string>;
  /** Wraps the task's argv (e.g. starts a bridge inside the namespace first). */
  wrap(argv: string[]): string[];
}

const same = (argv: string[]) => argv;

/** The setup for one network option. */
export function networkSetup(network: SandboxNetwork): NetworkSetup {
  if (network === 'none') return { shareHostNetwork: false, binds: [], env: {}, wrap: same };
  if (network === 'host') return { shareHostNetwork: true, binds: [], env: {}, wrap: same };
  // { proxySocket }: the egress policy's (src/egress/): only loopback, and the proxy's socket bound in.
  if (!network.proxySocket.startsWith('/'))
    throw new SandboxError(`egress proxy socket ${JSON.stringify(network.proxySocket)}: expected an absolute path`);
  return proxyNetworkSetup(network.proxySocket);
}
