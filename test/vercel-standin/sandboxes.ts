/**
 * @module The stand-in's sandboxes, sessions, commands and snapshots, backed by Docker. A Vercel
 * sandbox is a named record; each of its sessions (a VM in Vercel) is a Docker container on the
 * host network (so its agent dials the test server on loopback), started from the image the
 * sandbox names (or a snapshot's image) with the test checkout's agent mounted read-only, kept
 * alive by `sleep`. Commands run through `docker exec`; a detached one keeps running after its
 * answer. A snapshot is `docker commit` of the session's container, which then stops (as Vercel
 * stops a session it snapshots). Every container and image carries the stand-in's label. Test
 * support only.
 */
import { randomBytes } from 'node:crypto';
import { PassThrough } from 'node:stream';
import type Dockerode from 'dockerode';

export type SessionStatus = 'pending' | 'running' | 'stopping' | 'stopped' | 'failed' | 'aborted' | 'snapshotting';

export interface StandinSession {
  id: string;
  sandbox: string;
  container: string | null;
  status: SessionStatus;
  createdAt: number;
  startedAt: number;
  stoppedAt?: number;
  sourceSnapshotId?: string;
  timeout: number;
  vcpus: number;
  memory: number;
  region: string;
}

export interface StandinSandbox {
  name: string;
  projectId: string;
  image: string;
  tags: Record<string, string>;
  vcpus: number;
  memory: number;
  timeout: number;
  region: string;
  createdAt: number;
  updatedAt: number;
  currentSessionId: string;
  currentSnapshotId?: string;
  env: Record<string, string>;
}

export interface StandinCommand {
  id: string;
  sessionId: string;
  name: string;
  args: string[];
  cwd: string;
  exitCode: number | null;
  startedAt: number;
  durationMs?: number;
  done: Promise<void>;
}

export interface StandinSnapshot {
  id: string;
  sourceSessionId: string;
  sandbox: string;
  image: string;
  status: 'created' | 'deleted' | 'failed';
  createdAt: number;
  expiresAt?: number;
}

export type LogSink = (stream: 'stdout' | 'stderr', data: string) => void;

const SNAPSHOT_REPO = 'marionette-vercel-standin-snapshot';

export class Sandboxes {
  readonly sandboxes = new Map<string, StandinSandbox>();
  readonly sessions = new Map<string, StandinSession>();
  readonly commands = new Map<string, StandinCommand>();
  readonly snapshots = new Map<string, StandinSnapshot>();
  /** Every snapshot image this stand-in committed (deleted or not). */
  private readonly madeImages = new Set<string>();

  constructor(
    private readonly docker: Dockerode,
    private readonly label: { key: string; value: string },
    /** Image name → local Docker image (never pulled). */
    readonly images: Record<string, string>,
    private readonly mounts: Array<{ host: string; at: string }>,
  ) {}

  /** Starts a session's container from `image` (a local Docker image). */
  private async startContainer(name: string, image: string, env: Record<string, string>): Promise<string> {
    const c = await this.docker.createContainer({
      Image: image,
      Entrypoint: ['sleep', 'infinity'],
      Cmd: [],
      Env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
      Labels: { [this.label.key]: this.label.value, [`${this.label.key}.sandbox`]: name },
      HostConfig: {
        NetworkMode: 'host',
        Binds: this.mounts.map((m) => `${m.host}:${m.at}:ro`),
        Memory: 1024 * 1024 * 1024,
        NanoCpus: 2e9,
      },
    });
    try {
      await c.start();
    } catch (e) {
      await c.remove({ force: true }).catch(() => {});
      throw e;
    }
    return c.id;
  }

  /** Creates a sandbox and its first session; null when the image or snapshot is unknown. */
  async create(p: {
    name: string;
    projectId: string;
    image?: string;
    snapshotId?: string;
    tags: Record<string, string>;
    vcpus: number;
    timeout: number;
    region: string;
    env: Record<string, string>;
  }): Promise<StandinSandbox | { unknown: string }> {
    let dockerImage: string | undefined;
    if (p.snapshotId !== undefined) {
      const snap = this.snapshots.get(p.snapshotId);
      if (snap?.status !== 'created') return { unknown: `snapshot ${p.snapshotId}` };
      dockerImage = snap.image;
    } else {
      dockerImage = this.images[p.image ?? 'vercel/sandbox/universal'];
      if (!dockerImage) return { unknown: `image ${p.image}` };
    }
    const now = Date.now();
    const sessionId = `sbx_${randomBytes(10).toString('hex')}`;
    const s: StandinSandbox = {
      name: p.name,
      projectId: p.projectId,
      image: p.snapshotId !== undefined ? `snapshot:${p.snapshotId}` : (p.image ?? 'vercel/sandbox/universal'),
      tags: p.tags,
      vcpus: p.vcpus,
      memory: p.vcpus * 2048,
      timeout: p.timeout,
      region: p.region,
      createdAt: now,
      updatedAt: now,
      currentSessionId: sessionId,
      env: p.env,
    };
    this.sandboxes.set(p.name, s);
    const session: StandinSession = {
      id: sessionId,
      sandbox: p.name,
      container: null,
      status: 'pending',
      createdAt: now,
      startedAt: now,
      timeout: p.timeout,
      vcpus: s.vcpus,
      memory: s.memory,
      region: p.region,
      ...(p.snapshotId !== undefined ? { sourceSnapshotId: p.snapshotId } : {}),
    };
    this.sessions.set(sessionId, session);
    try {
      session.container = await this.startContainer(p.name, dockerImage, p.env);
      session.status = 'running';
    } catch (e) {
      session.status = 'failed';
      throw e;
    }
    return s;
  }

