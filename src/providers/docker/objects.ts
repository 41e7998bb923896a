/**
 * @module The engine objects the docker provider creates, and their labels: every container,
 * volume, network and snapshot image carries `<prefix>.managed=true`, its owners (`session`,
 * `runner`, `pool`, `org`) and the install's id (`<prefix>.install`). `listOwned` finds them and
 * `reapOrphans` removes those of this install whose owner is gone. Objects of another install
 * sharing the engine (and the label prefix) are never touched; objects labelled before install
 * ids existed (no `install` label) are touched only when the caller recognises their owner.
 */
import type Dockerode from 'dockerode';
import { ProviderUnavailable, toError } from '../../core/errors.js';
import { reapOwned } from '../reap.js';
import type {
  OwnedRole,
  OwnerCheck,
  OwnedObject as ProviderOwnedObject,
  ReapResult as ProviderReapResult,
} from '../types.js';

/** The slice of dockerode this provider uses (a real `Dockerode` satisfies it). */
export type DockerClient = Pick<
  Dockerode,
  | 'createContainer'
  | 'getContainer'
  | 'getVolume'
  | 'getNetwork'
  | 'getImage'
  | 'createVolume'
  | 'createNetwork'
  | 'listContainers'
  | 'listVolumes'
  | 'listNetworks'
  | 'listImages'
  | 'ping'
  | 'info'
  | 'importImage'
  | 'modem'
>;

/** Kinds of engine objects the provider creates. */
export type OwnedKind = 'container' | 'volume' | 'network' | 'image';

const ROLE: Record<OwnedKind, OwnedRole> = {
  container: 'sandbox',
  image: 'storage',
  volume: 'storage',
  network: 'network',
};

/** One engine object carrying our managed label. */
export interface OwnedObject extends ProviderOwnedObject {
  kind: OwnedKind;
  /** Container id, volume name, network id, or image id. */
  id: string;
  /** Container name, volume name, network name, or first repo tag. */
  name: string;
  labels: Record<string, string>;
}

/** What `reapOrphans` did (see `ReapResult` in ../types.ts). */
export type ReapResult = ProviderReapResult<OwnedObject>;

export function statusCode(e: unknown): number | undefined {
  const c = (e as { statusCode?: unknown } | null)?.statusCode;
  return typeof c === 'number' ? c : undefined;
}

export function engineMessage(e: unknown): string {
  const err = toError(e);
  const json = (e as { json?: { message?: unknown } } | null)?.json;
  return typeof json?.message === 'string' ? json.message : err.message;
}

/** Who an object belongs to: its owners and the install that created it. */
export interface ObjectOwner {
  sessionId: string | null;
  runnerId: string;
  poolId: string;
  orgId: string;
  /** The install's id (from the store); omitted only by callers outside a server (tests, tools). */
  installId?: string | null | undefined;
}

/**
 * The labels every object we create carries.
 *
 * @example
 * ownerLabels('io.marionette', { sessionId: 's1', runnerId: 'r1', poolId: 'p1', orgId: 'o1', installId: 'ins_1' }, 'volume')
 */
export function ownerLabels(prefix: string, owner: ObjectOwner, kind: OwnedKind | 'init'): Record<string, string> {
  return {
    [`${prefix}.managed`]: 'true',
    [`${prefix}.kind`]: kind,
    [`${prefix}.session`]: owner.sessionId ?? '',
    [`${prefix}.runner`]: owner.runnerId,
    [`${prefix}.pool`]: owner.poolId,
    [`${prefix}.org`]: owner.orgId,
    ...(owner.installId ? { [`${prefix}.install`]: owner.installId } : {}),
  };
}

/** Removes a container (force, with its anonymous volumes). Missing is fine. */
export async function removeContainer(docker: DockerClient, id: string): Promise<void> {
  try {
    await docker.getContainer(id).remove({ force: true, v: true });
  } catch (e: unknown) {
    if (statusCode(e) === 404) return;
    // 409 "removal already in progress" means someone else is removing it: wait for that to finish.
    if (statusCode(e) === 409 && /already in progress/.test(engineMessage(e))) {
      await docker
        .getContainer(id)
        .wait({ condition: 'removed' })
        .catch((w: unknown) => {
          if (statusCode(w) !== 404) throw w;
        });
      return;
    }
    throw new ProviderUnavailable(`removing container ${id} failed: ${engineMessage(e)}`);
  }
}

/** Removes a named volume. Missing is fine; in use is an error. */
export async function removeVolume(docker: DockerClient, name: string): Promise<void> {
  try {
    await docker.getVolume(name).remove();
  } catch (e: unknown) {
    if (statusCode(e) === 404) return;
    throw new ProviderUnavailable(`removing volume ${name} failed: ${engineMessage(e)}`);
  }
}

