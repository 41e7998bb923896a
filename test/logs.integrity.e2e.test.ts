import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { lineBytes } from '../src/protocol/linebytes.js';
import { PROTOCOL_VERSION } from '../src/protocol/messages.js';
import { registerOnGateway, type ServerHandle, type SessionView, startServer, until } from './harness.js';
import { createToken } from './pools.helpers.js';

// A short lease: a heartbeat stuck behind log batches for 2 s would lose the task.
const CONFIG = `
runners:
  heartbeat_interval: 500ms
  lease_timeout: 2s
  task_output_max_lines: 50
providers:
  pool:
    pools:
      wire: {}
`;

let srv: ServerHandle;
let token: string;
beforeAll(async () => {
  srv = await startServer({ config: CONFIG });
  token = (await createToken(srv, ['--pool', 'wire'])).token;
});
afterAll(async () => {
  await srv?.destroy();
});

type Frame = Record<string, unknown> & { type: string };

async function register(): Promise<{ runnerId: string; credential: string }> {
  const r = await registerOnGateway<{ runnerId: string; credential: string }>(srv, {
    protocol: PROTOCOL_VERSION,
    token,
    name: 'wire',
    agentVersion: 'test',
    labels: {},
  });
  return r.body;
}

/** A wire-level runner: hello, then frames in and out by hand. */
class WireRunner {
  private inbox: Frame[] = [];
  private waiters: (() => void)[] = [];
  constructor(
    readonly ws: WebSocket,
    readonly runnerId: string,
  ) {
    ws.on('message', (d) => {
      this.inbox.push(JSON.parse(d.toString()) as Frame);
      for (const w of this.waiters.splice(0)) w();
    });
  }
  static async start(): Promise<WireRunner> {
    const reg = await register();
    const ws = new WebSocket(`ws+unix:${srv.gatewaySocket}:/v1/connect`, {
      headers: { authorization: `Bearer ${reg.credential}` },
    });
    await new Promise((r, j) => {
      ws.once('open', r);
      ws.once('error', j);
    });
    const w = new WireRunner(ws, reg.runnerId);
    w.send({ type: 'hello', protocol: PROTOCOL_VERSION, runnerId: reg.runnerId, agentVersion: 'test', task: null });
    await w.next('welcome');
    return w;
  }
  send(f: Frame): void {
    this.ws.send(JSON.stringify(f));
  }
  /** The next frame of `type` (frames of other types before it are dropped). */
  async next(type: string, timeoutMs = 20_000): Promise<Frame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.inbox.findIndex((f) => f.type === type);
      if (i >= 0) return this.inbox.splice(0, i + 1).pop()!;
      if (Date.now() > deadline) throw new Error(`no ${type} frame; got ${JSON.stringify(this.inbox)}`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 200);
      });
    }
  }
  logs(taskId: string, seqs: number[], text = (s: number) => `line ${s}`): void {
    const lines = seqs.map((seq) => ({ seq, stream: 'stdout', line: text(seq), ts: Date.now() }));
    this.send({ type: 'logs', taskId, lines });
  }
}

async function assignedTask(w: WireRunner): Promise<{ taskId: string; sessionId: string }> {
  const s = await srv.api<{ id: string }>('POST', '/v1/sessions', { agent: 'shell', pool: 'wire', prompt: 'x' });
  expect(s.status).toBe(201);
  const a = await w.next('task.assign');
  const task = a.task as { taskId: string; sessionId: string };
  w.send({ type: 'task.started', taskId: task.taskId, pid: 1 });
  return task;
}

