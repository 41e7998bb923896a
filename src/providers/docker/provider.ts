/**
 * @module `DockerSandboxProvider`: runs one `marionette-agent` per container on a Docker Engine
 * (dockerode), hardened by default (non-root, no capabilities, no-new-privileges, pids/memory/CPU
 * limits, read-only rootfs, tmpfs /tmp), with the workspace on a labelled named volume, and the
 * suspend operations pause / snapshot (`docker commit`) / terminate_preserve_storage. Every object
 * it creates carries `<prefix>.managed=true` plus owner labels, so `reapOrphans` can find leaks.
 */
import { basename, dirname, posix } from 'node:path';
import Dockerode from 'dockerode';
import { InvalidRequest, ProviderUnavailable, toError } from '../../core/errors.js';
import { runnerBoot, runnerEnv } from '../runner-boot.js';
import type {
  OwnerCheck,
  SandboxHandle,
  SandboxProvider,
  SandboxSpec,
  SandboxStatus,
  SuspendStrategy,
} from '../types.js';
import { DOCKER_CAPABILITIES } from './capabilities.js';
import {
  type DockerProviderConfig,
  type DockerProviderConfigInput,
  GATEWAY_SOCKET_IN_BOX,
  mergeDockerConfig,
  NODE_IN_BOX,
  PACKAGE_ROOT_IN_BOX,
  parseDockerConfig,
  parseEngineAddress,
  parseMemoryBytes,
  parseNanoCpus,
  refuseSessionAsks,
  tmpfsSizeFor,
  WORKSPACE_IN_BOX,
  wantsSnapshot,
} from './config.js';
import { DockerEgress, type EgressDeniedHook } from './egress.js';
import { findPackageRoot, isLoopbackUrl, meta, safeName } from './helpers.js';
import { WORKSPACE_OWNER_LABEL } from './image.js';
import {
  type DockerClient,
  engineMessage,
  listOwned,
  type OwnedObject,
  ownerLabels,
  type ReapResult,
  reapOrphans,
  removeContainer,
  removeImage,
  removeVolume,
  statusCode,
} from './objects.js';
import { RuntimeCheck } from './runtime.js';

export {
  type DockerClient,
  listOwned,
  type OwnedKind,
  type OwnedObject,
  ownerLabels,
  type ReapResult,
  reapOrphans,
  removeContainer,
  removeImage,
  removeNetwork,
  removeVolume,
} from './objects.js';

export interface DockerProviderOptions {
  /** An engine client, or a factory called once on first use. Default: dockerode on `config.host`. */
  docker?: DockerClient | (() => DockerClient);
  /**
   * The install's id (kept in the store): every object is labelled with it and `reapOrphans`
   * touches only objects carrying it. Unset (tests, tools): objects carry no install label and
   * every object under the label prefix counts as this provider's.
   */
  installId?: string;
  /** Host folder for the egress proxies' sockets (default: a folder under the OS temp dir). */
  egressDir?: string;
  /** Called for every connection an egress proxy refuses (the server counts and logs them). */
  onEgressDenied?: EgressDeniedHook;
}

/** Volume mount option that turns off copy-up (@types/dockerode wrongly requires Labels and DriverConfig too). */
const NO_COPY = { NoCopy: true } as unknown as NonNullable<Dockerode.MountSettings['VolumeOptions']>;

/** Networks docker itself provides; never created or labelled by us. */
const BUILTIN_NETWORKS = new Set(['host', 'none', 'bridge', 'default']);

/** A container plan: everything `createAndStart` needs besides the config. */
interface Placement {
  image: string;
  volume: string;
  createVolume: boolean;
}

/**
 * Docker provider. One container per runner, the workspace on a named volume per session.
 *
 * @example
 * const p = new DockerSandboxProvider({ network: 'none', resources: { memory: '2g', cpus: '1' } });
 * const h = await p.provision(spec);
 */
export class DockerSandboxProvider implements SandboxProvider {
  readonly id = 'docker';
  readonly displayName = 'Docker';
  readonly capabilities = DOCKER_CAPABILITIES;
  /** The parsed provider-level config (pools' `sandbox_config` is merged over it per provision). */
  readonly config: DockerProviderConfig;
  private client: DockerClient | undefined;
  private readonly factory: () => DockerClient;
  private readonly networks = new Map<string, Promise<void>>();
  /** The install's id, on every object's labels; null outside a server. */
  readonly installId: string | null;
  /** The engine's runtimes, for `runtime` (e.g. runsc). */
  readonly runtimes: RuntimeCheck;
  /** The egress proxies of containers with an allow-list policy. */
  readonly egress: DockerEgress;

