/**
 * @module Request and response schemas of the provider credential routes (`/v1/provider-credentials`):
 * the body that sets one (field name -> value) and the view the API answers, which never carries a value.
 */
import { z } from 'zod';

/** `PUT /v1/provider-credentials/:provider`: the credential's field values (e.g. `{fields: {apiKey: "..."}}`). */
export const ProviderCredentialBody = z.strictObject({
  fields: z
    .record(z.string().regex(/^[A-Za-z][A-Za-z0-9_]{0,63}$/, 'a field name'), z.string().max(16384))
    .refine((f) => Object.keys(f).length > 0 && Object.keys(f).length <= 16, 'give between 1 and 16 fields'),
});
export type ProviderCredentialBody = z.infer<typeof ProviderCredentialBody>;

/** A provider credential as the API answers it: where it comes from and which fields it has, never a value. */
export const ProviderCredentialResponse = z.looseObject({
  provider: z.string(),
  displayName: z.string(),
  /** `stored` (set for the org), `environment` (the server's env fallback) or `none`. */
  source: z.enum(['stored', 'environment', 'none']),
  /** The names of the fields it has. */
  fields: z.array(z.string()),
  /** The fields the provider declares, with their environment variable. */
  declared: z.array(z.looseObject({ name: z.string(), env: z.string(), required: z.boolean() })),
  createdAt: z.number().nullable(),
  updatedAt: z.number().nullable(),
});
