/**
 * @module The part of Vercel Sandbox the provider uses, as a small structural interface
 * ({@link VercelApi}), and its implementation on the official `@vercel/sandbox` SDK (3.x): named
 * sandboxes (create from an image or a snapshot, get, list by name prefix, stop, delete),
 * commands (run and wait; start detached), and snapshots (take, delete). Tests may pass any
 * object of this shape; the server uses the SDK, imported on the first call.
 *
 * The SDK has no base-URL option; it takes a `fetch` (its documented `WithFetchOptions`), so a
 * configured `apiUrl` other than Vercel's is reached by a fetch that rewrites the SDK's own prefix
 * (`https://vercel.com/api`) to it. Every call passes the credential explicitly, so the SDK never
 * reads VERCEL_OIDC_TOKEN or prompts for a login.
 */
import type { VercelCredential } from './credentials.js';
import { isNotFound } from './errors.js';

/** What the provider reads of a sandbox. */
export interface VercelSandboxView {
  name: string;
  /** The current session's status: `pending`, `running`, `stopping`, `stopped`, `failed`, `aborted`, `snapshotting`. */
  status: string;
  tags: Record<string, string>;
  vcpus?: number;
  memory?: number;
  /** Cumulative active CPU of every session, as Vercel reports it (once a session stopped). */
  activeCpuMs?: number;
}

export interface VercelCreate {
  name: string;
  /** A VCR image, or a snapshot id (`fromSnapshot`). */
  image?: string;
  fromSnapshot?: string;
  vcpus?: number;
  region?: string;
  timeoutMs: number;
  tags: Record<string, string>;
}

export interface VercelApi {
  /** Creates a sandbox (its first session starts running); resolves with it. */
  create(p: VercelCreate): Promise<VercelSandboxView>;
  /** The sandbox by name, or null when Vercel does not know it. Never resumes it. */
  get(name: string): Promise<VercelSandboxView | null>;
  /** Every sandbox whose name starts with `prefix`. */
  list(prefix: string): Promise<VercelSandboxView[]>;
  /** Stops the sandbox's running session (its processes end). */
  stop(name: string): Promise<void>;
  /** Deletes the sandbox and the snapshots only it used (unless `keepSnapshots`); gone already is fine. */
  remove(name: string, opts?: { keepSnapshots?: boolean }): Promise<void>;
  /** Runs `cmd args` and waits: exit code and output (a non-zero exit is a result). */
  run(
    name: string,
    cmd: string,
    args: string[],
    opts: { env?: Record<string, string>; cwd?: string },
  ): Promise<{ exitCode: number; stdout: string; stderr: string }>;
  /** Starts `cmd args` detached and returns once Vercel started it. */
  spawn(name: string, cmd: string, args: string[], opts: { env?: Record<string, string>; cwd?: string }): Promise<void>;
  /** Snapshots the sandbox's filesystem (Vercel stops its session meanwhile); the id creates new sandboxes. */
  snapshot(name: string, expirationMs: number): Promise<{ snapshotId: string }>;
  /** Deletes a snapshot; gone already is fine. */
  deleteSnapshot(snapshotId: string): Promise<void>;
}

/** A fetch that sends the SDK's requests for Vercel's API to `apiUrl` instead. */
export function rewritingFetch(from: string, to: string): typeof globalThis.fetch {
  return (input, init) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    const target = url.startsWith(from) ? `${to.replace(/\/$/, '')}${url.slice(from.length)}` : url;
    return globalThis.fetch(target, init);
  };
}

type SdkSandbox = {
  name: string;
  status: string;
  tags: Record<string, string> | undefined;
  vcpus: number | undefined;
  memory: number | undefined;
  totalActiveCpuDurationMs: number | undefined;
};

function view(s: SdkSandbox): VercelSandboxView {
  return {
    name: s.name,
    status: s.status,
    tags: { ...(s.tags ?? {}) },
    ...(typeof s.vcpus === 'number' ? { vcpus: s.vcpus } : {}),
    ...(typeof s.memory === 'number' ? { memory: s.memory } : {}),
    ...(typeof s.totalActiveCpuDurationMs === 'number' ? { activeCpuMs: s.totalActiveCpuDurationMs } : {}),
  };
}

/** {@link VercelApi} on `@vercel/sandbox`, for one credential. */
export function sdkVercelApi(cred: VercelCredential, apiUrl: string, sdkDefaultUrl: string): VercelApi {
  const creds = {
    token: cred.token,
    teamId: cred.teamId,
    projectId: cred.projectId,
    ...(apiUrl !== sdkDefaultUrl ? { fetch: rewritingFetch(sdkDefaultUrl, apiUrl) } : {}),
  };
  const sdk = () => import('@vercel/sandbox');
  const sandbox = async (name: string) => (await sdk()).Sandbox.get({ name, resume: false, ...creds });
  return {
    async create(p) {
      const { Sandbox } = await sdk();
      const common = {
        name: p.name,
        timeout: p.timeoutMs,
        tags: p.tags,
        persistent: false,
        ...(p.vcpus ? { resources: { vcpus: p.vcpus } } : {}),
        ...(p.region ? { region: p.region } : {}),
        ...creds,
      };
      const s = p.fromSnapshot
        ? await Sandbox.create({ ...common, source: { type: 'snapshot', snapshotId: p.fromSnapshot } })
        : await Sandbox.create({ ...common, ...(p.image ? { image: p.image } : {}) });
      return view(s);
    },
    async get(name) {
      try {
        return view(await sandbox(name));
      } catch (e: unknown) {
        if (isNotFound(e)) return null;
        throw e;
      }
    },
    async list(prefix) {
      const { Sandbox } = await sdk();
      const pages = await Sandbox.list({ namePrefix: prefix, ...creds });
      const out: VercelSandboxView[] = [];
      for await (const s of pages)
        out.push(
          view({
            name: s.name,
            status: s.status,
            tags: s.tags,
            vcpus: s.vcpus,
            memory: s.memory,
            totalActiveCpuDurationMs: s.totalActiveCpuDurationMs,
          }),
        );
      return out;
    },
    async stop(name) {
      const s = await sandbox(name);
      if (s.status === 'running' || s.status === 'pending') await s.stop();
    },
    async remove(name, opts) {
      try {
        await (await sandbox(name)).delete({ deleteOrphanSnapshots: opts?.keepSnapshots !== true });
      } catch (e: unknown) {
        if (!isNotFound(e)) throw e;
      }
    },
    async run(name, cmd, args, opts) {
      const s = await sandbox(name);
      const r = await s.runCommand({
        cmd,
        args,
        ...(opts.env ? { env: opts.env } : {}),
        ...(opts.cwd ? { cwd: opts.cwd } : {}),
      });
      return { exitCode: r.exitCode ?? -1, stdout: await r.stdout(), stderr: await r.stderr() };
    },
    async spawn(name, cmd, args, opts) {
      const s = await sandbox(name);
      await s.runCommand({
        cmd,
        args,
        detached: true,
        ...(opts.env ? { env: opts.env } : {}),
        ...(opts.cwd ? { cwd: opts.cwd } : {}),
      });
    },
    async snapshot(name, expirationMs) {
      const snap = await (await sandbox(name)).snapshot({ expiration: expirationMs });
      return { snapshotId: snap.snapshotId };
    },
    async deleteSnapshot(snapshotId) {
      const { Snapshot } = await sdk();
      try {
        const snap = await Snapshot.get({ snapshotId, ...creds });
        if (snap.status !== 'deleted') await snap.delete();
      } catch (e: unknown) {
        if (!isNotFound(e)) throw e;
      }
    },
  };
}
