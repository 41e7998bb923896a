/**
 * @module The bubblewrap launcher: `bwrap` arguments for one task. Allow-list, not deny-list: the
 * sandbox starts from an empty root and sees only what is bound in.
 *
 * - Namespaces: new user, pid, ipc, uts and cgroup namespaces; a new network namespace (loopback
 *   only) unless the network option shares the runner's. `--die-with-parent` (the sandbox dies
 *   with its bwrap), `--new-session` (no TIOCSTI into the runner's terminal).
 * - Files: `/usr` and `/opt` read-only, `/bin`, `/sbin`, `/lib*` as on the host (links or
 *   read-only binds), `/etc` read-only with its secrets hidden (`/etc/shadow`, `/etc/gshadow`,
 *   `/etc/sudoers`, and the directories `/etc/ssh` and `/etc/sudoers.d` replaced by empty ones);
 *   a fresh `/proc` (this pid namespace only), a minimal `/dev` (null, zero, full, random,
 *   urandom, tty, pts, shm), private `/tmp`, `/var/tmp` and `/run`. The task's `HOME` is an empty
 *   private directory at the same path (so the host's home and `/root` are out of sight), and
 *   the operator's `sandbox.binds` land in it or anywhere else, read-only unless `rw`.
 *   The session's workspace is bound read-write at its own path; nothing else of the runner is
 *   there (not its state dir and credential, not `$MARIONETTE_HOME`, not other workspaces).
 * - Privileges: `--cap-drop ALL` (no capabilities, in the sandbox's user namespace either), no new
 *   privileges (bwrap always sets PR_SET_NO_NEW_PRIVS), and the seccomp filter of ./seccomp.ts
 *   (`--seccomp FD`).
 */
import { lstatSync, readlinkSync, statSync } from 'node:fs';
import type { NetworkSetup } from './network.js';
import type { SandboxBind, SandboxPlan } from './types.js';

/** Files in /etc that hold secrets: replaced by an empty file inside the sandbox. */
export const ETC_SECRET_FILES = ['/etc/shadow', '/etc/shadow-', '/etc/gshadow', '/etc/gshadow-', '/etc/sudoers'];
/** Directories in /etc that hold secrets (host ssh keys, sudo rules): replaced by an empty directory. */
export const ETC_SECRET_DIRS = ['/etc/ssh', '/etc/sudoers.d'];

/** Top-level system paths that may be links into /usr (merged-/usr hosts) or directories of their own. */
const SYSTEM_TOPS = ['/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32'];

function kind(path: string): 'link' | 'dir' | 'file' | null {
  try {
    const s = lstatSync(path);
    return s.isSymbolicLink() ? 'link' : s.isDirectory() ? 'dir' : 'file';
  } catch {
    return null;
  }
}

/** The arguments for a system path as the host has it: a link, a read-only bind, or nothing. */
function systemPath(path: string): string[] {
  const k = kind(path);
  if (k === 'link') return ['--symlink', readlinkSync(path), path];
  if (k === 'dir') return ['--ro-bind', path, path];
  return [];
}

function bindArgs(b: SandboxBind): string[] {
  return [b.rw ? '--bind' : '--ro-bind', b.path, b.path];
}

/**
 * bwrap's arguments (before the command) for `plan`: `seccompFd` is the fd bwrap reads its filter
 * from; `home` the task's HOME; `workspaceReal` the workspace's real path (it may be a link).
 */
export function bwrapArgs(
  plan: SandboxPlan,
  net: NetworkSetup,
  opts: { seccompFd: number | null; home: string | null; workspaceReal: string },
): string[] {
  const a = ['--unshare-user', '--unshare-pid', '--unshare-ipc', '--unshare-uts', '--unshare-cgroup'];
  if (!net.shareHostNetwork) a.push('--unshare-net');
  a.push('--die-with-parent', '--new-session', '--cap-drop', 'ALL');
  a.push('--ro-bind', '/usr', '/usr');
  for (const p of SYSTEM_TOPS) a.push(...systemPath(p));
  if (kind('/opt') === 'dir') a.push('--ro-bind', '/opt', '/opt');
  a.push('--ro-bind', '/etc', '/etc');
  for (const f of ETC_SECRET_FILES) if (kind(f) === 'file') a.push('--ro-bind', '/dev/null', f);
  for (const d of ETC_SECRET_DIRS) if (kind(d) === 'dir') a.push('--tmpfs', d, '--remount-ro', d);
  a.push('--proc', '/proc', '--dev', '/dev');
  a.push('--tmpfs', '/tmp', '--tmpfs', '/var/tmp', '--tmpfs', '/run');
  if (opts.home && opts.home !== '/') a.push('--tmpfs', opts.home);
  a.push('--bind', opts.workspaceReal, plan.workspace);
  for (const b of [...plan.binds, ...net.binds]) a.push(...bindArgs(b));
  a.push('--chdir', plan.workspace);
  if (opts.seccompFd !== null) a.push('--seccomp', String(opts.seccompFd));
  return a;
}

/** Whether `path` is `dir` or inside it. */
export function isUnder(path: string, dir: string): boolean {
  const d = dir.endsWith('/') ? dir : `${dir}/`;
  return path === dir || path.startsWith(d);
}

/** A bind must name an existing absolute path (never `/`). Returns the problem, or null. */
export function checkBind(b: SandboxBind): string | null {
  if (!b.path.startsWith('/') || b.path.split('/').includes('..'))
    return `sandbox bind ${JSON.stringify(b.path)} is not an absolute path`;
  if (b.path === '/') return 'sandbox bind "/" would expose the whole runner';
  try {
    statSync(b.path);
  } catch {
    return `sandbox bind ${b.path} does not exist on this runner`;
  }
  return null;
}