  constructor(config: DockerProviderConfigInput | Record<string, unknown> = {}, opts: DockerProviderOptions = {}) {
    this.config = parseDockerConfig(config);
    this.installId = opts.installId ?? null;
    const given = opts.docker;
    if (typeof given === 'function') this.factory = given;
    else if (given !== undefined) this.factory = () => given;
    else {
      const addr = parseEngineAddress(this.config.host);
      this.factory = () =>
        addr.kind === 'unix'
          ? new Dockerode({ socketPath: addr.socketPath })
          : new Dockerode({ host: addr.host, port: addr.port, protocol: addr.protocol });
    }
    this.runtimes = new RuntimeCheck(() => this.docker, this.engineDisplay);
    this.egress = new DockerEgress(opts.egressDir, opts.onEgressDenied);
  }

  /** The engine client (created on first use). */
  get docker(): DockerClient {
    this.client ??= this.factory();
    return this.client;
  }

  private get engineDisplay(): string {
    return parseEngineAddress(this.config.host).display;
  }

  supportedSuspendStrategies(): readonly SuspendStrategy[] {
    return ['pause', 'snapshot', 'terminate_preserve_storage', 'terminate'];
  }

  async health(): Promise<{ ok: true } | { ok: false; message: string }> {
    try {
      // dockerode's typings omit ping's options argument; the implementation accepts `abortSignal`.
      const ping = this.docker.ping.bind(this.docker) as unknown as (o: {
        abortSignal: AbortSignal;
      }) => Promise<unknown>;
      await ping({ abortSignal: AbortSignal.timeout(5000) });
      const runtime = await this.runtimes.refusal(this.config.runtime);
      if (runtime !== null) return { ok: false, message: runtime };
      return { ok: true };
    } catch (e: unknown) {
      return { ok: false, message: `Docker Engine unreachable at ${this.engineDisplay}: ${engineMessage(e)}` };
    }
  }

  async provision(spec: SandboxSpec): Promise<SandboxHandle> {
    const cfg = mergeDockerConfig(this.config, spec.config);
    const volume = `marionette-ws-${safeName(spec.sessionId ?? spec.runnerId)}`;
    return this.createAndStart(cfg, spec, { image: spec.image ?? cfg.image, volume, createVolume: true });
  }

  async status(handle: SandboxHandle): Promise<SandboxStatus> {
    let info: Awaited<ReturnType<Dockerode.Container['inspect']>>;
    try {
      info = await this.docker.getContainer(handle.externalId).inspect();
    } catch (e: unknown) {
      if (statusCode(e) === 404) return 'terminated';
      throw new ProviderUnavailable(`inspecting container ${handle.externalId} failed: ${engineMessage(e)}`);
    }
    switch (info.State.Status) {
      case 'created':
      case 'restarting':
        return 'provisioning';
      case 'running':
      case 'paused':
        await this.egress.revive(handle.metadata);
        return 'running';
      case 'removing':
      case 'exited':
        return 'terminated';
      case 'dead':
        return 'failed';
      default:
        return 'failed';
    }
  }

  async terminate(handle: SandboxHandle): Promise<void> {
    if (handle.externalId) await removeContainer(this.docker, handle.externalId);
    await this.stopEgress(handle);
    const volume = meta(handle, 'volume');
    if (volume !== undefined) await removeVolume(this.docker, volume);
    const snap = meta(handle, 'snapshotImage');
    if (snap !== undefined) await removeImage(this.docker, snap);
  }

  /** The container goes at once (SIGKILL, removed); the workspace volume and any snapshot stay. */
  async fence(handle: SandboxHandle): Promise<void> {
    if (handle.externalId) await removeContainer(this.docker, handle.externalId);
    await this.stopEgress(handle);
  }

  /** Stops the container's egress proxy, if it has one. */
  private async stopEgress(handle: SandboxHandle): Promise<void> {
    const runner = meta(handle, 'runnerId');
    if (runner !== undefined) await this.egress.stop(runner);
  }

