/**
 * @module Provider credentials as the descriptors declare them (`credential.fields`): which env
 * variables are fallbacks, what the environment offers, whether a set of values is complete, and the
 * text of the `credential_missing` verdict. Pure: the server passes the environment in (config) and
 * keeps the stored credentials (src/server/provider-credentials.ts).
 */
import { InvalidRequest } from '../core/errors.js';
import type { ProviderCredentialField, ProviderDescriptor } from './descriptor.js';
import { PROVIDERS, requireProvider } from './registry.js';

/** The providers that declare a credential, in registry order. */
export function credentialProviders(): ProviderDescriptor[] {
  return PROVIDERS.filter((d) => d.credential !== undefined);
}

/** The declared fields of `providerId` (empty for a provider that takes no credential or an unknown id). */
export function credentialFields(providerId: string): readonly ProviderCredentialField[] {
  return PROVIDERS.find((d) => d.id === providerId)?.credential?.fields ?? [];
}

/** Every env variable some provider reads as a credential fallback, with its value when set and not empty. */
export function providerCredentialEnv(env: Readonly<Record<string, string | undefined>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const d of credentialProviders())
    for (const f of d.credential?.fields ?? []) {
      const v = env[f.env];
      if (v) out[f.env] = v;
    }
  return out;
}

/**
 * The environment fallback of `providerId` (field name -> value), or null when a required field's
 * variable is not set (a fallback is all or nothing for the required fields).
 */
export function envCredential(
  providerId: string,
  env: Readonly<Record<string, string>>,
): Record<string, string> | null {
  const fields = credentialFields(providerId);
  if (fields.length === 0) return null;
  const out: Record<string, string> = {};
  for (const f of fields) {
    const v = env[f.env];
    if (v) out[f.name] = v;
    else if (f.required) return null;
  }
  return out;
}

/**
 * The descriptor of a provider that takes a credential; an unknown id or one that takes none is an
 * InvalidRequest naming it and the providers that do.
 */
export function requireCredentialProvider(providerId: string): ProviderDescriptor & {
  credential: { fields: ProviderCredentialField[] };
} {
  const takes = credentialProviders()
    .map((d) => d.id)
    .join(', ');
  let d: ProviderDescriptor;
  try {
    d = requireProvider(providerId, 'provider');
  } catch (e: unknown) {
    throw new InvalidRequest(`${(e as Error).message} (providers that take a credential: ${takes})`);
  }
  if (!d.credential)
    throw new InvalidRequest(`provider ${providerId} takes no credential (providers that take a credential: ${takes})`);
  return d as ProviderDescriptor & { credential: { fields: ProviderCredentialField[] } };
}

/**
 * Checks the values given for `providerId`'s credential: every required field present and not
 * empty, no field it does not declare. Errors name the field, never a value.
 */
export function checkCredentialValues(
  providerId: string,
  values: Readonly<Record<string, string>>,
): Record<string, string> {
  const d = requireCredentialProvider(providerId);
  const fields = d.credential.fields;
  const names = fields.map((f) => f.name);
  for (const k of Object.keys(values))
    if (!names.includes(k))
      throw new InvalidRequest(
        `provider ${providerId}: unknown credential field ${JSON.stringify(k)}; its fields are ${names.join(', ')}`,
      );
  const out: Record<string, string> = {};
  for (const f of fields) {
    const v = values[f.name];
    if (v === undefined || v === '') {
      if (f.required)
        throw new InvalidRequest(`provider ${providerId}: credential field ${f.name} is required and was not given`, {
          hint: `give it (its environment variable is ${f.env}), e.g. \`mctl credentials set ${providerId} --from-env ${f.env}\``,
        });
      continue;
    }
    out[f.name] = v;
  }
  return out;
}

/** The `credential_missing` detail: what is missing and the two ways to supply it. */
export function credentialMissingDetail(providerId: string): string {
  const required = credentialFields(providerId).filter((f) => f.required);
  const envs = required.map((f) => f.env);
  const fromEnv = envs.length === 1 ? `--from-env ${envs[0]}` : '--stdin';
  return `provider ${providerId} needs a credential and this org has none: run \`mctl credentials set ${providerId} ${fromEnv}\`, or set ${envs.join(' and ')} in the server's environment`;
}
