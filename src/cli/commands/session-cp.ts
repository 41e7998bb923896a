/**
 * @module `mctl sessions cp`: files and directories between a session's workspace and here, as
 * docker cp does them: `cp ID:PATH LOCAL` and `cp LOCAL ID:PATH` (ID may be a unique prefix; PATH
 * is relative to the workspace). Both ways travel as a tar stream, packed and unpacked by the
 * system's `tar` on each side, never held whole in memory. Into an existing directory the copy
 * keeps its name; anywhere else it takes the name given (`cp ID:a.txt b.txt` makes `b.txt`).
 * `cp ID:PATH -` writes the tar to stdout. An argument is local when it starts with `/` or `.` or
 * holds no `:`.
 */
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, lstatSync, mkdtempSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join, posix, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import type { Command } from 'commander';
import type { MarionetteClient } from '../../client/index.js';
import { CliError } from '../client.js';
import { ctx } from '../context.js';
import { resolveId } from '../id-prefix.js';
import { print } from '../output.js';

/** `tar` with `args`; child_process loaded only here (every other mctl command runs without it). */
function spawnTar(args: string[], stdio: ('pipe' | 'ignore')[]): ChildProcess {
  const cp = createRequire(import.meta.url)('node:child_process') as typeof import('node:child_process');
  return cp.spawn('tar', args, { stdio: stdio as ['pipe' | 'ignore', 'pipe' | 'ignore', 'pipe'] });
}

type Spec = { remote: false; path: string } | { remote: true; id: string; path: string };

/** `ID:PATH` or a local path. */
export function parseSpec(arg: string): Spec {
  const c = arg.indexOf(':');
  if (arg.startsWith('/') || arg.startsWith('.') || c < 0) return { remote: false, path: arg };
  const id = arg.slice(0, c);
  if (!id) throw new CliError(`${JSON.stringify(arg)}: no session id before the ":"`);
  return { remote: true, id, path: arg.slice(c + 1) || '.' };
}

/** A `tar` child's end: its exit code and what it said, or a clear error when there is no tar. */
async function tarResult(tar: ChildProcess): Promise<{ code: number | null; stderr: string }> {
  let stderr = '';
  tar.stderr?.setEncoding('utf8').on('data', (t: string) => {
    if (stderr.length < 16_384) stderr += t;
  });
  const [code] = await Promise.race([
    once(tar, 'close') as Promise<[number | null]>,
    once(tar, 'error').then(([e]) => {
      throw new CliError(
        (e as NodeJS.ErrnoException).code === 'ENOENT'
          ? 'mctl sessions cp needs `tar` on this machine'
          : `tar: ${(e as Error).message}`,
      );
    }),
  ]);
  return { code, stderr: stderr.trim() };
}

async function download(api: MarionetteClient, id: string, path: string, local: string): Promise<string> {
  if (local === '-') {
    for await (const c of await api.downloadSessionFiles(id, path))
      if (!process.stdout.write(c)) await once(process.stdout, 'drain');
    return '-';
  }
  const target = resolve(local);
  const intoDir = existsSync(target) && statSync(target).isDirectory();
  if (!intoDir && !existsSync(dirname(target)))
    throw new CliError(`${local}: its directory ${dirname(target)} does not exist`);
  // Asked before anything is made here, so a refusal (a missing path) leaves nothing behind.
  const body = await api.downloadSessionFiles(id, path);
  const staging = intoDir ? null : mkdtempSync(join(dirname(target), '.mctl-cp-'));
  try {
    const tar = spawnTar(['-C', staging ?? target, '-xf', '-', '--no-same-owner'], ['pipe', 'ignore', 'pipe']);
    const ended = tarResult(tar);
    tar.stdin!.on('error', () => {});
    try {
      for await (const c of body) if (!tar.stdin!.write(c)) await once(tar.stdin!, 'drain');
    } catch {
      tar.kill('SIGKILL');
      await ended.catch(() => {});
      throw new CliError(`the copy of ${id}:${path} broke off before its end; nothing was kept`);
    }
    tar.stdin!.end();
    const t = await ended;
    if (t.code !== 0) throw new CliError(`tar could not unpack ${id}:${path}: ${t.stderr || `exit ${t.code}`}`);
    if (staging) {
      const name = posix.basename(posix.normalize(path));
      const entries = readdirSync(staging);
      // One top entry (a file or directory): it becomes `target`; the workspace root: its contents do.
      if (entries.length === 1 && entries[0] === name) {
        if (existsSync(target)) rmSync(target, { force: true });
        renameSync(join(staging, name), target);
      } else renameSync(staging, target);
    }
    return intoDir ? join(target, posix.basename(posix.normalize(path))) : target;
  } finally {
    if (staging) rmSync(staging, { recursive: true, force: true });
  }
}

async function upload(api: MarionetteClient, id: string, local: string, path: string): Promise<string> {
  if (local === '-') throw new CliError('"-" (a tar on stdin) is not taken for copying in; name a file or directory');
  const source = resolve(local);
  try {
    lstatSync(source);
  } catch {
    throw new CliError(`${local}: no such file or directory`);
  }
  const name = basename(source);
  const tar = spawnTar(['-C', dirname(source), '-cf', '-', '--', name], ['ignore', 'pipe', 'pipe']);
  const ended = tarResult(tar);
  try {
    await api.uploadSessionFiles(id, { path, name }, tar.stdout as Readable);
  } finally {
    tar.stdout?.resume();
  }
  const t = await ended;
  if (t.code !== 0) throw new CliError(`tar could not pack ${local}: ${t.stderr || `exit ${t.code}`}`);
  return path;
}

export function cpCommand(sessions: Command): void {
  sessions
    .command('cp <src> <dst>')
    .description(
      "Copy files or directories between a session's workspace and here: cp ID:PATH LOCAL | cp LOCAL ID:PATH (LOCAL - : the tar on stdout)",
    )
    .action(async (src: string, dst: string, _o: unknown, cmd: Command) => {
      const { api, out } = ctx(cmd);
      const from = parseSpec(src);
      const to = parseSpec(dst);
      if (from.remote && to.remote) throw new CliError('copy between two sessions is not supported: one side is local');
      if (!from.remote && !to.remote)
        throw new CliError(
          'neither side names a session',
          'write the session side as ID:PATH, e.g. ses_abc:src/main.ts',
        );
      if (from.remote) {
        const id = await resolveId(api, 'session', from.id);
        const wrote = await download(api, id, from.path, to.path);
        if (wrote !== '-')
          print(out, { session: id, from: from.path, to: wrote }, () => `copied ${id}:${from.path} to ${wrote}`);
      } else if (to.remote) {
        const id = await resolveId(api, 'session', to.id);
        await upload(api, id, from.path, to.path);
        print(out, { session: id, from: from.path, to: to.path }, () => `copied ${from.path} to ${id}:${to.path}`);
      }
    });
}