  /** Freezes the container. Idempotent: an already paused container is fine. */
  async pause(handle: SandboxHandle): Promise<void> {
    try {
      await this.docker.getContainer(handle.externalId).pause();
    } catch (e: unknown) {
      if (/already paused/i.test(engineMessage(e))) return;
      throw new ProviderUnavailable(`docker pause ${handle.externalId} failed: ${engineMessage(e)}`);
    }
  }

  /** Thaws the container. Idempotent: a container that is not paused is fine. */
  async unpause(handle: SandboxHandle): Promise<void> {
    try {
      await this.docker.getContainer(handle.externalId).unpause();
    } catch (e: unknown) {
      if (/is not paused/i.test(engineMessage(e))) return;
      throw new ProviderUnavailable(`docker unpause ${handle.externalId} failed: ${engineMessage(e)}`);
    }
  }

  async stopPreserveStorage(handle: SandboxHandle): Promise<void> {
    await removeContainer(this.docker, handle.externalId);
    await this.stopEgress(handle);
  }

  /**
   * Commits the container to `marionette-snapshot:<runnerId>-<container id>` (one tag per
   * container, so a second call finds the first's work) and removes the container. Idempotent: when that image already
   * exists (a commit finished before a crash) it is kept and not committed again; when the
   * container is already gone, the existing image is the snapshot.
   */
  async snapshot(handle: SandboxHandle): Promise<SandboxHandle> {
    const prefix = meta(handle, 'labelPrefix') ?? this.config.labelPrefix;
    const runner = meta(handle, 'runnerId') ?? handle.externalId.slice(0, 12);
    const repo = 'marionette-snapshot';
    const tag = `${safeName(runner)}-${handle.externalId.slice(0, 12)}`.slice(0, 128);
    const ref = `${repo}:${tag}`;
    let imageId = await this.imageId(ref);
    if (imageId === null) {
      const labels = ownerLabels(
        prefix,
        {
          sessionId: meta(handle, 'sessionId') ?? null,
          runnerId: runner,
          poolId: meta(handle, 'poolId') ?? '',
          orgId: meta(handle, 'orgId') ?? '',
          installId: this.installId,
        },
        'image',
      );
      const changes = Object.entries(labels).map(([k, v]) => `LABEL ${k}=${JSON.stringify(v)}`);
      try {
        const res = (await this.docker.getContainer(handle.externalId).commit({
          repo,
          tag,
          pause: true,
          changes,
        } as unknown as Record<string, unknown>)) as { Id?: string; id?: string };
        imageId = res.Id ?? res.id ?? ref;
      } catch (e: unknown) {
        throw new ProviderUnavailable(`docker commit ${handle.externalId} failed: ${engineMessage(e)}`);
      }
    }
    await removeContainer(this.docker, handle.externalId);
    await this.stopEgress(handle);
    const previous = meta(handle, 'snapshotImage');
    if (previous !== undefined && previous !== ref) await removeImage(this.docker, previous);
    return {
      providerId: this.id,
      externalId: handle.externalId,
      metadata: { ...handle.metadata, snapshotImage: ref, snapshotImageId: imageId },
    };
  }

  /** The id of an image, or null when there is none by that reference. */
  private async imageId(ref: string): Promise<string | null> {
    try {
      return (await this.docker.getImage(ref).inspect()).Id;
    } catch (e: unknown) {
      if (statusCode(e) === 404) return null;
      throw new ProviderUnavailable(`inspecting image ${ref} failed: ${engineMessage(e)}`);
    }
  }

  async restore(handle: SandboxHandle, spec: SandboxSpec): Promise<SandboxHandle> {
    const cfg = mergeDockerConfig(this.config, spec.config);
    const volume = meta(handle, 'volume');
    if (volume === undefined) throw new InvalidRequest('cannot restore: the handle names no workspace volume');
    try {
      await this.docker.getVolume(volume).inspect();
    } catch (e: unknown) {
      if (statusCode(e) === 404)
        throw new InvalidRequest(`cannot restore: workspace volume ${volume} no longer exists`);
      throw new ProviderUnavailable(`inspecting volume ${volume} failed: ${engineMessage(e)}`);
    }
    const snap = meta(handle, 'snapshotImage');
    const restored = await this.createAndStart(cfg, spec, {
      image: snap ?? spec.image ?? cfg.image,
      volume,
      createVolume: false,
    });
    if (snap !== undefined) restored.metadata.snapshotImage = snap;
    return restored;
  }

