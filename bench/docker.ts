/**
 * @module Docker provider benchmark, on the local engine: a Marionette session from creation to
 * its first task running and finished, against a bare container of the same image doing the same
 * work (start Node from the same read-only mount, spawn `bash -lc 'echo ready'`), measured
 * alternately in the same run; and pause → resume through the API against bare `docker
 * pause`/`unpause`. Target: session → task finished at most 1.3x the bare run.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Dockerode from 'dockerode';
import { loadServerConfig } from '../src/config/index.js';
import { DEFAULT_AGENT_IMAGE, NODE_IN_BOX } from '../src/providers/docker/config.js';
import { buildAgentImage } from '../src/providers/docker/image.js';
import { listOwned, removeContainer } from '../src/providers/docker/provider.js';
import { startServer } from '../src/server/main.js';

const ITERATIONS = 7;
const TARGET_RATIO = 1.3;
const PROMPT = 'echo ready';

const docker = new Dockerode({ socketPath: '/var/run/docker.sock' });

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function sleep(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

/** The baseline: the same image, Node from the same read-only mount, the same child process. */
async function bareRun(): Promise<number> {
  const t0 = performance.now();
  const c = await docker.createContainer({
    Image: DEFAULT_AGENT_IMAGE,
    Entrypoint: [
      NODE_IN_BOX,
      '-e',
      `require('node:child_process').spawnSync('bash', ['-lc', ${JSON.stringify(PROMPT)}], { stdio: 'inherit' })`,
    ],
    Cmd: [],
    User: '1000:1000',
    HostConfig: {
      NetworkMode: 'none',
      Mounts: [{ Type: 'bind', Source: process.execPath, Target: NODE_IN_BOX, ReadOnly: true }],
    },
  });
  await c.start();
  const r = (await c.wait()) as { StatusCode?: number };
  const ms = performance.now() - t0;
  const logs = (await c.logs({ stdout: true, stderr: true })).toString();
  await removeContainer(docker, c.id);
  if (r.StatusCode !== 0 || !logs.includes('ready')) throw new Error(`bare run failed (${r.StatusCode}): ${logs}`);
  return ms;
}

async function bareContainerForPause(): Promise<Dockerode.Container> {
  const c = await docker.createContainer({
    Image: DEFAULT_AGENT_IMAGE,
    Entrypoint: ['sleep', '600'],
    Cmd: [],
    User: '1000:1000',
    HostConfig: { NetworkMode: 'none' },
  });
  await c.start();
  return c;
}

interface Row {
  name: string;
  samples: number[];
}

