/**
 * @module Repositories on the server side: checking a session's repository URL, the org's git
 * credentials (one per host: a token for https, a key for ssh; sealed at rest with the server's
 * key, bound to org and host, never answered by the API), and the credential a clone gets. The
 * opened secret is fed to the redactor, so no server log, event or error shows it; it travels to
 * the runner only inside the task assignment (src/agent/repo.ts hands it to git).
 */

import type { RepoInput } from '../api/kit-schemas.js';
import { InvalidRequest } from '../core/errors.js';
import type { GitCredentialWire, RepoAssignment } from '../protocol/messages.js';
import type { OrgScope } from '../store/index.js';
import type { SessionRequest } from '../store/records.js';
import type { ServerContext } from './context.js';

const SCP_LIKE = /^(?:[A-Za-z0-9._-]+@)?([A-Za-z0-9.-]+):(?!\/\/)(.+)$/;

/**
 * The host a repository URL names (lower case, with its port when it has one); null for file://.
 * Throws InvalidRequest for anything git would not clone, or a URL that carries a password.
 */
export function repoHost(url: string): string | null {
  if (url.startsWith('-')) throw new InvalidRequest(`repository ${JSON.stringify(url)} is not a URL`);
  const scp = SCP_LIKE.exec(url);
  if (scp && !url.includes('://')) return scp[1]!.toLowerCase();
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new InvalidRequest(`repository ${JSON.stringify(url)} is not a URL`, {
      hint: 'use https://host/owner/repo.git, ssh://git@host/owner/repo.git, git@host:owner/repo.git or file:///path',
    });
  }
  if (u.password)
    throw new InvalidRequest('the repository URL carries a password; it would be stored and shown', {
      hint: 'store it with `mctl git-credentials set HOST --token-stdin` and give the URL without it',
    });
  if (u.protocol === 'file:') return null;
  if (!['https:', 'http:', 'ssh:', 'git:'].includes(u.protocol))
    throw new InvalidRequest(`repository URL scheme ${u.protocol} is not supported (https, http, ssh, git, file)`);
  if (u.username && u.protocol !== 'ssh:')
    throw new InvalidRequest('the repository URL carries a user name; store the credential instead', {
      hint: 'store it with `mctl git-credentials set HOST --token-stdin` and give the URL without it',
    });
  return u.host.toLowerCase();
}

/** The session request's `repo` from the API body (checked). */
export function repoRequest(input: RepoInput | undefined): SessionRequest['repo'] | undefined {
  if (!input) return undefined;
  repoHost(input.url);
  if (input.ref?.startsWith('-')) throw new InvalidRequest(`ref ${JSON.stringify(input.ref)} is not a git ref`);
  return {
    url: input.url,
    ref: input.ref ?? null,
    depth: input.depth ?? null,
    fullHistory: input.fullHistory ?? false,
  };
}

/** The requirement kinds a session's repository adds to its agent card's (they take part in routing). */
export function repoRequirements(repo: SessionRequest['repo']): ('git' | 'full-history-clone')[] {
  if (!repo) return [];
  return repo.fullHistory ? ['git', 'full-history-clone'] : ['git'];
}

const context = (orgId: string, host: string) => `git-credential:${orgId}:${host}`;

/** The host key a credential is stored under: lower case, no scheme or path. */
export function credentialHost(host: string): string {
  const h = host.trim().toLowerCase();
  if (!/^[a-z0-9.-]+(:\d{1,5})?$/.test(h))
    throw new InvalidRequest(
      `${JSON.stringify(host)} is not a host name (example: github.com or git.example.com:8443)`,
    );
  return h;
}

/** Seals and stores the org's credential for `host`. */
export async function putGitCredential(
  ctx: ServerContext,
  org: OrgScope,
  host: string,
  c: { kind: 'token' | 'ssh-key'; username?: string | undefined; secret: string },
): Promise<void> {
  const h = credentialHost(host);
  ctx.redactor.add(c.secret);
  await ctx.store.kits.putGitCredential(org, {
    host: h,
    kind: c.kind,
    username: c.kind === 'token' ? (c.username ?? null) : null,
    secret: ctx.secrets.seal(c.secret, context(org.orgId, h)),
  });
}

/** The session's repository as its runner gets it: with the org's credential for its host, opened. */
export async function repoAssignment(
  ctx: ServerContext,
  org: OrgScope,
  repo: NonNullable<SessionRequest['repo']>,
): Promise<RepoAssignment> {
  const host = repoHost(repo.url);
  let credential: GitCredentialWire | null = null;
  if (host) {
    const stored = await ctx.store.kits.gitCredential(org, host);
    if (stored) {
      const secret = ctx.secrets.open(stored.secret, context(org.orgId, host));
      ctx.redactor.add(secret);
      credential =
        stored.kind === 'token'
          ? { kind: 'token', username: stored.username ?? 'x-access-token', secret }
          : { kind: 'ssh-key', secret };
    }
  }
  return { url: repo.url, ref: repo.ref, depth: repo.depth, fullHistory: repo.fullHistory, credential };
}
