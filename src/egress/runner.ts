/**
 * @module The runner's side of a nested sandbox's egress (src/agent/sandbox/): from the task's
 * effective policy to the launcher's network option, starting the egress proxy on a unix socket
 * when the policy is an allow list. `open` (or no policy) is `'host'`, `none` is `'none'`, an
 * allow list is `{ proxySocket }` (see ./sandbox-network.ts for what the launcher does with it).
 *
 * The agent calls this per task (src/agent/task-egress.ts) with the policy the server sent in the
 * assignment, passes `network` to the launcher, and `close()`s it when the task ends.
 */
import type { EgressPolicy } from '../core/egress.js';
import { type EgressDenial, EgressProxy } from './proxy.js';

export type SandboxNetworkOption = 'none' | 'host' | { proxySocket: string };

export interface TaskEgress {
  network: SandboxNetworkOption;
  /** The proxy, for an allow list (its counters). */
  proxy: EgressProxy | null;
  close(): Promise<void>;
}

/**
 * @example const e = await taskEgress({ allow: ['*.github.com'] }, join(workDir, 'egress.sock')); launch({ ..., network: e.network }); ... await e.close();
 */
export async function taskEgress(
  policy: EgressPolicy | undefined,
  socketPath: string,
  onDenied?: (d: EgressDenial) => void,
): Promise<TaskEgress> {
  if (policy === undefined || policy === 'open') return { network: 'host', proxy: null, close: async () => {} };
  if (policy === 'none') return { network: 'none', proxy: null, close: async () => {} };
  const proxy = await new EgressProxy({ policy, listen: socketPath, ...(onDenied ? { onDenied } : {}) }).start();
  return { network: { proxySocket: socketPath }, proxy, close: () => proxy.close() };
}
