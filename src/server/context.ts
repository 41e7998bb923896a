/**
 * @module What the server's services share: config, store, event bus, logger, providers, and the
 * default tenancy.
 */
import type { Logger } from 'pino';
import type { ServerConfig } from '../config/index.js';
import type { SandboxProvider } from '../providers/types.js';
import type { OrgScope, Store } from '../store/index.js';
import type { EventBus } from './events.js';
import type { ProviderCredentials } from './provider-credentials.js';
import type { Redactor } from './redact.js';
import type { SecretBox } from './secrets.js';

export interface ServerContext {
  config: ServerConfig;
  store: Store;
  bus: EventBus;
  log: Logger;
  providers: Map<string, SandboxProvider>;
  /** The default org (config-declared pools, profiles and agents are seeded into it). */
  defaultOrg: OrgScope;
  /** The default org's `default` project. */
  defaultProjectId: string;
  /** Seals and opens secrets at rest (session env values, stored credentials). */
  secrets: SecretBox;
  /** Known secret values, kept out of logs, events and errors. */
  redactor: Redactor;
  /** Per-org provider credentials with their environment fallback (./provider-credentials.ts). */
  credentials: ProviderCredentials;
}
