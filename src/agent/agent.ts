/**
 * @module marionette-agent's core: register (token → credential), dial the gateway, hello,
 * heartbeat, take assignments, run them, ship logs, and reconnect with backoff, re-attaching to
 * the running task and resending unacknowledged lines.
 */
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type WebSocket from 'ws';
import type { AgentConfig } from '../config/agent.js';
import { VERSION } from '../paths.js';
import {
  PROTOCOL_VERSION,
  parseFrame,
  type RunnerMessage,
  ServerMessage,
  type TaskAssignment,
} from '../protocol/messages.js';
import { type Credential, CredentialStore } from './credential-store.js';
import { EgressReports } from './egress-reports.js';
import { killAttempt, LeaseFence } from './fence.js';
import {
  AgentError,
  type Endpoint,
  GatewayEndpoints,
  loadWebSocket,
  parseServerAddress,
  parseServerAddresses,
  peekCertificate,
  WS_OPEN,
} from './gateway-client.js';
import { releaseWorkspace, runAllPreRelease } from './kits.js';
import { LogShipper } from './logship.js';
import { opFrame } from './op-flow.js';
import { type AgentOutcome, type OutcomeReader, outcomeReader } from './outcome/index.js';
import { registerWithToken } from './register.js';
import { SandboxHost } from './sandbox/index.js';
import { runSessionOp } from './session-ops.js';
import { killLeftoverTask, RunningTask, type TaskResult } from './task.js';
import { tlsClientOptions, tlsFailure, wantsTls } from './tls-client.js';
import { WorkspaceTransfers } from './workspace-transfer.js';
import { SessionWorkspaces } from './workspaces.js';

export { AgentError, parseServerAddress };

interface CurrentTask {
  assignment: TaskAssignment;
  ship: LogShipper;
  run: RunningTask;
  result: TaskResult | null;
  /** Reads the agent's own outcome from its stdout (cards with an outcome kind). */
  reader: OutcomeReader | null;
  /** task.finished went out on the current connection (sent once per connection). */
  finishedSent: boolean;
}

export interface AgentOptions {
  config: AgentConfig;
  log?: (msg: string) => void;
}

/** The timeout flag and the agent's own outcome, for task.finished (and hello after a reconnect). */
function finishedOutcome(t: CurrentTask): { timedOut: boolean; outcome: AgentOutcome | null } {
  return { timedOut: t.result?.timedOut ?? false, outcome: t.reader?.outcome() ?? null };
}

export class Agent {
  private ws: WebSocket | null = null;
  private welcomed = false;
  private current: CurrentTask | null = null;
  private heartbeat: NodeJS.Timeout | null = null;
  private stopping = false;
  private draining = false;
  private readonly ep: Endpoint;
  /** Every gateway address given (server replicas); `ep` is the one in use. */
  private readonly endpoints: GatewayEndpoints;
  private readonly log: (msg: string) => void;
  private cred: Credential | null = null;
  private heartbeatMs = 5000;
  /** Kills the task when the server has not confirmed the lease for nearly its length (fence.ts). */
  private readonly fence = new LeaseFence((silentMs) => this.fenced(silentMs));
  /** A dropped task's process group being killed: nothing new starts until it is gone. */
  private killing: Promise<void> | null = null;
  private stopped!: () => void;
  /** Per-session workspaces under the work root (pool and external runners). */
  private readonly workspaces: SessionWorkspaces;
  /** Sessions that ended while their task was still winding down: workspace removed after it. */
  private readonly endedSessions = new Set<string>();
  /** The nested sandbox runtimes found at start (tasks of runner-creates-sandbox pools run in them). */
  private sandbox: SandboxHost | null = null;
  /** Session workspaces' snapshots and restores through the gateway's store routes. */
  private readonly transfers: WorkspaceTransfers;
  /** What tasks' egress proxies refused, batched for the server. */
  private readonly denials = new EgressReports((r) => this.send(r));
  readonly done = new Promise<void>((r) => {
    this.stopped = r;
  });

  constructor(private readonly opts: AgentOptions) {
    this.endpoints = new GatewayEndpoints(parseServerAddresses(opts.config.server));
    this.ep = this.endpoints.current;
    this.creds = new CredentialStore(opts.config.stateDir);
    this.log = opts.log ?? ((m) => process.stderr.write(`marionette-agent: ${m}\n`));
    // A runner a provider started for its session (it has a runner id) already has a workspace of its own.
    this.workspaces = new SessionWorkspaces(
      opts.config.workspace ?? process.cwd(),
      opts.config.runnerId === null,
      opts.config.sessionWorkspaces ?? null,
    );
    const link = { credential: () => this.cred?.credential ?? null, send: (m: RunnerMessage) => this.send(m) };
    this.transfers = WorkspaceTransfers.over(this.ep, link, this.workspaces, opts.config.stateDir, this.log);
  }

