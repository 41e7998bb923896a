/**
 * @module `ModalSandboxProvider`: one Modal sandbox per runner, running an image that carries
 * marionette-agent (docs/providers/modal.md builds it). The sandbox's command is the agent itself,
 * with the runner's one-time registration token and the gateway address on its command line, so
 * nothing is exec'd into the sandbox after it starts: the agent dials out to the gateway, and the
 * sandbox ends when the agent does. Every sandbox carries owner tags, so `list` and `reapOrphans`
 * find it after a crash; a provision that fails after Modal made the sandbox terminates it before
 * it throws.
 *
 * Suspend: `snapshot` is Modal's filesystem snapshot (the sandbox's filesystem becomes a Modal
 * image, the sandbox is terminated, `restore` creates a new sandbox from that image);
 * `terminate_preserve_storage` keeps the workspace in the server's workspace store (a Modal
 * sandbox's disk ends with it). Pause is preview-tier at Modal and absent from the JS SDK 0.11.1:
 * not offered, so a pool asking for it gets its fallback.
 *
 * Credentials are per org: the server's resolver, else MODAL_TOKEN_ID / MODAL_TOKEN_SECRET from
 * the environment (./credentials.ts). One SDK client per distinct credential.
 */
import { createHash } from 'node:crypto';
import { InvalidRequest, ProviderUnavailable, toError } from '../../core/errors.js';
import { reapOwned } from '../reap.js';
import { runnerBoot, runnerEnv } from '../runner-boot.js';
import type {
  OwnedObject,
  OwnerCheck,
  ReapResult,
  SandboxHandle,
  SandboxProvider,
  SandboxSpec,
  SandboxStatus,
  SuspendStrategy,
} from '../types.js';
import { MODAL_CAPABILITIES } from './capabilities.js';
import { type ModalApi, type ModalConn, sdkModalApi } from './client.js';
import {
  type ModalProviderConfig,
  type ModalProviderConfigInput,
  type ModalRunConfig,
  mergeModalConfig,
  parseModalConfig,
  wholeSecondsMs,
} from './config.js';
import { CREDENTIAL_HINT, credentialFromEnv, type ModalCredential, toModalCredential } from './credentials.js';
import { type Backoff, withModal } from './errors.js';
import { ownedSandbox, ownerTags, tagKeys } from './tags.js';

export interface ModalProviderOptions {
  /** The install's id, on every sandbox's tags; `reapOrphans` touches only sandboxes carrying it. */
  installId?: string;
  /** The server's credential resolver (`ProviderContext.resolveCredential`): field name -> value for an org. */
  resolveCredential?: (orgId: string) => Promise<Record<string, string> | null>;
  /** The environment fallback when there is no resolver (default `process.env`). */
  env?: Readonly<Record<string, string | undefined>>;
  /** Makes the API client of a connection (default: the `modal` SDK). */
  api?: (conn: ModalConn) => ModalApi;
  /** Rate-limit backoff (tests shorten it). Default 1s doubling to 30s, `rateLimitRetries` times. */
  backoff?: Partial<Backoff>;
}

