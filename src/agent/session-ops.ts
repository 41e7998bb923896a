/**
 * @module Work on a session's workspace outside its tasks, asked by the server (`session.op`) for
 * `mctl sessions exec|diff|push` (and `cp`, in ./session-files.ts): run a command there (its output streamed back, its exit code at
 * the end, killed with its process group at the timeout), print the changes against the base
 * commit the clone recorded (`refs/marionette/base`, ./repo.ts), or commit what the agent left and
 * push it with the session's git credential (through GIT_ASKPASS, as for the clone; redacted).
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ServerMessage, SessionOp } from '../protocol/messages.js';
import { type OpOutput, openOp, type Send } from './op-flow.js';
import { gitAt, type OpPlace, RUNNER_PLACE, sandboxPlace } from './op-sandbox.js';
import { credentialEnv, type GitRun, gitEnv, redactSecrets, runGit } from './repo.js';
import type { SandboxHost } from './sandbox/index.js';
import { runFilesOp } from './session-files.js';
import { runPty } from './session-pty.js';
import { taskEnv } from './task-env.js';

type OpMessage = Extract<ServerMessage, { type: 'session.op' }>;

/**
 * Starts `msg`'s op; everything it says goes through `send` (output frames, then one `done`).
 * `sandboxes`: the runner's nested sandbox host, for sessions whose op carries a `sandbox`.
 */
export function runSessionOp(
  msg: OpMessage,
  workspaces: { forSession(id: string): string },
  send: Send,
  sandboxes: SandboxHost | null = null,
): void {
  const { out: flow, end } = openOp(msg.ref, send);
  let place: OpPlace = RUNNER_PLACE;
  const done = (exitCode: number | null, error: string | null, commit: string | null = null) => {
    end();
    void place.close().catch(() => {});
    send({ type: 'session.op.done', ref: msg.ref, exitCode, error, commit });
  };
  const out = (stream: 'stdout' | 'stderr', text: string) => flow.write(stream, text);
  let workspace: string;
  try {
    workspace = workspaces.forSession(msg.sessionId);
  } catch (e: unknown) {
    done(null, `the session's workspace is not available on this runner: ${(e as Error).message}`);
    return;
  }
  const op = msg.op;
  const start = () => {
    if (op.kind === 'files.get' || op.kind === 'files.put') {
      runFilesOp(msg.ref, op, workspace, { flow, send, place }, (code, error) => done(code, error));
      return;
    }
    if (op.kind === 'pty') {
      runPty(msg.ref, op, workspace, { flow, send, place }, (code, error) => done(code, error));
      return;
    }
    void run(op, workspace, out, flow, place).then(
      (r) => done(r.exitCode, r.error, r.commit ?? null),
      (e: unknown) => done(null, (e as Error).message),
    );
  };
  if (!msg.sandbox) {
    start();
    return;
  }
  // The session's tasks run in a nested sandbox: so do its ops (never unsandboxed).
  sandboxPlace(sandboxes, msg.sandbox, workspace, msg.ref).then(
    (p) => {
      place = p;
      start();
    },
    (e: unknown) => done(null, (e as Error).message),
  );
}

interface OpResult {
  exitCode: number | null;
  error: string | null;
  commit?: string | null;
}

type Out = (stream: 'stdout' | 'stderr', text: string) => void;

async function run(
  op: Exclude<SessionOp, { kind: 'files.get' | 'files.put' | 'pty' }>,
  workspace: string,
  out: Out,
  flow: OpOutput,
  place: OpPlace,
): Promise<OpResult> {
  switch (op.kind) {
    case 'exec':
      return execIn(op.argv, workspace, op.timeoutMs, out, flow, place);
    case 'diff':
      return diff(workspace, out, place);
    case 'push':
      return push(op, workspace, out, place);
  }
}

function execIn(
  argv: string[],
  cwd: string,
  timeoutMs: number,
  out: Out,
  flow: OpOutput,
  place: OpPlace,
): Promise<OpResult> {
  return new Promise((resolve) => {
    const file = argv[0];
    let child: ChildProcess;
    try {
      child = place.spawn(argv, { cwd, env: taskEnv(process.env, {}, cwd) });
    } catch (e: unknown) {
      resolve({ exitCode: null, error: (e as Error).message });
      return;
    }
    const stdout = child.stdout!;
    const stderr = child.stderr!;
    let timedOut = false;
    let cancelled = false;
    const killGroup = () => place.kill(child);
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup();
    }, timeoutMs);
    // The client went away (or was interrupted): the command and everything it started end now.
    flow.handlers.cancel = () => {
      cancelled = true;
      killGroup();
    };
    flow.source(
      () => {
        stdout.pause();
        stderr.pause();
      },
      () => {
        stdout.resume();
        stderr.resume();
      },
    );
    stdout.setEncoding('utf8').on('data', (t: string) => out('stdout', t));
    stderr.setEncoding('utf8').on('data', (t: string) => out('stderr', t));
    let spawnError: string | null = null;
    child.once('error', (e: NodeJS.ErrnoException) => {
      spawnError = e.code === 'ENOENT' ? `${file}: command not found in the session's sandbox` : e.message;
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (spawnError) resolve({ exitCode: 127, error: spawnError });
      else if (cancelled) resolve({ exitCode: null, error: 'interrupted: the client went away' });
      else if (timedOut) resolve({ exitCode: null, error: `timed out after ${Math.round(timeoutMs / 1000)}s` });
      else resolve({ exitCode: code ?? (signal ? 128 : null), error: null });
    });
  });
}