  /** Stops a session: its container goes (a non-persistent sandbox's filesystem with it). */
  async stop(session: StandinSession): Promise<void> {
    if (session.container) {
      await this.docker
        .getContainer(session.container)
        .remove({ force: true })
        .catch(() => {});
      session.container = null;
    }
    session.status = 'stopped';
    session.stoppedAt = Date.now();
  }

  /** Deletes a sandbox: its running session stops; snapshots only it used go too when asked. */
  async remove(name: string, deleteOrphanSnapshots: boolean): Promise<StandinSandbox | null> {
    const s = this.sandboxes.get(name);
    if (!s) return null;
    const current = this.sessions.get(s.currentSessionId);
    if (current) await this.stop(current);
    this.sandboxes.delete(name);
    if (deleteOrphanSnapshots)
      for (const snap of this.snapshots.values()) {
        if (snap.sandbox !== name || snap.status !== 'created') continue;
        const used = [...this.sandboxes.values()].some((o) => o.image === `snapshot:${snap.id}`);
        if (!used) await this.deleteSnapshot(snap);
      }
    return s;
  }

  /** Snapshots a running session's filesystem (its container, committed), then stops it. */
  async snapshot(session: StandinSession, expiration: number | undefined): Promise<StandinSnapshot> {
    const id = `snap_${randomBytes(10).toString('hex')}`;
    session.status = 'snapshotting';
    const image = `${SNAPSHOT_REPO}:${id.toLowerCase()}`;
    await this.docker.getContainer(session.container ?? '').commit({
      repo: SNAPSHOT_REPO,
      tag: id.toLowerCase(),
      pause: true,
      changes: [`LABEL ${this.label.key}=${this.label.value}`],
    } as unknown as Record<string, unknown>);
    this.madeImages.add(image);
    const now = Date.now();
    const snap: StandinSnapshot = {
      id,
      sourceSessionId: session.id,
      sandbox: session.sandbox,
      image,
      status: 'created',
      createdAt: now,
      ...(expiration ? { expiresAt: now + expiration } : {}),
    };
    this.snapshots.set(id, snap);
    await this.stop(session);
    const s = this.sandboxes.get(session.sandbox);
    if (s) s.currentSnapshotId = id;
    return snap;
  }

  async deleteSnapshot(snap: StandinSnapshot): Promise<void> {
    snap.status = 'deleted';
    await this.docker
      .getImage(snap.image)
      .remove({ force: true })
      .catch(() => {});
  }

  /**
   * Runs a command in a running session through `docker exec`; `sink` gets its output while it
   * runs. The returned command's `done` settles when it exits (a detached one keeps running).
   */
  async run(
    session: StandinSession,
    p: { cmd: string; args: string[]; cwd?: string; env: Record<string, string> },
    sink: LogSink,
  ): Promise<StandinCommand> {
    const sandbox = this.sandboxes.get(session.sandbox);
    const ex = await this.docker.getContainer(session.container ?? '').exec({
      Cmd: [p.cmd, ...p.args],
      Env: Object.entries({ ...sandbox?.env, ...p.env }).map(([k, v]) => `${k}=${v}`),
      ...(p.cwd ? { WorkingDir: p.cwd } : {}),
      AttachStdout: true,
      AttachStderr: true,
    });
    const stream = await ex.start({ hijack: true, stdin: false });
    const out = new PassThrough();
    const err = new PassThrough();
    out.on('data', (b: Buffer) => sink('stdout', b.toString('utf8')));
    err.on('data', (b: Buffer) => sink('stderr', b.toString('utf8')));
    this.docker.modem.demuxStream(stream, out, err);
    const startedAt = Date.now();
    const cmd: StandinCommand = {
      id: `cmd_${randomBytes(10).toString('hex')}`,
      sessionId: session.id,
      name: p.cmd,
      args: p.args,
      cwd: p.cwd ?? '/vercel/sandbox',
      exitCode: null,
      startedAt,
      done: Promise.resolve(),
    };
    cmd.done = new Promise<void>((res) => {
      stream.on('end', () => res());
      stream.on('close', () => res());
      stream.on('error', () => res());
    }).then(async () => {
      const info = await ex.inspect().catch(() => ({ ExitCode: -1 }));
      cmd.exitCode = info.ExitCode ?? -1;
      cmd.durationMs = Date.now() - startedAt;
    });
    this.commands.set(cmd.id, cmd);
    return cmd;
  }

  /** Containers and snapshot images of this stand-in still on the engine, as readable names. */
  async leftovers(): Promise<string[]> {
    const list = await this.docker.listContainers({
      all: true,
      filters: { label: [`${this.label.key}=${this.label.value}`] },
    });
    const images: string[] = [];
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
        images.push(`image ${ref} (a snapshot)`);
    return [
      ...list.map(
        (c) => `container ${c.Names[0] ?? c.Id} (${c.State}; sandbox ${c.Labels[`${this.label.key}.sandbox`]})`,
      ),
      ...images,
    ];
  }

  /** Removes every container and snapshot image of this stand-in. */
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
    for (const ref of this.madeImages)
      await this.docker
        .getImage(ref)
        .remove({ force: true })
        .catch(() => {});
    this.sandboxes.clear();
    this.sessions.clear();
  }
}
