/**
 * @module Clones a session's repository into its workspace before its first task (a workspace that
 * already holds `.git`, from an earlier task or a restored snapshot, is left as it is), checks out
 * the ref and records the base commit as `refs/marionette/base`.
 *
 * Credentials: a token reaches git through `GIT_ASKPASS` (a script in a private temporary folder
 * that prints the value from git's own environment), an ssh key through a 0600 key file named in
 * `GIT_SSH_COMMAND`; never on a command line, never in the clone URL, so never in `.git/config`.
 * Credential helpers are switched off for the clone (nothing is stored), and the temporary folder
 * is removed afterwards. Everything git prints is shown with the secret (and its URL-encoded form)
 * replaced by `[redacted]`.
 */
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RepoAssignment } from '../protocol/messages.js';

export interface GitRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Replaces each secret (and its URL-encoded form) in `text` with `[redacted]`. */
export function redactSecrets(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) {
    if (!s) continue;
    for (const form of new Set([s, encodeURIComponent(s)])) out = out.split(form).join('[redacted]');
  }
  return out;
}

/** Runs git with `env`; resolves with its output (never rejects: a missing git is code null). */
export function runGit(args: string[], cwd: string, env: Record<string, string>): Promise<GitRun> {
  return new Promise((resolve) => {
    const child = spawn('git', args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      if (stdout.length < 1 << 20) stdout += c.toString('utf8');
    });
    child.stderr.on('data', (c: Buffer) => {
      if (stderr.length < 1 << 20) stderr += c.toString('utf8');
    });
    child.once('error', (e) => resolve({ code: null, stdout, stderr: `could not run git: ${e.message}` }));
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Git's environment: no prompts, no user or system config surprises beyond the machine's own. */
export function gitEnv(base: Record<string, string>): Record<string, string> {
  return { ...base, GIT_TERMINAL_PROMPT: '0', GIT_ASKPASS: '/bin/false', SSH_ASKPASS: '/bin/false' };
}

/** The temporary credential plumbing for one clone: env for git and a cleanup. */
export function credentialEnv(repo: RepoAssignment): {
  env: Record<string, string>;
  secrets: string[];
  cleanup(): void;
} {
  const c = repo.credential;
  if (!c) return { env: {}, secrets: [], cleanup() {} };
  const dir = mkdtempSync(join(tmpdir(), 'marionette-git-'));
  chmodSync(dir, 0o700);
  const cleanup = () => rmSync(dir, { recursive: true, force: true });
  try {
    if (c.kind === 'token') {
      const script = join(dir, 'askpass');
      // The values come from the environment git passes down; the script holds no secret.
      writeFileSync(
        script,
        '#!/bin/sh\ncase "$1" in\n  Username*|username*) printf \'%s\\n\' "$MARIONETTE_GIT_USERNAME" ;;\n  *) printf \'%s\\n\' "$MARIONETTE_GIT_SECRET" ;;\nesac\n',
        { mode: 0o700 },
      );
      return {
        env: {
          GIT_ASKPASS: script,
          MARIONETTE_GIT_USERNAME: c.username || 'x-access-token',
          MARIONETTE_GIT_SECRET: c.secret,
        },
        secrets: [c.secret],
        cleanup,
      };
    }
    const key = join(dir, 'id');
    writeFileSync(key, c.secret.endsWith('\n') ? c.secret : `${c.secret}\n`, { mode: 0o600 });
    return {
      env: {
        GIT_SSH_COMMAND: `ssh -i ${key} -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=accept-new`,
      },
      secrets: [c.secret],
      cleanup,
    };
  } catch (e: unknown) {
    cleanup();
    throw e;
  }
}

/** A URL as shown in messages: any user:password part removed. */
export function displayUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@]*@/i, '$1');
}

export type CloneResult = { ok: true; baseCommit: string; cloned: boolean } | { ok: false; error: string };

/**
 * Clones `repo` into `workspace` (which must be empty or absent) unless it already holds a
 * repository. `log` gets progress lines (redacted).
 */