  /** The credential in use was loaded from the state dir (not just issued). */
  private savedCred = false;

  /** The credential file in the state dir (none without one: the credential lives in memory). */
  private readonly creds: CredentialStore;

  /** Loads a saved credential, or registers with the token. */
  async register(): Promise<Credential> {
    const saved = this.creds.load();
    if (saved) {
      this.savedCred = true;
      return saved;
    }
    const r = await registerWithToken(this.ep, this.opts.config, this.log, () => this.stopping);
    const cred = { runnerId: r.runnerId, credential: r.credential };
    this.heartbeatMs = r.heartbeatIntervalMs;
    this.creds.save(cred);
    this.log(`registered as runner ${cred.runnerId} in pool ${r.poolName}`);
    return cred;
  }

  async start(): Promise<void> {
    killLeftoverTask(this.opts.config.stateDir, (p) => {
      try {
        return readFileSync(p, 'utf8');
      } catch {
        return null;
      }
    });
    await this.setUpTls();
    const sb = this.opts.config.sandbox;
    // Nested runtimes are probed while the runner registers (hello reports them).
    const detecting = SandboxHost.detectAsync({
      path: process.env.PATH ?? '',
      allowed: sb?.runtimes ?? null,
      gvisorPlatform: sb?.gvisorPlatform ?? 'ptrace',
      home: process.env.HOME ?? null,
      warm: sb?.warm ?? true,
    });
    this.cred = await this.register();
    await loadWebSocket();
    this.sandbox = await detecting;
    void this.connectLoop();
  }

  /** `wss://`: the TLS options (CA, pin, client certificate); a TLS setting with a plain address is refused. */
  private async setUpTls(): Promise<void> {
    const settings = this.opts.config.tls ?? { caFile: null, fingerprint: null, certFile: null, keyFile: null };
    if (!this.ep.tls) {
      // The unix socket never leaves the machine; a plain TCP address with TLS settings is a mistake.
      if (wantsTls(settings) && this.ep.http.socketPath === undefined)
        throw new AgentError(
          'bad_config',
          `--server ${this.ep.display} is plain (no TLS), but TLS settings were given: use wss://${this.ep.display}`,
        );
      return;
    }
    try {
      this.ep.tlsOptions = await tlsClientOptions(settings, (base) => peekCertificate(this.ep, base));
    } catch (e: unknown) {
      const tls = tlsFailure(e, this.ep.display);
      if (tls) throw new AgentError(tls.code, tls.message);
      throw new AgentError('unreachable', `cannot reach the gateway at ${this.ep.display}: ${(e as Error).message}`);
    }
  }

  private async connectLoop(): Promise<void> {
    let attempt = 0;
    while (!this.stopping) {
      const result = await this.connectOnce();
      if (this.stopping) break;
      if (result === 'refused' && (await this.registerAgain())) continue;
      if (result === 'fatal' || result === 'refused') return this.stop(1);
      if (result === 'welcomed') attempt = 0;
      attempt++;
      // Server replicas: the next address (its runner, lease and log positions are in the shared store).
      if (this.endpoints.next()) this.log(`trying the gateway at ${this.ep.display}`);
      await sleep(Math.min(5000, 100 * 2 ** Math.min(attempt, 6)));
    }
  }

  /**
   * The saved credential was refused (its runner was terminated: drained, or let go after the
   * pool's idle_timeout): with a registration token, forget it and join again as a new runner.
   */
  private async registerAgain(): Promise<boolean> {
    if (!this.savedCred || !this.creds.file || !this.opts.config.registrationToken) return false;
    this.log(`runner ${this.cred?.runnerId} is no longer known to the server; registering again with the token`);
    this.creds.forget();
    this.savedCred = false;
    try {
      this.cred = await this.register();
      return true;
    } catch (e: unknown) {
      this.log((e as Error).message);
      await this.stop(2);
      return false;
    }
  }

