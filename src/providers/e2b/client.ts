/**
 * @module The small structural interface the e2b provider uses of E2B (sandboxes by id, their
 * metadata and state, commands through envd), and its implementation on the official `e2b` SDK,
 * loaded lazily so `mctl` and the config loader never load it. Every call takes the connection
 * (API key, domain, URLs), since each org may bring its own key.
 */

/** How to reach E2B with one org's key. */
export interface E2bConnection {
  apiKey: string;
  domain?: string | undefined;
  apiUrl?: string | undefined;
  sandboxUrl?: string | undefined;
  requestTimeoutMs: number;
}

export interface E2bSandboxInfo {
  sandboxId: string;
  templateId: string;
  metadata: Record<string, string>;
  /** `running` or `paused`. */
  state: string;
  startedAt: Date;
  cpuCount: number;
  memoryMB: number;
}

export interface E2bCommandResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface E2bApi {
  /** Starts a sandbox from a template (or a snapshot) with metadata; resolves with its id. */
  create(
    conn: E2bConnection,
    template: string,
    opts: { metadata: Record<string, string>; timeoutMs: number },
  ): Promise<{ sandboxId: string }>;
  /** A sandbox's info, or null when E2B no longer has it. */
  info(conn: E2bConnection, sandboxId: string): Promise<E2bSandboxInfo | null>;
  /** Every sandbox (running or paused) whose metadata has all of `metadata`. */
  list(conn: E2bConnection, metadata: Record<string, string>): Promise<E2bSandboxInfo[]>;
  /** Kills a sandbox; false when it was already gone. */
  kill(conn: E2bConnection, sandboxId: string): Promise<boolean>;
  /** Pauses a sandbox keeping its memory; a paused one stays paused. */
  pause(conn: E2bConnection, sandboxId: string): Promise<void>;
  /** Resumes a paused sandbox (a running one is left as it is), with a new timeout. */
  resume(conn: E2bConnection, sandboxId: string, timeoutMs: number): Promise<void>;
  /** Snapshots a sandbox (filesystem and memory; E2B pauses it meanwhile); the id starts new sandboxes like a template. */
  snapshot(conn: E2bConnection, sandboxId: string): Promise<{ snapshotId: string }>;
  /** Deletes a snapshot; false when it was already gone. */
  deleteSnapshot(conn: E2bConnection, snapshotId: string): Promise<boolean>;
  /** Runs `cmd` (bash -l -c) and waits for it: a non-zero exit is a result, not an error. */
  run(
    conn: E2bConnection,
    sandboxId: string,
    cmd: string,
    opts: { envs?: Record<string, string>; cwd?: string; timeoutMs?: number; sandboxTimeoutMs: number },
  ): Promise<E2bCommandResult>;
  /** Starts `cmd` in the background and returns once it started (it keeps running after we let go). */
  spawn(
    conn: E2bConnection,
    sandboxId: string,
    cmd: string,
    opts: { envs?: Record<string, string>; cwd?: string; sandboxTimeoutMs: number },
  ): Promise<{ pid: number }>;
}

type Sdk = Awaited<ReturnType<typeof loadSdk>>;

const loadSdk = () => import('e2b');

/** The E2B API on the official SDK. */
export function sdkE2bApi(): E2bApi {
  let sdk: Promise<Sdk> | undefined;
  const load = () => {
    sdk ??= loadSdk();
    return sdk;
  };
  const opts = (c: E2bConnection) => ({
    apiKey: c.apiKey,
    requestTimeoutMs: c.requestTimeoutMs,
    ...(c.domain ? { domain: c.domain } : {}),
    ...(c.apiUrl ? { apiUrl: c.apiUrl } : {}),
    ...(c.sandboxUrl ? { sandboxUrl: c.sandboxUrl } : {}),
    // Our own backoff handles rate limits (errors.ts): one place decides how long to wait.
    retries: 0,
  });
  const view = (i: {
    sandboxId: string;
    templateId: string;
    metadata: Record<string, string>;
    state: string;
    startedAt: Date;
    cpuCount: number;
    memoryMB: number;
  }): E2bSandboxInfo => ({
    sandboxId: i.sandboxId,
    templateId: i.templateId,
    metadata: i.metadata ?? {},
    state: i.state,
    startedAt: i.startedAt,
    cpuCount: i.cpuCount,
    memoryMB: i.memoryMB,
  });
  /**
   * A handle on a sandbox for its commands. `connect` is the SDK's only way to one by id; it would
   * resume a paused sandbox (the provider checks first) and sets the sandbox's timeout, so it is
   * given the configured one rather than E2B's 5-minute default.
   */
  const attach = async (c: E2bConnection, sandboxId: string, timeoutMs: number) => {
    const { Sandbox } = await load();
    return Sandbox.connect(sandboxId, { ...opts(c), timeoutMs });
  };
  return {
    async create(c, template, o) {
      const { Sandbox } = await load();
      const s = await Sandbox.create(template, { ...opts(c), metadata: o.metadata, timeoutMs: o.timeoutMs });
      return { sandboxId: s.sandboxId };
    },
    async info(c, id) {
      const { Sandbox, NotFoundError } = await load();
      try {
        return view(await Sandbox.getInfo(id, opts(c)));
      } catch (e: unknown) {
        if (e instanceof NotFoundError) return null;
        throw e;
      }
    },
    async list(c, metadata) {
      const { Sandbox } = await load();
      const pages = Sandbox.list({ ...opts(c), query: { metadata } });
      const out: E2bSandboxInfo[] = [];
      while (pages.hasNext) for (const i of await pages.nextItems()) out.push(view(i));
      return out;
    },
    async kill(c, id) {
      const { Sandbox } = await load();
      return Sandbox.kill(id, opts(c));
    },
    async pause(c, id) {
      const { Sandbox } = await load();
      await Sandbox.pause(id, { ...opts(c), keepMemory: true });
    },
    async resume(c, id, timeoutMs) {
      const { Sandbox } = await load();
      await Sandbox.connect(id, { ...opts(c), timeoutMs });
    },
    async snapshot(c, id) {
      const { Sandbox } = await load();
      const r = await Sandbox.createSnapshot(id, opts(c));
      return { snapshotId: r.snapshotId };
    },
    async deleteSnapshot(c, snapshotId) {
      const { Sandbox } = await load();
      return Sandbox.deleteSnapshot(snapshotId, opts(c));
    },
    async run(c, id, cmd, o) {
      const { CommandExitError } = await load();
      const { sandboxTimeoutMs, ...rest } = o;
      const s = await attach(c, id, sandboxTimeoutMs);
      try {
        const r = await s.commands.run(cmd, rest);
        return { exitCode: r.exitCode, stdout: r.stdout, stderr: r.stderr };
      } catch (e: unknown) {
        if (e instanceof CommandExitError) return { exitCode: e.exitCode, stdout: e.stdout, stderr: e.stderr };
        throw e;
      }
    },
    async spawn(c, id, cmd, o) {
      const { sandboxTimeoutMs, ...rest } = o;
      const s = await attach(c, id, sandboxTimeoutMs);
      const h = await s.commands.run(cmd, { ...rest, background: true, timeoutMs: 0 });
      await h.disconnect();
      return { pid: h.pid };
    },
  };
}
