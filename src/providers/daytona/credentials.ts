/**
 * @module The Daytona credential: its fields (declared in the descriptor, so `mctl credentials`
 * and the `credential_missing` verdict know them) and how the provider reads one for an org: the
 * server's resolver (the org's stored credential, else the environment fallback) when it has one,
 * else the environment itself (`DAYTONA_API_KEY`, `DAYTONA_API_URL`, `DAYTONA_TARGET`).
 */
import type { ProviderCredentialField } from '../descriptor.js';

export const DAYTONA_CREDENTIAL_FIELDS: ProviderCredentialField[] = [
  { name: 'apiKey', env: 'DAYTONA_API_KEY', required: true, secret: true },
  { name: 'apiUrl', env: 'DAYTONA_API_URL', required: false, secret: false },
  { name: 'target', env: 'DAYTONA_TARGET', required: false, secret: false },
];

/** Daytona's public API, the SDK's default. */
export const DEFAULT_DAYTONA_API_URL = 'https://app.daytona.io/api';

export interface DaytonaCredential {
  apiKey: string;
  apiUrl: string;
  /** The region; absent: the organization's default. */
  target?: string;
}

/** A credential from field values (stored or from the env), or null when the required key is missing. */
export function toDaytonaCredential(fields: Record<string, string | undefined> | null): DaytonaCredential | null {
  const apiKey = fields?.apiKey?.trim();
  if (!apiKey) return null;
  const target = fields?.target?.trim();
  return { apiKey, apiUrl: fields?.apiUrl?.trim() || DEFAULT_DAYTONA_API_URL, ...(target ? { target } : {}) };
}

/** The environment fallback: the fields read from `env` by their variable names. */
export function credentialFromEnv(env: Readonly<Record<string, string | undefined>>): DaytonaCredential | null {
  const fields: Record<string, string | undefined> = {};
  for (const f of DAYTONA_CREDENTIAL_FIELDS) fields[f.name] = env[f.env];
  return toDaytonaCredential(fields);
}

/** What an operator does when an org has no credential. */
export const CREDENTIAL_HINT =
  'set DAYTONA_API_KEY (and DAYTONA_API_URL, DAYTONA_TARGET) in the server environment, or store the org credential with `mctl credentials set daytona`';