  async destroyStorage(handle: SandboxHandle): Promise<void> {
    const volume = meta(handle, 'volume');
    if (volume !== undefined) await removeVolume(this.docker, volume);
    const snap = meta(handle, 'snapshotImage');
    if (snap !== undefined) await removeImage(this.docker, snap);
  }

  /** Objects under this provider's label prefix, of every install (`owner.install` says whose). */
  list(): Promise<OwnedObject[]> {
    return listOwned(this.docker, { labelPrefix: this.config.labelPrefix });
  }

  /** This install's objects under the prefix whose owner `isLive` rejects; unlabelled ones only if adopted. */
  reapOrphans(isLive: OwnerCheck, adopt?: OwnerCheck): Promise<ReapResult> {
    return reapOrphans(this.docker, {
      labelPrefix: this.config.labelPrefix,
      installId: this.installId,
      isLive,
      ...(adopt ? { adopt } : {}),
    });
  }

  async close(): Promise<void> {
    await this.egress.close();
    this.client = undefined;
  }

  private async inspectImage(image: string): Promise<Record<string, string>> {
    try {
      const info = await this.docker.getImage(image).inspect();
      return info.Config?.Labels ?? {};
    } catch (e: unknown) {
      if (statusCode(e) === 404) {
        throw new ProviderUnavailable(
          `image ${image} not found on the Docker Engine at ${this.engineDisplay}; build it with \`marionette images build\`${image === 'marionette/agent:latest' ? '' : ` --tag ${image}`}`,
          { hint: `marionette images build --tag ${image}`, details: { image } },
        );
      }
      throw new ProviderUnavailable(`inspecting image ${image} failed: ${engineMessage(e)}`);
    }
  }

  private ensureNetwork(cfg: DockerProviderConfig, spec: SandboxSpec): Promise<void> {
    const name = cfg.network;
    if (BUILTIN_NETWORKS.has(name)) return Promise.resolve();
    const existing = this.networks.get(name);
    if (existing) return existing;
    const p = (async () => {
      try {
        await this.docker.getNetwork(name).inspect();
        return;
      } catch (e: unknown) {
        if (statusCode(e) !== 404)
          throw new ProviderUnavailable(`inspecting network ${name} failed: ${engineMessage(e)}`);
      }
      try {
        await this.docker.createNetwork({
          Name: name,
          Driver: 'bridge',
          CheckDuplicate: true,
          Labels: ownerLabels(
            cfg.labelPrefix,
            { sessionId: null, runnerId: '', poolId: spec.poolId, orgId: spec.orgId, installId: this.installId },
            'network',
          ),
        });
      } catch (e: unknown) {
        if (statusCode(e) === 409) return; // created concurrently by another server replica
        throw new ProviderUnavailable(`creating network ${name} failed: ${engineMessage(e)}`);
      }
    })();
    this.networks.set(name, p);
    p.catch(() => this.networks.delete(name));
    return p;
  }

  /** Makes a fresh volume writable by `cfg.user` when the image's `/workspace` owner differs. */
  private async chownVolume(cfg: DockerProviderConfig, image: string, volume: string, labels: Record<string, string>) {
    const c = await this.docker.createContainer({
      Image: image,
      User: '0:0',
      Entrypoint: ['chown', cfg.user, WORKSPACE_IN_BOX],
      Cmd: [],
      Labels: { ...labels, [`${cfg.labelPrefix}.kind`]: 'init' },
      HostConfig: {
        NetworkMode: 'none',
        CapDrop: ['ALL'],
        CapAdd: ['CHOWN'],
        SecurityOpt: ['no-new-privileges'],
        ReadonlyRootfs: true,
        Mounts: [{ Type: 'volume', Source: volume, Target: WORKSPACE_IN_BOX, VolumeOptions: NO_COPY }],
      },
    });
    try {
      await c.start();
      const r = (await c.wait()) as { StatusCode?: number };
      if (r.StatusCode !== 0) {
        const logs = await c.logs({ stdout: true, stderr: true });
        throw new ProviderUnavailable(`preparing volume ${volume} (chown ${cfg.user}) failed: ${logs.toString()}`);
      }
    } finally {
      await removeContainer(this.docker, c.id);
    }
  }

