/**
 * @module The stand-in's sandboxes and images on Docker (test support, never shipped). A Modal
 * sandbox is a container of its image on the host network whose entrypoint is the sandbox's
 * command (as at Modal: the sandbox ends when its command does), with this checkout's agent
 * mounted read-only; terminate removes the container. A filesystem snapshot is a `docker commit`
 * registered as a new image id. Every container and committed image carries the stand-in's label,
 * so two test runs never touch each other's and `close` removes them all.
 */
import { randomBytes } from 'node:crypto';
import type Dockerode from 'dockerode';

/** Modal's GenericResult statuses the stand-in reports. */
export const STATUS = { SUCCESS: 1, FAILURE: 2, TERMINATED: 3 } as const;

export interface SandboxRec {
  id: string;
  taskId: string;
  appId: string;
  imageId: string;
  tags: Record<string, string>;
  command: string[];
  /** The request's resources as the SDK sent them (milliCpu, memoryMb, gpuConfig). */
  resources: { milliCpu?: number; memoryMb?: number; gpuConfig?: { gpuType?: string; count?: number } };
  timeoutSecs: number;
  /** Which RPC family made it (`v1`: SandboxCreate, `v2`: SandboxCreateV2). */
  family: 'v1' | 'v2';
  createdAt: number;
  containerId?: string;
  /** Set once the sandbox ended. */
  result?: { status: number; exitcode: number; exception: string };
}

export interface ImageRec {
  id: string;
  /** The local Docker image. */
  dockerImage: string;
  /** Made by a snapshot (a committed image the stand-in removes with it). */
  committed: boolean;
}

export interface EngineOptions {
  docker: Dockerode;
  label: { key: string; value: string };
  mounts: Array<{ source: string; target: string }>;
}

const ALNUM = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** A V1 sandbox id as the SDK recognises one (`sb-` and 22 letters or digits); V2 ids are anything else. */
export function v1SandboxId(): string {
  const b = randomBytes(22);
  return `sb-${[...b].map((x) => ALNUM[x % ALNUM.length]).join('')}`;
}

export class Engine {
  readonly sandboxes = new Map<string, SandboxRec>();
  readonly images = new Map<string, ImageRec>();

  constructor(private readonly o: EngineOptions) {}

  addImage(dockerImage: string, committed = false): ImageRec {
    const rec: ImageRec = { id: `im-${randomBytes(8).toString('hex')}`, dockerImage, committed };
    this.images.set(rec.id, rec);
    return rec;
  }

  byTask(taskId: string): SandboxRec | undefined {
    return [...this.sandboxes.values()].find((s) => s.taskId === taskId);
  }

  /** Makes and starts the sandbox's container; a start that fails ends the sandbox with the engine's message. */
  async boot(s: SandboxRec): Promise<void> {
    const image = this.images.get(s.imageId);
    try {
      const c = await this.o.docker.createContainer({
        name: `mstandin-${this.o.label.value}-${randomBytes(4).toString('hex')}`,
        Image: image!.dockerImage,
        Entrypoint: s.command,
        Cmd: [],
        Labels: { [this.o.label.key]: this.o.label.value, [`${this.o.label.key}.sandbox`]: s.id },
        HostConfig: {
          Init: true,
          NetworkMode: 'host',
          Mounts: this.o.mounts.map((m) => ({ Type: 'bind', Source: m.source, Target: m.target, ReadOnly: true })),
        },
      });
      s.containerId = c.id;
      await c.start();
    } catch (e: unknown) {
      const msg = (e as { json?: { message?: string } }).json?.message ?? (e as Error).message;
      s.result = { status: STATUS.FAILURE, exitcode: 1, exception: `the sandbox could not start: ${msg}` };
    }
  }

  /** The sandbox's result once it ended (its command exited), else undefined. */
  async refresh(s: SandboxRec): Promise<SandboxRec['result']> {
    if (s.result || !s.containerId) return s.result;
    const info = await this.o.docker
      .getContainer(s.containerId)
      .inspect()
      .catch(() => null);
    if (!info) s.result = { status: STATUS.TERMINATED, exitcode: 137, exception: 'the container is gone' };
    else if (!info.State.Running) {
      const code = info.State.ExitCode ?? 1;
      s.result = { status: code === 0 ? STATUS.SUCCESS : STATUS.FAILURE, exitcode: code, exception: '' };
    }
    return s.result;
  }

  async terminate(s: SandboxRec): Promise<void> {
    if (s.containerId)
      await this.o.docker
        .getContainer(s.containerId)
        .remove({ force: true, v: true })
        .catch(() => {});
    s.result ??= { status: STATUS.TERMINATED, exitcode: 137, exception: 'terminated' };
  }

  /** Commits the sandbox's container as a new image (its filesystem, as Modal's snapshot keeps it). */
  async snapshot(s: SandboxRec): Promise<ImageRec> {
    const repo = `mstandin-${this.o.label.value}-snap`;
    const tag = randomBytes(6).toString('hex');
    await this.o.docker.getContainer(s.containerId!).commit({
      repo,
      tag,
      pause: true,
      changes: [`LABEL ${this.o.label.key}=${this.o.label.value}`],
    });
    return this.addImage(`${repo}:${tag}`, true);
  }

  async deleteImage(img: ImageRec): Promise<void> {
    this.images.delete(img.id);
    if (img.committed)
      await this.o.docker
        .getImage(img.dockerImage)
        .remove({ force: true })
        .catch(() => {});
  }

  /** Containers and committed images of this stand-in still on the engine. */
  async leftovers(): Promise<string[]> {
    const filter = { label: [`${this.o.label.key}=${this.o.label.value}`] };
    const out: string[] = [];
    for (const c of await this.o.docker.listContainers({ all: true, filters: filter }))
      out.push(`container ${c.Names[0] ?? c.Id} (${c.State})`);
    for (const i of await this.o.docker.listImages({ filters: filter })) out.push(`image ${i.RepoTags?.[0] ?? i.Id}`);
    return out;
  }

  async close(): Promise<void> {
    const filter = { label: [`${this.o.label.key}=${this.o.label.value}`] };
    for (const c of await this.o.docker.listContainers({ all: true, filters: filter }))
      await this.o.docker
        .getContainer(c.Id)
        .remove({ force: true, v: true })
        .catch(() => {});
    for (const i of await this.o.docker.listImages({ filters: filter }))
      await this.o.docker
        .getImage(i.Id)
        .remove({ force: true })
        .catch(() => {});
  }
}
