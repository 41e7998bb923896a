/**
 * @module The Vercel credential: its fields (declared in the descriptor, so `mctl credentials`
 * and the `credential_missing` verdict know them) and how the provider reads one: an access token
 * with the team and project it is scoped to. The SDK takes all three or none; a token that is a
 * Vercel OIDC token carries its team (`owner_id`) and project (`project_id`) in its claims, so
 * those two may then be left out.
 */
import type { ProviderCredentialField } from '../descriptor.js';

export const VERCEL_CREDENTIAL_FIELDS: ProviderCredentialField[] = [
  { name: 'token', env: 'VERCEL_TOKEN', required: true, secret: true },
  { name: 'teamId', env: 'VERCEL_TEAM_ID', required: false, secret: false },
  { name: 'projectId', env: 'VERCEL_PROJECT_ID', required: false, secret: false },
];

export interface VercelCredential {
  token: string;
  teamId: string;
  projectId: string;
}

/** What an operator does when an org has no credential, or an incomplete one. */
export const CREDENTIAL_HINT =
  'set VERCEL_TOKEN, VERCEL_TEAM_ID and VERCEL_PROJECT_ID in the server environment, or store the org credential with `mctl credentials set vercel`';

/** The team and project of an OIDC token's claims, or null when the token is not one. */
function oidcClaims(token: string): { teamId: string; projectId: string } | null {
  const parts = token.split('.');
  if (parts.length !== 3) return null;
  try {
    const c = JSON.parse(Buffer.from(parts[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
    return typeof c.owner_id === 'string' && typeof c.project_id === 'string'
      ? { teamId: c.owner_id, projectId: c.project_id }
      : null;
  } catch {
    return null;
  }
}

/**
 * A credential from field values (stored or from the env). Null when there is no token; a token
 * without a team or project (and not an OIDC token naming them) is an error naming the field.
 */
export function toVercelCredential(
  fields: Record<string, string | undefined> | null,
): { ok: true; cred: VercelCredential } | { ok: false; missing: string[] } | null {
  const token = fields?.token?.trim();
  if (!token) return null;
  const claims = oidcClaims(token);
  const teamId = fields?.teamId?.trim() || claims?.teamId || '';
  const projectId = fields?.projectId?.trim() || claims?.projectId || '';
  const missing = [
    ...(teamId ? [] : ['teamId (VERCEL_TEAM_ID)']),
    ...(projectId ? [] : ['projectId (VERCEL_PROJECT_ID)']),
  ];
  if (missing.length) return { ok: false, missing };
  return { ok: true, cred: { token, teamId, projectId } };
}