function table(rows: Row[]): string {
  const head = ['measurement', 'median ms', 'min ms', 'max ms', 'n'];
  const body = rows.map((r) => [
    r.name,
    median(r.samples).toFixed(1),
    Math.min(...r.samples).toFixed(1),
    Math.max(...r.samples).toFixed(1),
    String(r.samples.length),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}

async function main(): Promise<void> {
  await docker.ping();
  await buildAgentImage({ docker, tag: DEFAULT_AGENT_IMAGE, ifMissing: true });
  const home = mkdtempSync(join(tmpdir(), 'marionette-bench-'));
  const prefix = `io.mbench-${randomBytes(4).toString('hex')}`;
  const configFile = join(home, 'marionette.yaml');
  writeFileSync(
    configFile,
    [
      'providers:',
      `  docker: {labelPrefix: ${prefix}, network: none}`,
      'pools:',
      '  d: {provider: docker, mode: managed, max_runners: 4}',
      'server: {log_level: warn}',
      '',
    ].join('\n'),
  );
  const server = await startServer(loadServerConfig({ home, config: configFile, port: '0', gatewayPort: '0' }));
  const token = server.bootstrapToken!;
  const api = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    const res = await fetch(`${server.apiUrl}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const json = (await res.json()) as T;
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
    return json;
  };

  /** Session created → first task running / finished, timed from the bus (no polling delay). */
  const ours = async (): Promise<{ running: number; finished: number; sessionId: string }> => {
    let running = 0;
    let finished = 0;
    let taskId = '';
    let failure: string | null = null;
    let resolveDone!: () => void;
    const done = new Promise<void>((r) => {
      resolveDone = r;
    });
    const t0 = performance.now();
    const off = server.ctx.bus.on('task:updated', ({ task }) => {
      if (task.id !== taskId) return;
      if (task.state === 'running' && !running) running = performance.now() - t0;
      if (['succeeded', 'failed', 'lost', 'cancelled'].includes(task.state)) {
        finished = performance.now() - t0;
        if (task.state !== 'succeeded') failure = `task ${task.id} ${task.state}: ${task.error}`;
        resolveDone();
      }
    });
    const s = await api<{ id: string; tasks: Array<{ id: string }> }>('POST', '/v1/sessions', {
      agent: 'shell',
      pool: 'd',
      prompt: PROMPT,
    });
    taskId = s.tasks[0]!.id;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      done,
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error('the session did not finish its task in 60 s')), 60_000);
      }),
    ]).finally(() => {
      clearTimeout(timer);
      off();
    });
    if (failure) throw new Error(failure);
    return { running, finished, sessionId: s.id };
  };

  const rows: Record<string, Row> = {
    created: { name: 'marionette: session created → task running', samples: [] },
    finished: { name: 'marionette: session created → task finished', samples: [] },
    bare: { name: 'bare docker run: create → work done (exit)', samples: [] },
    pause: { name: 'marionette: suspend (pause) API call', samples: [] },
    resume: { name: 'marionette: resume (unpause) API call', samples: [] },
    pauseResume: { name: 'marionette: pause → resume round trip', samples: [] },
    barePause: { name: 'bare docker pause → unpause round trip', samples: [] },
  };
  try {
    // One warm-up of each, not recorded (first container start on a cold engine/page cache).
    const warm = await ours();
    await api('POST', `/v1/sessions/${warm.sessionId}/cancel`);
    await bareRun();
    const sessions: string[] = [];
    for (let i = 0; i < ITERATIONS; i++) {
      const o = await ours();
      rows.created!.samples.push(o.running);
      rows.finished!.samples.push(o.finished);
      sessions.push(o.sessionId);
      rows.bare!.samples.push(await bareRun());
      // Pause → resume on the idle session (the runner is up; wait until the session says so).
      for (;;) {
        const s = await api<{ state: string }>('GET', `/v1/sessions/${o.sessionId}`);
        if (s.state === 'idle') break;
        await sleep(20);
      }
      const t0 = performance.now();
      await api('POST', `/v1/sessions/${o.sessionId}/suspend`, { strategy: 'pause' });
      const t1 = performance.now();
      await api('POST', `/v1/sessions/${o.sessionId}/resume`);
      const t2 = performance.now();
      rows.pause!.samples.push(t1 - t0);
      rows.resume!.samples.push(t2 - t1);
      rows.pauseResume!.samples.push(t2 - t0);
      const c = await bareContainerForPause();
      const b0 = performance.now();
      await c.pause();
      await c.unpause();
      rows.barePause!.samples.push(performance.now() - b0);
      await removeContainer(docker, c.id);
      await api('POST', `/v1/sessions/${o.sessionId}/cancel`);
    }
  } finally {
    await server.close({ terminateRunners: true });
    rmSync(home, { recursive: true, force: true });
  }
  const left = await listOwned(docker, { labelPrefix: prefix });
  const all = Object.values(rows);
  process.stdout.write(
    `Docker provider benchmark (${ITERATIONS} iterations each, alternating; image ${DEFAULT_AGENT_IMAGE}, network none, prompt ${JSON.stringify(PROMPT)})\n\n`,
  );
  process.stdout.write(`${table(all)}\n\n`);
  const ratio = median(rows.finished!.samples) / median(rows.bare!.samples);
  const ratioRunning = median(rows.created!.samples) / median(rows.bare!.samples);
  const pauseRatio = median(rows.pauseResume!.samples) / median(rows.barePause!.samples);
  process.stdout.write(
    `ratio session→task finished / bare run:  ${ratio.toFixed(2)}x (target ≤ ${TARGET_RATIO}x): ${ratio <= TARGET_RATIO ? 'MET' : 'MISSED'}\n`,
  );
  process.stdout.write(`ratio session→task running / bare run:   ${ratioRunning.toFixed(2)}x\n`);
  process.stdout.write(`ratio pause→resume / bare pause+unpause: ${pauseRatio.toFixed(2)}x\n`);
  if (left.length > 0) {
    process.stdout.write(`LEAK: ${left.map((o) => `${o.kind} ${o.name}`).join(', ')}\n`);
    process.exitCode = 1;
  }
  if (ratio > TARGET_RATIO) process.exitCode = 1;
}

main().catch((e: unknown) => {
  process.stderr.write(`bench:docker failed: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
