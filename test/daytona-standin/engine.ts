/**
 * @module The stand-in's sandboxes on Docker (test support, never shipped): a Daytona sandbox is a
 * container of its snapshot's image on the host network, kept alive by `sleep infinity` under an
 * init (the toolbox starts commands in it with `docker exec`, as Daytona's daemon does); stop and
 * start keep its filesystem, archive keeps the stopped container, a sandbox snapshot is a
 * `docker commit`. Every container and image carries the stand-in's label, so two test runs never
 * touch each other's and `close` removes them all.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { PassThrough } from 'node:stream';
import type Dockerode from 'dockerode';

export interface SandboxRec {
  id: string;
  name: string;
  state: string;
  snapshot: string;
  labels: Record<string, string>;
  env: Record<string, string>;
  cpu: number;
  memory: number;
  disk: number;
  errorReason?: string;
  containerId?: string;
  createdAt: string;
  updatedAt: string;
}

export interface SnapshotRec {
  id: string;
  name: string;
  imageName: string;
  /** Made from a sandbox (a committed image the stand-in removes with the snapshot). */
  committed: boolean;
  createdAt: string;
}

export interface EngineOptions {
  docker: Dockerode;
  /** Docker label on everything (`key=value`). */
  label: { key: string; value: string };
  /** Bind mounts every sandbox container gets (the agent from this checkout, as the docker tests mount it). */
  mounts: Array<{ source: string; target: string }>;
  /**
   * Sandboxes behind NAT: on Docker's bridge network (no route to the host's loopback), with these
   * ports published on loopback ports that only the preview-link proxy reaches. Default: host network.
   */
  isolated?: { ports: number[] } | null;
}

/** Docker's multiplexed exec stream, split. */
async function collect(docker: Dockerode, stream: NodeJS.ReadableStream) {
  const out = new PassThrough();
  const err = new PassThrough();
  const o: Buffer[] = [];
  const e: Buffer[] = [];
  out.on('data', (b: Buffer) => o.push(b));
  err.on('data', (b: Buffer) => e.push(b));
  docker.modem.demuxStream(stream, out, err);
  await new Promise<void>((res, rej) => {
    stream.on('end', () => res());
    stream.on('error', rej);
  });
  return { stdout: Buffer.concat(o).toString(), stderr: Buffer.concat(e).toString() };
}

export class SandboxEngine {
  readonly sandboxes = new Map<string, SandboxRec>();
  readonly snapshots = new Map<string, SnapshotRec>();

  constructor(private readonly o: EngineOptions) {}

  private labels(extra: Record<string, string> = {}) {
    return { [this.o.label.key]: this.o.label.value, ...extra };
  }

  addSnapshot(name: string, imageName: string, committed = false): SnapshotRec {
    const s: SnapshotRec = { id: randomUUID(), name, imageName, committed, createdAt: new Date().toISOString() };
    this.snapshots.set(s.id, s);
    return s;
  }

  findSnapshot(idOrName: string): SnapshotRec | undefined {
    return this.snapshots.get(idOrName) ?? [...this.snapshots.values()].find((s) => s.name === idOrName);
  }

  find(idOrName: string): SandboxRec | undefined {
    return this.sandboxes.get(idOrName) ?? [...this.sandboxes.values()].find((s) => s.name === idOrName);
  }

  private set(s: SandboxRec, state: string, errorReason?: string) {
    s.state = state;
    s.updatedAt = new Date().toISOString();
    if (errorReason !== undefined) s.errorReason = errorReason;
  }

  /** The loopback port a started sandbox's container `port` is published on (isolated sandboxes), or null. */
  async publishedPort(s: SandboxRec, port: number): Promise<number | null> {
    if (!s.containerId || s.state !== 'started') return null;
    const info = await this.o.docker.getContainer(s.containerId).inspect();
    const b = info.NetworkSettings.Ports?.[`${port}/tcp`]?.find((x) => x.HostIp === '127.0.0.1');
    return b ? Number(b.HostPort) : null;
  }

  /** A new sandbox record, `creating`; `boot` then makes and starts its container. */
  record(p: Omit<SandboxRec, 'id' | 'state' | 'createdAt' | 'updatedAt'>): SandboxRec {
    const now = new Date().toISOString();
    const s: SandboxRec = { ...p, id: randomUUID(), state: 'creating', createdAt: now, updatedAt: now };
    this.sandboxes.set(s.id, s);
    return s;
  }