  /** One connection's life. Resolves when it closes. */
  private async connectOnce(): Promise<'welcomed' | 'failed' | 'fatal' | 'refused'> {
    const WebSocketClient = await loadWebSocket();
    return new Promise((resolve) => {
      const ws = new WebSocketClient(this.ep.ws, {
        headers: { authorization: `Bearer ${this.cred!.credential}` },
        handshakeTimeout: 10_000,
        ...(this.ep.tls ? this.ep.tlsOptions : {}),
      });
      this.ws = ws;
      this.welcomed = false;
      let outcome: 'welcomed' | 'failed' | 'fatal' | 'refused' = 'failed';
      ws.on('unexpected-response', (_req, res) => {
        if (res.statusCode === 401) {
          this.log(`the server refused this runner's credential (${res.statusCode}); it may have been terminated`);
          outcome = 'refused';
        } else if (res.statusCode === 403) {
          // Mutual TLS: no client certificate, or one its CA did not sign. Retrying cannot fix it.
          this.log(`the gateway refused this runner: ${res.statusMessage ?? 'forbidden'}`);
          outcome = 'fatal';
        }
        ws.terminate();
      });
      ws.on('open', () => {
        const t = this.current;
        this.sendRaw({
          type: 'hello',
          protocol: PROTOCOL_VERSION,
          runnerId: this.cred!.runnerId,
          agentVersion: VERSION,
          task: t
            ? {
                taskId: t.assignment.taskId,
                finished: t.result
                  ? {
                      exitCode: t.result.exitCode,
                      signal: t.result.signal,
                      error: t.result.error,
                      cancelled: t.result.cancelled,
                      ...finishedOutcome(t),
                    }
                  : null,
                lastSeq: t.ship.lastSeq,
              }
            : null,
          ...(this.workspaces.perSession ? { workspaces: this.workspaces.held() } : {}),
          ...(this.sandbox ? { sandboxRuntimes: this.sandbox.runtimes } : {}),
        });
      });
      ws.on('message', (data) => {
        const parsed = parseFrame(ServerMessage, data.toString());
        if (!parsed.ok) {
          this.log(`ignoring a bad frame from the server: ${parsed.error}`);
          return;
        }
        if (parsed.value.type === 'welcome') outcome = 'welcomed';
        this.onMessage(parsed.value);
      });
      ws.on('close', (code, reason) => {
        if (this.heartbeat) clearInterval(this.heartbeat);
        this.heartbeat = null;
        this.welcomed = false;
        this.fence.disconnected();
        if (this.ws === ws) this.ws = null;
        // 4004: this runner was terminated; 4009: its pool is full (max_runners) and it was offline.
        if (code === 4004 || code === 4009) outcome = 'fatal';
        if (!this.stopping && outcome !== 'fatal' && outcome !== 'refused')
          this.log(`disconnected (${code}${reason.length ? ` ${reason.toString()}` : ''}); reconnecting`);
        resolve(outcome);
      });
      ws.on('error', (e) => {
        // close follows; a TLS failure ends the agent (retrying cannot fix it).
        const tls = tlsFailure(e, this.ep.display);
        if (tls && outcome !== 'fatal') {
          this.log(tls.message);
          outcome = 'fatal';
        }
      });
    });
  }

  private sendRaw(msg: RunnerMessage): boolean {
    const ws = this.ws;
    if (!ws || ws.readyState !== WS_OPEN) return false;
    ws.send(JSON.stringify(msg));
    if (msg.type === 'hello' || msg.type === 'heartbeat') this.fence.sent();
    return true;
  }

  /** Sends only after the server welcomed this connection (hello is sent raw). */
  private send(msg: RunnerMessage): boolean {
    return this.welcomed ? this.sendRaw(msg) : false;
  }

