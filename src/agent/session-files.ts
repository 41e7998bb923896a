/**
 * @module A runner's side of `mctl sessions cp`: files and directories in and out of a session's
 * workspace as tar streams (the system's `tar`, present on every runner image).
 *
 * - `files.get`: `path` packed (`tar -c`, its last component as the one top entry), the bytes sent
 *   base64 in `session.op.output` frames as tar writes them, then `done`.
 * - `files.put`: the tar arrives in `session.op.input` frames (in order, `eof` on the last); it is
 *   unpacked into `path` when that is a directory, else into a fresh directory beside `path` whose
 *   one top entry is then renamed to `path` (so `cp a.txt ID:b.txt` makes `b.txt`).
 *
 * Paths are relative to the workspace (an absolute one is taken only when it lies inside it, e.g.
 * `/workspace/src` in a docker session); one that leads outside it, through `..` or a symlink, is
 * refused with that reason, as is a missing one. tar never writes outside the directory it unpacks
 * into (GNU tar drops `..` members and leading `/`), and files are created as the runner's user.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, realpathSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import type { SessionOp } from '../protocol/messages.js';
import type { OpOutput, Send } from './op-flow.js';
import type { OpPlace } from './op-sandbox.js';
import { taskEnv } from './task-env.js';

type Done = (exitCode: number | null, error: string | null) => void;

/** Raw bytes per output frame (base64 makes it 4/3 of this, under the frame's 1 MiB bound). */
const RAW_CHUNK = 512 * 1024;

/** A put that gets no input for this long is given up (its sender is gone). */
const INPUT_IDLE_MS = 5 * 60_000;

/** An op that refuses, with the reason the user is told. */
class Refused extends Error {}

/**
 * `p` inside `workspace` as a real path (symlinks resolved); `mustExist` false allows a last
 * component that does not exist yet (its directory must). Throws {@link Refused} otherwise.
 */
export function workspacePath(workspace: string, p: string, mustExist: boolean): string {
  const root = realpathSync(workspace);
  let rel = p;
  if (isAbsolute(p)) {
    const inside = [workspace, root].map((w) => relative(w, p)).find((r) => !r.startsWith('..') && !isAbsolute(r));
    if (inside === undefined)
      throw new Refused(`${p}: an absolute path outside the session's workspace (${workspace}); give a relative one`);
    rel = inside;
  }
  const target = resolve(root, rel);
  const within = (x: string) => x === root || x.startsWith(root + sep);
  if (!within(target)) throw new Refused(`${p}: leads outside the session's workspace`);
  if (existsSync(target)) {
    const real = realpathSync(target);
    if (!within(real)) throw new Refused(`${p}: leads outside the session's workspace (through a symlink)`);
    return real;
  }
  if (mustExist) throw new Refused(`${p}: no such file or directory in the session's workspace`);
  const parent = dirname(target);
  if (!existsSync(parent) || !statSync(parent).isDirectory())
    throw new Refused(`${p}: its directory ${relative(root, parent) || '.'} does not exist in the session's workspace`);
  const realParent = realpathSync(parent);
  if (!within(realParent)) throw new Refused(`${p}: leads outside the session's workspace (through a symlink)`);
  return join(realParent, basename(target));
}

function tarError(tar: ChildProcess, what: string, done: (stderr: string, code: number | null) => void): void {
  let stderr = '';
  tar.stderr?.setEncoding('utf8').on('data', (t: string) => {
    if (stderr.length < 16_384) stderr += t;
  });
  let spawnError: string | null = null;
  tar.once('error', (e: NodeJS.ErrnoException) => {
    spawnError = e.code === 'ENOENT' ? `tar is not installed on the session's runner (needed to ${what})` : e.message;
  });
  tar.once('close', (code) => done(spawnError ?? stderr.trim(), spawnError ? null : code));
}

/**
 * Starts a `files.get` or `files.put` op; `done` is called once, at its end. Its output goes
 * through `flow` (which pauses tar when the server has not caught up); a put's input comes in
 * through `flow.handlers.input` and is acknowledged once tar took it in.
 */
export function runFilesOp(
  ref: string,
  op: Extract<SessionOp, { kind: 'files.get' | 'files.put' }>,
  workspace: string,
  io: { flow: OpOutput; send: Send; place: OpPlace },
  done: Done,
): void {
  try {
    if (op.kind === 'files.get') get(op.path, workspace, io.flow, io.place, done);
    else put(ref, op.path, op.name, workspace, io, done);
  } catch (e: unknown) {
    done(null, e instanceof Refused ? e.message : `cp: ${(e as Error).message}`);
  }
}