  /** Creates and starts the container; `failStart` (a fault) leaves the container created and the sandbox in `error`. */
  async boot(s: SandboxRec, image: string, failStart?: string): Promise<void> {
    try {
      const c = await this.o.docker.createContainer({
        name: `dstandin-${this.o.label.value}-${s.id.slice(0, 8)}-${randomBytes(2).toString('hex')}`,
        Image: image,
        Entrypoint: ['sleep', 'infinity'],
        Cmd: [],
        Env: Object.entries(s.env).map(([k, v]) => `${k}=${v}`),
        Labels: this.labels({ [`${this.o.label.key}.sandbox`]: s.id }),
        ...(this.o.isolated
          ? { ExposedPorts: Object.fromEntries(this.o.isolated.ports.map((p) => [`${p}/tcp`, {}])) }
          : {}),
        HostConfig: {
          Init: true,
          NetworkMode: this.o.isolated ? 'bridge' : 'host',
          ...(this.o.isolated
            ? {
                PortBindings: Object.fromEntries(
                  this.o.isolated.ports.map((p) => [`${p}/tcp`, [{ HostIp: '127.0.0.1', HostPort: '' }]]),
                ),
              }
            : {}),
          Mounts: this.o.mounts.map((m) => ({ Type: 'bind', Source: m.source, Target: m.target, ReadOnly: true })),
        },
      });
      s.containerId = c.id;
      if (!this.sandboxes.has(s.id)) {
        await c.remove({ force: true }).catch(() => {});
        return;
      }
      if (failStart !== undefined) {
        this.set(s, 'error', failStart);
        return;
      }
      await c.start();
      this.set(s, 'started');
    } catch (e: unknown) {
      const msg = (e as { json?: { message?: string } }).json?.message ?? (e as Error).message;
      this.set(s, 'error', `the runner could not start the sandbox: ${msg}`);
    }
  }

  async stop(s: SandboxRec): Promise<void> {
    this.set(s, 'stopping');
    if (s.containerId)
      await this.o.docker
        .getContainer(s.containerId)
        .stop({ t: 2 })
        .catch(() => {});
    this.set(s, 'stopped');
  }

  async start(s: SandboxRec): Promise<void> {
    this.set(s, 'starting');
    if (s.containerId) await this.o.docker.getContainer(s.containerId).start();
    this.set(s, 'started');
  }

  archive(s: SandboxRec): void {
    // Daytona moves the filesystem to object storage; here the stopped container stays as it is.
    this.set(s, 'archived');
  }

  async destroy(s: SandboxRec): Promise<void> {
    this.set(s, 'destroying');
    if (s.containerId)
      await this.o.docker
        .getContainer(s.containerId)
        .remove({ force: true, v: true })
        .catch(() => {});
    this.set(s, 'destroyed');
    this.sandboxes.delete(s.id);
  }

  /** Commits the sandbox's container as snapshot `name`. */
  async snapshot(s: SandboxRec, name: string): Promise<SnapshotRec> {
    const prev = s.state;
    this.set(s, 'snapshotting');
    try {
      const repo = `dstandin-${this.o.label.value}-snap`;
      const tag = randomBytes(6).toString('hex');
      await this.o.docker.getContainer(s.containerId!).commit({
        repo,
        tag,
        pause: true,
        changes: [`LABEL ${this.o.label.key}=${this.o.label.value}`],
      });
      return this.addSnapshot(name, `${repo}:${tag}`, true);
    } finally {
      this.set(s, prev);
    }
  }

  async removeSnapshot(snap: SnapshotRec): Promise<void> {
    this.snapshots.delete(snap.id);
    if (snap.committed)
      await this.o.docker
        .getImage(snap.imageName)
        .remove({ force: true })
        .catch(() => {});
  }

  /**
   * Runs `argv` in the sandbox's container: waits for it and returns its output, or (`detach`)
   * starts it and returns at once.
   */
  async exec(
    s: SandboxRec,
    argv: string[],
    opts: { env?: Record<string, string>; cwd?: string; detach?: boolean },
  ): Promise<{ exitCode: number; stdout: string; stderr: string }> {
    const c = this.o.docker.getContainer(s.containerId!);
    const ex = await c.exec({
      Cmd: argv,
      Env: Object.entries({ ...s.env, ...opts.env }).map(([k, v]) => `${k}=${v}`),
      ...(opts.cwd ? { WorkingDir: opts.cwd } : {}),
      AttachStdout: !opts.detach,
      AttachStderr: !opts.detach,
    });
    if (opts.detach) {
      await ex.start({ Detach: true });
      return { exitCode: 0, stdout: '', stderr: '' };
    }
    const stream = await ex.start({ hijack: true, stdin: false });
    const out = await collect(this.o.docker, stream);
    const info = await ex.inspect();
    return { exitCode: info.ExitCode ?? -1, ...out };
  }

  /** Containers and images of this stand-in still on the engine. */
  async leftovers(): Promise<string[]> {
    const filter = { label: [`${this.o.label.key}=${this.o.label.value}`] };
    const out: string[] = [];
    for (const c of await this.o.docker.listContainers({ all: true, filters: filter }))
      out.push(`container ${c.Names[0] ?? c.Id} (${c.State})`);
    for (const i of await this.o.docker.listImages({ filters: filter })) out.push(`image ${i.RepoTags?.[0] ?? i.Id}`);
    return out;
  }

  /** Removes everything of this stand-in. */
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