  private onMessage(msg: ServerMessage): void {
    switch (msg.type) {
      case 'welcome': {
        this.welcomed = true;
        if (msg.credential) this.rotated(msg.credential);
        this.heartbeatMs = msg.heartbeatIntervalMs;
        if (this.heartbeat) clearInterval(this.heartbeat);
        this.heartbeat = setInterval(() => this.send({ type: 'heartbeat' }), this.heartbeatMs);
        const t = this.current;
        if (t && msg.resume?.taskId === t.assignment.taskId) {
          if (!msg.resume.keep) {
            this.log(`server gave up on task ${t.assignment.taskId}; stopping it`);
            this.dropTask();
          } else {
            t.finishedSent = false;
            t.ship.resumeFrom(msg.resume.ackedSeq);
            this.maybeReportFinished();
          }
        } else if (t) {
          this.dropTask();
        }
        if (this.draining && !this.current) void this.stop(0);
        return;
      }
      case 'task.assign':
        this.onAssign(msg.task);
        return;
      case 'lease':
        this.fence.renewed(msg.leaseMs);
        return;
      case 'logs.ack':
        if (this.current?.assignment.taskId === msg.taskId) {
          this.current.ship.ack(msg.seq);
          if (msg.resend) this.current.ship.resendAfter(1000);
          this.maybeReportFinished();
        }
        return;
      case 'logs.refused':
        // The server takes no more lines for this task (it finished, or was given up on): stop it.
        if (this.current?.assignment.taskId === msg.taskId) {
          this.log(`server refused lines for task ${msg.taskId} (${msg.state}): ${msg.message}; stopping it`);
          this.dropTask();
          if (this.draining) void this.stop(0);
        }
        return;
      case 'task.finished.ack':
        if (this.current?.assignment.taskId === msg.taskId && this.current.result) {
          this.current.ship.dispose();
          const sessionId = this.current.assignment.sessionId;
          this.current = null;
          this.afterTask(sessionId);
          if (this.draining) void this.stop(0);
        }
        return;
      case 'task.cancel':
        if (this.current?.assignment.taskId === msg.taskId) this.current.run.kill();
        this.send({ type: 'ack', ref: msg.ref, ok: true });
        return;
      case 'task.stop':
        if (this.current?.assignment.taskId === msg.taskId) this.dropTask();
        this.send({ type: 'ack', ref: msg.ref, ok: true });
        return;
      case 'drain':
        // Finish the current task (its report and logs included), take no more, then exit.
        this.draining = true;
        this.send({ type: 'ack', ref: msg.ref, ok: true });
        this.log(this.current ? 'draining: finishing the current task, then exiting' : 'drained: exiting');
        if (!this.current) void this.stop(0);
        return;
      case 'suspend':
      case 'resume':
        this.send({ type: 'ack', ref: msg.ref, ok: true });
        return;
      case 'session.ended':
        this.send({ type: 'ack', ref: msg.ref, ok: true });
        // A task of that session still winding down keeps its directory until it is gone.
        if (this.current?.assignment.sessionId === msg.sessionId) this.endedSessions.add(msg.sessionId);
        else this.removeWorkspace(msg.sessionId);
        return;
      case 'shutdown':
        this.log(`server asked to shut down: ${msg.reason}`);
        this.send({ type: 'ack', ref: msg.ref, ok: true });
        void this.stop(0);
        return;
      case 'error':
        this.log(`server error ${msg.code}: ${msg.message}`);
        return;
      case 'workspace.snapshot':
        this.transfers.snapshot(msg.ref, msg.sessionId);
        return;
      case 'session.op': // exec, diff, push in the session's workspace (./session-ops.ts)
        runSessionOp(msg, this.workspaces, (m) => this.send(m), this.sandbox);
        return;
      case 'session.op.input': // the bytes of a `files.put` or keystrokes of a terminal
      case 'session.op.cancel':
      case 'session.op.ack':
      case 'session.op.resize':
        opFrame(msg); // routed to the running op (./op-flow.ts)
        return;
      default: {
        // Every message type is handled above: a new one is a compile error here (never).
        const unknown: never = msg;
        this.log(`ignoring a server message of unknown type ${JSON.stringify((unknown as { type?: unknown }).type)}`);
        return;
      }
    }
  }

  /**
   * The server rotated the credential: save it first, then say so (the server retires the old one
   * only then). If saving fails, the old one stays in use and still works.
   */
  private rotated(credential: string): void {
    const next = { runnerId: this.cred!.runnerId, credential };
    const fault = this.opts.config.faultPoint ?? null;
    if (fault === 'credential:received') process.kill(process.pid, 'SIGKILL');
    try {
      this.creds.save(next);
    } catch (e: unknown) {
      this.log(`cannot save the rotated credential (keeping the current one): ${(e as Error).message}`);
      return;
    }
    if (fault === 'credential:saved') process.kill(process.pid, 'SIGKILL');
    this.cred = next;
    this.send({ type: 'credential.saved' });
  }

