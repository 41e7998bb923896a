/**
 * @module Provider credential routes: list (where each provider's credential comes from and which
 * fields it has, never a value), set (sealed at rest, write-only) and delete the org's credential
 * for a provider (see ../provider-credentials.ts and docs/providers/credentials.md).
 */
import { ProviderCredentialBody } from '../../api/provider-credential-schemas.js';
import type { Api } from '../api.js';
import type { ServerContext } from '../context.js';

export function providerCredentialRoutes(api: Api, ctx: ServerContext): void {
  const { credentials } = ctx;

  api.route(
    'GET',
    '/v1/provider-credentials',
    { summary: 'List provider credentials (source and field names, never values)', tag: 'providers' },
    async ({ org }) => ({ items: await credentials.list(org) }),
  );

  api.route(
    'PUT',
    '/v1/provider-credentials/:provider',
    {
      summary: 'Set the org’s credential for a provider (sealed at rest; never answered back)',
      tag: 'providers',
      body: ProviderCredentialBody,
    },
    async ({ params, body, org }) => credentials.set(org, params.provider!, body.fields),
  );

  api.route(
    'DELETE',
    '/v1/provider-credentials/:provider',
    { summary: 'Delete the org’s stored credential for a provider', tag: 'providers' },
    async ({ params, org }) => {
      await credentials.delete(org, params.provider!);
      return { deleted: params.provider! };
    },
  );
}