export async function cloneRepo(
  repo: RepoAssignment,
  workspace: string,
  baseEnv: Record<string, string>,
  log: (line: string) => void,
): Promise<CloneResult> {
  if (existsSync(join(workspace, '.git'))) {
    const base = await runGit(
      ['rev-parse', '--verify', '-q', 'refs/marionette/base^{commit}'],
      workspace,
      gitEnv(baseEnv),
    );
    if (base.code === 0) return { ok: true, baseCommit: base.stdout.trim(), cloned: false };
    // The base ref is written right after a clone, before any task: without it the clone was
    // interrupted (the runner died in the middle). Nothing of the agent's is there: start over.
    log('the workspace holds an interrupted clone; cloning again');
    for (const f of readdirSync(workspace)) rmSync(join(workspace, f), { recursive: true, force: true });
  }
  if (existsSync(workspace) && readdirSync(workspace).length > 0)
    return { ok: false, error: `cannot clone ${displayUrl(repo.url)}: the workspace ${workspace} is not empty` };
  let cred: ReturnType<typeof credentialEnv>;
  try {
    cred = credentialEnv(repo);
  } catch (e: unknown) {
    return { ok: false, error: `cannot prepare the git credential: ${(e as Error).message}` };
  }
  const env = { ...gitEnv(baseEnv), ...cred.env };
  const say = (s: string) => redactSecrets(s, cred.secrets);
  const fail = (what: string, r: GitRun): CloneResult => ({
    ok: false,
    error: say(`${what} failed (exit ${r.code ?? 'none'}): ${(r.stderr.trim() || r.stdout.trim()).slice(-4000)}`),
  });
  // `credential.helper=` empty: no helper of the machine stores (or offers) anything for this clone.
  const g = (args: string[]) => runGit(['-c', 'credential.helper=', ...args], workspace, env);
  try {
    log(
      say(
        `cloning ${displayUrl(repo.url)}${repo.ref ? ` at ${repo.ref}` : ''}${repo.depth ? ` (depth ${repo.depth})` : repo.fullHistory ? ' (full history)' : ''}`,
      ),
    );
    const depth = repo.depth ? ['--depth', String(repo.depth)] : [];
    const wide = repo.fullHistory ? ['--no-single-branch'] : [];
    let r = await g([
      'clone',
      '-q',
      ...depth,
      ...wide,
      ...(repo.ref ? ['--branch', repo.ref] : []),
      '--',
      repo.url,
      '.',
    ]);
    if (r.code !== 0 && repo.ref && /not found in upstream|Remote branch .* not found/i.test(r.stderr)) {
      // Not a branch or tag: a commit. Clone the default branch, then check the commit out.
      rmSync(join(workspace, '.git'), { recursive: true, force: true });
      for (const f of readdirSync(workspace)) rmSync(join(workspace, f), { recursive: true, force: true });
      r = await g(['clone', '-q', '--no-checkout', ...depth, ...wide, '--', repo.url, '.']);
      if (r.code !== 0) return fail(`git clone ${displayUrl(repo.url)}`, r);
      let co = await g(['checkout', '-q', '--detach', repo.ref]);
      if (co.code !== 0) {
        const f = await g(['fetch', '-q', ...depth, 'origin', repo.ref]);
        if (f.code !== 0) return fail(`git fetch ${repo.ref}`, f);
        co = await g(['checkout', '-q', '--detach', 'FETCH_HEAD']);
      }
      if (co.code !== 0) return fail(`git checkout ${repo.ref}`, co);
    } else if (r.code !== 0) return fail(`git clone ${displayUrl(repo.url)}`, r);
    if (repo.fullHistory && !repo.depth) {
      const tags = await g(['fetch', '-q', '--tags', 'origin']);
      if (tags.code !== 0) return fail('git fetch --tags', tags);
    }
    const head = await g(['rev-parse', 'HEAD']);
    if (head.code !== 0) return fail('git rev-parse HEAD', head);
    const baseCommit = head.stdout.trim();
    const mark = await g(['update-ref', 'refs/marionette/base', baseCommit]);
    if (mark.code !== 0) return fail('git update-ref', mark);
    log(`checked out ${baseCommit}`);
    return { ok: true, baseCommit, cloned: true };
  } finally {
    cred.cleanup();
  }
}
