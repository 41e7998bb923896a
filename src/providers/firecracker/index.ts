/**
 * @module The `firecracker` provider's descriptor (Firecracker microVMs on hosts the operator runs (a Marionette row; the seed has no column for it)). Not implemented in this version: it has
 * its capability row and substrate so the matrix, `/v1/providers` and pool validation know it, and
 * no `create`, so its pools are `unavailable` and configuring `providers.firecracker` is a startup error.
 */
import { BOTH_ARCHES, defineProvider, KEEP_STORAGE_SUSPEND, NO_CONFIG } from '../descriptor.js';
import { WORKER_IMAGE_SUBSTRATE } from '../substrate.js';

export const firecracker = defineProvider({
  id: 'firecracker',
  displayName: 'Firecracker',
  capabilities: {
    // The runner in the microVM dials out over the VM's tap network; the server can also reach
    // it over vsock, but nothing relies on that.
    transportModel: 'dial-out',
    // Firecracker snapshots (memory + disk) and pause/resume are native VMM operations.
    supportsFsSnapshot: true,
    supportsPauseResume: true,
    // microVMs run on hosts we manage, so free capacity is known.
    supportsCapacityQuery: true,
    maxConcurrent: null,
    maxSessionDurationSeconds: null,
    // Wherever the operator runs the VMM hosts.
    regions: ['*'],
    // Firecracker guests are Linux; the VMM runs on x86_64 and aarch64 hosts.
    os: ['linux'],
    arch: [...BOTH_ARCHES],
    // The hosts are already paid for.
    idleCostModel: 'zero',
    billingModel: 'fixed',
    maxVCpu: null,
    maxMemoryMb: null,
    // Firecracker has no device passthrough.
    supportsGpu: false,
    // Each VM has its own tap device, so per-VM egress rules are set on the host.
    supportsCustomNetworkPolicy: true,
    egressDefault: 'allow-all',
    isA2ARemote: false,
  },
  substrate: WORKER_IMAGE_SUBSTRATE,
  suspend: KEEP_STORAGE_SUSPEND,
  poolMode: 'managed',
  config: NO_CONFIG,
});
