/**
 * @module Test support for repositories: a local bare repository with a few commits, branches and
 * a tag, and a loopback HTTP server in front of `git http-backend` that wants HTTP basic auth with
 * one token (a wrong or missing one gets 401), so clones over file:// and over HTTP with a
 * credential run against the real git.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestRepo {
  root: string;
  /** The bare repository's path (`file://${bare}`). */
  bare: string;
  /** Commits on main, oldest first. */
  main: string[];
  /** The one commit only on branch `feature`. */
  feature: string;
  cleanup(): void;
}

const git = (cwd: string, ...args: string[]) =>
  execFileSync('git', args, {
    cwd,
    encoding: 'utf8',
    env: {
      ...process.env,
      GIT_AUTHOR_NAME: 't',
      GIT_AUTHOR_EMAIL: 't@example.invalid',
      GIT_COMMITTER_NAME: 't',
      GIT_COMMITTER_EMAIL: 't@example.invalid',
      GIT_CONFIG_NOSYSTEM: '1',
      HOME: cwd,
    },
  }).trim();

/** A bare repo: main with 3 commits (tag v1 on the first), branch feature with one more. */
export function makeRepo(): TestRepo {
  const root = mkdtempSync(join(tmpdir(), 'marionette-git-test-'));
  const bare = join(root, 'repo.git');
  const work = join(root, 'work');
  git(root, 'init', '-q', '--bare', '-b', 'main', bare);
  git(root, 'init', '-q', '-b', 'main', work);
  const main: string[] = [];
  for (const n of [1, 2, 3]) {
    execFileSync('bash', ['-c', `echo "version ${n}" > README`], { cwd: work });
    git(work, 'add', 'README');
    git(work, 'commit', '-q', '-m', `commit ${n}`);
    main.push(git(work, 'rev-parse', 'HEAD'));
    if (n === 1) git(work, 'tag', 'v1');
  }
  git(work, 'checkout', '-q', '-b', 'feature');
  execFileSync('bash', ['-c', 'echo feature > FEATURE'], { cwd: work });
  git(work, 'add', 'FEATURE');
  git(work, 'commit', '-q', '-m', 'feature');
  const feature = git(work, 'rev-parse', 'HEAD');
  git(work, 'push', '-q', bare, 'main', 'feature', 'v1');
  // Lets a client fetch a commit by id that no ref points at (the checkout of a bare commit id).
  git(bare, 'config', 'uploadpack.allowAnySHA1InWant', 'true');
  git(bare, 'config', 'http.receivepack', 'true');
  return { root, bare, main, feature, cleanup: () => rmSync(root, { recursive: true, force: true }) };
}

export interface GitHttp {
  /** `http://127.0.0.1:PORT/repo.git` */
  url: string;
  host: string;
  /** Requests seen, with whether they carried the right token. */
  requests: { path: string; authorized: boolean }[];
  close(): Promise<void>;
}

/** Serves `root` (the folder holding repo.git) over HTTP on loopback; basic auth with `token` required. */
export async function serveGit(root: string, token: string): Promise<GitHttp> {
  const backend = join(execFileSync('git', ['--exec-path'], { encoding: 'utf8' }).trim(), 'git-http-backend');
  const requests: GitHttp['requests'] = [];
  const server: Server = createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://127.0.0.1');
    const auth = req.headers.authorization ?? '';
    const given = auth.startsWith('Basic ') ? Buffer.from(auth.slice(6), 'base64').toString('utf8') : '';
    const authorized = given.slice(given.indexOf(':') + 1) === token && given.includes(':');
    requests.push({ path: u.pathname, authorized });
    if (!authorized) {
      res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="test"' });
      res.end('authentication required\n');
      return;
    }
    const cgi = spawn(backend, [], {
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        GIT_PROJECT_ROOT: root,
        GIT_HTTP_EXPORT_ALL: '1',
        REMOTE_USER: 'test',
        REQUEST_METHOD: req.method ?? 'GET',
        PATH_INFO: u.pathname,
        QUERY_STRING: u.search.slice(1),
        CONTENT_TYPE: req.headers['content-type'] ?? '',
        ...(req.headers['content-encoding'] ? { HTTP_CONTENT_ENCODING: String(req.headers['content-encoding']) } : {}),
        ...(req.headers['git-protocol'] ? { GIT_PROTOCOL: String(req.headers['git-protocol']) } : {}),
      },
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    req.pipe(cgi.stdin);
    let head = Buffer.alloc(0);
    let headersDone = false;
    cgi.stdout.on('data', (c: Buffer) => {
      if (headersDone) {
        res.write(c);
        return;
      }
      head = Buffer.concat([head, c]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      headersDone = true;
      let status = 200;
      const headers: Record<string, string> = {};
      for (const line of head.subarray(0, end).toString('latin1').split('\r\n')) {
        const i = line.indexOf(':');
        const name = line.slice(0, i).trim();
        const value = line.slice(i + 1).trim();
        if (name.toLowerCase() === 'status') status = Number.parseInt(value, 10);
        else headers[name] = value;
      }
      res.writeHead(status, headers);
      res.write(head.subarray(end + 4));
    });
    cgi.on('close', () => res.end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/repo.git`,
    host: `127.0.0.1:${port}`,
    requests,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
