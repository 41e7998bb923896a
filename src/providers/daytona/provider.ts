/**
 * @module `DaytonaSandboxProvider`: one Daytona sandbox per runner, created from a snapshot that
 * carries marionette-agent (docs/providers/daytona.md builds it). Once the sandbox is started the
 * provider starts the agent in a toolbox session, with the runner's one-time registration token
 * and the gateway address on its command line (never in the sandbox's environment, which outlives
 * the token), and the agent dials out to the gateway. Every sandbox carries owner labels, so
 * `list` and `reapOrphans` find it after a crash, and is named after its runner, so a provision
 * that failed halfway is deleted even when Daytona never answered with an id.
 *
 * Suspend: `terminate_preserve_storage` stops the sandbox (Daytona keeps its disk; billed as
 * storage only) and optionally archives it; `restore` relabels it for the new runner, starts it
 * and starts a new agent. `snapshot` captures its filesystem as a Daytona snapshot and deletes the
 * sandbox; `restore` creates a new sandbox from that snapshot. No pause (the seed's row).
 *
 * Credentials are per org: the server's resolver, else DAYTONA_API_KEY / DAYTONA_API_URL /
 * DAYTONA_TARGET from the environment (./credentials.ts). One SDK client per distinct credential.
 */
import { createHash } from 'node:crypto';
import { InvalidRequest, ProviderUnavailable, toError } from '../../core/errors.js';
import { reapOwned } from '../reap.js';
import { runnerBoot, runnerEnv, tunnelEnv } from '../runner-boot.js';
import type {
  OwnedObject,
  OwnerCheck,
  ReapResult,
  SandboxExecResult,
  SandboxHandle,
  SandboxProvider,
  SandboxSpec,
  SandboxStatus,
  SuspendStrategy,
  TunnelEndpoint,
} from '../types.js';
import { DAYTONA_CAPABILITIES } from './capabilities.js';
import { type DaytonaApi, type DaytonaSandboxView, sdkDaytonaApi } from './client.js';
import {
  type DaytonaProviderConfig,
  type DaytonaProviderConfigInput,
  type DaytonaRunConfig,
  mergeDaytonaConfig,
  parseDaytonaConfig,
  startTimeoutSec,
} from './config.js';
import { CREDENTIAL_HINT, credentialFromEnv, type DaytonaCredential, toDaytonaCredential } from './credentials.js';
import { withDaytona } from './errors.js';
import {
  labelKeys,
  ownedSandbox,
  ownedSnapshot,
  ownerLabels,
  SUSPEND_SNAPSHOT_PREFIX,
  sandboxName,
  snapshotName,
} from './labels.js';

export interface DaytonaProviderOptions {
  /** The install's id, on every sandbox's labels; `reapOrphans` touches only sandboxes carrying it. */
  installId?: string;
  /** The server's credential resolver (`ProviderContext.resolveCredential`): field name -> value for an org. */
  resolveCredential?: (orgId: string) => Promise<Record<string, string> | null>;
  /** The environment fallback when there is no resolver (default `process.env`). */
  env?: Readonly<Record<string, string | undefined>>;
  /** Makes the API client of a credential (default: the official SDK). */
  api?: (cred: DaytonaCredential) => DaytonaApi;
}

/** How long deleting a sandbox may take before terminate gives up (the server retries). */
const DELETE_TIMEOUT_SEC = 90;

