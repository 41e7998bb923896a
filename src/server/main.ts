/**
 * @module Wires the server together: store, tenancy and bootstrap token, providers, services,
 * REST API, runner gateway, and the periodic reconcilers (leases, idle sessions, provider health).
 */
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ServerConfig } from '../config/index.js';
import { toError } from '../core/errors.js';
import { createProviders } from '../providers/registry.js';
import { openStore, orgScope, type Store } from '../store/index.js';
import { buildApp } from './app.js';
import { Autoscaler } from './autoscaler.js';
import { ChangeFeedReader } from './change-feed.js';
import type { ServerContext } from './context.js';
import { recordEgressDenials } from './egress-events.js';
import { EventBus } from './events.js';
import { Gateway } from './gateway.js';
import { guardListener } from './listener-guard.js';
import { LogFile } from './logfile.js';
import { ALWAYS_HELD, type LoopGate, LoopLease, replicaId } from './loop-lease.js';
import { ServerMetrics } from './metrics.js';
import { OtlpExporter } from './otlp.js';
import { PoolService } from './pools.js';
import { Preempter } from './preempt.js';
import { checkStoredProviderCredentials, ProviderCredentials } from './provider-credentials.js';
import { readinessProbe } from './readiness.js';
import { Reconciler } from './reconciler.js';
import { Redactor } from './redact.js';
import { orgRoutes } from './routes/orgs.js';
import { sessionOpRoutes } from './routes/session-ops.js';
import { RunnerControl } from './runner-control.js';
import { GatewayLinks } from './runner-links.js';
import { RunnerService } from './runners.js';
import { openSecretBox, readTokenFile, serverLogger } from './secrets-setup.js';
import { SessionCeiling } from './session-ceiling.js';
import { SessionOps } from './session-ops.js';
import { sealStoredSessionEnv } from './session-secrets.js';
import { SessionWorkspaceReaper } from './session-workspaces.js';
import { SessionService } from './sessions.js';
import { ensureFreeSpace, StorageHealth } from './storage-health.js';
import { SuspendService } from './suspend.js';
import { loadServerTls, type ServerTls } from './tls.js';
import { TokenService } from './tokens.js';
import { SessionTracer } from './traces.js';
import { TunnelDialer } from './tunnel-dialer.js';
import { WorkspaceStore } from './workspace-store.js';

