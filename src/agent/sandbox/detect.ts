/**
 * @module Which nested runtimes this runner has, found once at agent start and reported to the
 * server in `hello` (`sandboxRuntimes`): bubblewrap when `bwrap` is on PATH and can make a user
 * namespace here (a quick probe), gVisor when `runsc` is on PATH and the agent runs as root
 * (runsc's rootful mode). A runtime that is missing carries the reason, for the task's error and
 * the operator.
 */
import { spawn, spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { seccompArch } from './seccomp.js';
import type { SandboxRuntime } from './types.js';

/** An executable named `name` on `path` (a PATH string), or null. */
export function which(name: string, path: string): string | null {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    const f = join(dir, name);
    try {
      accessSync(f, constants.X_OK);
      return f;
    } catch {
      /* next */
    }
  }
  return null;
}

export interface Detected {
  /** Available runtimes and their binaries. */
  found: Map<SandboxRuntime, string>;
  /** Why each other runtime is unavailable. */
  missing: Map<SandboxRuntime, string>;
}

type Probe = { status: number | null; stderr: string; error?: string };

const BWRAP_PROBE = ['--unshare-user', '--unshare-pid', '--ro-bind', '/', '/', 'true'];

function probeSync(bwrap: string): Probe {
  const r = spawnSync(bwrap, BWRAP_PROBE, { encoding: 'utf8', timeout: 10_000 });
  return { status: r.status, stderr: r.stderr ?? '', ...(r.error ? { error: r.error.message } : {}) };
}

function probeAsync(bwrap: string): Promise<Probe> {
  return new Promise((resolve) => {
    const c = spawn(bwrap, BWRAP_PROBE, { stdio: ['ignore', 'ignore', 'pipe'], timeout: 10_000 });
    let stderr = '';
    c.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    c.on('error', (e) => resolve({ status: null, stderr, error: e.message }));
    c.on('close', (status) => resolve({ status, stderr }));
  });
}

function finish(
  path: string,
  allowed: readonly SandboxRuntime[] | null,
  bwrapProbe: (bwrap: string) => Probe | null,
  found = new Map<SandboxRuntime, string>(),
  missing = new Map<SandboxRuntime, string>(),
): Detected & { bwrap: string | null } {
  const offered = (r: SandboxRuntime) => {
    if (allowed && !allowed.includes(r)) {
      missing.set(r, `${r} is turned off on this runner (MARIONETTE_SANDBOX_RUNTIMES=${allowed.join(',') || 'none'})`);
      return false;
    }
    return true;
  };
  let toProbe: string | null = null;
  if (offered('bubblewrap')) {
    const bwrap = which('bwrap', path);
    if (!bwrap) missing.set('bubblewrap', `bwrap not found on PATH (${path}); install the bubblewrap package`);
    else if (seccompArch() === null)
      missing.set('bubblewrap', `no seccomp filter for this architecture (${process.arch})`);
    else {
      const probe = bwrapProbe(bwrap);
      if (probe === null) toProbe = bwrap;
      else record(found, missing, bwrap, probe);
    }
  }
  if (offered('gvisor')) {
    const runsc = which('runsc', path);
    if (!runsc) missing.set('gvisor', `runsc not found on PATH (${path}); install the runsc package`);
    else if (process.getuid?.() !== 0) missing.set('gvisor', 'runsc needs root; this agent does not run as root');
    else found.set('gvisor', runsc);
  }
  return { found, missing, bwrap: toProbe };
}

function record(found: Detected['found'], missing: Detected['missing'], bwrap: string, probe: Probe): void {
  if (probe.status === 0) found.set('bubblewrap', bwrap);
  else
    missing.set(
      'bubblewrap',
      `bwrap cannot make namespaces here: ${(probe.stderr || probe.error || `exit ${probe.status}`).trim()}`,
    );
}

/**
 * Finds the runtimes on `path`, limited to `allowed` when given (MARIONETTE_SANDBOX_RUNTIMES).
 * @example detectRuntimes(process.env.PATH ?? '').found.has('bubblewrap')
 */
export function detectRuntimes(path: string, allowed: readonly SandboxRuntime[] | null = null): Detected {
  const { found, missing } = finish(path, allowed, probeSync);
  return { found, missing };
}

/** {@link detectRuntimes} without blocking: the agent runs the bwrap probe while it registers. */
export async function detectRuntimesAsync(
  path: string,
  allowed: readonly SandboxRuntime[] | null = null,
): Promise<Detected> {
  const d = finish(path, allowed, () => null);
  if (d.bwrap) record(d.found, d.missing, d.bwrap, await probeAsync(d.bwrap));
  return { found: d.found, missing: d.missing };
}
