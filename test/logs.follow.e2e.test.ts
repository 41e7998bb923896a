/**
 * @module Following a long stored log: the replay goes at the subscriber's pace, so a follower
 * that stops reading (or leaves) never makes the server hold the whole backlog in memory, and a
 * follower that reads gets every line once, in order, then the end.
 */
import { readFileSync } from 'node:fs';
import { get, type IncomingMessage } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ServerHandle, startServer, until } from './harness.js';

const LINES = 1_000_000;

function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

function follow(srv: ServerHandle, taskId: string): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = get(`${srv.apiUrl}/v1/tasks/${taskId}/logs?follow=1&after=0`, {
      headers: { authorization: `Bearer ${srv.token}` },
    });
    req.once('response', resolve);
    req.once('error', reject);
  });
}

describe('following a long stored log', () => {
  let srv: ServerHandle;
  let taskId: string;
  beforeAll(async () => {
    srv = await startServer();
    const r = await srv.api<{ tasks: { id: string }[] }>('POST', '/v1/sessions', {
      agent: 'shell',
      prompt: `seq 1 ${LINES}`,
    });
    expect(r.status).toBe(201);
    taskId = r.body.tasks[0]!.id;
    await until(
      async () => {
        const t = await srv.api<{ state: string }>('GET', `/v1/tasks/${taskId}`);
        return t.body.state === 'succeeded' ? true : null;
      },
      'the verbose task to finish',
      240_000,
    );
  }, 300_000);
  afterAll(async () => {
    await srv?.destroy();
  });

  it('a follower that stops reading does not make the server buffer the backlog', async () => {
    const pid = srv.proc.pid!;
    const before = rssOf(pid);
    const res = await follow(srv, taskId);
    const first = await new Promise<string>((resolve) => res.once('data', (c: Buffer) => resolve(c.toString())));
    expect(first).toContain('event: line');
    res.pause();
    let most = before;
    for (let i = 0; i < 20; i++) {
      await sleep(200);
      most = Math.max(most, rssOf(pid));
    }
    res.destroy();
    const grew = (most - before) / 1048576;
    console.log(`server RSS ${(before / 1048576).toFixed(0)} MB before, ${(most / 1048576).toFixed(0)} MB at most`);
    // The backlog is ~150 MB of events; the replay keeps about 1 MiB unsent at a time.
    expect(grew).toBeLessThan(64);
  });

  it('a follower that reads gets every line once, in order, then the end', async () => {
    const res = await follow(srv, taskId);
    let rest = '';
    let expected = 1;
    let ended = false;
    for await (const chunk of res) {
      rest += (chunk as Buffer).toString();
      let i = rest.indexOf('\n\n');
      while (i >= 0) {
        const ev = rest.slice(0, i);
        rest = rest.slice(i + 2);
        i = rest.indexOf('\n\n');
        const data = /^data: (.*)$/m.exec(ev)?.[1];
        if (ev.includes('event: line') && data) {
          const line = JSON.parse(data) as { line: string };
          if (line.line !== String(expected)) throw new Error(`line ${expected} came as ${line.line}`);
          expected++;
        } else if (ev.includes('event: end')) ended = true;
      }
      if (ended) break;
    }
    res.destroy();
    expect(expected - 1).toBe(LINES);
    expect(ended).toBe(true);
  }, 120_000);
});