/** Removes an image by tag or id. Missing is fine. */
export async function removeImage(docker: DockerClient, ref: string): Promise<void> {
  try {
    await docker.getImage(ref).remove({});
  } catch (e: unknown) {
    if (statusCode(e) === 404) return;
    throw new ProviderUnavailable(`removing image ${ref} failed: ${engineMessage(e)}`);
  }
}

/** Removes a network. Missing is fine; with containers attached it is an error. */
export async function removeNetwork(docker: DockerClient, id: string): Promise<void> {
  try {
    await docker.getNetwork(id).remove();
  } catch (e: unknown) {
    if (statusCode(e) === 404) return;
    throw new ProviderUnavailable(`removing network ${id} failed: ${engineMessage(e)}`);
  }
}

function toOwned(
  kind: OwnedKind,
  id: string,
  name: string,
  labels: Record<string, string> | null | undefined,
  prefix: string,
): OwnedObject {
  const l = labels ?? {};
  return {
    role: ROLE[kind],
    kind,
    id,
    name,
    labels: l,
    owner: {
      session: l[`${prefix}.session`] ?? '',
      runner: l[`${prefix}.runner`] ?? '',
      pool: l[`${prefix}.pool`] ?? '',
      org: l[`${prefix}.org`] ?? '',
      install: l[`${prefix}.install`] ?? '',
    },
  };
}

/**
 * Every container, volume, network and image carrying `<labelPrefix>.managed=true` (of every
 * install using that prefix; see `owner.install`).
 *
 * @example
 * const owned = await listOwned(docker, { labelPrefix: 'io.marionette' });
 */
export async function listOwned(docker: DockerClient, opts: { labelPrefix: string }): Promise<OwnedObject[]> {
  const p = opts.labelPrefix;
  const filters = { label: [`${p}.managed=true`] };
  const [containers, volumes, networks, images] = await Promise.all([
    docker.listContainers({ all: true, filters }),
    docker.listVolumes({ filters }),
    docker.listNetworks({ filters }),
    docker.listImages({ filters }),
  ]);
  const out: OwnedObject[] = [];
  for (const c of containers)
    out.push(toOwned('container', c.Id, (c.Names[0] ?? c.Id).replace(/^\//, ''), c.Labels, p));
  for (const v of volumes.Volumes ?? []) out.push(toOwned('volume', v.Name, v.Name, v.Labels, p));
  for (const n of networks) out.push(toOwned('network', n.Id, n.Name, n.Labels, p));
  for (const i of images) out.push(toOwned('image', i.Id, i.RepoTags?.[0] ?? i.Id, i.Labels, p));
  return out;
}

export interface ReapOptions {
  labelPrefix: string;
  /**
   * This install's id: only objects labelled with it are reaped. Objects of another install are
   * never looked at; objects with no install label (from before install ids) only when `adopt`
   * recognises them. Without `installId` every object under the prefix is this caller's.
   */
  installId?: string | null | undefined;
  /** Whether an object with no install label is this install's (its owner is known here). Default: no. */
  adopt?: OwnerCheck;
  /** Whether the object's owner still exists (its runner / session / pool). */
  isLive: OwnerCheck;
}

/**
 * Removes every object of this install under `labelPrefix` whose owner is not live: containers
 * first, then snapshot images and volumes, then networks (src/providers/reap.ts). `isLive`
 * decides from the labels (typically: does the runner / session / pool still exist). A network
 * with containers attached is skipped, not failed.
 *
 * @example
 * await reapOrphans(docker, { labelPrefix: 'io.marionette', installId, isLive: (o) => liveRunners.has(o.owner.runner) });
 */
export async function reapOrphans(docker: DockerClient, opts: ReapOptions): Promise<ReapResult> {
  return reapOwned(await listOwned(docker, opts), {
    installId: opts.installId ?? null,
    isLive: opts.isLive,
    adopt: opts.adopt,
    remove: async (o) => {
      if (o.kind === 'container') await removeContainer(docker, o.id);
      else if (o.kind === 'image') await removeImage(docker, o.id);
      else if (o.kind === 'volume') await removeVolume(docker, o.id);
      if (o.kind !== 'network') return undefined;
      let attached: string[];
      try {
        const info = await docker.getNetwork(o.id).inspect();
        attached = Object.keys((info as { Containers?: Record<string, unknown> }).Containers ?? {});
      } catch (e: unknown) {
        if (statusCode(e) === 404) return undefined;
        throw e;
      }
      if (attached.length > 0) return { skipped: `${attached.length} container(s) still attached` };
      await removeNetwork(docker, o.id);
      return undefined;
    },
  });
}
