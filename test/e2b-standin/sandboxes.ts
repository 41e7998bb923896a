/**
 * @module The stand-in's sandboxes: each E2B sandbox is a Docker container on the host network
 * (so its agent dials the test server on loopback), started from the image a template names,
 * with the test checkout's agent mounted read-only, kept alive by `sleep` as envd would be. Pause
 * is `docker pause` (the freezer keeps memory, as E2B's pause does), resume is `docker unpause`,
 * kill removes the container. Processes run through `docker exec`. Every container carries the
 * stand-in's run label. Test support only.
 */
import { randomBytes } from 'node:crypto';
import { PassThrough } from 'node:stream';
import type Dockerode from 'dockerode';

export interface StandinSandbox {
  sandboxId: string;
  templateId: string;
  container: string;
  metadata: Record<string, string>;
  envVars: Record<string, string>;
  state: 'running' | 'paused';
  startedAt: Date;
  endAt: Date;
  cpuCount: number;
  memoryMB: number;
}

export interface ExecEvents {
  onStart(pid: number): void;
  onData(stream: 'stdout' | 'stderr', data: Buffer): void;
  onEnd(exitCode: number): void;
}

export class Sandboxes {
  readonly all = new Map<string, StandinSandbox>();
  private pid = 100;
  readonly snapshots = new Set<string>();
  /** Every snapshot image this stand-in committed (deleted or not). */
  private readonly madeImages = new Set<string>();

  constructor(
    private readonly docker: Dockerode,
    /** Docker label every container carries (`key=value`). */
    private readonly label: { key: string; value: string },
    /** Template name → local image. */
    readonly templates: Record<string, string>,
    /** Host paths mounted read-only into every sandbox (host → container). */
    private readonly mounts: Array<{ host: string; at: string }>,
    /**
     * Sandboxes behind NAT: each container on Docker's bridge network (it cannot reach the host's
     * loopback, where the test gateway listens), with these ports published on a loopback port
     * each, which the stand-in's tunnel proxy (../tunnel-proxy.support.ts) reaches as E2B's sandbox host would.
     */
    private readonly isolated: { ports: number[] } | null = null,
  ) {}

  /** The loopback port a sandbox's container `port` is published on (isolated sandboxes), or null. */
  async publishedPort(s: StandinSandbox, port: number): Promise<number | null> {
    const info = await this.docker.getContainer(s.container).inspect();
    const b = info.NetworkSettings.Ports?.[`${port}/tcp`]?.find((x) => x.HostIp === '127.0.0.1');
    return b ? Number(b.HostPort) : null;
  }

  async create(template: string, metadata: Record<string, string>, envVars: Record<string, string>, timeoutS: number) {
    const image = this.templates[template];
    if (!image) return null;
    const sandboxId = `i${randomBytes(10).toString('hex')}`;
    const c = await this.docker.createContainer({
      Image: image,
      Entrypoint: ['sleep', 'infinity'],
      Cmd: [],
      Env: Object.entries(envVars).map(([k, v]) => `${k}=${v}`),
      Labels: { [this.label.key]: this.label.value, [`${this.label.key}.sandbox`]: sandboxId },
      ...(this.isolated ? { ExposedPorts: Object.fromEntries(this.isolated.ports.map((p) => [`${p}/tcp`, {}])) } : {}),
      HostConfig: {
        NetworkMode: this.isolated ? 'bridge' : 'host',
        ...(this.isolated
          ? {
              PortBindings: Object.fromEntries(
                this.isolated.ports.map((p) => [`${p}/tcp`, [{ HostIp: '127.0.0.1', HostPort: '' }]]),
              ),
            }
          : {}),
        Binds: this.mounts.map((m) => `${m.host}:${m.at}:ro`),
        Memory: 512 * 1024 * 1024,
        NanoCpus: 2e9,
      },
    });
    try {
      await c.start();
    } catch (e) {
      await c.remove({ force: true }).catch(() => {});
      throw e;
    }
    const now = new Date();
    const s: StandinSandbox = {
      sandboxId,
      templateId: template,
      container: c.id,
      metadata,
      envVars,
      state: 'running',
      startedAt: now,
      endAt: new Date(now.getTime() + timeoutS * 1000),
      cpuCount: 2,
      memoryMB: 512,
    };
    this.all.set(sandboxId, s);
    return s;
  }

  async kill(id: string): Promise<boolean> {
    const s = this.all.get(id);
    if (!s) return false;
    this.all.delete(id);
    await this.docker.getContainer(s.container).remove({ force: true });
    return true;
  }

  async pause(s: StandinSandbox): Promise<void> {
    await this.docker.getContainer(s.container).pause();
    s.state = 'paused';
  }

