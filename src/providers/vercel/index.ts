/**
 * @module The `vercel` provider's descriptor: one Vercel Sandbox (Firecracker microVM) per runner,
 * on the official `@vercel/sandbox` SDK (loaded only by the server, when a runner is provisioned).
 * Built only when marionette.yaml has a `providers.vercel` section (it names the gateway address the
 * sandboxes dial). Its credential is per org (token, teamId, projectId), with the environment
 * fallback VERCEL_TOKEN / VERCEL_TEAM_ID / VERCEL_PROJECT_ID. See docs/providers/vercel.md.
 */
import { defineProvider } from '../descriptor.js';
import { NODE_RUNTIMES } from '../substrate.js';
import { VERCEL_CAPABILITIES } from './capabilities.js';
import { VercelProviderConfigSchema } from './config.js';
import { VERCEL_CREDENTIAL_FIELDS } from './credentials.js';

export const vercel = defineProvider({
  id: 'vercel',
  displayName: 'Vercel Sandbox',
  capabilities: VERCEL_CAPABILITIES,
  substrate: {
    runtimeKinds: [...NODE_RUNTIMES],
    requirementKinds: ['network-egress', 'git', 'full-history-clone', 'toolchain:node'],
  },
  // Vercel's native suspend: a snapshot of the filesystem, restored into a new sandbox.
  suspend: { strategy: 'snapshot', fallback: 'terminate', minDurationMs: 0, maxDurationMs: null },
  poolMode: 'managed',
  config: VercelProviderConfigSchema,
  // Needs at least the gateway address its sandboxes dial: without a section its pools are unavailable.
  requiresConfig: true,
  credential: { fields: VERCEL_CREDENTIAL_FIELDS },
  async create(config, ctx) {
    const { VercelSandboxProvider } = await import('./provider.js');
    const resolve = ctx.resolveCredential;
    // The server-wide fallback, read here at the edge: the health probe and listing use it.
    const fallback = Object.fromEntries(
      VERCEL_CREDENTIAL_FIELDS.flatMap((f) => (process.env[f.env] ? [[f.name, process.env[f.env]]] : [])),
    );
    return new VercelSandboxProvider(config, {
      ...(ctx.installId ? { installId: ctx.installId } : {}),
      ...(resolve ? { resolveCredential: (orgId: string) => resolve(orgId) } : {}),
      ...(fallback.token ? { credential: fallback } : {}),
    });
  },
});
