/**
 * @module The `local` provider: each runner is a `marionette-agent` child process of the server,
 * started detached (its own process group, output to a log file) so that it outlives a server
 * crash and reconnects when the server is back. One workspace directory per session.
 *
 * Each agent keeps a state dir (`$MARIONETTE_HOME/runners/<runner>.state`) where it records the
 * process group of the task it runs (`task.pid`). Tasks run in groups of their own, so killing the
 * agent does not kill them: `fence` (called when the server gives up on the runner, before its task
 * is declared lost) kills the agent's group and the recorded task group and waits until both are
 * gone, so a retry never runs beside the old attempt in the same workspace. `status` does the same
 * for a runner it finds dead, and `terminate` after stopping the agent.
 *
 * Each state dir also holds the runner's record (`sandbox.json`, ./records.ts: handle and owners,
 * install id included), removed with the state dir by `terminate`: `list` and `reapOrphans` find
 * runners through it after a crash, as the docker provider finds containers through labels.
 */
import { spawn } from 'node:child_process';
import {
  chmodSync,
  closeSync,
  existsSync,
  lstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  realpathSync,
  rmSync,
  statSync,
} from 'node:fs';
import { join, sep } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { groupMembers, killGroupNow, killRecordedTask, processStartTime } from '../../agent/procs.js';
import { InvalidRequest, ProviderUnavailable } from '../../core/errors.js';
import { AGENT_BIN } from '../../paths.js';
import { reapOwned } from '../reap.js';
import { runnerBoot, runnerEnv } from '../runner-boot.js';
import type {
  OwnerCheck,
  ReapResult,
  SandboxHandle,
  SandboxProvider,
  SandboxSpec,
  SandboxStatus,
  SuspendStrategy,
} from '../types.js';
import { LOCAL_CAPABILITIES } from './capabilities.js';
import { LocalConfig } from './config.js';
import { type LocalOwned, readRecords, writeRecord } from './records.js';
import { localRunnerEnv } from './runner-env.js';

export interface LocalProviderOptions {
  home: string;
  /** Gateway address runners dial (the unix socket by default). */
  gateway: string;
  config?: unknown;
  /** The install's id (from the store), in each runner's record; `reapOrphans` touches only its own. */
  installId?: string;
}

