/**
 * @module Provider class capabilities: the seed's capability matrix per provider class, the
 * substrate class defaults (runtime and requirement kinds), `deriveCapabilities` and validation of
 * a pool's `runtime_provides` override.
 */
import type { SandboxProviderCapabilities } from '../providers/types.js';
import { InvalidRequest } from './errors.js';
import {
  FIXED_REQUIREMENT_KINDS,
  type RequirementKind,
  RUNTIME_KINDS,
  type RuntimeKind,
  type RuntimeProvides,
} from './types.js';

/** Freezes a table and everything in it, so a caller cannot change a class row by accident. */
function deepFreeze<T>(v: T): T {
  if (v !== null && typeof v === 'object' && !Object.isFrozen(v)) {
    for (const inner of Object.values(v)) deepFreeze(inner);
    Object.freeze(v);
  }
  return v;
}

/** Architectures every class accepts unless it says otherwise. */
const BOTH_ARCHES: readonly string[] = ['x86_64', 'arm64'];

/**
 * The capability matrix per provider class. The seven built-in rows carry exactly the seed's
 * table ("Capability matrix at a glance"): `-` is `false` for flags and `null` for limits. The
 * fields the seed's table leaves out are filled the same way for every row unless noted:
 * `maxConcurrent: null` (no class-wide cap; a provider instance may set one from its config),
 * `regions: ['*']` (any; `['local']` for the local provider), `os: ['linux']`,
 * `arch: ['x86_64', 'arm64']`, `maxVCpu`/`maxMemoryMb: null` (not declared), `isA2ARemote: false`.
 *
 * Three Marionette rows the seed has no column for (`firecracker`, `pool`, `external`) are
 * documented field by field.
 */
