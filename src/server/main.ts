/**
 * @module Wires the server together: store, tenancy and bootstrap token, providers, services,
 * REST API, runner gateway, and the periodic reconcilers (leases, idle sessions, provider health).
 */
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import type { ServerConfig } from '../config/index.js';
import { toError } from '../core/errors.js';
import { createProviders } from '../providers/registry.js';
import { openStore, type Store } from '../store/index.js';
import { buildApp } from './app.js';
import { Autoscaler } from './autoscaler.js';
import type { ServerContext } from './context.js';
import { costRoutes } from './costs.js';
import { EventBus } from './events.js';
import { Gateway } from './gateway.js';
import { PoolService } from './pools.js';
import { Reconciler } from './reconciler.js';
import { RunnerService } from './runners.js';
import { SessionService } from './sessions.js';
import { SuspendService } from './suspend.js';
import { TokenService } from './tokens.js';

export interface RunningServer {
  ctx: ServerContext;
  apiUrl: string;
  apiPort: number;
  gatewayPort: number;
  gatewaySocket: string;
  /** The bootstrap admin token when this start created it, else null. */
  bootstrapToken: string | null;
  sessions: SessionService;
  runners: RunnerService;
  pools: PoolService;
  /** Stops the server. Runners are left running (they reconnect to the next start) unless `terminateRunners`. */
  close(opts?: { terminateRunners?: boolean }): Promise<void>;
}

/** Creates the bootstrap admin token on first start and writes it to `$MARIONETTE_HOME/token` (0600). */
async function bootstrapToken(store: Store, orgId: string, home: string): Promise<string | null> {
  const file = join(home, 'token');
  if ((await store.auth.countApiTokens()) > 0 && existsSync(file)) return null;
  const { token } = await store.auth.createApiToken(orgId, 'bootstrap-admin', 'admin');
  writeFileSync(file, `${token}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  return token;
}

export async function startServer(config: ServerConfig): Promise<RunningServer> {
  const startedAt = Date.now();
  mkdirSync(config.home, { recursive: true, mode: 0o700 });
  const log = pino(
    { level: config.logLevel, base: { svc: 'marionette' } },
    pino.destination({ dest: join(config.home, 'server.log'), sync: false, mkdir: true }),
  );
  const store = await openStore({ home: config.home, databaseUrl: config.databaseUrl });
  const { orgId, projectId } = await store.auth.ensureDefaultTenancy();
  const token = await bootstrapToken(store, orgId, config.home);
  const bus = new EventBus((event, e) => log.error({ err: toError(e), event }, 'event listener failed'));
  const gatewayAddress = `unix:${config.gatewaySocket}`;
  const providers = createProviders(config, gatewayAddress, await store.meta.installId());
  const ctx: ServerContext = { config, store, bus, log, providers, orgId, projectId };
  const runners = new RunnerService(ctx);
  const sessions = new SessionService(ctx, runners);
  const pools = new PoolService(ctx, sessions);
  try {
    await pools.seed();
  } catch (e: unknown) {
    await store.close();
    throw e;
  }
  const gateway = new Gateway(ctx, runners);
  runners.gateway = gateway;
  const tokens = new TokenService(ctx, pools, runners);
  const suspend = new SuspendService(ctx, sessions, runners);
  const autoscaler = new Autoscaler(ctx, runners, sessions.providerHealth, () => sessions.pools());
  const app = buildApp(ctx, {
    sessions,
    extend: (api) => {
      pools.routes(api);
      tokens.routes(api);
      suspend.routes(api);
      costRoutes(ctx, api);
    },
  });
  try {
    await gateway.listen();
    await app.listen({ port: config.port, host: config.host });
  } catch (e: unknown) {
    await gateway.close().catch(() => {});
    await app.close().catch(() => {});
    await store.close();
    const err = toError(e) as NodeJS.ErrnoException;
    if (err.code === 'EADDRINUSE')
      throw new Error(
        `address in use: ${err.message.replace(/^listen EADDRINUSE: address already in use /, '')} (another marionette running? choose --port / --gateway-port)`,
      );
    throw err;
  }
  const address = app.server.address();
  const apiPort = typeof address === 'object' && address ? address.port : config.port;

  // Reconcilers. Each tick is guarded so a slow one is never run twice at once.
  await runners.graceAfterRestart();
  const timers: NodeJS.Timeout[] = [];
  const every = (ms: number, name: string, fn: () => Promise<void>) => {
    let running = false;
    const t = setInterval(() => {
      if (running) return;
      running = true;
      fn()
        .catch((e: unknown) => log.error({ err: toError(e) }, `${name} failed`))
        .finally(() => {
          running = false;
        });
    }, ms);
    t.unref();
    timers.push(t);
  };
  const leaseTick = Math.max(100, Math.min(1000, Math.floor(config.leaseTimeoutMs / 4)));
  every(leaseTick, 'lease reaper', () => runners.reapExpiredLeases());
  every(Math.max(1000, Math.min(30_000, Math.floor(config.sessionIdleTimeoutMs / 4))), 'idle session reaper', () =>
    sessions.reapIdleSessions(),
  );
  const probe = async () => {
    for (const [id, p] of providers) {
      if (!p.health) continue;
      const h = await p.health().catch((e: unknown) => ({ ok: false as const, message: toError(e).message }));
      const before = sessions.providerHealth.get(id) ?? null;
      const now = h.ok ? null : h.message;
      sessions.providerHealth.set(id, now);
      if (before !== now) sessions.poolsChanged();
    }
  };
  await probe();
  every(10_000, 'provider health', probe);
  every(5_000, 'assigner', async () => sessions.kick());
  // Orphaned containers/volumes, half-provisioned runners from a crash, dead sandboxes; pauses past max_duration.
  const reconciler = new Reconciler(ctx, runners, sessions, startedAt);
  await reconciler.atStart().catch((e: unknown) => log.error({ err: toError(e) }, 'reconciler at start failed'));
  every(10_000, 'reconciler', async () => {
    await reconciler.tick();
  });
  every(2_000, 'pause escalation', () => suspend.escalateExpiredPauses());
  sessions.kick();
  autoscaler.start();

  log.info({ apiPort, gatewayPort: gateway.tcpPort, home: config.home }, 'marionette started');
  return {
    ctx,
    apiUrl: `http://${config.host}:${apiPort}`,
    apiPort,
    gatewayPort: gateway.tcpPort,
    gatewaySocket: config.gatewaySocket,
    bootstrapToken: token,
    sessions,
    runners,
    pools,
    async close(opts = {}) {
      for (const t of timers) clearInterval(t);
      await autoscaler.close();
      await sessions.settled();
      if (opts.terminateRunners)
        for (const r of await store.runners.live()) await runners.terminate(r, 'server shutting down');
      runners.close();
      await app.close();
      await gateway.close();
      for (const p of providers.values()) await p.close?.();
      await store.close();
      log.flush();
    },
  };
}