describe('log acks, order and refusal on the wire', () => {
  let w: WireRunner;
  afterAll(() => w?.ws.close());

  it('acks the highest contiguous seq stored, and pages come back in seq order', async () => {
    w = await WireRunner.start();
    const { taskId, sessionId } = await assignedTask(w);
    w.logs(taskId, [1, 2, 3]);
    expect(await w.next('logs.ack')).toMatchObject({ taskId, seq: 3 });
    w.logs(taskId, [6, 7, 8]); // 4 and 5 missing: the ack stays at 3
    expect(await w.next('logs.ack')).toMatchObject({ taskId, seq: 3 });
    w.logs(taskId, [5, 4]); // the hole filled, out of order within the batch too
    expect(await w.next('logs.ack')).toMatchObject({ taskId, seq: 8 });
    w.logs(taskId, [2, 3]); // a resend of stored lines changes nothing
    expect(await w.next('logs.ack')).toMatchObject({ taskId, seq: 8 });
    const page = await srv.api<{ items: { seq: number; line: string; id: number }[]; next: number | null }>(
      'GET',
      `/v1/tasks/${taskId}/logs`,
    );
    expect(page.body.items.map((l) => l.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    // Paging with a cursor follows seq order too, for the task and for the session.
    const third = page.body.items[2]!.id;
    const t2 = await srv.api<{ items: { seq: number }[] }>('GET', `/v1/tasks/${taskId}/logs?after=${third}&limit=3`);
    expect(t2.body.items.map((l) => l.seq)).toEqual([4, 5, 6]);
    const s2 = await srv.api<{ items: { seq: number }[] }>('GET', `/v1/sessions/${sessionId}/logs?after=${third}`);
    expect(s2.body.items.map((l) => l.seq)).toEqual([4, 5, 6, 7, 8]);
    const bad = await srv.api<{ detail: string }>('GET', `/v1/tasks/${taskId}/logs?after=999999999`);
    expect(bad.status).toBe(400);
    expect(bad.body.detail).toContain('after=999999999');

    // The task finishes; lines sent after that are refused with a reason, and not stored.
    w.send({ type: 'task.finished', taskId, exitCode: 0, signal: null, error: null, cancelled: false, lastSeq: 8 });
    await w.next('task.finished.ack');
    await until(
      async () => (await srv.api<{ state: string }>('GET', `/v1/tasks/${taskId}`)).body.state === 'succeeded',
      'task succeeded',
    );
    w.logs(taskId, [9, 10]);
    const refused = await w.next('logs.refused');
    expect(refused).toMatchObject({ taskId, state: 'succeeded' });
    expect(String(refused.message)).toContain('succeeded');
    const after = await srv.api<{ items: unknown[] }>('GET', `/v1/tasks/${taskId}/logs`);
    expect(after.body.items).toHaveLength(8);
  });

  it('the lease holds while log batches back up (the socket pauses; stored batches renew it)', async () => {
    const w2 = await WireRunner.start();
    const { taskId } = await assignedTask(w2);
    // 200 batches of 1,000 lines sent as fast as the socket takes them, far more than the data
    // lane holds, with a heartbeat every 300 ms as an agent would (2 s lease).
    const beat = setInterval(() => w2.send({ type: 'heartbeat' }), 300);
    try {
      for (let b = 0; b < 200; b++) {
        w2.logs(
          taskId,
          Array.from({ length: 1000 }, (_, i) => b * 1000 + i + 1),
          (s) => `${s}`.padEnd(100, '.'),
        );
        if (b % 5 === 4) await new Promise((r) => setImmediate(r));
      }
      let last = 0;
      while (last < 200_000) last = Number((await w2.next('logs.ack', 120_000)).seq);
    } finally {
      clearInterval(beat);
    }
    const t = await srv.api<{ state: string }>('GET', `/v1/tasks/${taskId}`);
    expect(t.body.state).toBe('running');
    w2.send({
      type: 'task.finished',
      taskId,
      exitCode: 0,
      signal: null,
      error: null,
      cancelled: false,
      lastSeq: 200_000,
    });
    await w2.next('task.finished.ack');
    w2.ws.close();
  }, 180_000);
});

describe('bytes through a real task', () => {
  it('keeps split UTF-8 whole, and NUL and invalid bytes exactly', async () => {
    const prompt = [
      // é is C3 A9: each half in its own write, so the agent reads them apart.
      "for i in $(seq 40); do printf '\\xc3'; sleep 0.005; printf '\\xa9\\n'; done",
      "printf 'nul[\\x00] bad[\\xff\\xfe] cut[\\xe2\\x82] dle[\\x10] ok[\\xf0\\x9f\\x98\\x80]\\n'",
    ].join('\n');
    const s = await srv.api<{ id: string }>('POST', '/v1/sessions', { agent: 'shell', prompt });
    expect(s.status).toBe(201);
    const v = await until(
      async () => {
        const x = (await srv.api<SessionView>('GET', `/v1/sessions/${s.body.id}`)).body;
        const st = x.tasks[0]?.state;
        return st && !['queued', 'assigned', 'running'].includes(st) ? x : null;
      },
      'task ended',
      60_000,
    );
    expect(v.tasks[0]?.state).toBe('succeeded');
    const page = await srv.api<{ items: { stream: string; line: string }[] }>(
      'GET',
      `/v1/tasks/${v.tasks[0]!.id}/logs`,
    );
    const out = page.body.items.filter((l) => l.stream === 'stdout').map((l) => l.line);
    expect(out.slice(0, 40)).toEqual(Array(40).fill('é'));
    const raw = lineBytes(out[40]!);
    expect(raw).toEqual(
      Buffer.from('6e756c5b005d206261645bfffe5d206375745be2825d20646c655b105d206f6b5bf09f98805d', 'hex'),
    );
  }, 90_000);
});

describe('per-task output limit', () => {
  it('keeps the first lines, says the limit was reached, and stops the task with that message', async () => {
    const s = await srv.api<{ id: string }>('POST', '/v1/sessions', {
      agent: 'shell',
      prompt: 'seq 1 200; sleep 60; echo never',
    });
    const v = await until(
      async () => {
        const x = (await srv.api<SessionView>('GET', `/v1/sessions/${s.body.id}`)).body;
        const st = x.tasks[0]?.state;
        return st && !['queued', 'assigned', 'running'].includes(st) ? x : null;
      },
      'task ended',
      60_000,
    );
    // The runner stopped it (well before its 60 s sleep): failed, with the limit as the reason.
    expect(v.tasks[0]).toMatchObject({ state: 'failed' });
    expect(v.tasks[0]!.error).toMatch(/output limit reached after 50 lines .* the task is stopped/);
    const page = await srv.api<{ items: { stream: string; line: string }[] }>(
      'GET',
      `/v1/tasks/${v.tasks[0]!.id}/logs`,
    );
    const out = page.body.items.filter((l) => l.stream === 'stdout').map((l) => l.line);
    expect(out).toEqual(Array.from({ length: 50 }, (_, i) => String(i + 1)));
    const sys = page.body.items.filter((l) => l.stream === 'system').map((l) => l.line);
    expect(sys.some((l) => l.includes('output limit reached after 50 lines'))).toBe(true);
    expect(sys.some((l) => /^discarded \d+ lines \(\d+ bytes\) past the output limit$/.test(l))).toBe(true);
  }, 90_000);
});