function meta(h: SandboxHandle, key: string): string | undefined {
  const v = h.metadata[key];
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/** `s` as one shell word. */
function shq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Sandbox states the provider reports as `provisioning`. */
const STARTING = new Set([
  'creating',
  'starting',
  'restoring',
  'pending_build',
  'building_snapshot',
  'pulling_snapshot',
  'unknown',
]);
/** Sandbox states in which the sandbox runs (its agent may be connected). */
const RUNNING = new Set(['started', 'resizing', 'snapshotting', 'forking']);

/** The Marionette status of a Daytona sandbox state. */
export function statusOfState(state: string): SandboxStatus {
  if (RUNNING.has(state)) return 'running';
  if (STARTING.has(state)) return 'provisioning';
  if (state === 'error' || state === 'build_failed') return 'failed';
  return 'terminated';
}

export class DaytonaSandboxProvider implements SandboxProvider {
  readonly id = 'daytona';
  readonly displayName = 'Daytona';
  readonly capabilities = DAYTONA_CAPABILITIES;
  readonly config: DaytonaProviderConfig;
  readonly installId: string | null;
  private readonly opts: DaytonaProviderOptions;
  /** SDK clients by credential fingerprint. */
  private readonly clients = new Map<string, { cred: DaytonaCredential; api: DaytonaApi }>();
  /** The client that listed each sandbox id (reaping uses the same credential). */
  private readonly listedBy = new Map<string, DaytonaApi>();

  constructor(config: DaytonaProviderConfigInput | Record<string, unknown> = {}, opts: DaytonaProviderOptions = {}) {
    this.config = parseDaytonaConfig(config);
    this.installId = opts.installId ?? null;
    this.opts = opts;
  }

  supportedSuspendStrategies(): readonly SuspendStrategy[] {
    return ['snapshot', 'terminate_preserve_storage', 'terminate'];
  }

  // ---- credentials and clients ----

  private fallbackCredential(): DaytonaCredential | null {
    return credentialFromEnv(this.opts.env ?? process.env);
  }

  /** The credential of `orgId`: the resolver's, else the environment's; throws naming the fix when there is none. */
  private async credentialOf(orgId: string): Promise<DaytonaCredential> {
    const resolved = this.opts.resolveCredential
      ? toDaytonaCredential(await this.opts.resolveCredential(orgId))
      : this.fallbackCredential();
    if (!resolved) throw new ProviderUnavailable(`no Daytona credential for org ${orgId}: ${CREDENTIAL_HINT}`);
    return resolved;
  }

  private clientFor(cred: DaytonaCredential): DaytonaApi {
    const key = createHash('sha256')
      .update(`${cred.apiUrl}\0${cred.target ?? ''}\0${cred.apiKey}`)
      .digest('hex');
    let c = this.clients.get(key);
    if (!c) {
      c = { cred, api: (this.opts.api ?? sdkDaytonaApi)(cred) };
      this.clients.set(key, c);
    }
    return c.api;
  }

  private async apiOf(orgId: string): Promise<{ api: DaytonaApi; cred: DaytonaCredential }> {
    const cred = await this.credentialOf(orgId);
    return { api: this.clientFor(cred), cred };
  }

  /** Runs one Daytona call with rate-limit retries and vendor errors mapped to session reasons. */
  private call<T>(cred: DaytonaCredential, what: string, fn: () => Promise<T>): Promise<T> {
    return withDaytona(what, fn, { retries: this.config.rateLimitRetries, apiUrl: cred.apiUrl });
  }

  private async apiOfHandle(h: SandboxHandle) {
    const org = meta(h, 'orgId');
    if (org === undefined) throw new InvalidRequest('Daytona sandbox handle names no org');
    return this.apiOf(org);
  }

  async health(): Promise<{ ok: true } | { ok: false; message: string }> {
    const cred = this.fallbackCredential();
    // Without a server-wide credential each org brings its own: checked when a runner is provisioned.
    if (!cred) return { ok: true };
    try {
      await this.call(cred, 'listing sandboxes', () =>
        this.clientFor(cred).list({ [labelKeys(this.config.labelPrefix).managed]: 'true' }),
      );
      return { ok: true };
    } catch (e: unknown) {
      return { ok: false, message: toError(e).message };
    }
  }

  // ---- provisioning ----

  /** The command that starts the runner's agent in its sandbox (boot values on the command line, not in the sandbox env). */
  private agentCommand(cfg: DaytonaRunConfig, spec: SandboxSpec): string {
    const tunnel = cfg.transport === 'tunnel';
    if (!cfg.gateway && !tunnel)
      throw new InvalidRequest(
        'providers.daytona.gateway is not set: a Daytona sandbox dials the gateway over the network (e.g. wss://marionette.example.com:9090), or set transport: tunnel for a server Daytona cannot reach',
      );
    const env = {
      ...runnerEnv(runnerBoot(spec, tunnel ? null : (cfg.gateway ?? null), cfg.workspace)),
      ...(tunnel ? tunnelEnv(spec, cfg.tunnelPort) : {}),
    };
    const assigns = Object.entries(env)
      .map(([k, v]) => `${k}=${shq(v)}`)
      .join(' ');
    const ws = shq(cfg.workspace);
    const log = shq(`/tmp/marionette-agent-${spec.runnerId}.log`);
    // No `exec`: the agent runs as a child of the session's shell, which Daytona's daemon keeps and tracks.
    return `mkdir -p ${ws} && cd ${ws} && env ${assigns} ${cfg.agentCommand} >>${log} 2>&1`;
  }

  private handleOf(cfg: DaytonaRunConfig, spec: SandboxSpec, s: DaytonaSandboxView, cred: DaytonaCredential) {
    const h: SandboxHandle = {
      providerId: this.id,
      externalId: s.name,
      metadata: {
        orgId: spec.orgId,
        runnerId: spec.runnerId,
        sessionId: spec.sessionId,
        poolId: spec.poolId,
        sandboxId: s.id,
        snapshot: cfg.snapshot,
        apiUrl: cred.apiUrl,
        labelPrefix: cfg.labelPrefix,
        installId: this.installId,
        workspace: cfg.workspace,
        ...(cfg.transport === 'tunnel' ? { transport: 'tunnel', tunnelPort: cfg.tunnelPort } : {}),
        provisionedAt: new Date().toISOString(),
        // What the sandbox is billed for (Daytona units: vCPU, GiB, GiB), recorded with the runner.
        resources: { cpu: s.cpu ?? null, memory: s.memory ?? null, disk: s.disk ?? null },
      },
    };
    return h;
  }

  async provision(spec: SandboxSpec): Promise<SandboxHandle> {
    return this.createRunner(spec, null);
  }

  /** Creates the runner's sandbox (from `fromSnapshot` or the configured snapshot) and starts its agent; on any failure deletes it. */
  private async createRunner(spec: SandboxSpec, fromSnapshot: string | null): Promise<SandboxHandle> {
    const cfg = mergeDaytonaConfig(this.config, spec.config);
    if (spec.image !== undefined)
      throw new InvalidRequest(
        `image: the daytona provider runs snapshots, not images; build a snapshot from ${spec.image} and name it in sandbox_config.snapshot`,
      );
    const command = this.agentCommand(cfg, spec);
    const { api, cred } = await this.apiOf(spec.orgId);
    const name = sandboxName(spec.runnerId);
    const snapshot = fromSnapshot ?? cfg.snapshot;
    const timeout = startTimeoutSec(this.config);
    try {
      let attempt = 0;
      const s = await this.call(cred, `creating sandbox ${name} from snapshot "${snapshot}"`, async () => {
        // A retry (rate limited while the SDK waited for the start) finds the sandbox made already.
        const made = attempt++ > 0 ? await api.get(name) : null;
        if (made) return api.waitStarted(made.id, timeout);
        return api.create(
          {
            name,
            snapshot,
            envVars: { ...cfg.env, ...spec.env },
            labels: ownerLabels(cfg.labelPrefix, spec, this.installId),
            ...(Object.keys(cfg.resources).length ? { resources: cfg.resources } : {}),
            autoStopInterval: this.config.autoStopMinutes,
          },
          timeout,
        );
      });
      await this.call(cred, `starting marionette-agent in sandbox ${name}`, () =>
        api.startCommand(name, `marionette-${spec.runnerId}`, command),
      );
      const h = this.handleOf(cfg, spec, s, cred);
      if (fromSnapshot !== null) h.metadata.snapshotName = fromSnapshot;
      return h;
    } catch (e: unknown) {
      const err = toError(e);
      // Halfway (created but failed to start, or the agent would not start): nothing may stay behind.
      await this.call(cred, `deleting sandbox ${name} after a failed provision`, () =>
        api.remove(name, DELETE_TIMEOUT_SEC),
      ).catch((ce: unknown) => {
        err.message += ` (deleting the sandbox also failed: ${toError(ce).message}; the reconciler will retry)`;
      });
      throw err;
    }
  }

  /** The sandbox of a handle while it still belongs to the handle's runner (a restore relabels it for the next runner). */
  private async ownSandbox(
    h: SandboxHandle,
  ): Promise<{ s: DaytonaSandboxView | null; api: DaytonaApi; cred: DaytonaCredential }> {
    const { api, cred } = await this.apiOfHandle(h);
    const s = await this.call(cred, `reading sandbox ${h.externalId}`, () => api.get(h.externalId));
    if (!s) return { s: null, api, cred };
    const runnerKey = labelKeys(meta(h, 'labelPrefix') ?? this.config.labelPrefix).runner;
    const runner = meta(h, 'runnerId');
    if (runner !== undefined && s.labels[runnerKey] !== undefined && s.labels[runnerKey] !== runner)
      return { s: null, api, cred };
    return { s, api, cred };
  }

  /** `transport: tunnel`: the preview link of the agent's port, with its token header; else null (it dials in). */
  async tunnelEndpoint(handle: SandboxHandle): Promise<TunnelEndpoint | null> {
    const port = handle.metadata.tunnelPort;
    if (handle.metadata.transport !== 'tunnel' || typeof port !== 'number') return null;
    const { api, cred } = await this.apiOfHandle(handle);
    const link = await this.call(cred, `reading the preview link of ${handle.externalId}`, () =>
      api.previewLink(handle.externalId, port),
    );
    return { url: link.url.replace(/^http/, 'ws'), headers: { 'x-daytona-preview-token': link.token } };
  }

  async status(handle: SandboxHandle): Promise<SandboxStatus> {
    const { s } = await this.ownSandbox(handle);
    return s ? statusOfState(s.state) : 'terminated';
  }

  async terminate(handle: SandboxHandle): Promise<void> {
    const { s, api, cred } = await this.ownSandbox(handle);
    if (s) await this.call(cred, `deleting sandbox ${s.name}`, () => api.remove(s.id, DELETE_TIMEOUT_SEC));
    const snap = meta(handle, 'snapshotName');
    if (snap !== undefined) await this.call(cred, `deleting snapshot ${snap}`, () => api.removeSnapshot(snap));
  }

  /** Stops the sandbox now (its disk stays), so a retry of its task never runs beside it. */
  async fence(handle: SandboxHandle): Promise<void> {
    const { s, api, cred } = await this.ownSandbox(handle);
    if (s && statusOfState(s.state) !== 'terminated')
      await this.call(cred, `stopping sandbox ${s.name}`, () => api.stop(s.id, startTimeoutSec(this.config)));
  }

  // ---- suspend ----

  /** Daytona stop (the disk stays, billed as storage), then archive when `archiveOnSuspend`. Idempotent. */
  async stopPreserveStorage(handle: SandboxHandle): Promise<void> {
    const { s, api, cred } = await this.ownSandbox(handle);
    if (!s) return;
    if (s.state !== 'stopped' && s.state !== 'archived' && s.state !== 'archiving')
      await this.call(cred, `stopping sandbox ${s.name}`, () => api.stop(s.id, startTimeoutSec(this.config)));
    if (this.config.archiveOnSuspend && s.state !== 'archived' && s.state !== 'archiving')
      await this.call(cred, `archiving sandbox ${s.name}`, () => api.archive(s.id));
  }

  /**
   * Captures the sandbox's filesystem as a Daytona snapshot and deletes the sandbox. Idempotent:
   * a snapshot already there (made before a crash) is kept; a sandbox already gone is fine.
   */
  async snapshot(handle: SandboxHandle): Promise<SandboxHandle> {
    const runner = meta(handle, 'runnerId') ?? handle.externalId;
    const name = snapshotName(meta(handle, 'sessionId') ?? null, runner);
    const { s, api, cred } = await this.ownSandbox(handle);
    const exists = await this.call(cred, `reading snapshot ${name}`, () => api.snapshotExists(name));
    if (!exists) {
      if (!s) throw new InvalidRequest(`cannot snapshot: Daytona sandbox ${handle.externalId} no longer exists`);
      await this.call(cred, `snapshotting sandbox ${s.name} as ${name}`, () =>
        api.createSnapshot(s.id, name, startTimeoutSec(this.config) * 5),
      );
    }
    if (s) await this.call(cred, `deleting sandbox ${s.name}`, () => api.remove(s.id, DELETE_TIMEOUT_SEC));
    return { ...handle, metadata: { ...handle.metadata, snapshotName: name } };
  }

  /**
   * A new runner on the kept storage: from the snapshot a `snapshot` suspend wrote (a new
   * sandbox), else the stopped or archived sandbox itself, relabelled for the new runner and started.
   */
  async restore(handle: SandboxHandle, spec: SandboxSpec): Promise<SandboxHandle> {
    const snap = meta(handle, 'snapshotName');
    if (snap !== undefined) return this.createRunner(spec, snap);
    const cfg = mergeDaytonaConfig(this.config, spec.config);
    const command = this.agentCommand(cfg, spec);
    const { api, cred } = await this.apiOf(spec.orgId);
    const name = handle.externalId;
    const s = await this.call(cred, `reading sandbox ${name}`, () => api.get(name));
    if (!s) throw new InvalidRequest(`cannot restore: Daytona sandbox ${name} no longer exists`);
    await this.call(cred, `relabelling sandbox ${name}`, () =>
      api.setLabels(s.id, {
        ...s.labels,
        ...ownerLabels(meta(handle, 'labelPrefix') ?? cfg.labelPrefix, spec, this.installId),
      }),
    );
    const restored: SandboxHandle = {
      ...this.handleOf(cfg, spec, s, cred),
      externalId: name,
    };
    try {
      if (s.state !== 'started')
        await this.call(cred, `starting sandbox ${name}`, () => api.start(s.id, startTimeoutSec(this.config) * 3));
      await this.call(cred, `starting marionette-agent in sandbox ${name}`, () =>
        api.startCommand(s.id, `marionette-${spec.runnerId}`, command),
      );
    } catch (e: unknown) {
      const err = toError(e);
      // Undo: the storage is the session's, so it is stopped again, never deleted.
      await this.stopPreserveStorage(restored).catch((ce: unknown) => {
        err.message += ` (stopping the sandbox again also failed: ${toError(ce).message})`;
      });
      throw err;
    }
    return restored;
  }

  /** Deletes what a session kept: its stopped sandbox and its suspend snapshot. */
  async destroyStorage(handle: SandboxHandle): Promise<void> {
    const { api, cred } = await this.apiOfHandle(handle);
    const s = await this.call(cred, `reading sandbox ${handle.externalId}`, () => api.get(handle.externalId));
    if (s) await this.call(cred, `deleting sandbox ${s.name}`, () => api.remove(s.id, DELETE_TIMEOUT_SEC));
    const snap = meta(handle, 'snapshotName');
    if (snap !== undefined) await this.call(cred, `deleting snapshot ${snap}`, () => api.removeSnapshot(snap));
  }

  // ---- commands ----

  /** Runs `command` with `sh -c` in the sandbox through Daytona's toolbox process API (one combined output stream: stdout). */
  async execCommand(handle: SandboxHandle, command: string, env?: Record<string, string>): Promise<SandboxExecResult> {
    const { api, cred } = await this.apiOfHandle(handle);
    const cwd = meta(handle, 'workspace') ?? this.config.workspace;
    const r = await this.call(cred, `running a command in sandbox ${handle.externalId}`, () =>
      api.exec(handle.externalId, `sh -c ${shq(command)}`, { cwd, ...(env ? { env } : {}) }),
    );
    return { exitCode: r.exitCode, stdout: r.output, stderr: '' };
  }

  // ---- reconciliation ----

  /** Every client this process can list with: the server-wide credential's and each org's used so far. */
  private listingClients(): Array<{ api: DaytonaApi; cred: DaytonaCredential }> {
    const fallback = this.fallbackCredential();
    if (fallback) this.clientFor(fallback);
    return [...this.clients.values()];
  }

  /**
   * Sandboxes under the label prefix, of every install, and suspend snapshots (owners read from
   * their names, no install id), seen with every credential this process knows.
   */
  async list(): Promise<OwnedObject[]> {
    const k = labelKeys(this.config.labelPrefix);
    const out = new Map<string, OwnedObject>();
    for (const { api, cred } of this.listingClients()) {
      const found = await this.call(cred, 'listing sandboxes', () => api.list({ [k.managed]: 'true' }));
      for (const s of found) {
        if (s.state === 'destroying') continue;
        out.set(s.id, ownedSandbox(this.config.labelPrefix, s));
        this.listedBy.set(s.id, api);
      }
      const snaps = await this.call(cred, 'listing snapshots', () => api.listSnapshots());
      for (const name of snaps) {
        const o = name.startsWith(SUSPEND_SNAPSHOT_PREFIX) ? ownedSnapshot(name) : null;
        if (!o) continue;
        out.set(`snapshot:${name}`, o);
        this.listedBy.set(`snapshot:${name}`, api);
      }
    }
    return [...out.values()];
  }

  async reapOrphans(isLive: OwnerCheck, adopt?: OwnerCheck): Promise<ReapResult> {
    return reapOwned(await this.list(), {
      installId: this.installId,
      isLive,
      adopt,
      remove: async (o) => {
        const snapshot = o.kind === 'snapshot';
        const api = this.listedBy.get(snapshot ? `snapshot:${o.id}` : o.id);
        if (!api) return { skipped: 'no client listed it' };
        await withDaytona(
          `deleting ${o.name}`,
          () => (snapshot ? api.removeSnapshot(o.id) : api.remove(o.id, DELETE_TIMEOUT_SEC)),
          { retries: this.config.rateLimitRetries },
        );
        return undefined;
      },
    });
  }

  async close(): Promise<void> {
    const all = [...this.clients.values()];
    this.clients.clear();
    this.listedBy.clear();
    for (const c of all) await c.api.close().catch(() => {});
  }
}
