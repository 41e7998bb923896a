/**
 * @module Routes for working with a session's workspace (../session-ops.ts): exec a command,
 * print its changes against the base commit, commit and push them (and copy files: ./session-files.ts). Same org scoping as the
 * session's other routes.
 */
import { ExecBody, PushBody } from '../../api/session-op-schemas.js';
import { InvalidRequest } from '../../core/errors.js';
import type { Api } from '../api.js';
import { streamExec, wantsStream } from '../exec-stream.js';
import type { SessionOps } from '../session-ops.js';
import { sessionFileRoutes } from './session-files.js';
import { sessionTerminalRoutes } from './session-terminal.js';

export function sessionOpRoutes(api: Api, ops: SessionOps): void {
  sessionFileRoutes(api, ops);
  sessionTerminalRoutes(api, ops);
  api.route(
    'POST',
    '/v1/sessions/:id/exec',
    { summary: "Run a command in the session's workspace", tag: 'sessions', body: ExecBody, streams: true },
    async ({ params, body, org, req, reply }) => {
      const op = { kind: 'exec', argv: body.command, timeoutMs: body.timeoutMs ?? 600_000 } as const;
      if (wantsStream(req.headers.accept)) return streamExec(ops, org, params.id!, op, reply);
      const r = await ops.run(org, params.id!, op);
      return { exitCode: r.exitCode, error: r.error, stdout: r.stdout, stderr: r.stderr, truncated: r.truncated };
    },
  );
  api.route(
    'GET',
    '/v1/sessions/:id/diff',
    { summary: "The workspace's changes against the session's base commit", tag: 'sessions' },
    async ({ params, org }) => {
      const r = await ops.run(org, params.id!, { kind: 'diff' });
      if (r.error || r.exitCode !== 0) throw new InvalidRequest(r.error ?? `git diff exited ${r.exitCode}`);
      return { baseCommit: r.commit, diff: r.stdout, truncated: r.truncated };
    },
  );
  api.route(
    'POST',
    '/v1/sessions/:id/push',
    { summary: 'Commit what the agent left and push it to a branch', tag: 'sessions', body: PushBody },
    async ({ params, body, org }) => {
      const r = await ops.run(org, params.id!, {
        kind: 'push',
        branch: body.branch,
        message: body.message ?? `Changes from Marionette session ${params.id}`,
        author: { name: body.authorName ?? 'Marionette', email: body.authorEmail ?? 'marionette@localhost' },
      });
      if (r.error || r.exitCode !== 0 || !r.commit)
        throw new InvalidRequest(r.error ?? `git push exited ${r.exitCode}`);
      return { branch: body.branch, commit: r.commit };
    },
  );
}