export const PROVIDER_CLASS_CAPABILITIES: Readonly<Record<string, Readonly<SandboxProviderCapabilities>>> = deepFreeze({
  local: {
    transportModel: 'either',
    supportsFsSnapshot: false,
    supportsPauseResume: false,
    supportsCapacityQuery: true,
    maxConcurrent: null,
    maxSessionDurationSeconds: null,
    regions: ['local'],
    // The host's OS is only known at runtime; the class admits both hosts Marionette runs on.
    // The local provider instance reports the real one.
    os: ['linux', 'darwin'],
    arch: [...BOTH_ARCHES],
    idleCostModel: 'zero',
    billingModel: 'fixed',
    maxVCpu: null,
    maxMemoryMb: null,
    supportsGpu: false,
    supportsCustomNetworkPolicy: false,
    egressDefault: 'allow-all',
    isA2ARemote: false,
  },
  docker: {
    transportModel: 'either',
    supportsFsSnapshot: false,
    supportsPauseResume: false,
    supportsCapacityQuery: true,
    maxConcurrent: null,
    maxSessionDurationSeconds: null,
    // The engine may be remote (DOCKER_HOST), so no region is implied.
    regions: ['*'],
    os: ['linux'],
    arch: [...BOTH_ARCHES],
    idleCostModel: 'zero',
    billingModel: 'fixed',
    maxVCpu: null,
    maxMemoryMb: null,
    supportsGpu: false,
    supportsCustomNetworkPolicy: true,
    egressDefault: 'allow-all',
    isA2ARemote: false,
  },
  kubernetes: {
    transportModel: 'either',
    supportsFsSnapshot: false,
    supportsPauseResume: false,
    supportsCapacityQuery: true,
    maxConcurrent: null,
    maxSessionDurationSeconds: null,
    regions: ['*'],
    os: ['linux'],
    arch: [...BOTH_ARCHES],
    idleCostModel: 'metered',
    billingModel: 'fixed',
    maxVCpu: null,
    maxMemoryMb: null,
    supportsGpu: false,
    supportsCustomNetworkPolicy: true,
    egressDefault: 'allow-all',
    isA2ARemote: false,
  },
  e2b: {
    transportModel: 'dial-in',
    supportsFsSnapshot: true,
    supportsPauseResume: true,
    supportsCapacityQuery: false,
    maxConcurrent: null,
    maxSessionDurationSeconds: null,
    regions: ['*'],
    os: ['linux'],
    arch: [...BOTH_ARCHES],
    idleCostModel: 'zero',
    billingModel: 'wall-clock',
    maxVCpu: null,
    maxMemoryMb: null,
    supportsGpu: false,
    supportsCustomNetworkPolicy: false,
    egressDefault: 'allow-all',
    isA2ARemote: false,
  },
  daytona: {
    transportModel: 'dial-in',
    supportsFsSnapshot: true,
    supportsPauseResume: false,
    supportsCapacityQuery: false,
    maxConcurrent: null,
    maxSessionDurationSeconds: null,
    regions: ['*'],
    os: ['linux'],
    arch: [...BOTH_ARCHES],
    idleCostModel: 'storage-only',
    billingModel: 'wall-clock',
    maxVCpu: null,
    maxMemoryMb: null,
    supportsGpu: false,
    supportsCustomNetworkPolicy: false,
    egressDefault: 'allow-all',
    isA2ARemote: false,
  },
  modal: {
    transportModel: 'dial-in',
    supportsFsSnapshot: true,
    // Preview-tier in the seed ("yes*"): declared, but the modal provider may fall back.
    supportsPauseResume: true,
    supportsCapacityQuery: false,
    maxConcurrent: null,
    // The seed's table has `-` here although its provider list says "Modal - GPU, 24h ceiling";
    // the table wins for the class row, the modal provider instance may declare 86400.
    maxSessionDurationSeconds: null,
    regions: ['*'],
    os: ['linux'],
    arch: [...BOTH_ARCHES],
    idleCostModel: 'metered',
    billingModel: 'wall-clock',
    maxVCpu: null,
    maxMemoryMb: null,
    supportsGpu: true,
    supportsCustomNetworkPolicy: false,
    egressDefault: 'allow-all',
    isA2ARemote: false,
  },
  vercel: {
    transportModel: 'dial-in',
    supportsFsSnapshot: true,
    supportsPauseResume: false,
    supportsCapacityQuery: false,
    maxConcurrent: null,
    maxSessionDurationSeconds: 18_000,
    regions: ['*'],
    os: ['linux'],
    arch: [...BOTH_ARCHES],
    idleCostModel: 'metered',
    billingModel: 'active-cpu',
    maxVCpu: null,
    maxMemoryMb: null,
    supportsGpu: false,
    supportsCustomNetworkPolicy: true,
    egressDefault: 'allow-all',
    isA2ARemote: false,
  },
  firecracker: {
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
  pool: {
    // Pool machines run marionette-agent, which always dials out to the gateway.
    transportModel: 'dial-out',
    // Operator-owned machines: Marionette neither snapshots nor pauses them.
    supportsFsSnapshot: false,
    supportsPauseResume: false,
    // Capacity is the set of connected idle runners, which the server knows exactly.
    supportsCapacityQuery: true,
    maxConcurrent: null,
    maxSessionDurationSeconds: null,
    regions: ['*'],
    // macOS and Linux machines join pools (the seed's macOS and GPU pools).
    os: ['linux', 'darwin'],
    arch: [...BOTH_ARCHES],
    // The machines are paid for whether they work or not.
    idleCostModel: 'zero',
    billingModel: 'fixed',
    maxVCpu: null,
    maxMemoryMb: null,
    // GPU machines can join a pool (the seed's "GPU Pool"); whether a given pool has GPUs is
    // declared by the operator (runtime_provides `gpu` plus labels), never defaulted.
    supportsGpu: true,
    // The machines' network belongs to their operator.
    supportsCustomNetworkPolicy: false,
    egressDefault: 'allow-all',
    isA2ARemote: false,
  },
  external: {
    // One-off self-hosted runners: same transport as pool machines.
    transportModel: 'dial-out',
    supportsFsSnapshot: false,
    supportsPauseResume: false,
    // The server knows whether the one runner is connected and idle.
    supportsCapacityQuery: true,
    maxConcurrent: null,
    maxSessionDurationSeconds: null,
    regions: ['*'],
    os: ['linux', 'darwin'],
    arch: [...BOTH_ARCHES],
    idleCostModel: 'zero',
    billingModel: 'fixed',
    maxVCpu: null,
    maxMemoryMb: null,
    // As for pools: possible, operator-declared.
    supportsGpu: true,
    supportsCustomNetworkPolicy: false,
    egressDefault: 'allow-all',
    isA2ARemote: false,
  },
} satisfies Record<string, SandboxProviderCapabilities>);

/**
 * Substrate class defaults: what a pool of each provider class provides when its
 * `runtime_provides` override is null.
 *
 * Requirement kinds follow the seed's "Requirement kinds" table:
 * - `persistent-storage`, `workarea`: local, docker, kubernetes (+ firecracker, pool, external).
 * - `long-running`: local, docker, kubernetes, e2b (+ firecracker, pool, external).
 * - `host-binary`: local only. Pool and external machines are hosts too, but what is installed on
 *   them is the operator's business, so they must declare it.
 * - `network-egress`: "all cloud providers; local subject to host policy". Read as every class
 *   whose matrix row says `egressDefault: allow-all`, which is every row, docker and kubernetes
 *   included (their containers reach the network unless a policy says otherwise).
 * - `gpu`: operator-declared only, never a class default.
 * - `git`, `full-history-clone`: every class.
 * - `toolchain:go`: local, docker, kubernetes (baked into the worker image) + firecracker (its
 *   rootfs is built from the same worker image).
 * - `toolchain:node`: local, docker, kubernetes, vercel + firecracker, pool, external (the runner
 *   agent is a Node program, so a machine that runs it has Node). e2b, daytona and modal boot a
 *   bare template: no toolchain by default.
 *
 * Runtime kinds, from the kind descriptions:
 * - `native` (a process on the box): every class that runs the agent anywhere.
 * - `npm`, `langchain-runnable`: where Node is a default (the `toolchain:node` classes).
 * - `python-pip`: local only (the host's Python); images and templates must declare it.
 * - `http`, `mcp-server`, `a2a-protocol`: network protocols, served or reached from any box.
 * - `host-binary`: local only, as the requirement.
 * - `workarea`: where the `workarea` requirement is.
 * - `vendor-hosted`: no local compute, so every class.
 */
const ALL_REQUIREMENTS_BUT_GPU_HOST: RequirementKind[] = [
  'persistent-storage',
  'long-running',
  'workarea',
  'network-egress',
  'git',
  'full-history-clone',
];
const BARE_CLOUD_RUNTIMES: RuntimeKind[] = ['native', 'http', 'mcp-server', 'a2a-protocol', 'vendor-hosted'];
const NODE_RUNTIMES: RuntimeKind[] = [
  'native',
  'npm',
  'http',
  'mcp-server',
  'a2a-protocol',
  'vendor-hosted',
  'langchain-runnable',
];

export const PROVIDER_CLASS_DEFAULT_CAPABILITIES: Readonly<Record<string, Readonly<RuntimeProvides>>> = deepFreeze({
  local: {
    runtimeKinds: [...RUNTIME_KINDS],
    requirementKinds: [...ALL_REQUIREMENTS_BUT_GPU_HOST, 'host-binary', 'toolchain:go', 'toolchain:node'],
  },
  docker: {
    runtimeKinds: [...NODE_RUNTIMES, 'workarea'],
    requirementKinds: [...ALL_REQUIREMENTS_BUT_GPU_HOST, 'toolchain:go', 'toolchain:node'],
  },
  kubernetes: {
    runtimeKinds: [...NODE_RUNTIMES, 'workarea'],
    requirementKinds: [...ALL_REQUIREMENTS_BUT_GPU_HOST, 'toolchain:go', 'toolchain:node'],
  },
  e2b: {
    runtimeKinds: [...BARE_CLOUD_RUNTIMES],
    requirementKinds: ['long-running', 'network-egress', 'git', 'full-history-clone'],
  },
  daytona: {
    runtimeKinds: [...BARE_CLOUD_RUNTIMES],
    requirementKinds: ['network-egress', 'git', 'full-history-clone'],
  },
  modal: {
    runtimeKinds: [...BARE_CLOUD_RUNTIMES],
    requirementKinds: ['network-egress', 'git', 'full-history-clone'],
  },
  vercel: {
    runtimeKinds: [...NODE_RUNTIMES],
    requirementKinds: ['network-egress', 'git', 'full-history-clone', 'toolchain:node'],
  },
  firecracker: {
    runtimeKinds: [...NODE_RUNTIMES, 'workarea'],
    requirementKinds: [...ALL_REQUIREMENTS_BUT_GPU_HOST, 'toolchain:go', 'toolchain:node'],
  },
  pool: {
    runtimeKinds: [...NODE_RUNTIMES, 'workarea'],
    requirementKinds: [...ALL_REQUIREMENTS_BUT_GPU_HOST, 'toolchain:node'],
  },
  external: {
    runtimeKinds: [...NODE_RUNTIMES, 'workarea'],
    requirementKinds: [...ALL_REQUIREMENTS_BUT_GPU_HOST, 'toolchain:node'],
  },
} satisfies Record<string, RuntimeProvides>);

export type CapabilitySource = 'override' | 'class-default' | 'unknown-provider';

export interface DerivedCapabilities {
  provides: RuntimeProvides;
  source: CapabilitySource;
}

/**
 * The seed's resolution order: a non-null `runtime_provides` override wins (validated with
 * {@link parseRuntimeProvides}), else the provider class default, else nothing. Returns fresh
 * arrays the caller may keep.
 * @example deriveCapabilities('docker', null).source === 'class-default'
 */
export function deriveCapabilities(providerId: string, runtimeProvidesOverride: unknown): DerivedCapabilities {
  if (runtimeProvidesOverride !== null && runtimeProvidesOverride !== undefined) {
    return { provides: parseRuntimeProvides(runtimeProvidesOverride), source: 'override' };
  }
  const def = Object.hasOwn(PROVIDER_CLASS_DEFAULT_CAPABILITIES, providerId)
    ? PROVIDER_CLASS_DEFAULT_CAPABILITIES[providerId]
    : undefined;
  if (def !== undefined) {
    return {
      provides: { runtimeKinds: [...def.runtimeKinds], requirementKinds: [...def.requirementKinds] },
      source: 'class-default',
    };
  }
  return { provides: { runtimeKinds: [], requirementKinds: [] }, source: 'unknown-provider' };
}

const RUNTIME_KIND_SET: ReadonlySet<string> = new Set(RUNTIME_KINDS);
const FIXED_REQUIREMENT_SET: ReadonlySet<string> = new Set(FIXED_REQUIREMENT_KINDS);
const TOOLCHAIN_RE = /^toolchain:\S+$/;

/** Whether `s` is a requirement kind: one of the fixed set or `toolchain:<name>` (non-empty name). */
export function isRequirementKind(s: string): s is RequirementKind {
  return FIXED_REQUIREMENT_SET.has(s) || TOOLCHAIN_RE.test(s);
}

/** Whether `s` is one of the closed set of runtime kinds. */
export function isRuntimeKind(s: string): s is RuntimeKind {
  return RUNTIME_KIND_SET.has(s);
}

function kindList<T extends string>(
  input: Record<string, unknown>,
  field: 'runtimeKinds' | 'requirementKinds',
  isKind: (s: string) => s is T,
  expected: string,
): T[] {
  const arr = input[field];
  if (!Array.isArray(arr)) {
    throw new InvalidRequest(`runtime_provides.${field}: expected an array, got ${describe(arr)}`);
  }
  const out: T[] = [];
  arr.forEach((entry: unknown, i) => {
    if (typeof entry !== 'string' || !isKind(entry)) {
      const what = field === 'runtimeKinds' ? 'a runtime kind' : 'a requirement kind';
      throw new InvalidRequest(
        `runtime_provides.${field}[${i}]: ${describe(entry)} is not ${what} (expected one of ${expected})`,
      );
    }
    if (!out.includes(entry)) out.push(entry);
  });
  return out;
}

function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  return JSON.stringify(v) ?? String(v);
}

