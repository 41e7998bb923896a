/**
 * @module Builds the default agent image without any registry: a minimal glibc root filesystem
 * assembled from this machine's own binaries (shell, coreutils, git, CA certificates and the
 * shared libraries `ldd` says they need, plus the libraries the host's Node needs) streamed as a
 * tar into `docker import`. Node and the marionette package are not in the image: the provider
 * mounts them read-only (image stays small, the agent always matches the server, nothing to pull).
 */
import { execFile } from 'node:child_process';
import { lstat, open, readdir, readFile, readlink, realpath } from 'node:fs/promises';
import { dirname, join, posix, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import type Dockerode from 'dockerode';
import { ProviderUnavailable, toError } from '../../core/errors.js';
import { DEFAULT_AGENT_IMAGE, NODE_IN_BOX, PACKAGE_ROOT_IN_BOX, WORKSPACE_IN_BOX } from './config.js';
import { type TarEntry, tarChunks } from './tar.js';

const execFileP = promisify(execFile);

/** Label on the agent image (not `<prefix>.managed`: the reconciler must never reap it). */
export const AGENT_IMAGE_LABEL = 'io.marionette.image';
/** Label naming the `uid:gid` that owns `/workspace` in the image (a fresh volume copies it). */
export const WORKSPACE_OWNER_LABEL = 'io.marionette.workspace-owner';
/** Label listing the agent CLIs an image carries (`claude@2.1.332,codex@0.171.0`). */
export const AGENTS_LABEL = 'io.marionette.agents';
/** Label carrying the layout version of the image; `ifMissing` rebuilds when it differs. */
export const AGENT_IMAGE_FORMAT_LABEL = 'io.marionette.image-format';
/** Bump when the image layout changes. */
export const AGENT_IMAGE_FORMAT = '1';

/** uid/gid of the image's `agent` user. */
export const AGENT_UID = 1000;
export const AGENT_GID = 1000;

/** Binaries copied from the host when present (looked up in /usr/bin, /bin, /usr/sbin, /sbin). */
export const AGENT_IMAGE_BINARIES: readonly string[] = [
  'sh',
  'bash',
  'env',
  'sleep',
  'cat',
  'ls',
  'cp',
  'mv',
  'rm',
  'mkdir',
  'rmdir',
  'chmod',
  'chown',
  'ln',
  'touch',
  'echo',
  'printf',
  'true',
  'false',
  'test',
  '[',
  'id',
  'whoami',
  'grep',
  'sed',
  'head',
  'tail',
  'wc',
  'sort',
  'uniq',
  'cut',
  'tr',
  'date',
  'tee',
  'dirname',
  'basename',
  'readlink',
  'realpath',
  'uname',
  'pwd',
  'find',
  'xargs',
  'tar',
  'gzip',
  'stat',
  'du',
  'df',
  'kill',
  'ps',
  'mktemp',
  'expr',
  'seq',
  'sha256sum',
  'diff',
  'which',
  'hostname',
  'nproc',
  'timeout',
  'curl',
  'make',
  'patch',
  'git',
];

/** Minimal structural view of the engine client used here. */
export type ImageBuildClient = Pick<Dockerode, 'importImage' | 'getImage' | 'modem'>;

export interface BuildAgentImageOptions {
  /** Image tag. Default `marionette/agent:latest`. */
  tag?: string;
  docker: ImageBuildClient;
  /** Skip the build when an image with this tag already exists. Default false (always rebuild). */
  ifMissing?: boolean;
  /** Host Node binary whose shared libraries the image must carry. Default `process.execPath`. */
  nodePath?: string;
  /** Extra host files or directories to copy in (absolute paths; ELF files get their libraries). */
  extraPaths?: readonly string[];
  /** Symlinks to add (e.g. `/usr/local/bin/claude` to an agent CLI copied in with `extraPaths`). */
  extraLinks?: readonly { path: string; target: string }[];
  /** Recorded in the image's `io.marionette.agents` label (the agent CLIs it carries). */
  agents?: readonly string[];
}

export interface BuildAgentImageResult {
  tag: string;
  id: string;
  /** False when `ifMissing` found the image already there. */
  built: boolean;
  /** Number of tar entries and total payload bytes (0 when not built). */
  entries: number;
  bytes: number;
}

interface Collected {
  entries: Map<string, TarEntry>;
  inodes: Map<string, string>;
  elfs: Set<string>;
}

async function isElf(path: string): Promise<boolean> {
  const fh = await open(path, 'r');
  try {
    const b = Buffer.alloc(4);
    await fh.read(b, 0, 4, 0);
    return b[0] === 0x7f && b[1] === 0x45 && b[2] === 0x4c && b[3] === 0x46;
  } finally {
    await fh.close();
  }
}

function addDirChain(c: Collected, dir: string): void {
  let cur = dir;
  const chain: string[] = [];
  while (cur !== '/' && cur !== '.') {
    chain.push(cur);
    cur = dirname(cur);
  }
  for (const d of chain.reverse()) {
    if (!c.entries.has(d)) c.entries.set(d, { type: 'dir', path: d, mode: 0o755 });
  }
}

/** Adds a host path (file, symlink chain, or directory tree) at its canonical location. */
async function addHostPath(c: Collected, p: string, depth = 0): Promise<void> {
  if (depth > 40) throw new Error(`too many symlinks resolving ${p}`);
  const abs = resolve(p);
  // Record symlinked ancestors (e.g. /lib -> usr/lib) so paths that go through them work in the box.
  let cur = '';
  for (const part of dirname(abs).split('/').filter(Boolean)) {
    cur = `${cur}/${part}`;
    if (c.entries.has(cur)) continue;
    const st = await lstat(cur);
    if (st.isSymbolicLink()) {
      const target = await readlink(cur);
      c.entries.set(cur, { type: 'symlink', path: cur, target });
    }
  }
  const realDir = await realpath(dirname(abs));
  const canonical = join(realDir, posix.basename(abs));
  if (c.entries.has(canonical)) return;
  const st = await lstat(canonical);
  addDirChain(c, realDir);
  if (st.isSymbolicLink()) {
    const target = await readlink(canonical);
    c.entries.set(canonical, { type: 'symlink', path: canonical, target });
    await addHostPath(c, resolve(realDir, target), depth + 1);
    return;
  }
  if (st.isDirectory()) {
    c.entries.set(canonical, { type: 'dir', path: canonical, mode: st.mode & 0o7777 });
    for (const name of await readdir(canonical)) await addHostPath(c, join(canonical, name), depth);
    return;
  }
  if (!st.isFile()) return; // sockets, fifos, devices: not part of a root filesystem image
  const key = `${st.dev}:${st.ino}`;
  const first = c.inodes.get(key);
  if (first !== undefined) {
    c.entries.set(canonical, { type: 'hardlink', path: canonical, target: first });
    return;
  }
  c.inodes.set(key, canonical);
  const data = await readFile(canonical);
  c.entries.set(canonical, { type: 'file', path: canonical, mode: st.mode & 0o7777, data });
  if ((st.mode & 0o111) !== 0 || /\.so(\.|$)/.test(canonical)) {
    if (await isElf(canonical)) c.elfs.add(canonical);
  }
}

/** Shared libraries an ELF file needs, from `ldd`. Statically linked files need none. */
async function sharedLibraries(path: string): Promise<string[]> {
  let out: string;
  try {
    out = (await execFileP('ldd', [path], { encoding: 'utf8' })).stdout;
  } catch (e: unknown) {
    const msg = toError(e).message;
    if (/not a dynamic executable|statically linked/.test(msg)) return [];
    throw new Error(`ldd ${path} failed: ${msg}`);
  }
  const libs: string[] = [];
  for (const line of out.split('\n')) {
    const arrow = /=>\s*(\/\S+)/.exec(line);
    const bare = /^\s*(\/\S+)\s+\(/.exec(line);
    const lib = arrow?.[1] ?? bare?.[1];
    if (lib !== undefined) libs.push(lib);
    else if (/=>\s*not found/.test(line)) throw new Error(`ldd ${path}: ${line.trim()}`);
  }
  return libs;
}

async function findBinary(name: string): Promise<string | undefined> {
  for (const dir of ['/usr/bin', '/bin', '/usr/sbin', '/sbin', '/usr/local/bin']) {
    const p = join(dir, name);
    try {
      await lstat(p);
      return p;
    } catch {
      // not in this directory; try the next one
    }
  }
  return undefined;
}

function textFile(path: string, text: string, mode = 0o644): TarEntry {
  return { type: 'file', path, mode, data: Buffer.from(text) };
}

/** Assembles the image's entries (exported for tests and for `marionette images build --dry-run`). */
export async function collectAgentRootfs(
  opts: {
    nodePath?: string;
    extraPaths?: readonly string[];
    extraLinks?: readonly { path: string; target: string }[];
  } = {},
): Promise<TarEntry[]> {
  const c: Collected = { entries: new Map(), inodes: new Map(), elfs: new Set() };
  // Merged-/usr hosts: keep /bin -> usr/bin and friends so `#!/bin/sh` and /lib64 loaders resolve.
  for (const top of ['/bin', '/sbin', '/lib', '/lib64', '/lib32', '/libx32']) {
    const st = await lstat(top).catch(() => undefined);
    if (st?.isSymbolicLink()) c.entries.set(top, { type: 'symlink', path: top, target: await readlink(top) });
  }
  for (const name of AGENT_IMAGE_BINARIES) {
    const p = await findBinary(name);
    if (p !== undefined) await addHostPath(c, p);
  }
  for (const p of ['/usr/lib/git-core', '/usr/share/git-core/templates', '/etc/ssl/certs/ca-certificates.crt']) {
    try {
      await lstat(p);
    } catch {
      continue;
    }
    await addHostPath(c, p);
  }
  for (const p of opts.extraPaths ?? []) await addHostPath(c, p);
  // Libraries for everything collected, and for the host's Node (mounted at run time, not copied).
  const pending = [...c.elfs, opts.nodePath ?? process.execPath];
  const seen = new Set<string>();
  while (pending.length > 0) {
    const bin = pending.pop();
    if (bin === undefined || seen.has(bin)) continue;
    seen.add(bin);
    for (const lib of await sharedLibraries(bin)) {
      const before = c.elfs.size;
      await addHostPath(c, lib);
      if (c.elfs.size > before) for (const e of c.elfs) if (!seen.has(e)) pending.push(e);
    }
  }
  const own = { uid: AGENT_UID, gid: AGENT_GID };
  const dirs: TarEntry[] = [
    { type: 'dir', path: '/etc', mode: 0o755 },
    { type: 'dir', path: '/tmp', mode: 0o1777 },
    { type: 'dir', path: '/var', mode: 0o755 },
    { type: 'dir', path: '/var/tmp', mode: 0o1777 },
    { type: 'dir', path: '/root', mode: 0o700 },
    { type: 'dir', path: '/home', mode: 0o755 },
    { type: 'dir', path: '/home/agent', mode: 0o755, ...own },
    { type: 'dir', path: WORKSPACE_IN_BOX, mode: 0o755, ...own },
    { type: 'dir', path: '/opt', mode: 0o755 },
    { type: 'dir', path: '/opt/tools', mode: 0o755, ...own },
    { type: 'dir', path: '/opt/tools/bin', mode: 0o755, ...own },
    { type: 'dir', path: PACKAGE_ROOT_IN_BOX, mode: 0o755 },
    { type: 'dir', path: dirname(dirname(NODE_IN_BOX)), mode: 0o755 },
    { type: 'dir', path: dirname(NODE_IN_BOX), mode: 0o755 },
    { type: 'dir', path: '/run', mode: 0o755 },
    { type: 'dir', path: '/run/marionette', mode: 0o755 },
    { type: 'dir', path: '/usr', mode: 0o755 },
    { type: 'dir', path: '/usr/local', mode: 0o755 },
    { type: 'dir', path: '/usr/local/bin', mode: 0o755, ...own },
    { type: 'dir', path: '/proc', mode: 0o555 },
    { type: 'dir', path: '/sys', mode: 0o555 },
    { type: 'dir', path: '/dev', mode: 0o755 },
  ];
  const files: TarEntry[] = [
    textFile(
      '/etc/passwd',
      `root:x:0:0:root:/root:/bin/sh\nagent:x:${AGENT_UID}:${AGENT_GID}:marionette agent:/home/agent:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n`,
    ),
    textFile('/etc/group', `root:x:0:\nagent:x:${AGENT_GID}:\nnogroup:x:65534:\n`),
    textFile('/etc/nsswitch.conf', 'passwd: files\ngroup: files\nhosts: files dns\n'),
    textFile(
      '/etc/os-release',
      'NAME="Marionette agent"\nID=marionette\nPRETTY_NAME="Marionette agent (host-assembled)"\n',
    ),
  ];
  // Our fixed entries override whatever the host walk put at the same path (ownership of /usr/local/bin etc.).
  for (const e of [...dirs, ...files]) c.entries.set(e.path, e);
  for (const l of opts.extraLinks ?? []) c.entries.set(l.path, { type: 'symlink', path: l.path, target: l.target });
  const all = [...c.entries.values()];
  const rank = (e: TarEntry): number => (e.type === 'dir' ? 0 : e.type === 'file' ? 1 : e.type === 'symlink' ? 2 : 3);
  all.sort((a, b) => rank(a) - rank(b) || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return all;
}

async function imageExists(docker: ImageBuildClient, tag: string, format?: string): Promise<string | undefined> {
  try {
    const info = await docker.getImage(tag).inspect();
    if (format !== undefined && info.Config?.Labels?.[AGENT_IMAGE_FORMAT_LABEL] !== format) return undefined;
    return info.Id;
  } catch (e: unknown) {
    if ((e as { statusCode?: number }).statusCode === 404) return undefined;
    throw e;
  }
}

/**
 * The id of the agent image `tag` if it exists in the current layout and carries every agent CLI in
 * `agents` (`name@version`, per its `io.marionette.agents` label); else undefined, so
 * `--if-missing` rebuilds an image that lacks a CLI asked for.
 */
export async function existingAgentImage(
  docker: ImageBuildClient,
  tag: string,
  agents: readonly string[] = [],
): Promise<string | undefined> {
  const id = await imageExists(docker, tag, AGENT_IMAGE_FORMAT);
  if (id === undefined || agents.length === 0) return id;
  const info = await docker.getImage(tag).inspect();
  const has = new Set((info.Config?.Labels?.[AGENTS_LABEL] ?? '').split(',').filter(Boolean));
  return agents.every((a) => has.has(a)) ? id : undefined;
}

/**
 * Builds the default agent image with no registry, from files on this machine, via `docker import`.
 * Takes seconds. The image has user `agent` (1000:1000), `/workspace`, `/opt/tools/bin` and
 * `/usr/local/bin` owned by that user, and an entrypoint that runs the mounted Node on the mounted agent.
 *
 * @example
 * await buildAgentImage({ docker: new Dockerode(), tag: 'marionette/agent:latest', ifMissing: true })
 */
export async function buildAgentImage(opts: BuildAgentImageOptions): Promise<BuildAgentImageResult> {
  const tag = opts.tag ?? DEFAULT_AGENT_IMAGE;
  if (opts.ifMissing) {
    const id = await existingAgentImage(opts.docker, tag, opts.agents);
    if (id !== undefined) return { tag, id, built: false, entries: 0, bytes: 0 };
  }
  const previousId = await imageExists(opts.docker, tag);
  const entries = await collectAgentRootfs({
    ...(opts.nodePath === undefined ? {} : { nodePath: opts.nodePath }),
    ...(opts.extraPaths === undefined ? {} : { extraPaths: opts.extraPaths }),
    ...(opts.extraLinks === undefined ? {} : { extraLinks: opts.extraLinks }),
  });
  const bytes = entries.reduce((n, e) => n + (e.type === 'file' ? e.data.length : 0), 0);
  const lastColon = tag.lastIndexOf(':');
  const hasTag = lastColon > tag.lastIndexOf('/');
  const repo = hasTag ? tag.slice(0, lastColon) : tag;
  const version = hasTag ? tag.slice(lastColon + 1) : 'latest';
  const changes = [
    `USER ${AGENT_UID}:${AGENT_GID}`,
    `WORKDIR ${WORKSPACE_IN_BOX}`,
    'ENV PATH=/opt/marionette-node/bin:/opt/tools/bin:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin',
    'ENV HOME=/home/agent',
    `ENTRYPOINT ["${NODE_IN_BOX}", "${PACKAGE_ROOT_IN_BOX}/bin/marionette-agent"]`,
    `LABEL ${AGENT_IMAGE_LABEL}=agent`,
    `LABEL ${WORKSPACE_OWNER_LABEL}=${AGENT_UID}:${AGENT_GID}`,
    `LABEL ${AGENT_IMAGE_FORMAT_LABEL}=${AGENT_IMAGE_FORMAT}`,
    ...(opts.agents?.length ? [`LABEL ${AGENTS_LABEL}=${opts.agents.join(',')}`] : []),
  ];
  let stream: NodeJS.ReadableStream;
  try {
    stream = await opts.docker.importImage(Readable.from(tarChunks(entries)), {
      repo,
      tag: version,
      changes,
    } as unknown as Record<string, unknown>);
  } catch (e: unknown) {
    throw new ProviderUnavailable(`docker import of ${tag} failed: ${toError(e).message}`);
  }
  await new Promise<void>((res, rej) => {
    opts.docker.modem.followProgress(stream, (err: Error | null, output: Array<{ error?: string }>) => {
      if (err) return rej(new ProviderUnavailable(`docker import of ${tag} failed: ${err.message}`));
      const failed = output.find((o) => typeof o.error === 'string');
      if (failed) return rej(new ProviderUnavailable(`docker import of ${tag} failed: ${failed.error}`));
      res();
    });
  });
  const id = await imageExists(opts.docker, tag);
  if (id === undefined)
    throw new ProviderUnavailable(`docker import of ${tag} reported success but the image is missing`);
  if (previousId !== undefined && previousId !== id) {
    // The old build lost its tag; drop it unless a container still uses it (then `docker image prune` will).
    try {
      await opts.docker.getImage(previousId).remove({});
    } catch (e: unknown) {
      const code = (e as { statusCode?: number }).statusCode;
      if (code !== 404 && code !== 409)
        throw new ProviderUnavailable(`removing the previous ${tag} failed: ${toError(e).message}`);
    }
  }
  return { tag, id, built: true, entries: entries.length, bytes };
}
