/**
 * @module `E2bSandboxProvider`: one E2B sandbox per runner, started from a template that carries
 * `marionette-agent` (docs/providers/e2b.md), whose agent is started through envd's process API
 * and dials out to the gateway the config names. Every sandbox carries metadata naming its
 * owners (`<prefix>.managed`, `.install`, `.runner`, ...), so `list` and `reapOrphans` find it
 * after a crash; a provision that fails after the sandbox exists kills it before it throws.
 * Pause/resume (memory kept) is E2B's native suspend; `terminate_preserve_storage` keeps the
 * workspace in the server's workspace store (a sandbox's disk ends with it); `execCommand` runs
 * through envd.
 */
import { Conflict, InvalidRequest, ProviderUnavailable, toError } from '../../core/errors.js';
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
import { E2B_CAPABILITIES } from './capabilities.js';
import { type E2bApi, type E2bConnection, sdkE2bApi } from './client.js';
import { type E2bProviderConfig, type E2bProviderConfigInput, mergeE2bConfig, ms, parseE2bConfig } from './config.js';
import { type Backoff, withBackoff } from './errors.js';

export interface E2bProviderOptions {
  /** The E2B API. Default: the official SDK. */
  api?: E2bApi;
  /** The install's id, in every sandbox's metadata; `reapOrphans` touches only sandboxes carrying it. */
  installId?: string;
  /** An org's credential (field name -> value), or null: the server's credential store. */
  resolveCredential?: (orgId: string) => Promise<Record<string, string> | null>;
  /** The key used when an org has none of its own (`E2B_API_KEY` of the server's environment). */
  defaultApiKey?: string;
  /** Rate-limit backoff (tests shorten it). Default 1s doubling to 30s, `rateLimitRetries` times. */
  backoff?: Partial<Backoff>;
}

/** Where the agent's output goes inside the sandbox (read by `streamLogs`). */
export const AGENT_LOG = '/tmp/marionette-agent.log';
/** The agent's pid inside the sandbox: a sandbox restored from a memory snapshot stops the old agent by it. */
export const AGENT_PID = '/tmp/marionette-agent.pid';

