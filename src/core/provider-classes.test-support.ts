/**
 * @module Test support: provider classes as their descriptors hand them to the scheduler, for the
 * core's tests (which import nothing from src/providers): the substrates of
 * src/providers/<id>/index.ts (src/providers/registry.matrix.test.ts checks they match) and one
 * capability row for all.
 */
import type { ProviderClassView } from './compiled-pool.js';
import { type RequirementKind, RUNTIME_KINDS, type RuntimeKind, type SandboxProviderCapabilities } from './types.js';

const BASE_REQS: RequirementKind[] = [
  'persistent-storage',
  'long-running',
  'workarea',
  'network-egress',
  'git',
  'full-history-clone',
];
const NODE_RT: RuntimeKind[] = [
  'native',
  'npm',
  'http',
  'mcp-server',
  'a2a-protocol',
  'vendor-hosted',
  'langchain-runnable',
];
const BARE_RT: RuntimeKind[] = ['native', 'http', 'mcp-server', 'a2a-protocol', 'vendor-hosted'];
const WORKER = {
  runtimeKinds: [...NODE_RT, 'workarea'] as RuntimeKind[],
  requirementKinds: [...BASE_REQS, 'toolchain:go', 'toolchain:node'] as RequirementKind[],
};
const JOINED = {
  runtimeKinds: [...NODE_RT, 'workarea'] as RuntimeKind[],
  requirementKinds: [...BASE_REQS, 'toolchain:node'] as RequirementKind[],
};
export const CLASSES: Record<string, ProviderClassView> = {
  local: {
    onServerHost: true,
    substrate: {
      runtimeKinds: [...RUNTIME_KINDS],
      requirementKinds: [...BASE_REQS, 'host-binary', 'toolchain:go', 'toolchain:node'],
    },
  },
  docker: { substrate: WORKER },
  kubernetes: { substrate: WORKER },
  e2b: {
    substrate: {
      runtimeKinds: BARE_RT,
      requirementKinds: ['long-running', 'network-egress', 'git', 'full-history-clone'],
    },
  },
  daytona: { substrate: { runtimeKinds: BARE_RT, requirementKinds: ['network-egress', 'git', 'full-history-clone'] } },
  modal: { substrate: { runtimeKinds: BARE_RT, requirementKinds: ['network-egress', 'git', 'full-history-clone'] } },
  vercel: {
    substrate: {
      runtimeKinds: NODE_RT,
      requirementKinds: ['network-egress', 'git', 'full-history-clone', 'toolchain:node'],
    },
  },
  firecracker: { substrate: WORKER },
  pool: { substrate: JOINED },
  external: { substrate: JOINED },
};
export const CAPS: SandboxProviderCapabilities = {
  transportModel: 'either',
  supportsFsSnapshot: false,
  supportsPauseResume: false,
  supportsCapacityQuery: true,
  maxConcurrent: null,
  maxSessionDurationSeconds: null,
  regions: ['*'],
  os: ['linux'],
  arch: ['x86_64', 'arm64'],
  idleCostModel: 'zero',
  billingModel: 'fixed',
  maxVCpu: null,
  maxMemoryMb: null,
  supportsGpu: false,
  supportsCustomNetworkPolicy: true,
  egressDefault: 'allow-all',
  isA2ARemote: false,
};
