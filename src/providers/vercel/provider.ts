/**
 * @module `VercelSandboxProvider`: one Vercel Sandbox (a Firecracker microVM) per runner, booted
 * from an image that carries marionette-agent (docs/providers/vercel.md builds it). Once the
 * sandbox runs, the provider checks the agent is there and starts it as a detached command with
 * the runner's one-time registration token and the gateway address in that command's environment
 * (never the sandbox's, which outlives the token); the agent dials out to the gateway. Every
 * sandbox is named after its runner and tagged with its owners, so `list` and `reapOrphans` find
 * it after a crash, and a provision that failed halfway is deleted by name.
 *
 * Suspend: `snapshot` is Vercel's snapshot (the filesystem; Vercel stops the session while it
 * takes it): the stopped sandbox stays as the snapshot's holder until `restore` creates the next
 * runner's sandbox from the snapshot. `terminate_preserve_storage` keeps the workspace in the
 * server's workspace store (a sandbox's disk ends with it) and deletes the sandbox. No pause.
 *
 * Credentials are per org (token, team, project): the server's resolver, else the credential the
 * provider was made with. One SDK client per distinct credential.
 */
import { createHash } from 'node:crypto';
import { Conflict, InvalidRequest, ProviderUnavailable, toError } from '../../core/errors.js';
import { reapOwned } from '../reap.js';
import { runnerBoot, runnerEnv } from '../runner-boot.js';
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
} from '../types.js';
import { VERCEL_CAPABILITIES } from './capabilities.js';
import { sdkVercelApi, type VercelApi, type VercelSandboxView } from './client.js';
import {
  DEFAULT_VERCEL_API_URL,
  mergeVercelConfig,
  ms,
  parseVercelConfig,
  type VercelProviderConfig,
  type VercelProviderConfigInput,
} from './config.js';
import { CREDENTIAL_HINT, toVercelCredential, type VercelCredential } from './credentials.js';
import { withVercel } from './errors.js';
import { ownedSandbox, ownerTags, sandboxName, tagKeys } from './names.js';

export interface VercelProviderOptions {
  /** The install's id, on every sandbox's tags; `reapOrphans` touches only sandboxes carrying it. */
  installId?: string;
  /** The server's credential resolver (`ProviderContext.resolveCredential`): field name -> value for an org. */
  resolveCredential?: (orgId: string) => Promise<Record<string, string> | null>;
  /** The server-wide credential (the environment fallback): used when there is no resolver, and by `health`. */
  credential?: Record<string, string | undefined>;
  /** Makes the API client of a credential (default: the official SDK). */
  api?: (cred: VercelCredential) => VercelApi;
  /** Rate-limit backoff's first wait (tests shorten it). Default 1 s. */
  backoffBaseMs?: number;
}

/** Where the agent's output goes inside the sandbox (read by `streamLogs`). */
export const AGENT_LOG = '/tmp/marionette-agent.log';

