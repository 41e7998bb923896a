/**
 * @module The gVisor launcher: an OCI bundle per task run with `runsc run`. gVisor's own kernel
 * (the Sentry) answers the task's system calls, so the host kernel's surface is much smaller than
 * under bubblewrap; it costs a few hundred milliseconds of start-up per task.
 *
 * The bundle's root is an empty, read-only skeleton holding only mount points; as with
 * bubblewrap, what the task sees is bound in: `/usr`, `/opt`, `/etc` read-only (its secrets
 * hidden, ./bubblewrap.ts ETC_SECRET_*), `/bin`, `/lib*` as on the host, gVisor's own `/proc`
 * and `/dev`, private tmpfs `/tmp`, `/var/tmp`, `/run` and `HOME`, the workspace read-write at
 * its own path, and the operator's binds. Namespaces: pid, ipc, uts, mount and network (runsc
 * `--network=none`, or `host` when the network option shares the runner's). No capabilities, no
 * new privileges.
 *
 * Platform: `--platform=ptrace` works everywhere (the default here); `systrap` (gVisor releases
 * from mid-2023) is faster and also needs no virtualization; `kvm` is fastest where `/dev/kvm` is
 * available. Set it with MARIONETTE_GVISOR_PLATFORM. runsc needs root (or its rootless mode).
 * Memory, CPU and pids limits are runsc's own: the bundle's `linux.resources` with a
 * `cgroupsPath` under the agent's own group, which runsc makes, applies to its Sentry and gofer,
 * and removes at exit (a group made beforehand would be left unlimited: runsc only limits groups
 * it creates). The pids limit is also the task's RLIMIT_NPROC inside gVisor.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ETC_SECRET_DIRS, ETC_SECRET_FILES } from './bubblewrap.js';
import type { NetworkSetup } from './network.js';
import type { SandboxPlan } from './types.js';

interface OciMount {
  destination: string;
  type: string;
  source: string;
  options?: string[];
}

const SYSTEM_TOPS = ['/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32'];

function isDir(p: string): boolean {
  try {
    return lstatSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** A bundle on disk: `dir/config.json` and `dir/rootfs`. */
export interface GvisorBundle {
  dir: string;
  id: string;
}

/**
 * Writes the bundle for `plan` under `bundlesDir/<plan.name>`; `home` is the task's HOME,
 * `workspaceReal` the workspace's real path.
 */
export function writeBundle(
  bundlesDir: string,
  plan: SandboxPlan,
  net: NetworkSetup,
  argv: string[],
  env: Record<string, string>,
  opts: { home: string | null; workspaceReal: string; cgroupsPath: string | null },
): GvisorBundle {
  const dir = join(bundlesDir, plan.name);
  const rootfs = join(dir, 'rootfs');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(rootfs, { recursive: true, mode: 0o700 });
  const mounts: OciMount[] = [];
  const point = (p: string, file = false) => {
    const at = join(rootfs, p);
    if (file) {
      mkdirSync(join(at, '..'), { recursive: true });
      if (!existsSync(at)) writeFileSync(at, '');
    } else mkdirSync(at, { recursive: true });
  };
  const bind = (source: string, destination: string, rw: boolean, file = false) => {
    point(destination, file);
    mounts.push({ destination, type: 'bind', source, options: ['rbind', rw ? 'rw' : 'ro'] });
  };
  const tmpfs = (destination: string, ro = false) => {
    point(destination);
    mounts.push({ destination, type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', ro ? 'ro' : 'rw'] });
  };
  bind('/usr', '/usr', false);
  for (const p of SYSTEM_TOPS) {
    try {
      const s = lstatSync(p);
      if (s.isSymbolicLink()) symlinkSync(readlinkSync(p), join(rootfs, p));
      else if (s.isDirectory()) bind(p, p, false);
    } catch {
      /* not on this host */
    }
  }
  if (isDir('/opt')) bind('/opt', '/opt', false);
  bind('/etc', '/etc', false);
  for (const f of ETC_SECRET_FILES) if (existsSync(f)) bind('/dev/null', f, false, true);
  for (const d of ETC_SECRET_DIRS) if (isDir(d)) tmpfs(d, true);
  point('/proc');
  mounts.push({ destination: '/proc', type: 'proc', source: 'proc' });
  point('/dev');
  mounts.push({ destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'mode=755'] });
  for (const t of ['/tmp', '/var/tmp', '/run']) tmpfs(t);
  if (opts.home && opts.home !== '/') tmpfs(opts.home);
  bind(opts.workspaceReal, plan.workspace, true);
  for (const b of [...plan.binds, ...net.binds]) bind(b.path, b.path, b.rw, !isDir(b.path));

  const namespaces = [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }];
  if (!net.shareHostNetwork) namespaces.push({ type: 'network' });
  const config = {
    ociVersion: '1.0.0',
    process: {
      terminal: false,
      user: { uid: 0, gid: 0 },
      args: argv,
      env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
      cwd: plan.workspace,
      noNewPrivileges: true,
      capabilities: { bounding: [], effective: [], inheritable: [], permitted: [], ambient: [] },
      ...(plan.limits.pids !== null
        ? { rlimits: [{ type: 'RLIMIT_NPROC', hard: plan.limits.pids, soft: plan.limits.pids }] }
        : {}),
    },
    root: { path: 'rootfs', readonly: true },
    hostname: 'sandbox',
    mounts,
    linux: {
      namespaces,
      ...(opts.cgroupsPath ? { cgroupsPath: opts.cgroupsPath, resources: ociResources(plan.limits) } : {}),
    },
  };
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config), { mode: 0o600 });
  return { dir, id: plan.name };
}

/** The limits as OCI `linux.resources`. */
function ociResources(l: SandboxPlan['limits']): Record<string, unknown> {
  return {
    ...(l.memoryBytes !== null ? { memory: { limit: l.memoryBytes, swap: l.memoryBytes } } : {}),
    ...(l.pids !== null ? { pids: { limit: l.pids } } : {}),
    ...(l.cpus !== null ? { cpu: { quota: Math.max(1000, Math.round(l.cpus * 100_000)), period: 100_000 } } : {}),
  };
}

/** runsc's global flags for this runner. */
export function runscGlobalArgs(stateRoot: string, platform: string, net: NetworkSetup): string[] {
  const flags = [
    `--root=${stateRoot}`,
    `--platform=${platform}`,
    `--network=${net.shareHostNetwork ? 'host' : 'none'}`,
  ];
  // The egress proxy's unix socket is bound in: gVisor connects to a host socket only when told to.
  if (net.binds.length > 0) flags.push('--host-uds=open');
  return flags;
}

/** Kills and deletes a container (best effort: it may already be gone). */
export function destroyContainer(runsc: string, stateRoot: string, id: string): void {
  spawnSync(runsc, [`--root=${stateRoot}`, 'kill', '--all', id, 'KILL'], { stdio: 'ignore', timeout: 10_000 });
  spawnSync(runsc, [`--root=${stateRoot}`, 'delete', '--force', id], { stdio: 'ignore', timeout: 10_000 });
}