const NO_BASE =
  'the workspace has no base commit: the session was created without --repo, or its clone has not run yet';

type Git = (args: string[], cwd: string, env: Record<string, string>) => Promise<GitRun>;

async function base(workspace: string, env: Record<string, string>, git: Git): Promise<string | null> {
  if (!existsSync(join(workspace, '.git'))) return null;
  const r = await git(['rev-parse', '--verify', '-q', 'refs/marionette/base^{commit}'], workspace, env);
  return r.code === 0 ? r.stdout.trim() : null;
}

async function diff(workspace: string, out: Out, place: OpPlace): Promise<OpResult> {
  const runGit: Git = (args, cwd, env) => gitAt(place, args, cwd, env);
  const env = gitEnv(taskEnv(process.env, {}, workspace));
  const b = await base(workspace, env, runGit);
  if (!b) return { exitCode: null, error: NO_BASE };
  // New files count as changes: marked intent-to-add (the index only), then one diff against the base.
  const add = await runGit(['add', '-A', '--intent-to-add', '.'], workspace, env);
  if (add.code !== 0) return { exitCode: add.code, error: `git add failed: ${add.stderr.trim()}` };
  const d = await runGit(
    ['-c', 'core.quotepath=off', '-c', 'core.fsmonitor=false', 'diff', '--binary', b],
    workspace,
    env,
  );
  if (d.stdout) out('stdout', d.stdout);
  if (d.code !== 0) return { exitCode: d.code, error: `git diff failed: ${d.stderr.trim()}` };
  return { exitCode: 0, error: null, commit: b };
}

async function push(
  op: Extract<SessionOp, { kind: 'push' }>,
  workspace: string,
  out: Out,
  place: OpPlace,
): Promise<OpResult> {
  const plain = gitEnv(taskEnv(process.env, {}, workspace));
  const inPlace: Git = (args, cwd, env) => gitAt(place, args, cwd, env);
  const b = await base(workspace, plain, inPlace);
  if (!b) return { exitCode: null, error: NO_BASE };
  const cred = credentialEnv(op.repo);
  const say = (s: string) => redactSecrets(s, cred.secrets);
  // The workspace is the agent's: its hooks and fsmonitor never run, and only the push itself gets the credential.
  const safe = ['-c', 'credential.helper=', '-c', 'core.hooksPath=/dev/null', '-c', 'core.fsmonitor=false'];
  const g = (args: string[], withCredential = false) =>
    withCredential && place.sandboxed
      ? pushFromClean(workspace, plain, cred.env, args, safe)
      : (withCredential ? runGit : inPlace)(
          [...safe, ...args],
          workspace,
          withCredential ? { ...plain, ...cred.env } : plain,
        );
  try {
    const add = await g(['add', '-A', '.']);
    if (add.code !== 0) return { exitCode: add.code, error: say(`git add failed: ${add.stderr.trim()}`) };
    const staged = await g(['diff', '--cached', '--quiet']);
    if (staged.code === 1) {
      const who = ['-c', `user.name=${op.author.name}`, '-c', `user.email=${op.author.email}`];
      const c = await g([...who, 'commit', '-q', '--no-verify', '-m', op.message]);
      if (c.code !== 0)
        return { exitCode: c.code, error: say(`git commit failed: ${c.stderr.trim() || c.stdout.trim()}`) };
    }
    const head = (await g(['rev-parse', 'HEAD'])).stdout.trim();
    if (head === b)
      return { exitCode: null, error: 'nothing to push: the workspace has no changes against its base commit' };
    const p = await g(['push', '-q', '--no-verify', '--', op.repo.url, `HEAD:refs/heads/${op.branch}`], true);
    if (p.stderr.trim()) out('stderr', say(p.stderr));
    if (p.code !== 0) return { exitCode: p.code, error: say(`git push failed: ${p.stderr.trim()}`) };
    return { exitCode: 0, error: null, commit: head };
  } finally {
    cred.cleanup();
  }
}

/**
 * A sandboxed session's push: the commit was made inside its sandbox; the push with the
 * credential runs on the runner, from a fresh bare repository that fetched HEAD from the
 * workspace, so no setting of the agent's repository (a url rewrite, a proxy, an ssh command)
 * applies to the credential's use. `args` is the push command (`push ... -- URL HEAD:refs/heads/B`).
 */
async function pushFromClean(
  workspace: string,
  plain: Record<string, string>,
  credEnv: Record<string, string>,
  args: string[],
  safe: string[],
): Promise<GitRun> {
  const bare = mkdtempSync(join(tmpdir(), 'marionette-push-'));
  try {
    const init = await runGit(['init', '-q', '--bare', bare], bare, plain);
    if (init.code !== 0) return init;
    const fetch = await runGit([...safe, 'fetch', '-q', '--no-tags', '--', workspace, 'HEAD'], bare, plain);
    if (fetch.code !== 0) return { ...fetch, stderr: `fetching the commit from the workspace: ${fetch.stderr}` };
    const spec = args[args.length - 1]!.replace(/^HEAD:/, 'FETCH_HEAD:');
    return await runGit([...safe, ...args.slice(0, -1), spec], bare, { ...plain, ...credEnv });
  } finally {
    rmSync(bare, { recursive: true, force: true });
  }
}