/** A real path inside the workspace as the op's commands see it (a sandbox binds the workspace at its own path). */
function seen(workspace: string, real: string): string {
  const rel = relative(realpathSync(workspace), real);
  return rel ? join(workspace, rel) : workspace;
}

function get(path: string, workspace: string, flow: OpOutput, place: OpPlace, done: Done): void {
  const real = workspacePath(workspace, path, true);
  const root = realpathSync(workspace);
  const [dir, entry] = real === root ? [root, '.'] : [dirname(real), basename(real)];
  const tar = place.spawn(['tar', '-C', seen(workspace, dir), '-cf', '-', '--', entry], {
    cwd: workspace,
    env: taskEnv(process.env, {}, workspace),
  });
  const out = (stream: 'stdout', text: string) => flow.write(stream, text);
  let cancelled = false;
  flow.source(
    () => tar.stdout!.pause(),
    () => tar.stdout!.resume(),
  );
  flow.handlers.cancel = () => {
    cancelled = true;
    place.kill(tar);
  };
  let pending: Buffer = Buffer.alloc(0);
  tar.stdout!.on('data', (b: Buffer) => {
    pending = pending.length ? Buffer.concat([pending, b]) : b;
    while (pending.length >= RAW_CHUNK) {
      out('stdout', pending.subarray(0, RAW_CHUNK).toString('base64'));
      pending = pending.subarray(RAW_CHUNK);
    }
  });
  tarError(tar, 'copy files out', (stderr, code) => {
    if (pending.length) out('stdout', pending.toString('base64'));
    if (cancelled) done(null, 'interrupted: the client went away');
    else if (code === 0) done(0, null);
    else done(code, `tar failed packing ${path}: ${stderr || `exit ${code}`}`);
  });
}

/** `name` as one plain path component (what the client packed at the top of its tar). */
function checkName(name: string): void {
  if (name === '.' || name === '..' || name.includes('/') || name.includes('\0'))
    throw new Refused(`${JSON.stringify(name)}: not a file or directory name`);
}

function put(
  ref: string,
  path: string,
  name: string,
  workspace: string,
  io: { flow: OpOutput; send: Send; place: OpPlace },
  done: Done,
): void {
  const { flow, send, place } = io;
  checkName(name);
  const real = workspacePath(workspace, path, false);
  const intoDir = existsSync(real) && statSync(real).isDirectory();
  // Into an existing directory: there. Else into a fresh one beside the target, then renamed.
  const staging = intoDir ? null : mkdtempSync(join(dirname(real), '.mctl-cp-'));
  const tar = place.spawn(
    ['tar', '-C', seen(workspace, staging ?? real), '-xf', '-', '--no-same-owner', '--no-same-permissions'],
    { cwd: workspace, env: taskEnv(process.env, {}, workspace), stdin: true },
  );
  tar.stdout!.resume();
  let failed = false;
  let starved = false;
  tar.stdin!.on('error', () => {
    failed = true;
  });
  let timer: NodeJS.Timeout | undefined;
  const idle = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      starved = true;
      place.kill(tar);
    }, INPUT_IDLE_MS);
  };
  idle();
  let cancelled = false;
  flow.handlers.cancel = () => {
    cancelled = true;
    place.kill(tar);
  };
  // Each frame is acknowledged once tar has taken it in, so the server sends no faster than tar unpacks.
  flow.takeInput((data, eof) => {
    if (failed) return;
    idle();
    const ack = () => send({ type: 'session.op.input.ack', ref, bytes: data.length });
    if (data) tar.stdin!.write(Buffer.from(data, 'base64'), ack);
    else ack();
    if (eof) tar.stdin!.end();
  });
  tarError(tar, 'copy files in', (stderr, code) => {
    clearTimeout(timer);
    try {
      if (cancelled) done(null, `interrupted: the copy into ${path} was given up`);
      else if (starved) done(null, `no data came for ${INPUT_IDLE_MS / 1000}s: the copy into ${path} was given up`);
      else if (code !== 0) done(code, `tar failed unpacking into ${path}: ${stderr || `exit ${code}`}`);
      else if (staging && !existsSync(join(staging, name)))
        done(null, `the archive sent holds no ${JSON.stringify(name)} at its top`);
      else {
        if (staging) {
          if (existsSync(real)) rmSync(real, { force: true });
          renameSync(join(staging, name), real);
        }
        done(0, null);
      }
    } catch (e: unknown) {
      done(null, `cp into ${path}: ${(e as Error).message}`);
    } finally {
      if (staging) rmSync(staging, { recursive: true, force: true });
    }
  });
}
