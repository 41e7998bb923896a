/**
 * @module Nested sandboxes on the server's side: which pools may ask for one (local pools and
 * pools whose runners join; docker and the cloud providers' runners are sandboxes already), the
 * check of a pool's `sandbox_config.sandbox`, and the sandbox a task assignment carries.
 */
import { detectRuntimes } from '../agent/sandbox/detect.js';
import type { EgressCapabilities, EgressPolicy } from '../core/egress.js';
import { InvalidRequest } from '../core/errors.js';
import {
  type NestedSandbox,
  nestedEgressCaps,
  nestedNetwork,
  nestedRunners,
  parseNestedSandbox,
} from '../core/nested-sandbox.js';
import type { Pool, SandboxMode } from '../core/types.js';
import type { TaskSandbox } from '../protocol/messages.js';

/** Refuses a nested sandbox where it cannot apply, and bad `sandbox_config.sandbox` values (the error names the key). */
export function checkNestedSandbox(
  mode: SandboxMode | string,
  sandboxConfig: Record<string, unknown>,
  providerId: string,
  managed: boolean,
): void {
  if (mode === 'runner-creates-sandbox') {
    if (managed && providerId !== 'local')
      throw new InvalidRequest(
        `sandbox_mode: runner-creates-sandbox is for local pools and pools whose runners join (pool, external); ${providerId}'s runners are sandboxes already (runner-is-sandbox)`,
      );
    parseNestedSandbox(sandboxConfig.sandbox);
  } else if (sandboxConfig.sandbox !== undefined && providerId !== 'docker')
    throw new InvalidRequest('sandbox_config.sandbox applies only with sandbox_mode: runner-creates-sandbox');
}

/** The nested sandbox of a pool's tasks, or null when its runners are the sandbox. */
export function poolSandbox(pool: Pick<Pool, 'sandboxMode' | 'sandboxConfig'>): NestedSandbox | null {
  if (pool.sandboxMode !== 'runner-creates-sandbox') return null;
  return parseNestedSandbox(pool.sandboxConfig.sandbox);
}

/**
 * The `sandbox` of a task assignment for `pool` (undefined: none), its network from the pool's
 * and the session's egress policies (core nestedNetwork; `refused` hears of a widening).
 */
export function assignmentSandbox(
  pool: Pick<Pool, 'sandboxMode' | 'sandboxConfig' | 'egress'> | null,
  sessionEgress?: EgressPolicy | null,
  refused?: (refusal: string) => void,
): TaskSandbox | undefined {
  const s = pool ? poolSandbox(pool) : null;
  if (!s || !pool) return undefined;
  const { network, refusal } = nestedNetwork(s, pool.egress, sessionEgress);
  if (refusal !== null) refused?.(refusal);
  return { ...s, network };
}

/**
 * The runtimes a `local` runner will find: local runners run on the server's machine with its
 * PATH, so the server finds them the same way (once; a bwrap probe costs a few milliseconds).
 */
let hostRuntimes: { found: string[]; missing: Map<string, string> } | null = null;
export function localSandboxRuntimes(): { found: string[]; missing: Map<string, string> } {
  if (!hostRuntimes) {
    // The runners' PATH is the server's (src/providers/local starts them with it).
    const d = detectRuntimes(process.env.PATH ?? '');
    hostRuntimes = { found: [...d.found.keys()], missing: d.missing as Map<string, string> };
  }
  return hostRuntimes;
}

/**
 * For placement: why a `local` pool's nested sandbox cannot be made here (the `missing_requirement`
 * detail, naming the runtime), else null. Pools whose runners join are checked by the runner
 * itself: a task whose runtime it lacks fails with the runtime named, never runs unsandboxed.
 */
export function sandboxMissing(pool: Pool): string | null {
  if (pool.sandboxMode !== 'runner-creates-sandbox' || pool.providerId !== 'local') return null;
  let s: NestedSandbox;
  try {
    s = parseNestedSandbox(pool.sandboxConfig.sandbox);
  } catch (e: unknown) {
    return (e as Error).message;
  }
  const h = localSandboxRuntimes();
  if (s.runtime === 'auto')
    return h.found.length
      ? null
      : `sandbox runtime auto: no nested sandbox runtime on this host (${[...h.missing.values()].join('; ')})`;
  return h.found.includes(s.runtime)
    ? null
    : `sandbox runtime ${s.runtime} (sandbox_mode: runner-creates-sandbox) is not available: ${h.missing.get(s.runtime) ?? 'unknown'}`;
}

/**
 * For placement: a pool's runners that may take its sessions and its `missing_requirement` detail.
 * A local pool is judged by this host ({@link sandboxMissing}); a pool whose runners join, by what
 * each runner reported in hello: a runner without the pool's runtime is never given its sessions,
 * and when runners joined but none has it the verdict names the runtime.
 */
export function sandboxPlacement<R extends { sandboxRuntimes: readonly string[] | null }>(
  pool: Pool,
  runners: R[],
): { runners: R[]; missing: string | null; egress: EgressCapabilities | null } {
  if (pool.sandboxMode !== 'runner-creates-sandbox') return { runners, missing: null, egress: null };
  let s: NestedSandbox;
  try {
    s = parseNestedSandbox(pool.sandboxConfig.sandbox);
  } catch (e: unknown) {
    return { runners: [], missing: (e as Error).message, egress: null };
  }
  // The nested sandbox enforces the egress policy, per task (docs/egress.md).
  const egress = nestedEgressCaps(s);
  if (pool.providerId === 'local') return { runners, missing: sandboxMissing(pool), egress };
  return { ...nestedRunners(s.runtime, runners), egress };
}

/**
 * The default `local` pool's sandbox settings at its creation: with `auto`, a nested sandbox
 * whenever this host has a runtime; with a runtime named, that runtime (a verdict if missing).
 */
export function defaultLocalSandbox(
  providerId: string,
  setting: 'auto' | 'bubblewrap' | 'gvisor' | 'off',
): { sandboxMode?: SandboxMode; sandboxConfig?: Record<string, unknown> } {
  if (providerId !== 'local' || setting === 'off') return {};
  if (setting === 'auto' && localSandboxRuntimes().found.length === 0) return {};
  return { sandboxMode: 'runner-creates-sandbox', sandboxConfig: { sandbox: { runtime: setting } } };
}

/** What the server says at start about the local pool's isolation, or null when its tasks are sandboxed. */
export function localSandboxNote(pool: Pool): string | null {
  if (pool.providerId !== 'local') return null;
  if (pool.sandboxMode !== 'runner-creates-sandbox') {
    const h = localSandboxRuntimes();
    return h.found.length === 0
      ? `pool ${pool.name}: no nested sandbox runtime on this host (${[...h.missing.values()].join('; ')}): its tasks run with the runner's privileges`
      : `pool ${pool.name}: sandbox_mode runner-is-sandbox: its tasks run with the runner's privileges (set sandbox_mode: runner-creates-sandbox for a nested sandbox)`;
  }
  return sandboxMissing(pool);
}