function meta(h: SandboxHandle, key: string): string | undefined {
  const v = h.metadata[key];
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/** `s` as one shell word. */
const shq = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;

/** The Marionette status of a Vercel session status. */
export function statusOf(status: string): SandboxStatus {
  if (status === 'running') return 'running';
  if (status === 'pending') return 'provisioning';
  if (status === 'failed') return 'failed';
  return 'terminated';
}

export class VercelSandboxProvider implements SandboxProvider {
  readonly id = 'vercel';
  readonly displayName = 'Vercel Sandbox';
  readonly capabilities = VERCEL_CAPABILITIES;
  /** A sandbox's disk ends with it: `terminate_preserve_storage` keeps the workspace in the server's workspace store. */
  readonly preservedStorage = 'workspace-store' as const;
  readonly config: VercelProviderConfig;
  readonly installId: string | null;
  private readonly opts: VercelProviderOptions;
  /** SDK clients by credential fingerprint. */
  private readonly clients = new Map<string, { cred: VercelCredential; api: VercelApi }>();
  /** The client that listed each sandbox (reaping uses the same credential). */
  private readonly listedBy = new Map<string, VercelApi>();

  constructor(config: VercelProviderConfigInput | Record<string, unknown> = {}, opts: VercelProviderOptions = {}) {
    this.config = parseVercelConfig(config);
    this.installId = opts.installId ?? null;
    this.opts = opts;
  }

  supportedSuspendStrategies(): readonly SuspendStrategy[] {
    return ['snapshot', 'terminate_preserve_storage', 'terminate'];
  }

  // ---- credentials and clients ----

  /** A credential from field values; a token without team or project is an error naming them. */
  private credentialFrom(fields: Record<string, string | undefined> | null, orgId: string): VercelCredential | null {
    const r = toVercelCredential(fields);
    if (r === null) return null;
    if (!r.ok)
      throw new ProviderUnavailable(
        `the Vercel credential of org ${orgId} has a token but no ${r.missing.join(' and ')}: ${CREDENTIAL_HINT}`,
      );
    return r.cred;
  }

  private async credentialOf(orgId: string): Promise<VercelCredential> {
    const fields = this.opts.resolveCredential
      ? await this.opts.resolveCredential(orgId)
      : (this.opts.credential ?? null);
    const cred = this.credentialFrom(fields, orgId);
    if (!cred) throw new ProviderUnavailable(`no Vercel credential for org ${orgId}: ${CREDENTIAL_HINT}`);
    return cred;
  }

  private clientFor(cred: VercelCredential): VercelApi {
    const key = createHash('sha256').update(`${cred.teamId}\0${cred.projectId}\0${cred.token}`).digest('hex');
    let c = this.clients.get(key);
    if (!c) {
      const make =
        this.opts.api ?? ((x: VercelCredential) => sdkVercelApi(x, this.config.apiUrl, DEFAULT_VERCEL_API_URL));
      c = { cred, api: make(cred) };
      this.clients.set(key, c);
    }
    return c.api;
  }

  private async apiOf(orgId: string): Promise<VercelApi> {
    return this.clientFor(await this.credentialOf(orgId));
  }

  private async apiOfHandle(h: SandboxHandle): Promise<VercelApi> {
    const org = meta(h, 'orgId');
    if (org === undefined) throw new InvalidRequest(`vercel sandbox ${h.externalId}: the handle names no orgId`);
    return this.apiOf(org);
  }

  /** One Vercel call with rate-limit retries and Vercel's errors as session reasons. */
  private call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    return withVercel(what, fn, {
      retries: this.config.rateLimitRetries,
      ...(this.opts.backoffBaseMs !== undefined ? { baseMs: this.opts.backoffBaseMs } : {}),
    });
  }

  async health(): Promise<{ ok: true } | { ok: false; message: string }> {
    let cred: VercelCredential | null;
    try {
      cred = this.credentialFrom(this.opts.credential ?? null, '(server environment)');
    } catch (e: unknown) {
      return { ok: false, message: toError(e).message };
    }
    // Without a server-wide credential each org brings its own: checked when a runner is provisioned.
    if (!cred) return { ok: true };
    const api = this.clientFor(cred);
    try {
      await this.call('listing sandboxes', () => api.list(`${this.config.namePrefix}-`));
      return { ok: true };
    } catch (e: unknown) {
      return { ok: false, message: toError(e).message };
    }
  }

  // ---- provisioning ----

  async provision(spec: SandboxSpec): Promise<SandboxHandle> {
    return this.start(spec, null);
  }

  /** Creates the runner's sandbox (from the image, or from `fromSnapshot`) and starts its agent; on any failure deletes it. */
  private async start(spec: SandboxSpec, fromSnapshot: string | null): Promise<SandboxHandle> {
    const cfg = mergeVercelConfig(this.config, spec.config);
    if (spec.image !== undefined)
      throw new InvalidRequest('image: vercel pools run the image their config names; set sandbox_config.image');
    if (!cfg.gateway)
      throw new InvalidRequest(
        'providers.vercel.gateway is not set: a Vercel sandbox dials the gateway over the network (e.g. wss://marionette.example.com:9090)',
      );
    const api = await this.apiOf(spec.orgId);
    const name = sandboxName(cfg.namePrefix, spec.runnerId);
    const source = fromSnapshot !== null ? `snapshot ${fromSnapshot}` : `image ${JSON.stringify(cfg.image)}`;
    try {
      let attempt = 0;
      const s = await this.call(`creating sandbox ${name} from ${source}`, async () => {
        // A retry (the first answer was lost to a rate limit) finds the sandbox made already.
        const made = attempt++ > 0 ? await api.get(name) : null;
        if (made) return made;
        return api.create({
          name,
          ...(fromSnapshot !== null ? { fromSnapshot } : { image: cfg.image }),
          ...(cfg.vcpus ? { vcpus: cfg.vcpus } : {}),
          ...(cfg.region ? { region: cfg.region } : {}),
          timeoutMs: ms(cfg.sandboxTimeout),
          tags: ownerTags(cfg.namePrefix, spec, this.installId),
        });
      });
      await this.startAgent(api, cfg, spec, name);
      return this.handleOf(cfg, spec, s, fromSnapshot);
    } catch (e: unknown) {
      const err = toError(e);
      // Halfway (made, but the agent is missing or would not start): nothing may stay behind.
      await this.call(`deleting sandbox ${name} after a failed provision`, () => api.remove(name)).catch(
        (ce: unknown) => {
          err.message += ` (deleting the sandbox also failed: ${toError(ce).message}; the reconciler will retry)`;
        },
      );
      throw err;
    }
  }

  /** Makes the workspace, checks the image has the agent, and starts it detached. */
  private async startAgent(api: VercelApi, cfg: VercelProviderConfig, spec: SandboxSpec, name: string): Promise<void> {
    const agent = cfg.agentCommand.trim().split(/\s+/)[0] ?? '';
    const ws = shq(cfg.workspace);
    const check = await this.call(`preparing sandbox ${name}`, () =>
      api.run(name, 'sh', ['-c', `mkdir -p ${ws} && command -v ${shq(agent)}`], {}),
    );
    if (check.exitCode !== 0)
      throw new InvalidRequest(
        `Vercel image ${JSON.stringify(cfg.image)} cannot run the agent: \`${agent}\` is not in the sandbox or the workspace ${cfg.workspace} cannot be made (${(check.stderr || check.stdout).trim() || `exit ${check.exitCode}`})`,
        { hint: 'build the image with marionette-agent as docs/providers/vercel.md describes' },
      );
    const env = { ...spec.env, ...runnerEnv(runnerBoot(spec, cfg.gateway ?? null, cfg.workspace)) };
    await this.call(`starting marionette-agent in sandbox ${name}`, () =>
      api.spawn(name, 'sh', ['-c', `cd ${ws} && exec ${cfg.agentCommand} >>${AGENT_LOG} 2>&1`], {
        env,
        cwd: cfg.workspace,
      }),
    );
  }

  private handleOf(
    cfg: VercelProviderConfig,
    spec: SandboxSpec,
    s: VercelSandboxView,
    fromSnapshot: string | null,
  ): SandboxHandle {
    return {
      providerId: this.id,
      externalId: s.name,
      metadata: {
        orgId: spec.orgId,
        runnerId: spec.runnerId,
        sessionId: spec.sessionId,
        poolId: spec.poolId,
        image: cfg.image,
        workspace: cfg.workspace,
        namePrefix: cfg.namePrefix,
        installId: this.installId,
        provisionedAt: new Date().toISOString(),
        // What the sandbox is billed for besides its active CPU (vCPUs; memory in MB, by wall-clock).
        resources: { vcpus: s.vcpus ?? null, memoryMb: s.memory ?? null },
        ...(fromSnapshot !== null ? { snapshotId: fromSnapshot } : {}),
      },
    };
  }

  async status(handle: SandboxHandle): Promise<SandboxStatus> {
    const api = await this.apiOfHandle(handle);
    const s = await this.call(`reading sandbox ${handle.externalId}`, () => api.get(handle.externalId));
    return s ? statusOf(s.status) : 'terminated';
  }

  /** Deletes the sandbox and the snapshot it was restored from (the session's kept storage). Idempotent. */
  async terminate(handle: SandboxHandle): Promise<void> {
    const api = await this.apiOfHandle(handle);
    await this.call(`deleting sandbox ${handle.externalId}`, () => api.remove(handle.externalId));
    await this.destroyStorage(handle);
  }

  /**
   * Stops the sandbox's session now, so a retry of its task never runs beside it. A Vercel
   * sandbox's disk ends with its session (`persistent: false`): the workspace the store holds is
   * the session's storage, as for `terminate_preserve_storage`.
   */
  async fence(handle: SandboxHandle): Promise<void> {
    const api = await this.apiOfHandle(handle);
    await this.call(`stopping sandbox ${handle.externalId}`, async () => {
      if (await api.get(handle.externalId)) await api.stop(handle.externalId);
    });
  }

  // ---- suspend ----

  /**
   * Vercel's snapshot of the sandbox's filesystem (Vercel stops the session meanwhile). The
   * stopped sandbox stays as the snapshot's holder (tagged with the session, so the reconciler
   * deletes both once the session ends); a snapshot the handle was restored from is deleted.
   */
  async snapshot(handle: SandboxHandle): Promise<SandboxHandle> {
    const api = await this.apiOfHandle(handle);
    const name = handle.externalId;
    const s = await this.call(`reading sandbox ${name}`, () => api.get(name));
    if (!s) throw new InvalidRequest(`cannot snapshot: Vercel sandbox ${name} no longer exists`);
    const { snapshotId } = await this.call(`snapshotting sandbox ${name}`, () =>
      api.snapshot(name, ms(this.config.snapshotExpiration)),
    );
    const previous = meta(handle, 'snapshotId');
    if (previous !== undefined && previous !== snapshotId)
      await this.call(`deleting snapshot ${previous}`, () => api.deleteSnapshot(previous));
    return { ...handle, metadata: { ...handle.metadata, snapshotId, holder: name } };
  }

  /**
   * `terminate_preserve_storage` through the workspace store: the server snapshotted the
   * workspace into its store just before, so the sandbox is deleted, and a Vercel snapshot it was
   * restored from too. The handle returned has no `snapshotId`: `restore` starts a fresh sandbox
   * whose agent restores the workspace from the store before the next task.
   */
  async stopPreserveStorage(handle: SandboxHandle): Promise<SandboxHandle> {
    await this.terminate(handle);
    const { snapshotId: _s, holder: _h, ...metadata } = handle.metadata;
    return { ...handle, metadata: { ...metadata, storage: 'workspace-store' } };
  }

  /** A new sandbox from the handle's snapshot (then its stopped holder goes), or a fresh provision. */
  async restore(handle: SandboxHandle, spec: SandboxSpec): Promise<SandboxHandle> {
    const snapshotId = meta(handle, 'snapshotId');
    const restored = await this.start(spec, snapshotId ?? null);
    const holder = meta(handle, 'holder');
    if (holder !== undefined && holder !== restored.externalId) {
      const api = await this.apiOfHandle(handle);
      // Deleting the holder keeps the snapshot: the new sandbox's handle owns it now.
      await this.call(`deleting sandbox ${holder}`, () => api.remove(holder, { keepSnapshots: true }));
    }
    return restored;
  }

  /** Deletes what a session kept: a snapshot holder and the snapshot. Gone already is fine. */
  async destroyStorage(handle: SandboxHandle): Promise<void> {
    const holder = meta(handle, 'holder');
    const snapshotId = meta(handle, 'snapshotId');
    if (holder === undefined && snapshotId === undefined) return;
    const api = await this.apiOfHandle(handle);
    if (holder !== undefined) await this.call(`deleting sandbox ${holder}`, () => api.remove(holder));
    if (snapshotId !== undefined)
      await this.call(`deleting snapshot ${snapshotId}`, () => api.deleteSnapshot(snapshotId));
  }

  // ---- commands ----

  /** Runs `command` with `sh -c` in the sandbox's workspace (a stopped sandbox is refused, never resumed). */
  async execCommand(handle: SandboxHandle, command: string, env?: Record<string, string>): Promise<SandboxExecResult> {
    const api = await this.apiOfHandle(handle);
    const name = handle.externalId;
    const s = await this.call(`reading sandbox ${name}`, () => api.get(name));
    if (!s) throw new Conflict(`vercel sandbox ${name} is gone`);
    if (s.status !== 'running') throw new Conflict(`vercel sandbox ${name} is ${s.status}; resume the session first`);
    const cwd = meta(handle, 'workspace') ?? this.config.workspace;
    return this.call(`running a command in sandbox ${name}`, () =>
      api.run(name, 'sh', ['-c', command], { cwd, ...(env ? { env } : {}) }),
    );
  }

  async *streamLogs(handle: SandboxHandle): AsyncIterable<string> {
    const r = await this.execCommand(handle, `cat ${AGENT_LOG} 2>/dev/null || true`);
    for (const line of r.stdout.split('\n')) if (line) yield line;
  }

  // ---- reconciliation ----

  /** Every client this process can list with: the server-wide credential's and each org's used so far. */
  private listingClients(): VercelApi[] {
    try {
      const cred = this.credentialFrom(this.opts.credential ?? null, '(server environment)');
      if (cred) this.clientFor(cred);
    } catch {
      // An incomplete server credential lists nothing; health() says why.
    }
    return [...this.clients.values()].map((c) => c.api);
  }

  /** Sandboxes under the name prefix, of every install, seen with every credential this process knows. */
  async list(): Promise<OwnedObject[]> {
    const prefix = this.config.namePrefix;
    const out = new Map<string, OwnedObject>();
    for (const api of this.listingClients()) {
      const found = await this.call('listing sandboxes', () => api.list(`${prefix}-`));
      for (const s of found) {
        // Another prefix that starts with ours (`marionette-x-...`) is not ours: it has no runner tag of ours.
        if (s.tags[tagKeys(prefix).runner] === undefined) continue;
        out.set(s.name, ownedSandbox(prefix, s));
        this.listedBy.set(s.name, api);
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
        const api = this.listedBy.get(o.id);
        if (!api) return { skipped: 'no client listed it' };
        await this.call(`deleting sandbox ${o.id}`, () => api.remove(o.id));
        return undefined;
      },
    });
  }

  async close(): Promise<void> {
    this.clients.clear();
    this.listedBy.clear();
  }
}
