/**
 * @module The egress of one task in a nested sandbox, on the runner: the assignment's
 * `sandbox.network` (none, host, or `{ allow }`, from the pool's and the session's policies) to
 * the launcher's network option. An allow list starts the egress proxy (src/egress/runner.ts) on a
 * unix socket in the sandbox host's private directory for the task's whole run (setup commands
 * included); the sandbox gets that socket and nothing else (`{ proxySocket }`).
 */
import { formatEgress, parseEgressPolicy } from '../core/egress.js';
import type { EgressDenial } from '../egress/proxy.js';
import { type TaskEgress, taskEgress } from '../egress/runner.js';
import type { TaskSandbox } from '../protocol/messages.js';

/**
 * Opens the task's egress; `socketPath` is asked for only for an allow list. Throws (the task
 * fails with the message) when the list is bad or the proxy cannot listen.
 * @example const e = await openTaskEgress({ allow: ['*.github.com'] }, () => host.egressSocket()); plan.network = e.network;
 */
export async function openTaskEgress(
  network: TaskSandbox['network'],
  socketPath: () => string,
  onDenied?: (d: EgressDenial) => void,
): Promise<TaskEgress> {
  if (typeof network === 'string') return taskEgress(network === 'host' ? 'open' : 'none', '');
  const policy = parseEgressPolicy(network, 'sandbox.network');
  return taskEgress(policy, socketPath(), onDenied);
}

/** The task's system line about its network. */
export function describeTaskNetwork(network: TaskSandbox['network']): string {
  if (network === 'host') return "the runner's network";
  if (network === 'none') return 'no network';
  return `only through the egress proxy: ${formatEgress(network)}`;
}

/** The task's closing system line about its egress proxy (null without one). */
export function egressSummary(e: TaskEgress | null): string | null {
  const p = e?.proxy;
  if (!p) return null;
  return `egress proxy: ${p.allowed} connection(s) allowed, ${p.denied} denied (${formatEgress(p.policy)})`;
}
