/**
 * @module What the server's services share: config, store, event bus, logger, providers, and the
 * default tenancy.
 */
import type { Logger } from 'pino';
import type { ServerConfig } from '../config/index.js';
import type { SandboxProvider } from '../providers/types.js';
import type { Store } from '../store/index.js';
import type { EventBus } from './events.js';

export interface ServerContext {
  config: ServerConfig;
  store: Store;
  bus: EventBus;
  log: Logger;
  providers: Map<string, SandboxProvider>;
  orgId: string;
  projectId: string;
}
