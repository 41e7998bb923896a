/**
 * @module Helper process for bench/dispatch: N runners that speak the runner protocol over their
 * own WebSocket (register with a token, hello, heartbeats, acks) but run nothing: a task.assign is
 * answered with task.started and task.finished (exit 0) at once. With no process to spawn per
 * task, the server is what limits the rate, so bench/dispatch measures one server process's
 * throughput directly, on a machine too small to start 1,000 processes a second.
 * Usage: `node dist/bench/dispatch-wire-runners.js N HOST:PORT TOKEN POOL`; prints `ready N`.
 */
import { request } from 'node:http';
import WebSocket from 'ws';
import { PROTOCOL_VERSION, type ServerMessage } from '../src/protocol/messages.js';

interface Registered {
  runnerId: string;
  credential: string;
  heartbeatIntervalMs: number;
}

function register(host: string, port: number, body: unknown): Promise<Registered> {
  return new Promise((resolve, reject) => {
    const data = JSON.stringify(body);
    const req = request(
      { host, port, path: '/v1/register', method: 'POST', headers: { 'content-type': 'application/json' } },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => {
          text += c.toString();
        });
        res.on('end', () =>
          res.statusCode === 200
            ? resolve(JSON.parse(text) as Registered)
            : reject(new Error(`register: ${res.statusCode} ${text}`)),
        );
      },
    );
    req.once('error', reject);
    req.end(data);
  });
}

/** One wire-level runner; resolves once the server has welcomed it. */
async function runner(host: string, port: number, token: string, pool: string, i: number): Promise<WebSocket> {
  const reg = await register(host, port, {
    protocol: PROTOCOL_VERSION,
    token,
    pool,
    name: `wire-${i}`,
    labels: { slot: String(i) },
    agentVersion: 'bench-wire',
  });
  const ws = new WebSocket(`ws://${host}:${port}/v1/connect`, {
    headers: { authorization: `Bearer ${reg.credential}` },
  });
  const send = (m: unknown) => ws.send(JSON.stringify(m));
  return new Promise((resolve, reject) => {
    ws.once('error', reject);
    ws.once('open', () =>
      send({
        type: 'hello',
        protocol: PROTOCOL_VERSION,
        runnerId: reg.runnerId,
        agentVersion: 'bench-wire',
        task: null,
      }),
    );
    const beat = setInterval(() => send({ type: 'heartbeat' }), reg.heartbeatIntervalMs);
    ws.once('close', () => clearInterval(beat));
    ws.on('message', (data) => {
      const msg = JSON.parse(data.toString()) as ServerMessage;
      switch (msg.type) {
        case 'welcome':
          resolve(ws);
          return;
        case 'task.assign': {
          const taskId = msg.task.taskId;
          send({ type: 'task.started', taskId, pid: null });
          send({ type: 'task.finished', taskId, exitCode: 0, signal: null, error: null, cancelled: false, lastSeq: 0 });
          return;
        }
        case 'error':
          reject(new Error(`runner wire-${i}: ${msg.code}: ${msg.message}`));
          return;
        default:
          if ('ref' in msg) send({ type: 'ack', ref: msg.ref, ok: true });
          if (msg.type === 'shutdown') ws.close();
      }
    });
  });
}

async function main(): Promise<void> {
  const [n, server, token, pool] = process.argv.slice(2);
  if (!n || !server || !token || !pool) throw new Error('usage: N HOST:PORT TOKEN POOL');
  const [host, port] = server.split(':') as [string, string];
  const sockets: WebSocket[] = [];
  for (let i = 0; i < Number(n); i++) sockets.push(await runner(host, Number(port), token, pool, i));
  process.stdout.write(`ready ${sockets.length}\n`);
  const stop = () => {
    for (const s of sockets) s.close();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((e: unknown) => {
  process.stderr.write(`dispatch-wire-runners: ${(e as Error).message}\n`);
  process.exit(1);
});