  private onAssign(a: TaskAssignment): void {
    if (this.killing) {
      // The previous attempt's group is still dying: start nothing beside it.
      void this.killing.then(() => this.onAssign(a));
      return;
    }
    if (this.current && this.current.assignment.taskId !== a.taskId) {
      this.log(`refusing task ${a.taskId}: still busy with ${this.current.assignment.taskId}`);
      return;
    }
    if (this.current) return; // a resend of the task already running
    const ship = new LogShipper(
      a.taskId,
      (taskId, lines) => this.send({ type: 'logs', taskId, lines }),
      a.outputLimits ? { limits: a.outputLimits } : {},
      (paused) => run.pauseOutput(paused),
      (message) => run.stop(message),
    );
    const reader = outcomeReader(a.outcome);
    let workspace: string;
    try {
      workspace = a.workspace ?? this.workspaces.forSession(a.sessionId);
    } catch (e: unknown) {
      this.log(`refusing task ${a.taskId}: cannot make its workspace: ${(e as Error).message}`);
      return;
    }
    const run: RunningTask = new RunningTask(
      a,
      workspace,
      {
        line: (stream, text) => {
          if (stream === 'stdout') reader?.line(text);
          ship.push(stream, text);
        },
        started: (pid) => this.send({ type: 'task.started', taskId: a.taskId, pid }),
        egressDenied: (d) => this.denials.push(a.taskId, d),
        prepare: () => this.transfers.prepare(a, workspace, (l) => ship.push('system', l)),
        repoReady: (baseCommit, ref) =>
          this.send({ type: 'repo.ready', taskId: a.taskId, sessionId: a.sessionId, baseCommit, ref }),
      },
      this.opts.config.stateDir,
      this.sandbox,
    );
    const cur: CurrentTask = { assignment: a, ship, run, result: null, reader, finishedSent: false };
    this.current = cur;
    void run.done.then((result) => {
      if (this.current !== cur) return;
      if (result.error) ship.push('system', result.error);
      ship.finish();
      cur.result = result;
      ship.flush();
      this.maybeReportFinished();
    });
  }

  /** task.finished goes out only once every log line is acknowledged, so it is always the last word. */
  private maybeReportFinished(): void {
    const t = this.current;
    if (!t?.result || !t.ship.drained) {
      t?.ship.flush();
      return;
    }
    if (t.finishedSent) return;
    t.finishedSent = this.send({
      type: 'task.finished',
      taskId: t.assignment.taskId,
      exitCode: t.result.exitCode,
      signal: t.result.signal,
      error: t.result.error,
      cancelled: t.result.cancelled,
      ...finishedOutcome(t),
      lastSeq: t.ship.lastSeq,
    });
  }

  /** Forgets the current task and SIGKILLs its process group; the next task waits until the group is gone. */
  private dropTask(): void {
    const t = this.current;
    if (!t) return;
    this.current = null;
    t.ship.dispose();
    const k = killAttempt(t.run).then((gone) => {
      if (!gone) this.log(`task ${t.assignment.taskId}: its process group outlived SIGKILL for 5 s`);
      if (this.killing === k) this.killing = null;
      this.afterTask(t.assignment.sessionId);
    });
    this.killing = k;
  }

  /** A task of `sessionId` is done here: if its session ended meanwhile, its workspace goes now. */
  private afterTask(sessionId: string): void {
    if (this.endedSessions.delete(sessionId) && this.current?.assignment.sessionId !== sessionId)
      this.removeWorkspace(sessionId);
  }

  private removeWorkspace(sessionId: string): void {
    // The session's kits' preRelease hooks run first, best-effort (./kits.ts).
    void releaseWorkspace(sessionId, this.workspaces, (l) => this.log(l));
    void this.transfers.forget(sessionId); // its workspace index (./workspace-transfer.ts)
  }

  /** The lease is about to lapse unconfirmed: kill the task before the server retries it elsewhere. */
  private fenced(silentMs: number): void {
    const t = this.current;
    if (!t || t.result) return;
    this.log(
      `the server has not confirmed this runner's lease for ${(silentMs / 1000).toFixed(1)} s: killing task ${t.assignment.taskId} before the lease lapses (the server retries it)`,
    );
    this.dropTask();
    // Reconnect: the next hello holds no task, so the server marks it lost if it still thinks it runs.
    this.ws?.terminate();
  }

  async stop(code: number): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    if (this.current && !this.current.result) {
      this.current.run.kill(1000);
      await Promise.race([this.current.run.done, sleep(3000)]);
    }
    await runAllPreRelease((l) => this.log(l));
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.fence.stop();
    this.sandbox?.dispose();
    this.transfers.close();
    this.ws?.close(1000, 'agent stopping');
    process.exitCode = code;
    this.stopped();
  }
}