function meta(h: SandboxHandle, key: string): string | undefined {
  const v = h.metadata[key];
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/** `s` as one shell word. */
function shq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The GPU words passed to Modal: the pool's `gpu`, else the session's request (a count gets `gpuType`). */
export function gpuOf(cfg: Pick<ModalRunConfig, 'gpu' | 'gpuType'>, spec: SandboxSpec): string | undefined {
  if (cfg.gpu) return cfg.gpu;
  const asked = spec.resources?.gpu?.trim();
  if (!asked || asked === '0') return undefined;
  return /^\d+$/.test(asked) ? `${cfg.gpuType}:${asked}` : asked;
}

export class ModalSandboxProvider implements SandboxProvider {
  readonly id = 'modal';
  readonly displayName = 'Modal';
  readonly capabilities = MODAL_CAPABILITIES;
  /** A Modal sandbox's disk ends with it: `terminate_preserve_storage` keeps the workspace in the server's store. */
  readonly preservedStorage = 'workspace-store' as const;
  readonly config: ModalProviderConfig;
  readonly installId: string | null;
  private readonly opts: ModalProviderOptions;
  private readonly backoff: Backoff;
  /** SDK clients by credential fingerprint. */
  private readonly clients = new Map<string, ModalApi>();
  /** The client that listed each sandbox id (reaping uses the same credential). */
  private readonly listedBy = new Map<string, ModalApi>();

  constructor(config: ModalProviderConfigInput | Record<string, unknown> = {}, opts: ModalProviderOptions = {}) {
    this.config = parseModalConfig(config);
    this.installId = opts.installId ?? null;
    this.opts = opts;
    this.backoff = { retries: this.config.rateLimitRetries, baseMs: 1000, maxMs: 30_000, ...opts.backoff };
  }

  supportedSuspendStrategies(): readonly SuspendStrategy[] {
    return ['snapshot', 'terminate_preserve_storage', 'terminate'];
  }

  // ---- credentials and clients ----

  private fallbackCredential(): ModalCredential | null {
    return credentialFromEnv(this.opts.env ?? process.env);
  }

  /** The credential of `orgId`: the resolver's, else the environment's; throws naming the fix when there is none. */
  private async credentialOf(orgId: string): Promise<ModalCredential> {
    const resolved = this.opts.resolveCredential
      ? toModalCredential(await this.opts.resolveCredential(orgId))
      : this.fallbackCredential();
    if (!resolved) throw new ProviderUnavailable(`no Modal credential for org ${orgId}: ${CREDENTIAL_HINT}`);
    return resolved;
  }

  private clientFor(cred: ModalCredential): ModalApi {
    const key = createHash('sha256').update(`${cred.tokenId}\0${cred.tokenSecret}`).digest('hex');
    let c = this.clients.get(key);
    if (!c) {
      const conn: ModalConn = {
        ...cred,
        ...(this.config.serverUrl ? { serverUrl: this.config.serverUrl } : {}),
        ...(this.config.environment ? { environment: this.config.environment } : {}),
      };
      c = (this.opts.api ?? sdkModalApi)(conn);
      this.clients.set(key, c);
    }
    return c;
  }

  private async apiOf(orgId: string): Promise<ModalApi> {
    return this.clientFor(await this.credentialOf(orgId));
  }

  private async apiOfHandle(h: SandboxHandle): Promise<ModalApi> {
    const org = meta(h, 'orgId');
    if (org === undefined) throw new InvalidRequest(`Modal sandbox ${h.externalId}: the handle names no orgId`);
    return this.apiOf(org);
  }

  /** Runs one Modal call with rate-limit retries and vendor errors mapped to session reasons. */
  private call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    return withModal(what, fn, {
      ...this.backoff,
      ...(this.config.serverUrl ? { serverUrl: this.config.serverUrl } : {}),
    });
  }

  async health(): Promise<{ ok: true } | { ok: false; message: string }> {
    const cred = this.fallbackCredential();
    // Without a server-wide credential each org brings its own: checked when a runner is provisioned.
    if (!cred) return { ok: true };
    try {
      const api = this.clientFor(cred);
      await this.call('listing sandboxes', () =>
        api.list(this.config.appName, { [tagKeys(this.config.tagPrefix).managed]: 'true' }),
      );
      return { ok: true };
    } catch (e: unknown) {
      return { ok: false, message: toError(e).message };
    }
  }

  // ---- provisioning ----

  /** The sandbox's command: the agent, with its boot values on its command line (not in a Modal secret). */
  private command(cfg: ModalRunConfig, spec: SandboxSpec): string[] {
    if (!cfg.gateway)
      throw new InvalidRequest(
        'providers.modal.gateway is not set: a Modal sandbox dials the gateway over the network (e.g. wss://marionette.example.com:9090)',
      );
    const env = { ...cfg.env, ...spec.env, ...runnerEnv(runnerBoot(spec, cfg.gateway, cfg.workspace)) };
    const assigns = Object.entries(env)
      .map(([k, v]) => `${k}=${shq(v)}`)
      .join(' ');
    const ws = shq(cfg.workspace);
    return ['sh', '-c', `mkdir -p ${ws} && cd ${ws} && exec env ${assigns} ${cfg.agentCommand}`];
  }

  async provision(spec: SandboxSpec): Promise<SandboxHandle> {
    return this.createRunner(spec, null);
  }

  /** Creates the runner's sandbox (from `fromImage`, a snapshot, or the configured image); on a failure after it exists, terminates it. */
  private async createRunner(spec: SandboxSpec, fromImage: string | null): Promise<SandboxHandle> {
    const cfg = mergeModalConfig(this.config, spec.config);
    const image = spec.image ?? cfg.image;
    const imageId = fromImage ?? (spec.image === undefined ? cfg.imageId : undefined);
    const command = this.command(cfg, spec);
    const api = await this.apiOf(spec.orgId);
    const cpu = cfg.cpu ?? (spec.resources?.cpu !== undefined ? Number(spec.resources.cpu) : undefined);
    const memoryMiB = cfg.memoryMiB ?? spec.resources?.memoryMB;
    const gpu = gpuOf(cfg, spec);
    const source = imageId !== undefined ? `image ${imageId}` : `image "${image}"`;
    const sandboxId = await this.call(`creating a sandbox from ${source}`, () =>
      api.create({
        appName: cfg.appName,
        image: imageId !== undefined ? { id: imageId } : { tag: image },
        command,
        tags: ownerTags(cfg.tagPrefix, spec, this.installId),
        timeoutMs: wholeSecondsMs(cfg.sandboxTimeout, 86_400_000),
        workdir: '/',
        ...(cpu !== undefined && Number.isFinite(cpu) && cpu > 0 ? { cpu } : {}),
        ...(memoryMiB !== undefined ? { memoryMiB } : {}),
        ...(gpu ? { gpu } : {}),
      }),
    );
    try {
      // The agent is the sandbox's command: a sandbox that already ended never ran it.
      const code = await this.call(`reading sandbox ${sandboxId}`, () => api.poll(sandboxId));
      if (code !== null)
        throw new InvalidRequest(
          `Modal sandbox ${sandboxId} ended at once (${code === 'gone' ? 'gone' : `exit ${code}`}): ${source} cannot run \`${cfg.agentCommand}\``,
          { hint: 'build the image with marionette-agent as docs/providers/modal.md describes' },
        );
    } catch (e: unknown) {
      // Halfway: the sandbox exists but runs no agent. It goes before the error is reported.
      const err = toError(e);
      await this.call(`terminating sandbox ${sandboxId}`, () => api.terminate(sandboxId)).catch((ce: unknown) => {
        err.message += ` (terminating sandbox ${sandboxId} also failed: ${toError(ce).message}; the reconciler will retry)`;
      });
      throw err;
    }
    return {
      providerId: this.id,
      externalId: sandboxId,
      metadata: {
        orgId: spec.orgId,
        runnerId: spec.runnerId,
        sessionId: spec.sessionId,
        poolId: spec.poolId,
        appName: cfg.appName,
        image: imageId ?? image,
        ...(fromImage !== null ? { snapshotImageId: fromImage } : {}),
        tagPrefix: cfg.tagPrefix,
        installId: this.installId,
        workspace: cfg.workspace,
        provisionedAt: new Date().toISOString(),
        // What the sandbox is billed for (Modal bills CPU, memory and GPU by the second), kept with the runner.
        resources: { cpu: cpu ?? null, memoryMiB: memoryMiB ?? null, gpu: gpu ?? null },
      },
    };
  }

  async status(handle: SandboxHandle): Promise<SandboxStatus> {
    const api = await this.apiOfHandle(handle);
    const code = await this.call(`reading sandbox ${handle.externalId}`, () => api.poll(handle.externalId));
    // A Modal sandbox that ended (its agent exited, or it was terminated) is gone for good.
    return code === null ? 'running' : 'terminated';
  }

  /** Terminates the sandbox and deletes the snapshot image it was restored from (the session's kept storage). */
  async terminate(handle: SandboxHandle): Promise<void> {
    const api = await this.apiOfHandle(handle);
    await this.call(`terminating sandbox ${handle.externalId}`, () => api.terminate(handle.externalId));
    await this.destroyStorage(handle);
  }

  // ---- suspend ----

  /**
   * Modal's filesystem snapshot: the sandbox's filesystem becomes a Modal image, then the sandbox
   * is terminated; the session keeps only the image, which `restore` starts a new sandbox from and
   * `destroyStorage` deletes. An older snapshot image of the session goes once the new one exists.
   */
  async snapshot(handle: SandboxHandle): Promise<SandboxHandle> {
    const api = await this.apiOfHandle(handle);
    const id = handle.externalId;
    const timeoutMs = wholeSecondsMs(this.config.snapshotTimeout, 300_000);
    const imageId = await this.call(`snapshotting the filesystem of sandbox ${id}`, () =>
      api.snapshotFilesystem(id, timeoutMs),
    );
    await this.call(`terminating sandbox ${id}`, () => api.terminate(id));
    const previous = meta(handle, 'snapshotImageId');
    if (previous !== undefined && previous !== imageId)
      await this.call(`deleting image ${previous}`, () => api.deleteImage(previous));
    return { ...handle, metadata: { ...handle.metadata, snapshotImageId: imageId } };
  }

  /**
   * `terminate_preserve_storage` through the workspace store: the server snapshotted the
   * workspace into its store just before, so the sandbox is terminated and a snapshot image it was
   * restored from is deleted. The handle returned has no image, so `restore` starts a fresh
   * sandbox whose agent restores the workspace from the store before the next task.
   */
  async stopPreserveStorage(handle: SandboxHandle): Promise<SandboxHandle> {
    const api = await this.apiOfHandle(handle);
    await this.call(`terminating sandbox ${handle.externalId}`, () => api.terminate(handle.externalId));
    await this.destroyStorage(handle);
    const { snapshotImageId: _old, ...metadata } = handle.metadata;
    return { ...handle, metadata: { ...metadata, storage: 'workspace-store' } };
  }

  /** A new sandbox from the handle's snapshot image with a new runner; a handle without one is a fresh provision. */
  async restore(handle: SandboxHandle, spec: SandboxSpec): Promise<SandboxHandle> {
    return this.createRunner(spec, meta(handle, 'snapshotImageId') ?? null);
  }

  /** Deletes the session's snapshot image, if it has one (gone already is fine). */
  async destroyStorage(handle: SandboxHandle): Promise<void> {
    const imageId = meta(handle, 'snapshotImageId');
    if (imageId === undefined) return;
    const api = await this.apiOfHandle(handle);
    await this.call(`deleting image ${imageId}`, () => api.deleteImage(imageId));
  }

  // ---- reconciliation ----

  /** Every client this process can list with: the server-wide credential's and each org's used so far. */
  private listingClients(): ModalApi[] {
    const fallback = this.fallbackCredential();
    if (fallback) this.clientFor(fallback);
    return [...this.clients.values()];
  }

  /** Running sandboxes of the app tagged `<prefix>.managed=true`, of every install, seen with every credential this process knows. */
  async list(): Promise<OwnedObject[]> {
    const prefix = this.config.tagPrefix;
    const out = new Map<string, OwnedObject>();
    for (const api of this.listingClients()) {
      const found = await this.call('listing sandboxes', () =>
        api.list(this.config.appName, { [tagKeys(prefix).managed]: 'true' }),
      );
      for (const s of found) {
        out.set(s.id, ownedSandbox(prefix, s));
        this.listedBy.set(s.id, api);
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
        await this.call(`terminating sandbox ${o.id}`, () => api.terminate(o.id));
        return undefined;
      },
    });
  }

  async close(): Promise<void> {
    const all = [...this.clients.values()];
    this.clients.clear();
    this.listedBy.clear();
    for (const c of all) await c.close().catch(() => {});
  }
}