function meta(h: SandboxHandle, key: string): string | undefined {
  const v = h.metadata[key];
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/** A listed sandbox with the API key it was found with. */
type KeyedObject = OwnedObject & { key: string };

function unkeyed(o: KeyedObject): OwnedObject {
  const { key: _key, ...rest } = o;
  return rest;
}

const sq = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;

/**
 * @example
 * const p = new E2bSandboxProvider({ gateway: 'wss://marionette.example.com:9090' }, { defaultApiKey: key });
 * const h = await p.provision(spec); // resolves once the agent was started in the sandbox
 */
export class E2bSandboxProvider implements SandboxProvider {
  readonly id = 'e2b';
  readonly displayName = 'E2B';
  readonly capabilities: typeof E2B_CAPABILITIES;
  /** A sandbox's disk ends with it: `terminate_preserve_storage` keeps the workspace in the server's store. */
  readonly preservedStorage = 'workspace-store' as const;
  readonly config: E2bProviderConfig;
  readonly installId: string | null;
  private readonly api: E2bApi;
  private readonly opts: E2bProviderOptions;
  private readonly backoff: Backoff;
  /** Keys in use by this instance (the default and every org's seen), so `list` covers every account. */
  private readonly keys = new Set<string>();

  constructor(config: E2bProviderConfigInput | Record<string, unknown> = {}, opts: E2bProviderOptions = {}) {
    this.config = parseE2bConfig(config);
    const max = this.config.maxSessionDuration;
    this.capabilities =
      max === undefined
        ? E2B_CAPABILITIES
        : { ...E2B_CAPABILITIES, maxSessionDurationSeconds: Math.ceil(ms(max) / 1000) };
    this.installId = opts.installId ?? null;
    this.api = opts.api ?? sdkE2bApi();
    this.opts = opts;
    this.backoff = { retries: this.config.rateLimitRetries, baseMs: 1000, maxMs: 30_000, ...opts.backoff };
    if (opts.defaultApiKey) this.keys.add(opts.defaultApiKey);
  }

  supportedSuspendStrategies(): readonly SuspendStrategy[] {
    return ['pause', 'snapshot', 'terminate_preserve_storage', 'terminate'];
  }

  private conn(apiKey: string): E2bConnection {
    const c = this.config;
    return {
      apiKey,
      domain: c.domain,
      apiUrl: c.apiUrl,
      sandboxUrl: c.sandboxUrl,
      requestTimeoutMs: ms(c.requestTimeout),
    };
  }

  /** The connection of an org: its own credential, else the server's key; none is a clear error. */
  private async connFor(orgId: string): Promise<E2bConnection> {
    const own = await this.opts.resolveCredential?.(orgId);
    const key = own?.apiKey || this.opts.defaultApiKey;
    if (!key)
      throw new ProviderUnavailable(`no E2B API key for org ${orgId}`, {
        hint: 'store one with `mctl credentials set e2b`, or set E2B_API_KEY in the server environment',
      });
    this.keys.add(key);
    return this.conn(key);
  }

  private call<T>(fn: () => Promise<T>, what: string, template?: string): Promise<T> {
    return withBackoff(fn, this.backoff, what, template);
  }

  private metadataFor(spec: SandboxSpec): Record<string, string> {
    const p = this.config.metadataPrefix;
    return {
      [`${p}.managed`]: 'true',
      [`${p}.role`]: 'sandbox',
      [`${p}.install`]: this.installId ?? '',
      [`${p}.runner`]: spec.runnerId,
      [`${p}.session`]: spec.sessionId ?? '',
      [`${p}.pool`]: spec.poolId,
      [`${p}.org`]: spec.orgId,
    };
  }

  async provision(spec: SandboxSpec): Promise<SandboxHandle> {
    return this.start(spec, null);
  }

  /** Starts a sandbox from the pool's template, or from a snapshot (`restore`), and the agent in it. */
  private async start(spec: SandboxSpec, snapshotId: string | null): Promise<SandboxHandle> {
    const cfg = mergeE2bConfig(this.config, spec.config);
    if (spec.image !== undefined)
      throw new InvalidRequest('image: e2b pools run templates, not images; set sandbox_config.template');
    if (!cfg.gateway && cfg.transport === 'dial-in')
      throw new InvalidRequest(
        'e2b provider: the sandboxes have no gateway address to dial; set providers.e2b.gateway (a ws:// or wss:// address reachable from E2B), or transport: tunnel for a server E2B cannot reach',
      );
    const conn = await this.connFor(spec.orgId);
    const template = snapshotId ?? cfg.template;
    const timeoutMs = ms(cfg.sandboxTimeout);
    const { sandboxId } = await this.call(
      () => this.api.create(conn, template, { metadata: this.metadataFor(spec), timeoutMs }),
      `starting a sandbox from template ${JSON.stringify(template)}`,
      template,
    );
    try {
      const h = await this.startAgent(conn, cfg, spec, sandboxId, timeoutMs);
      if (snapshotId !== null) h.metadata.snapshotId = snapshotId;
      return h;
    } catch (e: unknown) {
      // Halfway: the sandbox exists but runs no agent. It goes before the error is reported.
      const err = toError(e);
      await this.call(() => this.api.kill(conn, sandboxId), `killing sandbox ${sandboxId}`).catch((ce: unknown) => {
        err.message += ` (killing the new sandbox ${sandboxId} also failed: ${toError(ce).message})`;
      });
      throw err;
    }
  }

  /** Makes the workspace, checks the template has the agent, and starts it in the background. */
  private async startAgent(
    conn: E2bConnection,
    cfg: E2bProviderConfig,
    spec: SandboxSpec,
    sandboxId: string,
    timeoutMs: number,
  ): Promise<SandboxHandle> {
    const agent = cfg.agentCommand.trim().split(/\s+/)[0] ?? '';
    // A sandbox from a memory snapshot still runs the old runner's agent: it goes first.
    const stopOld = `if [ -f ${AGENT_PID} ]; then kill -9 "$(cat ${AGENT_PID})" 2>/dev/null; rm -f ${AGENT_PID}; fi`;
    const check = await this.call(
      () =>
        this.api.run(conn, sandboxId, `${stopOld}; mkdir -p ${sq(cfg.workspace)} && command -v ${sq(agent)}`, {
          sandboxTimeoutMs: timeoutMs,
        }),
      `preparing sandbox ${sandboxId}`,
    );
    if (check.exitCode !== 0)
      throw new InvalidRequest(
        `E2B template ${JSON.stringify(cfg.template)} cannot run the agent: \`${agent}\` is not in the sandbox or the workspace ${cfg.workspace} cannot be made (${(check.stderr || check.stdout).trim() || `exit ${check.exitCode}`})`,
        { hint: 'build the template with marionette-agent as docs/providers/e2b.md describes' },
      );
    const tunnel = cfg.transport === 'tunnel';
    const boot = runnerEnv(runnerBoot(spec, tunnel ? null : (cfg.gateway ?? null), cfg.workspace));
    const envs = { ...spec.env, ...boot, ...(tunnel ? tunnelEnv(spec, cfg.tunnelPort) : {}) };
    await this.call(
      () =>
        this.api.spawn(conn, sandboxId, `echo $$ >${AGENT_PID}; exec ${cfg.agentCommand} >>${AGENT_LOG} 2>&1`, {
          envs,
          cwd: cfg.workspace,
          sandboxTimeoutMs: timeoutMs,
        }),
      `starting the agent in sandbox ${sandboxId}`,
    );
    const info = await this.call(() => this.api.info(conn, sandboxId), `reading sandbox ${sandboxId}`);
    return {
      providerId: this.id,
      externalId: sandboxId,
      metadata: {
        orgId: spec.orgId,
        runnerId: spec.runnerId,
        sessionId: spec.sessionId,
        poolId: spec.poolId,
        template: cfg.template,
        workspace: cfg.workspace,
        timeoutMs,
        ...(tunnel ? { transport: 'tunnel', tunnelPort: cfg.tunnelPort } : {}),
        installId: this.installId,
        provisionedAt: new Date().toISOString(),
        ...(info ? { cpuCount: info.cpuCount, memoryMB: info.memoryMB } : {}),
      },
    };
  }

  private orgOf(handle: SandboxHandle): string {
    const org = meta(handle, 'orgId');
    if (!org) throw new InvalidRequest(`e2b sandbox ${handle.externalId}: the handle names no orgId`);
    return org;
  }

  async status(handle: SandboxHandle): Promise<SandboxStatus> {
    const conn = await this.connFor(this.orgOf(handle));
    const info = await this.call(() => this.api.info(conn, handle.externalId), `reading sandbox ${handle.externalId}`);
    if (info === null) return 'terminated';
    return info.state === 'running' || info.state === 'paused' ? 'running' : 'provisioning';
  }

  /** Kills the sandbox and deletes the snapshot it was restored from (the session's kept storage). */
  async terminate(handle: SandboxHandle): Promise<void> {
    const conn = await this.connFor(this.orgOf(handle));
    await this.call(() => this.api.kill(conn, handle.externalId), `killing sandbox ${handle.externalId}`);
    await this.destroyStorage(handle);
  }

  /** Pausing stops everything in the sandbox at once and keeps its state: the fence E2B offers. */
  async fence(handle: SandboxHandle): Promise<void> {
    await this.pause(handle);
  }

  async pause(handle: SandboxHandle): Promise<void> {
    const conn = await this.connFor(this.orgOf(handle));
    await this.call(() => this.api.pause(conn, handle.externalId), `pausing sandbox ${handle.externalId}`);
  }

  /** The sandbox timeout the handle was made with (kept when the provider touches it again). */
  private timeoutOf(handle: SandboxHandle): number {
    return typeof handle.metadata.timeoutMs === 'number' ? handle.metadata.timeoutMs : ms(this.config.sandboxTimeout);
  }

  async unpause(handle: SandboxHandle): Promise<void> {
    const conn = await this.connFor(this.orgOf(handle));
    const timeoutMs = this.timeoutOf(handle);
    await this.call(() => this.api.resume(conn, handle.externalId, timeoutMs), `resuming sandbox ${handle.externalId}`);
  }

  /**
   * E2B's snapshot (filesystem and memory), then the sandbox goes: the session keeps only the
   * snapshot, which `restore` starts a new sandbox from and `destroyStorage` deletes.
   */
  async snapshot(handle: SandboxHandle): Promise<SandboxHandle> {
    const conn = await this.connFor(this.orgOf(handle));
    const id = handle.externalId;
    const { snapshotId } = await this.call(() => this.api.snapshot(conn, id), `snapshotting sandbox ${id}`);
    await this.call(() => this.api.kill(conn, id), `killing sandbox ${id}`);
    const previous = meta(handle, 'snapshotId');
    if (previous !== undefined && previous !== snapshotId)
      await this.call(() => this.api.deleteSnapshot(conn, previous), `deleting snapshot ${previous}`);
    return { ...handle, metadata: { ...handle.metadata, snapshotId } };
  }

  /**
   * `terminate_preserve_storage` through the workspace store: the server snapshotted the
   * workspace into its store just before (the suspend's `stored` step), so the sandbox is killed
   * and a snapshot it was restored from is deleted. The handle returned has no `snapshotId`, so
   * `restore` starts a fresh sandbox from the template, whose agent finds the workspace empty and
   * restores it from the store before the next task.
   */
  async stopPreserveStorage(handle: SandboxHandle): Promise<SandboxHandle> {
    const conn = await this.connFor(this.orgOf(handle));
    const id = handle.externalId;
    // Gone already (a retried step) is fine: the SDK's kill answers false, not an error.
    await this.call(() => this.api.kill(conn, id), `killing sandbox ${id}`);
    await this.destroyStorage(handle);
    const { snapshotId: _old, ...metadata } = handle.metadata;
    return { ...handle, metadata: { ...metadata, storage: 'workspace-store' } };
  }

  /** A new sandbox from the handle's snapshot with a new runner; a handle without one is a fresh provision. */
  async restore(handle: SandboxHandle, spec: SandboxSpec): Promise<SandboxHandle> {
    return this.start(spec, meta(handle, 'snapshotId') ?? null);
  }

  /** Deletes the session's snapshot, if it has one (gone already is fine). */
  async destroyStorage(handle: SandboxHandle): Promise<void> {
    const snapshotId = meta(handle, 'snapshotId');
    if (snapshotId === undefined) return;
    const conn = await this.connFor(this.orgOf(handle));
    await this.call(() => this.api.deleteSnapshot(conn, snapshotId), `deleting snapshot ${snapshotId}`);
  }

  /** Runs a shell command in the sandbox's workspace through envd (a paused sandbox is refused, not resumed). */
  async execCommand(handle: SandboxHandle, command: string, env?: Record<string, string>): Promise<SandboxExecResult> {
    const conn = await this.connFor(this.orgOf(handle));
    const id = handle.externalId;
    const info = await this.call(() => this.api.info(conn, id), `reading sandbox ${id}`);
    if (info === null) throw new Conflict(`e2b sandbox ${id} is gone`);
    if (info.state !== 'running') throw new Conflict(`e2b sandbox ${id} is ${info.state}; resume the session first`);
    const cwd = meta(handle, 'workspace') ?? this.config.workspace;
    return this.call(
      () => this.api.run(conn, id, command, { envs: env ?? {}, cwd, sandboxTimeoutMs: this.timeoutOf(handle) }),
      `running a command in ${id}`,
    );
  }

  async *streamLogs(handle: SandboxHandle): AsyncIterable<string> {
    const r = await this.execCommand(handle, `cat ${AGENT_LOG} 2>/dev/null || true`);
    for (const line of r.stdout.split('\n')) if (line) yield line;
  }

  /** `transport: tunnel`: E2B's host for the agent's port (docs/providers/e2b.md), else null (the agent dials in). */
  async tunnelEndpoint(handle: SandboxHandle): Promise<TunnelEndpoint | null> {
    const port = handle.metadata.tunnelPort;
    if (handle.metadata.transport !== 'tunnel' || typeof port !== 'number') return null;
    const url = this.config.tunnelUrl
      .replaceAll('{port}', String(port))
      .replaceAll('{sandboxId}', handle.externalId)
      .replaceAll('{domain}', this.config.domain ?? 'e2b.app');
    return { url };
  }

  async health(): Promise<{ ok: true } | { ok: false; message: string }> {
    const key = this.opts.defaultApiKey;
    // Without a server-wide key there is nothing to probe: each org brings its own.
    if (!key) return { ok: true };
    try {
      await this.call(
        () => this.api.list(this.conn(key), { [`${this.config.metadataPrefix}.managed`]: 'true' }),
        'probing the API',
      );
      return { ok: true };
    } catch (e: unknown) {
      return { ok: false, message: toError(e).message };
    }
  }

  /** Sandboxes carrying `<prefix>.managed=true`, of every install, on every key this instance knows. */
  async list(): Promise<OwnedObject[]> {
    return (await this.listKeyed()).map(unkeyed);
  }

  /** `list` with the key each sandbox was found with (never returned: keys stay inside). */
  private async listKeyed(): Promise<KeyedObject[]> {
    const p = this.config.metadataPrefix;
    const out = new Map<string, KeyedObject>();
    for (const key of this.keys) {
      const found = await this.call(
        () => this.api.list(this.conn(key), { [`${p}.managed`]: 'true' }),
        'listing sandboxes',
      );
      for (const s of found) {
        const m = s.metadata;
        out.set(s.sandboxId, {
          key,
          role: 'sandbox',
          kind: 'sandbox',
          id: s.sandboxId,
          name: `${s.sandboxId} (${s.templateId}, ${s.state})`,
          owner: {
            session: m[`${p}.session`] ?? '',
            runner: m[`${p}.runner`] ?? '',
            pool: m[`${p}.pool`] ?? '',
            org: m[`${p}.org`] ?? '',
            install: m[`${p}.install`] ?? '',
          },
        });
      }
    }
    return [...out.values()];
  }

  async reapOrphans(isLive: OwnerCheck, adopt?: OwnerCheck): Promise<ReapResult> {
    const r = await reapOwned(await this.listKeyed(), {
      installId: this.installId,
      isLive,
      adopt,
      remove: async (o) => {
        await this.call(() => this.api.kill(this.conn(o.key), o.id), `killing sandbox ${o.id}`);
        return undefined;
      },
    });
    const strip = unkeyed;
    return {
      removed: r.removed.map(strip),
      kept: r.kept.map(strip),
      skipped: r.skipped.map((s) => ({ ...s, object: strip(s.object) })),
      failed: r.failed.map((f) => ({ ...f, object: strip(f.object) })),
      foreign: r.foreign.map(strip),
    };
  }
}