/**
 * Validates a `runtime_provides` override: an object with exactly `runtimeKinds` (closed set) and
 * `requirementKinds` (closed set plus `toolchain:<name>`). Duplicates are dropped. Throws
 * {@link InvalidRequest} naming the bad entry, e.g.
 * `runtime_provides.requirementKinds[2]: "gpux" is not a requirement kind (expected one of ...)`.
 */
export function parseRuntimeProvides(input: unknown): RuntimeProvides {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw new InvalidRequest(
      `runtime_provides: expected an object with runtimeKinds and requirementKinds, got ${describe(input)}`,
    );
  }
  const obj = input as Record<string, unknown>;
  for (const key of Object.keys(obj)) {
    if (key !== 'runtimeKinds' && key !== 'requirementKinds') {
      throw new InvalidRequest(
        `runtime_provides.${key}: unknown field (expected only runtimeKinds and requirementKinds)`,
      );
    }
  }
  return {
    runtimeKinds: kindList(obj, 'runtimeKinds', isRuntimeKind, RUNTIME_KINDS.join(', ')),
    requirementKinds: kindList(
      obj,
      'requirementKinds',
      isRequirementKind,
      `${FIXED_REQUIREMENT_KINDS.join(', ')}, toolchain:<name>`,
    ),
  };
}