export interface RunningServer {
  ctx: ServerContext;
  apiUrl: string;
  apiPort: number;
  gatewayPort: number;
  gatewaySocket: string;
  /** The bootstrap admin token when this start created it, else null. */
  bootstrapToken: string | null;
  /** TLS on the API and the gateway (certificate file, fingerprint, whether this start made it); null = off. */
  tls: (Pick<ServerTls, 'certFile' | 'fingerprint' | 'mode' | 'created'> & { mutual: boolean }) | null;
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
  // The home is the owner's alone (0700), an existing one too; its files are 0600 (./secrets-setup.ts).
  mkdirSync(config.home, { recursive: true, mode: 0o700 });
  chmodSync(config.home, 0o700);
  // The at-rest key first: a bad MARIONETTE_SECRET_KEY or a corrupted secret.key stops the start
  // before anything is opened or written.
  const secrets = openSecretBox(config);
  const redactor = new Redactor();
  redactor.addAll(Object.values(config.credentialsEnv));
  // Then TLS: a bad certificate or key stops the start before anything else is opened.
  const tls = loadServerTls(config);
  // Storage health: the log file and the store report write failures; a full disk degrades the
  // server (health says why, API writes get 507) instead of wedging it.
  let storage: StorageHealth | null = null;
  const logFile = new LogFile(join(config.home, 'server.log'), {
    onStatus: (err) => (err ? storage?.failed('log', err) : storage?.ok('log')),
  });
  const log = serverLogger(config.logLevel, redactor, logFile);
  // At exit, one synchronous attempt to write what is buffered (never a retry loop).
  const flushAtExit = () => logFile.flushSync();
  process.on('exit', flushAtExit);
  // This replica's name (the loop lease's holder, the change feed's writer).
  const replica = replicaId();
  const store = await openStore({
    replica,
    home: config.home,
    databaseUrl: config.databaseUrl,
    rowLevelSecurity: config.rowLevelSecurity,
    onError: (e) => storage?.failed('store', e),
    redact: (data) => redactor.redactDeep(data),
  }).catch((e: unknown) => {
    process.off('exit', flushAtExit);
    logFile.closeNow();
    throw e;
  });
  storage = new StorageHealth(
    async () => {
      if (store.dialect === 'sqlite') await ensureFreeSpace(config.home);
      await store.probeWrite();
    },
    (component, problem) => {
      if (problem) log.error({ component, reason: problem.reason }, `storage failing: ${problem.message}`);
      else log.warn({ component }, 'storage writable again');
      // Heartbeats could not be written meanwhile: give live runners a fresh lease before any is reaped.
      if (component === 'store' && !problem)
        runners.graceAfterRestart().catch((e: unknown) => log.error({ err: toError(e) }, 'lease grace failed'));
    },
  );
  if (logFile.error) storage.failed('log', logFile.error);
  try {
    const sealed = await sealStoredSessionEnv(store, secrets, redactor);
    if (sealed) log.info({ sessions: sealed }, 'sealed stored session env values with the current key');
    const resealed = await checkStoredProviderCredentials(store, secrets, redactor);
    if (resealed) log.info({ credentials: resealed }, 'sealed stored provider credentials with the current key');
  } catch (e: unknown) {
    storage.close();
    await store.close();
    process.off('exit', flushAtExit);
    logFile.closeNow();
    throw e;
  }
  const { orgId, projectId } = await store.auth.ensureDefaultTenancy();
  const token = await bootstrapToken(store, orgId, config.home);
  redactor.add(token ?? readTokenFile(config.home));
  const bus = new EventBus((event, e) => log.error({ err: toError(e), event }, 'event listener failed'));
  const gatewayAddress = `unix:${config.gatewaySocket}`;
  const egressLedger = recordEgressDenials(store, log);
  const credentials = new ProviderCredentials({ store, secrets, redactor, env: config.providerCredentialsEnv });
  const providers = await createProviders(
    config.providers,
    {
      home: config.home,
      gateway: gatewayAddress,
      gatewaySocket: config.gatewaySocket,
      installId: (await store.meta.installId()) ?? null,
      onEgressDenied: (owner, d) => egressLedger.denied(owner, d),
    },
    (o, p) => credentials.resolveProviderCredential(o, p),
  );
  const ctx: ServerContext = {
    config,
    store,
    bus,
    log,
    providers,
    defaultOrg: orgScope(orgId),
    defaultProjectId: projectId,
    secrets,
    redactor,
    credentials,
  };
  // The singleton loops run on the replica holding this lease (PostgreSQL); SQLite: always here.
  const loopLease =
    store.dialect === 'postgres' ? new LoopLease(ctx, { holder: replica, ttlMs: config.loopLeaseMs }) : null;
  const gate: LoopGate = loopLease ?? ALWAYS_HELD;
  // Built in dependency order, each with what it needs: the gateway's connection table and the
  // managed runners first, then the session side, then the runner side that calls back into it.
  const links = new GatewayLinks();
  const control = new RunnerControl(ctx, links);
  const sessions = new SessionService(ctx, control);
  const sessionOps = new SessionOps(ctx, links);
  const runners = new RunnerService(ctx, control, sessions.runnerEvents, egressLedger, sessionOps);
  const pools = new PoolService(ctx, sessions);
  try {
    await pools.seed();
  } catch (e: unknown) {
    storage.close();
    await store.close();
    process.off('exit', flushAtExit);
    logFile.closeNow();
    throw e;
  }
  const workspaceStore = new WorkspaceStore(ctx, (c, from) => runners.authenticate(c, from), links);
  const gateway = new Gateway(ctx, runners, links, tls, workspaceStore.gatewayCas);
  workspaceStore.start(gate);
  const workspaceReaper = new SessionWorkspaceReaper(ctx, gateway);
  workspaceReaper.start();
  const tokens = new TokenService(ctx, pools, runners);
  const suspend = new SuspendService(ctx, sessions, runners, workspaceStore.snapshots);
  const preempter = new Preempter(ctx, sessions, suspend);
  const autoscaler = new Autoscaler(ctx, runners, sessions.providerHealth, () => sessions.allPools());
  const metrics = new ServerMetrics(ctx);
  // Traces only when an OTLP endpoint is configured (docs/observability.md).
  const otlp = config.otlpEndpoint ? new OtlpExporter(config.otlpEndpoint, log) : null;
  const tracer = otlp ? new SessionTracer(bus, (span) => otlp.add(span)) : null;
  const app = buildApp(
    ctx,
    {
      sessions,
      storage,
      suspend,
      observability: { metrics, readiness: readinessProbe(store, () => gateway.listening) },
      workspaces: workspaceStore.routes,
      extend: (api) => {
        pools.routes(api);
        tokens.routes(api);
        sessionOpRoutes(api, sessionOps);
        orgRoutes(api, ctx, { seedOrg: (org) => pools.seedOrg(org), changed: () => sessions.poolsChanged() });
      },
    },
    tls,
  );
  guardListener(app.server, config.limits.api, 'api', log);
  try {
    await gateway.listen();
    await app.listen({ port: config.port, host: config.host });
  } catch (e: unknown) {
    await gateway.close().catch(() => {});
    await app.close().catch(() => {});
    metrics.close();
    tracer?.close();
    await otlp?.close();
    await store.close();
    process.off('exit', flushAtExit);
    logFile.closeNow();
    const err = toError(e) as NodeJS.ErrnoException;
    if (err.code === 'EADDRINUSE')
      throw new Error(
        `address in use: ${err.message.replace(/^listen EADDRINUSE: address already in use /, '')} (another marionette running? choose --port / --gateway-port)`,
      );
    throw err;
  }
  const address = app.server.address();
  const apiPort = typeof address === 'object' && address ? address.port : config.port;