  private agentEnv(cfg: DockerProviderConfig, spec: SandboxSpec): string[] {
    const env: Record<string, string> = { ...spec.env };
    const server = cfg.gatewaySocket
      ? `unix:${posix.join(posix.dirname(GATEWAY_SOCKET_IN_BOX), basename(cfg.gatewaySocket))}`
      : (cfg.serverUrl ?? spec.env.MARIONETTE_GATEWAY ?? undefined);
    if (cfg.command === undefined) {
      if (server === undefined) {
        throw new InvalidRequest(
          'docker provider: the agent has no gateway address (set gatewaySocket, serverUrl, or env MARIONETTE_GATEWAY)',
        );
      }
      if (cfg.network !== 'host' && isLoopbackUrl(server)) {
        throw new InvalidRequest(
          `docker provider: network ${cfg.network} cannot reach the loopback gateway ${server}; set gatewaySocket (mounted at ${GATEWAY_SOCKET_IN_BOX}) or a reachable serverUrl`,
        );
      }
    }
    Object.assign(env, runnerEnv(runnerBoot(spec, server ?? null, WORKSPACE_IN_BOX)));
    env.HOME = '/home/agent';
    return Object.entries(env).map(([k, v]) => `${k}=${v}`);
  }

  private async createAndStart(cfg: DockerProviderConfig, spec: SandboxSpec, place: Placement): Promise<SandboxHandle> {
    refuseSessionAsks(cfg, spec, place.image);
    await this.runtimes.require(cfg.runtime);
    const imageLabels = await this.inspectImage(place.image);
    const env = this.agentEnv(cfg, spec);
    const owner = {
      sessionId: spec.sessionId,
      runnerId: spec.runnerId,
      poolId: spec.poolId,
      orgId: spec.orgId,
      installId: this.installId,
    };
    const snapshotting =
      wantsSnapshot(cfg) || spec.suspend?.strategy === 'snapshot' || spec.suspend?.fallback === 'snapshot';
    const readOnlyRootfs = cfg.readOnlyRootfs && !snapshotting;
    const [uid, gid] = cfg.user.split(':');
    const memory = cfg.resources.memory === undefined ? undefined : parseMemoryBytes(cfg.resources.memory);
    const memoryMb = spec.resources?.memoryMB;
    const memBytes = memoryMb !== undefined ? memoryMb * 1024 * 1024 : memory;
    // tmpfs pages count against the memory limit: bounded below it, a full /tmp is ENOSPC, not an OOM kill.
    const tmpfsSize = tmpfsSizeFor(cfg, memBytes, readOnlyRootfs ? 2 : 1);
    const tmpfs: Record<string, string> = { '/tmp': `rw,nosuid,nodev,size=${tmpfsSize},mode=1777` };
    if (readOnlyRootfs) tmpfs['/home/agent'] = `rw,nosuid,nodev,size=${tmpfsSize},uid=${uid},gid=${gid},mode=0700`;
    // A fresh volume copies the image's /workspace (owned by the image's user) on first mount. When the
    // configured user differs, `chownVolume` prepares the volume instead and copy-up is turned off, or
    // it would hand the empty volume back to the image's owner.
    const ownerMatches = imageLabels[WORKSPACE_OWNER_LABEL] === cfg.user;
    const mounts: Dockerode.MountSettings[] = [
      {
        Type: 'volume',
        Source: place.volume,
        Target: WORKSPACE_IN_BOX,
        ...(ownerMatches ? {} : { VolumeOptions: NO_COPY }),
      },
    ];
    if (cfg.mountAgent) {
      mounts.push(
        { Type: 'bind', Source: cfg.packageRoot ?? findPackageRoot(), Target: PACKAGE_ROOT_IN_BOX, ReadOnly: true },
        { Type: 'bind', Source: cfg.nodePath ?? process.execPath, Target: NODE_IN_BOX, ReadOnly: true },
      );
    }
    // The socket's FOLDER is mounted, not the socket file: a server restart recreates the socket (a new
    // inode) and a file bind mount would keep pointing at the dead one.
    if (cfg.gatewaySocket)
      mounts.push({
        Type: 'bind',
        Source: dirname(cfg.gatewaySocket),
        Target: posix.dirname(GATEWAY_SOCKET_IN_BOX),
        ReadOnly: true,
      });
    const cpus = spec.resources?.cpu ?? cfg.resources.cpus;

    // The egress policy picks the network (none for none and allow lists) and may add a proxy (./egress.ts).
    const owner0 = { orgId: spec.orgId, sessionId: spec.sessionId, poolId: spec.poolId, runnerId: spec.runnerId };
    const egress = await this.egress.plan(spec.egress, cfg.network, owner0, cfg.user);
    mounts.push(...egress.mounts);
    for (const [k, v] of Object.entries(egress.env)) env.push(`${k}=${v}`);
    if (egress.networkMode === cfg.network) await this.ensureNetwork(cfg, spec);
    let createdVolume = false;
    if (place.createVolume) {
      try {
        await this.docker.getVolume(place.volume).inspect();
      } catch (e: unknown) {
        if (statusCode(e) !== 404)
          throw new ProviderUnavailable(`inspecting volume ${place.volume} failed: ${engineMessage(e)}`);
        try {
          await this.docker.createVolume({ Name: place.volume, Labels: ownerLabels(cfg.labelPrefix, owner, 'volume') });
        } catch (ce: unknown) {
          throw new ProviderUnavailable(`creating volume ${place.volume} failed: ${engineMessage(ce)}`);
        }
        createdVolume = true;
      }
    }
    const containerName = `marionette-${safeName(spec.runnerId)}`;
    let container: Dockerode.Container | undefined;
    try {
      if (createdVolume && !ownerMatches) {
        await this.chownVolume(cfg, place.image, place.volume, ownerLabels(cfg.labelPrefix, owner, 'container'));
      }
      container = await this.docker.createContainer({
        name: containerName,
        Image: place.image,
        Entrypoint: cfg.command ?? [NODE_IN_BOX, `${PACKAGE_ROOT_IN_BOX}/bin/marionette-agent`],
        Cmd: [],
        Env: env,
        User: cfg.user,
        WorkingDir: WORKSPACE_IN_BOX,
        Labels: ownerLabels(cfg.labelPrefix, owner, 'container'),
        HostConfig: {
          Init: true,
          NetworkMode: egress.networkMode,
          ...(cfg.runtime === undefined ? {} : { Runtime: cfg.runtime }),
          ReadonlyRootfs: readOnlyRootfs,
          CapDrop: ['ALL'],
          SecurityOpt: ['no-new-privileges'],
          PidsLimit: cfg.pidsLimit,
          Tmpfs: tmpfs,
          Mounts: mounts,
          ...(memBytes === undefined ? {} : { Memory: memBytes, MemorySwap: memBytes }),
          ...(cpus === undefined ? {} : { NanoCpus: parseNanoCpus(cpus) }),
        },
      });
      await container.start();
    } catch (e: unknown) {
      const err =
        e instanceof ProviderUnavailable
          ? e
          : new ProviderUnavailable(`docker run of ${place.image} failed: ${engineMessage(e)}`);
      const cleanup: string[] = [];
      if (container !== undefined) {
        await removeContainer(this.docker, container.id).catch((ce: unknown) => cleanup.push(toError(ce).message));
      }
      if (createdVolume) {
        await removeVolume(this.docker, place.volume).catch((ce: unknown) => cleanup.push(toError(ce).message));
      }
      await this.egress.stop(spec.runnerId).catch((ce: unknown) => cleanup.push(toError(ce).message));
      if (cleanup.length > 0) err.message += ` (cleanup also failed: ${cleanup.join('; ')})`;
      throw err;
    }
    return {
      providerId: this.id,
      externalId: container.id,
      metadata: {
        orgId: spec.orgId,
        volume: place.volume,
        containerName,
        image: place.image,
        provisionedAt: new Date().toISOString(),
        runnerId: spec.runnerId,
        sessionId: spec.sessionId,
        poolId: spec.poolId,
        network: egress.networkMode,
        ...(spec.egress === undefined ? {} : { egress: JSON.stringify(spec.egress), user: cfg.user }),
        ...(cfg.runtime === undefined ? {} : { runtime: cfg.runtime }),
        readOnlyRootfs,
        labelPrefix: cfg.labelPrefix,
        installId: this.installId,
      },
    };
  }
}
