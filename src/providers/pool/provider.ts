/**
 * @module The `pool` and `external` providers: runners on machines Marionette does not manage,
 * which join with a registration token (`marionette-agent --server ... --token ...`). There is
 * nothing to provision; terminating only tells the runner (over the gateway) to stop.
 */
import { InvalidRequest } from '../../core/errors.js';
import type {
  OwnedObject,
  ReapResult,
  SandboxHandle,
  SandboxProvider,
  SandboxProviderCapabilities,
  SandboxStatus,
  SuspendStrategy,
} from '../types.js';

export class JoinedRunnersProvider implements SandboxProvider {
  readonly capabilities: SandboxProviderCapabilities;

  constructor(
    readonly id: string,
    readonly displayName: string,
    capabilities: Readonly<SandboxProviderCapabilities>,
  ) {
    this.capabilities = { ...capabilities };
  }

  supportedSuspendStrategies(): readonly SuspendStrategy[] {
    return ['release_to_pool', 'terminate'];
  }

  async provision(): Promise<SandboxHandle> {
    throw new InvalidRequest(`${this.id} runners join with a registration token; Marionette does not start them`, {
      hint: 'create a token with `mctl runners tokens create --pool NAME` and run marionette-agent on the machine',
    });
  }

  async status(): Promise<SandboxStatus> {
    return 'running';
  }

  async terminate(): Promise<void> {
    // The runner is told to shut down over the gateway; its machine is not ours to stop.
  }

  /** Nothing here is started by Marionette, so there is nothing to list or reap. */
  async list(): Promise<OwnedObject[]> {
    return [];
  }

  async reapOrphans(): Promise<ReapResult> {
    return { removed: [], kept: [], skipped: [], failed: [], foreign: [] };
  }
}