/** Creates `dir` if needed and makes it the owner's alone (an existing one too). */
function privateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  if ((statSync(dir).mode & 0o077) !== 0) chmodSync(dir, 0o700);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e: unknown) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class LocalSandboxProvider implements SandboxProvider {
  readonly id = 'local';
  readonly displayName = 'Local processes';
  readonly capabilities = LOCAL_CAPABILITIES;
  private readonly config: LocalConfig;
  private readonly workspaces: string;

  constructor(private readonly opts: LocalProviderOptions) {
    const parsed = LocalConfig.safeParse(opts.config ?? {});
    if (!parsed.success) {
      const i = parsed.error.issues[0];
      const msg = i?.code === 'unrecognized_keys' ? `unknown key ${i.keys.join(', ')}` : i?.message;
      throw new InvalidRequest(`providers.local${i?.path.length ? `.${i.path.join('.')}` : ''}: ${msg}`);
    }
    this.config = parsed.data;
    this.workspaces = this.config.workspaces_dir ?? join(opts.home, 'workspaces');
  }

  supportedSuspendStrategies(): readonly SuspendStrategy[] {
    return ['terminate_preserve_storage', 'terminate'];
  }

  /** Ready when the agent program is there to start (a source checkout needs `npm run build`). */
  async health(): Promise<{ ok: true } | { ok: false; message: string }> {
    if (existsSync(AGENT_BIN)) return { ok: true };
    return { ok: false, message: `marionette-agent not found at ${AGENT_BIN} (run \`npm run build\`)` };
  }

  workspaceFor(spec: Pick<SandboxSpec, 'sessionId' | 'runnerId'>): string {
    return join(this.workspaces, spec.sessionId ?? spec.runnerId);
  }

  async provision(spec: SandboxSpec): Promise<SandboxHandle> {
    return this.start(spec, this.workspaceFor(spec));
  }

  /** Starts a runner on the workspace a stopped one kept (`terminate_preserve_storage`). */
  async restore(handle: SandboxHandle, spec: SandboxSpec): Promise<SandboxHandle> {
    const ws = handle.metadata.workspace;
    if (typeof ws !== 'string' || !existsSync(ws))
      throw new InvalidRequest(`cannot restore: the workspace ${String(ws)} no longer exists`);
    return this.start(spec, ws);
  }

  private async start(spec: SandboxSpec, workspace: string): Promise<SandboxHandle> {
    // Workspaces, runner logs, state and homes are the owner's alone (0700 folders, 0600 logs).
    privateDir(this.workspaces);
    privateDir(workspace);
    const logDir = join(this.opts.home, 'runners');
    privateDir(logDir);
    const logFile = join(logDir, `${spec.runnerId}.log`);
    const stateDir = join(logDir, `${spec.runnerId}.state`);
    privateDir(stateDir);
    const home = this.config.runner_home ?? join(logDir, `${spec.runnerId}.home`);
    privateDir(home);
    const fd = openSync(logFile, 'a', 0o600);
    let pid: number | undefined;
    try {
      const child = spawn(process.execPath, [AGENT_BIN], {
        cwd: workspace,
        detached: true,
        stdio: ['ignore', fd, fd],
        // Built from nothing: never the server's environment (its token, key, database URL).
        env: localRunnerEnv(process.env, {
          home,
          passEnv: this.config.pass_env,
          own: {
            ...spec.env,
            ...runnerEnv(runnerBoot(spec, this.opts.gateway, workspace)),
            MARIONETTE_RUNNER_NAME: `local-${spec.runnerId.slice(-8)}`,
            MARIONETTE_AGENT_STATE: stateDir,
            // A warm runner (no session yet) works for its session in workspaces/<session id>, as a
            // runner started for the session would (src/agent/workspaces.ts).
            ...(spec.sessionId === null ? { MARIONETTE_SESSION_WORKSPACES: this.workspaces } : {}),
          },
        }),
      });
      pid = child.pid;
      child.unref();
      if (pid === undefined) {
        const err = await new Promise<Error>((resolve) => child.once('error', resolve));
        throw new ProviderUnavailable(`could not start marionette-agent: ${err.message}`);
      }
    } finally {
      closeSync(fd);
    }
    const handle: SandboxHandle = {
      providerId: this.id,
      externalId: String(pid),
      metadata: {
        orgId: spec.orgId,
        pid,
        startTime: processStartTime(pid),
        workspace,
        logFile,
        stateDir,
        ...(this.config.runner_home === undefined ? { home } : {}),
        provisionedAt: new Date().toISOString(),
      },
    };
    const install = this.opts.installId ?? '';
    const owner = { session: spec.sessionId ?? '', runner: spec.runnerId, pool: spec.poolId, org: spec.orgId, install };
    writeRecord(stateDir, owner, handle);
    return handle;
  }

  /** The runners this home's records name (of every install; see `owner.install`). */
  async list(): Promise<LocalOwned[]> {
    return readRecords(join(this.opts.home, 'runners'));
  }

  /** Terminates this install's recorded runners whose owner `isLive` rejects (their records go with them). */
  async reapOrphans(isLive: OwnerCheck, adopt?: OwnerCheck): Promise<ReapResult> {
    return reapOwned(await this.list(), {
      installId: this.opts.installId ?? null,
      isLive,
      adopt,
      remove: async (o) => {
        await this.terminate(o.handle);
        return undefined;
      },
    });
  }

  private isOurs(handle: SandboxHandle): boolean {
    const pid = Number(handle.externalId);
    if (!Number.isInteger(pid) || pid <= 0 || !alive(pid)) return false;
    const expected = handle.metadata.startTime;
    if (typeof expected === 'string') return processStartTime(pid) === expected;
    return true;
  }

  /** A dead runner's leftovers (its group's other members, its task's group) are killed before it is reported terminated. */
  async status(handle: SandboxHandle): Promise<SandboxStatus> {
    if (this.isOurs(handle)) return 'running';
    await this.fence(handle);
    return 'terminated';
  }

  /**
   * Kills everything the runner ran, at once (SIGKILL), and waits until it is gone: the agent's
   * process group (when it is still ours, or members outlived the agent) and the task group the
   * agent recorded. The workspace stays. Called before the runner's task is declared lost.
   */
  async fence(handle: SandboxHandle): Promise<void> {
    const pid = Number(handle.externalId);
    if (Number.isInteger(pid) && pid > 1) {
      const start = processStartTime(pid);
      const recorded = handle.metadata.startTime;
      // The leader alive with another start time is a stranger: ours is gone and its number reused.
      const ours = start === null ? groupMembers(pid).length > 0 : typeof recorded !== 'string' || start === recorded;
      if (ours && !(await killGroupNow(pid)))
        throw new ProviderUnavailable(`the process group of runner pid ${pid} is still there after SIGKILL`);
    }
    const stateDir = handle.metadata.stateDir;
    if (typeof stateDir === 'string') await killRecordedTask(join(stateDir, 'task.pid'));
  }

  /** Kills the runner's whole process group (the agent and anything it started), and its task's group. */
  async terminate(handle: SandboxHandle): Promise<void> {
    if (this.isOurs(handle)) await this.stopAgent(Number(handle.externalId));
    // The task's group is not the agent's: whatever outlived the agent goes now.
    await this.fence(handle);
    const stateDir = handle.metadata.stateDir;
    if (typeof stateDir === 'string') rmSync(stateDir, { recursive: true, force: true });
    // The runner's own HOME (never a configured, shared `runner_home`) goes with it.
    const home = handle.metadata.home;
    if (typeof home === 'string' && home.endsWith('.home')) rmSync(home, { recursive: true, force: true });
  }

  /** SIGTERM to the agent's group (it stops its task), SIGKILL after `kill_grace_seconds`. */
  private async stopAgent(pid: number): Promise<void> {
    const signal = (sig: NodeJS.Signals) => {
      try {
        process.kill(-pid, sig);
      } catch {
        try {
          process.kill(pid, sig);
        } catch {
          /* already gone */
        }
      }
    };
    signal('SIGTERM');
    const deadline = Date.now() + this.config.kill_grace_seconds * 1000;
    while (Date.now() < deadline && alive(pid)) await sleep(50);
    if (alive(pid)) signal('SIGKILL');
  }

  /** terminate_preserve_storage: the process goes, the workspace directory stays. */
  async stopPreserveStorage(handle: SandboxHandle): Promise<void> {
    await this.terminate(handle);
  }

  async destroyStorage(handle: SandboxHandle): Promise<void> {
    const ws = handle.metadata.workspace;
    if (typeof ws !== 'string' || !ws.startsWith(this.workspaces)) return;
    // A warm runner's directory is a link to its session's workspace: both go.
    let target: string | null = null;
    try {
      target = lstatSync(ws).isSymbolicLink() ? realpathSync(ws) : null;
    } catch {
      /* gone already */
    }
    if (target?.startsWith(`${realpathSync(this.workspaces)}${sep}`)) rmSync(target, { recursive: true, force: true });
    rmSync(ws, { recursive: true, force: true });
  }

  async *streamLogs(handle: SandboxHandle): AsyncIterable<string> {
    const file = handle.metadata.logFile;
    if (typeof file !== 'string') return;
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      return;
    }
    for (const line of text.split('\n')) if (line) yield line;
  }
}