  // Reconcilers. Each tick is guarded so a slow one is never run twice at once. The singleton
  // ones run only on the replica holding the loop lease (always this process on SQLite).
  await runners.graceAfterRestart();
  await loopLease?.start();
  // What the other replicas write feeds this one's views (PostgreSQL; docs/replicas.md).
  const feedReader =
    store.feed && config.databaseUrl
      ? new ChangeFeedReader(ctx, config.databaseUrl, {
          links,
          kick: () => sessions.kick(),
          catalogChanged: () => sessions.poolsChanged(true),
          sendAssignment: (t) => sessions.runnerEvents.sendAssignment(t),
        })
      : null;
  await feedReader?.start();
  const timers: NodeJS.Timeout[] = [];
  const every = (ms: number, name: string, fn: () => Promise<void>, singleton = true) => {
    let running = false;
    const t = setInterval(() => {
      // While the store cannot write, reconcilers would only fail (and the lease reaper would
      // declare runners lost whose heartbeats could not be written): wait for it to recover.
      if (running || storage.store || (singleton && !gate.held)) return;
      running = true;
      fn()
        .catch((e: unknown) => {
          if (!storage.failed('store', e)) log.error({ err: toError(e) }, `${name} failed`);
        })
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
      if (before !== now) sessions.poolsChanged(true);
    }
  };
  await probe();
  every(10_000, 'provider health', probe, false);
  every(5_000, 'assigner', async () => sessions.kick(), false);
  // Suspends and resumes a killed server left half-done (finished / undone), before the reconciler reaps.
  if (gate.held)
    await suspend
      .recoverInterrupted(startedAt)
      .catch((e: unknown) => log.error({ err: toError(e) }, 'recovering interrupted suspends failed'));
  every(10_000, 'suspend recovery', async () => {
    await suspend.recoverInterrupted(startedAt);
  });
  // Orphaned containers/volumes, half-provisioned runners from a crash, dead sandboxes; pauses past max_duration.
  const reconciler = new Reconciler(ctx, runners, sessions, startedAt);
  if (gate.held)
    await reconciler.atStart().catch((e: unknown) => log.error({ err: toError(e) }, 'reconciler at start failed'));
  every(10_000, 'reconciler', async () => {
    await reconciler.tick();
  });
  every(2_000, 'pause escalation', () => suspend.escalateExpiredPauses());
  if (store.feed) every(60_000, 'change feed trim', () => store.feed!.trim(10 * 60_000));
  // Sessions whose sandbox nears its provider's maximum session duration are suspended before it.
  const ceiling = new SessionCeiling(ctx, suspend);
  every(2_000, 'session ceiling', () => ceiling.tick());
  // Runners that listen behind a provider's port tunnel (transport: tunnel): the server dials them.
  const tunnels = new TunnelDialer(ctx);
  every(1_000, 'runner tunnels', () => tunnels.tick());
  sessions.kick();
  autoscaler.start(undefined, gate);
  preempter.start(gate);

  log.info(
    { apiPort, gatewayPort: gateway.tcpPort, home: config.home, ...(tls ? { tlsFingerprint: tls.fingerprint } : {}) },
    'marionette started',
  );
  return {
    ctx,
    apiUrl: `${tls ? 'https' : 'http'}://${config.host.includes(':') ? `[${config.host}]` : config.host}:${apiPort}`,
    apiPort,
    gatewayPort: gateway.tcpPort,
    gatewaySocket: config.gatewaySocket,
    bootstrapToken: token,
    tls: tls
      ? {
          certFile: tls.certFile,
          fingerprint: tls.fingerprint,
          mode: tls.mode,
          created: tls.created,
          mutual: tls.clientCa !== null,
        }
      : null,
    sessions,
    runners,
    pools,
    async close(opts = {}) {
      for (const t of timers) clearInterval(t);
      await loopLease?.close();
      await feedReader?.close();
      tunnels.close();
      await autoscaler.close();
      await preempter.close();
      await sessions.settled();
      if (opts.terminateRunners)
        for (const r of await store.runners.live()) await runners.terminate(r, 'server shutting down');
      sessions.close();
      control.close();
      workspaceReaper.close();
      await workspaceStore.close();
      sessionOps.close();
      await app.close();
      metrics.close();
      tracer?.close();
      await otlp?.close();
      await gateway.close();
      for (const p of providers.values()) await p.close?.();
      storage.close();
      await store.close();
      process.off('exit', flushAtExit);
      await logFile.close();
    },
  };
}
