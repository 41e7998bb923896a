/**
 * @module Kit and git credential routes: list, get, create and delete an org's kits (built-in and
 * config kits are listed but cannot be changed), and set, list and delete its git credentials (the
 * secret is write-only: no answer ever carries it).
 */
import { GitCredentialBody, KitBody } from '../../api/kit-schemas.js';
import { Conflict, InvalidRequest, NotFound } from '../../core/errors.js';
import { BUILTIN_KITS, type Kit, kitRef, makeKit, parseKitRef, resolveKit } from '../../core/kits.js';
import type { OrgScope } from '../../store/index.js';
import type { Api } from '../api.js';
import type { ServerContext } from '../context.js';
import { credentialHost, putGitCredential } from '../git-credentials.js';

type Source = 'builtin' | 'config' | 'api';

export function kitRoutes(api: Api, ctx: ServerContext): void {
  const { store } = ctx;
  const all = async (org: OrgScope): Promise<(Kit & { source: Source })[]> => [
    ...(await store.kits.list(org)).map((k) => ({ ...k, source: 'api' as const })),
    ...ctx.config.kits.map((k) => ({ ...k, source: 'config' as const })),
    ...BUILTIN_KITS.map((k) => ({ ...k, source: 'builtin' as const })),
  ];

  api.route(
    'GET',
    '/v1/kits',
    { summary: 'List kits (the org’s, the config’s, built-in)', tag: 'kits' },
    async ({ org }) => ({
      items: await all(org),
    }),
  );

  api.route(
    'GET',
    '/v1/kits/:ref',
    { summary: 'Get a kit (id or id@version)', tag: 'kits' },
    async ({ params, org }) => {
      const kits = await all(org);
      const k = resolveKit(params.ref!, kits);
      return kits.find((x) => x === k) ?? k;
    },
  );

  api.route(
    'POST',
    '/v1/kits',
    { summary: 'Create a kit', tag: 'kits', body: KitBody, status: 201 },
    async ({ body, org }) => {
      const kit = makeKit(body, 'kit');
      const kits = await all(org);
      const same = kits.find((k) => k.id === kit.id && k.version === kit.version);
      if (same?.source === 'api')
        throw new Conflict(`kit ${kitRef(kit)} already exists`, {
          hint: `delete it first with \`mctl kits delete ${kitRef(kit)}\``,
        });
      if (same)
        throw new InvalidRequest(
          `kit ${kitRef(kit)} is ${same.source === 'builtin' ? 'built in' : 'defined in the config file'}; pick another version or id`,
        );
      if (!(await store.kits.create(org, kit))) throw new Conflict(`kit ${kitRef(kit)} already exists`);
      return { ...kit, source: 'api' as const };
    },
  );

  api.route(
    'DELETE',
    '/v1/kits/:ref',
    { summary: 'Delete a kit (id@version, or id: every version)', tag: 'kits' },
    async ({ params, org }) => {
      const { id, version } = parseKitRef(params.ref!);
      const n = await store.kits.delete(org, id, version);
      if (!n) {
        const other = (await all(org)).find((k) => k.id === id && (version === null || k.version === version));
        if (other)
          throw new InvalidRequest(
            `kit ${kitRef(other)} is ${other.source === 'builtin' ? 'built in' : 'defined in the config file'} and cannot be deleted`,
          );
        throw new NotFound('kit', params.ref!, 'list kits with `mctl kits list`');
      }
      return { deleted: params.ref! };
    },
  );

  api.route(
    'GET',
    '/v1/git-credentials',
    { summary: 'List git credentials (hosts and kinds, never secrets)', tag: 'kits' },
    async ({ org }) => ({
      items: (await store.kits.listGitCredentials(org)).map(({ secret: _s, ...c }) => c),
    }),
  );

  api.route(
    'PUT',
    '/v1/git-credentials/:host',
    {
      summary: 'Set the git credential for a host (a token for https, a key for ssh)',
      tag: 'kits',
      body: GitCredentialBody,
    },
    async ({ params, body, org }) => {
      await putGitCredential(ctx, org, params.host!, body);
      const c = await store.kits.gitCredential(org, credentialHost(params.host!));
      if (!c) throw new NotFound('git credential', params.host!);
      const { secret: _s, ...shown } = c;
      return shown;
    },
  );

  api.route(
    'DELETE',
    '/v1/git-credentials/:host',
    { summary: 'Delete the git credential for a host', tag: 'kits' },
    async ({ params, org }) => {
      const host = credentialHost(params.host!);
      if (!(await store.kits.deleteGitCredential(org, host)))
        throw new NotFound('git credential', host, 'list them with `mctl git-credentials list`');
      return { deleted: host };
    },
  );
}
