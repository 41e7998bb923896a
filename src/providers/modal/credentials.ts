/**
 * @module The Modal credential: its fields (declared in the descriptor, so `mctl credentials` and
 * the `credential_missing` verdict know them) and how the provider reads one for an org: the
 * server's resolver (the org's stored credential, else the environment fallback) when it has one,
 * else the environment itself (`MODAL_TOKEN_ID`, `MODAL_TOKEN_SECRET`).
 */
import type { ProviderCredentialField } from '../descriptor.js';

export const MODAL_CREDENTIAL_FIELDS: ProviderCredentialField[] = [
  { name: 'tokenId', env: 'MODAL_TOKEN_ID', required: true, secret: false },
  { name: 'tokenSecret', env: 'MODAL_TOKEN_SECRET', required: true, secret: true },
];

export interface ModalCredential {
  tokenId: string;
  tokenSecret: string;
}

/** A credential from field values (stored or from the env), or null when either part is missing. */
export function toModalCredential(fields: Record<string, string | undefined> | null): ModalCredential | null {
  const tokenId = fields?.tokenId?.trim();
  const tokenSecret = fields?.tokenSecret?.trim();
  if (!tokenId || !tokenSecret) return null;
  return { tokenId, tokenSecret };
}

/** The environment fallback: the fields read from `env` by their variable names. */
export function credentialFromEnv(env: Readonly<Record<string, string | undefined>>): ModalCredential | null {
  const fields: Record<string, string | undefined> = {};
  for (const f of MODAL_CREDENTIAL_FIELDS) fields[f.name] = env[f.env];
  return toModalCredential(fields);
}

/** What an operator does when an org has no credential. */
export const CREDENTIAL_HINT =
  'set MODAL_TOKEN_ID and MODAL_TOKEN_SECRET in the server environment, or store the org credential with `mctl credentials set modal`';