  async resume(s: StandinSandbox, timeoutS: number | undefined): Promise<void> {
    if (s.state === 'paused') await this.docker.getContainer(s.container).unpause();
    s.state = 'running';
    if (timeoutS !== undefined) s.endAt = new Date(Date.now() + timeoutS * 1000);
  }

  /**
   * Runs a process as envd does: events while the caller listens; the process goes on after the
   * caller lets go (its output is then dropped), as a background command does in E2B.
   */
  async exec(
    s: StandinSandbox,
    p: { cmd: string; args: string[]; envs: Record<string, string>; cwd?: string },
    ev: ExecEvents,
  ): Promise<void> {
    const ex = await this.docker.getContainer(s.container).exec({
      Cmd: [p.cmd, ...p.args],
      Env: Object.entries({ ...s.envVars, ...p.envs }).map(([k, v]) => `${k}=${v}`),
      ...(p.cwd ? { WorkingDir: p.cwd } : {}),
      AttachStdout: true,
      AttachStderr: true,
    });
    const stream = await ex.start({ hijack: true, stdin: false });
    const pid = ++this.pid;
    ev.onStart(pid);
    const out = new PassThrough();
    const err = new PassThrough();
    out.on('data', (b: Buffer) => ev.onData('stdout', b));
    err.on('data', (b: Buffer) => ev.onData('stderr', b));
    this.docker.modem.demuxStream(stream, out, err);
    await new Promise<void>((res) => {
      stream.on('end', () => res());
      stream.on('close', () => res());
      stream.on('error', () => res());
    });
    const info = await ex.inspect().catch(() => ({ ExitCode: -1 }));
    ev.onEnd(info.ExitCode ?? -1);
  }

  /**
   * A snapshot: the container committed to an image (the filesystem; a container's memory cannot
   * be committed, so processes start afresh from it, unlike E2B's memory snapshot), usable as a
   * template by its id.
   */
  async snapshot(s: StandinSandbox): Promise<string> {
    const snapshotId = `snap${randomBytes(8).toString('hex')}`;
    const repo = 'marionette-e2b-standin-snapshot';
    await this.docker.getContainer(s.container).commit({
      repo,
      tag: snapshotId,
      pause: true,
      changes: [`LABEL ${this.label.key}=${this.label.value}`],
    } as unknown as Record<string, unknown>);
    this.templates[snapshotId] = `${repo}:${snapshotId}`;
    this.madeImages.add(`${repo}:${snapshotId}`);
    this.snapshots.add(snapshotId);
    return snapshotId;
  }

  /** Deletes a snapshot's image; false when there is no such snapshot. */
  async deleteSnapshot(id: string): Promise<boolean> {
    if (!this.snapshots.has(id)) return false;
    this.snapshots.delete(id);
    const image = this.templates[id]!;
    delete this.templates[id];
    await this.docker.getImage(image).remove({ force: true });
    return true;
  }

  /** Containers and snapshot images of this stand-in still on the engine, as readable names. */
  async leftovers(): Promise<string[]> {
    const list = await this.docker.listContainers({
      all: true,
      filters: { label: [`${this.label.key}=${this.label.value}`] },
    });
    return [
      ...list.map(
        (c) => `container ${c.Names[0] ?? c.Id} (${c.State}; sandbox ${c.Labels[`${this.label.key}.sandbox`]})`,
      ),
      ...(await this.snapshotImages()).map((ref) => `image ${ref} (a snapshot)`),
    ];
  }

  /**
   * Snapshot images of this stand-in still on the engine: the ones it made, by name (an image
   * label filter can miss an image just committed), and any other carrying its label.
   */
  private async snapshotImages(): Promise<string[]> {
    const refs = new Set<string>();
    for (const ref of this.madeImages)
      if (
        await this.docker
          .getImage(ref)
          .inspect()
          .then(
            () => true,
            () => false,
          )
      )
        refs.add(ref);
    const labelled = await this.docker.listImages({
      filters: { label: [`${this.label.key}=${this.label.value}`] },
    });
    for (const i of labelled) refs.add(i.RepoTags?.[0] ?? i.Id);
    return [...refs];
  }

  /** Removes every container of this stand-in, then its snapshot images. */
  async close(): Promise<void> {
    const list = await this.docker.listContainers({
      all: true,
      filters: { label: [`${this.label.key}=${this.label.value}`] },
    });
    await Promise.all(
      list.map((c) =>
        this.docker
          .getContainer(c.Id)
          .remove({ force: true })
          .catch(() => {}),
      ),
    );
    for (const ref of await this.snapshotImages())
      await this.docker
        .getImage(ref)
        .remove({ force: true })
        .catch(() => {});
    this.all.clear();
  }
}
