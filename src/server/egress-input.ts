/**
 * @module Egress policies as they come in: a pool's `network.egress` (config and API), refused
 * when its provider cannot enforce it, and a session's (API), refused when bad. The model is
 * src/core/egress.ts; a session widening its pool's policy is judged per pool by the scheduler
 * (the `egress_policy` verdict).
 */
import { type EgressCapabilities, type EgressPolicy, egressRefusal, parseEgressPolicy } from '../core/egress.js';
import { InvalidRequest } from '../core/errors.js';

/**
 * The `pools.egress` column for `network` (undefined: keep `base`; null or no `egress`: the
 * provider's default). Throws InvalidRequest for a bad policy or one the pool cannot enforce:
 * `descriptor` carries its provider's capabilities, or its nested sandbox's (which enforces any).
 */
export function poolEgressColumn(
  network: { egress?: unknown } | null | undefined,
  base: EgressPolicy | null,
  descriptor: { id: string; capabilities: EgressCapabilities },
): string | null {
  let policy = base;
  if (network !== undefined)
    policy =
      network === null || network.egress === undefined || network.egress === null
        ? null
        : parseEgressPolicy(network.egress);
  if (policy === null) return null;
  const refused = egressRefusal(policy, descriptor.capabilities, descriptor.id);
  if (refused !== null)
    throw new InvalidRequest(`network.egress: ${refused}`, {
      hint: 'pick a provider whose capabilities say supportsCustomNetworkPolicy (e.g. docker), or give a local or pool pool sandbox_mode: runner-creates-sandbox (its nested sandbox enforces the policy); see docs/egress.md',
    });
  return JSON.stringify(policy);
}

/** A session's `network.egress` (API), validated; undefined when it sets none. */
export function sessionEgress(network: { egress?: unknown } | undefined): EgressPolicy | undefined {
  if (network?.egress === undefined || network.egress === null) return undefined;
  return parseEgressPolicy(network.egress, 'network.egress');
}
