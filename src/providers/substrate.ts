/**
 * @module Building blocks of the substrate class defaults (`substrate` in each provider's
 * descriptor): what a pool of a class provides when its `runtime_provides` override is null.
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
import type { RequirementKind, RuntimeKind } from '../core/types.js';

/** Every requirement kind but `gpu` and `host-binary`, and no toolchain. */
export const ALL_REQUIREMENTS_BUT_GPU_HOST: readonly RequirementKind[] = [
  'persistent-storage',
  'long-running',
  'workarea',
  'network-egress',
  'git',
  'full-history-clone',
];
/** What a bare cloud template runs: no Node by default. */
export const BARE_CLOUD_RUNTIMES: readonly RuntimeKind[] = [
  'native',
  'http',
  'mcp-server',
  'a2a-protocol',
  'vendor-hosted',
];
/** Where Node is a default. */
export const NODE_RUNTIMES: readonly RuntimeKind[] = [
  'native',
  'npm',
  'http',
  'mcp-server',
  'a2a-protocol',
  'vendor-hosted',
  'langchain-runnable',
];
/** What a container or VM built from the worker image provides (docker, kubernetes, firecracker). */
export const WORKER_IMAGE_SUBSTRATE = {
  runtimeKinds: [...NODE_RUNTIMES, 'workarea'] as RuntimeKind[],
  requirementKinds: [...ALL_REQUIREMENTS_BUT_GPU_HOST, 'toolchain:go', 'toolchain:node'] as RequirementKind[],
};
/** What a machine running marionette-agent provides (pool, external): Node, and what the operator declares. */
export const JOINED_MACHINE_SUBSTRATE = {
  runtimeKinds: [...NODE_RUNTIMES, 'workarea'] as RuntimeKind[],
  requirementKinds: [...ALL_REQUIREMENTS_BUT_GPU_HOST, 'toolchain:node'] as RequirementKind[],
};
