/**
 * The workspace store's routes on the runner gateway (`/v1/cas/`), with bad input: no or a wrong
 * runner credential is a 401; a malformed query, an id that is not a content address, too many ids,
 * an object that does not decode to its address and an oversized body each get a clear 4xx naming
 * what was wrong, and nothing is stored; a good object is stored once, found, and read back.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GatewayChunks } from '../src/agent/gateway-chunks.js';
import { parseServerAddress } from '../src/agent/gateway-client.js';
import { encode, hashId, readManifest, restoreDir, snapshotDir } from '../src/cas/index.js';
import { PROTOCOL_VERSION } from '../src/protocol/messages.js';
import { openStore } from '../src/store/index.js';
import { registerOnGateway, type ServerHandle, startServer } from './harness.js';

let srv: ServerHandle;
let credential = '';

/** Registers a runner in the probe pool; its id and credential. */
async function register(name: string): Promise<{ runnerId: string; credential: string }> {
  const tok = await srv.api<{ token: string }>('POST', '/v1/runners/tokens', { pool: 'probe', oneTime: true });
  const reg = await registerOnGateway<{ runnerId: string; credential: string }>(srv, {
    protocol: PROTOCOL_VERSION,
    token: tok.body.token,
    name,
    labels: {},
    agentVersion: 'test',
  });
  expect(reg.status).toBe(200);
  return reg.body;
}

beforeAll(async () => {
  srv = await startServer();
  expect((await srv.api('POST', '/v1/pools', { name: 'probe', mode: 'pool', provider: 'pool' })).status).toBe(201);
  credential = (await register('probe')).credential;
});
afterAll(async () => {
  await srv?.destroy();
});

/** One request to the gateway's unix socket. */
function call(
  method: string,
  path: string,
  body: Buffer | string | null,
  cred: string | null = credential,
): Promise<{ status: number; body: Buffer; json: () => Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        socketPath: srv.gatewaySocket,
        path,
        method,
        headers: {
          ...(cred ? { authorization: `Bearer ${cred}` } : {}),
          'content-length': body === null ? 0 : Buffer.byteLength(body),
        },
      },
      (res) => {
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => parts.push(c));
        res.on('end', () => {
          const b = Buffer.concat(parts);
          resolve({ status: res.statusCode ?? 0, body: b, json: () => JSON.parse(b.toString('utf8')) });
        });
      },
    );
    req.on('error', reject);
    req.end(body ?? undefined);
  });
}

describe('the workspace store on the gateway', () => {
  it('wants a runner credential', async () => {
    expect((await call('POST', '/v1/cas/has', '{"ids":[]}', null)).status).toBe(401);
    const wrong = await call('POST', '/v1/cas/has', '{"ids":[]}', 'mrc_wrong');
    expect(wrong.status).toBe(401);
    expect(wrong.json().message).toMatch(/runner credential/);
  });

  it('refuses bad queries and ids with a message naming what was wrong', async () => {
    const notJson = await call('POST', '/v1/cas/has', '{oops');
    expect(notJson.status).toBe(400);
    expect(notJson.json().message).toMatch(/expected JSON \{"ids"/);
    const badId = await call('POST', '/v1/cas/has', JSON.stringify({ ids: ['../../etc/passwd'] }));
    expect(badId.status).toBe(400);
    expect(badId.json().message).toMatch(/SHA-256/);
    const many = await call('POST', '/v1/cas/has', JSON.stringify({ ids: Array(1001).fill('a'.repeat(64)) }));
    expect(many.status).toBe(400);
    expect(many.json().message).toMatch(/at most 1000/);
    const path = await call('GET', '/v1/cas/objects/..%2F..%2Fsecret', null);
    expect(path.status).toBe(400);
    expect((await call('DELETE', `/v1/cas/objects/${'a'.repeat(64)}`, null)).status).toBe(404);
  });

  it('stores an object only when it decodes to its address, and reads it back', async () => {
    const plain = Buffer.from('hello workspace\n'.repeat(100));
    const id = hashId(plain);
    const stored = Buffer.from(await encode(plain));
    const wrongId = hashId(Buffer.from('something else'));
    const corrupt = await call('PUT', `/v1/cas/objects/${wrongId}`, stored);
    expect(corrupt.status).toBe(400);
    expect(corrupt.json()).toMatchObject({ code: 'corrupt' });
    expect((await call('PUT', `/v1/cas/objects/${id}`, Buffer.alloc(0))).status).toBe(400);
    const huge = await call('PUT', `/v1/cas/objects/${id}`, Buffer.alloc(16 * 1024 * 1024 + 1));
    expect(huge.status).toBe(413);
    const before = await call('POST', '/v1/cas/has', JSON.stringify({ ids: [id, wrongId] }));
    expect(before.json()).toEqual({ present: [false, false] });

    expect((await call('PUT', `/v1/cas/objects/${id}`, stored)).status).toBe(204);
    expect((await call('PUT', `/v1/cas/objects/${id}`, stored)).status).toBe(204); // idempotent
    const after = await call('POST', '/v1/cas/has', JSON.stringify({ ids: [id, wrongId] }));
    expect(after.json()).toEqual({ present: [true, false] });
    const got = await call('GET', `/v1/cas/objects/${id}`, null);
    expect(got.status).toBe(200);
    expect(got.body.equals(stored)).toBe(true);
    const missing = await call('GET', `/v1/cas/objects/${wrongId}`, null);
    expect(missing.status).toBe(404);
    expect(missing.json().message).toContain(wrongId);
  });

  it("the agent's client: queries past a batch, a batch of puts in few requests, reads back; a bad batch stores nothing", async () => {
    const chunks = new GatewayChunks(parseServerAddress(`unix:${srv.gatewaySocket}`), () => credential);
    try {
      const objects = await Promise.all(
        Array.from({ length: 1200 }, async (_, i) => {
          const plain = Buffer.from(`object ${i}\n`.repeat(50));
          return { id: hashId(plain), data: await encode(plain) };
        }),
      );
      const ids = objects.map((o) => o.id);
      expect((await chunks.has(ids)).every((p) => !p)).toBe(true); // 1200 ids: two queries
      await chunks.putMany(objects);
      expect((await chunks.has(ids)).every((p) => p)).toBe(true);
      expect(Buffer.from((await chunks.get(ids[1199]!))!).equals(Buffer.from(objects[1199]!.data))).toBe(true);
      expect(await chunks.get(hashId(Buffer.from('never stored')))).toBeNull();

      // One corrupt object refuses its whole batch: the good one before it is not stored either.
      const good = Buffer.from('a good one');
      const bad = Buffer.from('a bad one');
      const refused = chunks.putMany([
        { id: hashId(good), data: await encode(good) },
        { id: hashId(bad), data: await encode(good) },
      ]);
      await expect(refused).rejects.toThrow(/400 object 1: .*corrupt/);
      expect(await chunks.has([hashId(good), hashId(bad)])).toEqual([false, false]);
    } finally {
      chunks.close();
    }
  });

  it("a runner reads only objects of its own session's snapshots or that it uploaded, not any address it knows", async () => {
    const a = await register('writer');
    const b = await register('reader');
    const scratch = mkdtempSync(join(tmpdir(), 'mrn-cas-scope-'));
    const asA = new GatewayChunks(parseServerAddress(`unix:${srv.gatewaySocket}`), () => a.credential);
    const asB = new GatewayChunks(parseServerAddress(`unix:${srv.gatewaySocket}`), () => b.credential);
    try {
      // Runner A snapshots a workspace through the gateway: B knows every address, and reads none.
      const ws = join(scratch, 'ws');
      mkdirSync(ws);
      writeFileSync(join(ws, 'secret.txt'), 'only for this session\n'.repeat(50));
      const snap = await snapshotDir(ws, asA);
      const chunk = hashId(Buffer.from('only for this session\n'.repeat(50)));
      const stray = Buffer.from('uploaded by A, in no snapshot');
      await asA.put(hashId(stray), await encode(stray));
      for (const id of [snap.manifestId, chunk, hashId(stray)]) {
        const r = await call('GET', `/v1/cas/objects/${id}`, null, b.credential);
        expect(r.status, id).toBe(404);
        expect(r.json().message).toMatch(/in no snapshot of this runner's session/);
        expect(await asA.get(id), id).not.toBeNull(); // the uploader reads its own objects
      }
      // Once the snapshot is one of B's session's (a fork's first row names it), B restores it whole.
      const ses = await srv.api<{ id: string }>('POST', '/v1/sessions', { agent: 'shell', pool: 'probe' });
      expect(ses.status).toBe(201);
      const store = await openStore({ home: srv.home });
      try {
        await store.db.updateTable('runners').set({ session_id: ses.body.id }).where('id', '=', b.runnerId).execute();
        await store.snapshots.add({
          id: 'snp_scope',
          orgId: (await store.sessions.get(ses.body.id))!.orgId,
          sessionId: ses.body.id,
          parentId: null,
          manifestId: snap.manifestId,
          reason: 'fork',
          files: snap.files,
          bytes: snap.bytes,
          bytesNew: 0,
          pinned: false,
          runnerId: null,
        });
        const entries: string[] = [];
        for await (const e of readManifest(asB, snap.manifestId)) entries.push(e.path);
        expect(entries).toEqual(['secret.txt']);
        await restoreDir(snap.manifestId, asB, join(scratch, 'out'));
        // Still not what A uploaded outside any snapshot of B's session.
        expect(await asB.get(hashId(stray))).toBeNull();
        // Bound to another session, B reads nothing of the first one's snapshots.
        await store.db.updateTable('runners').set({ session_id: 'ses_other' }).where('id', '=', b.runnerId).execute();
        expect(await asB.get(chunk)).toBeNull();
      } finally {
        await store.db.updateTable('runners').set({ session_id: null }).where('id', '=', b.runnerId).execute();
        await store.close();
      }
      expect((await srv.mctl(['sessions', 'cancel', ses.body.id])).code).toBe(0);
    } finally {
      asA.close();
      asB.close();
      rmSync(scratch, { recursive: true, force: true });
    }
  });

  it('the workspace API refuses what cannot be done with the reason', async () => {
    // A session waiting for a runner (the probe pool has none connected) has no workspace to snapshot.
    const ses = await srv.api<{ id: string }>('POST', '/v1/sessions', { agent: 'shell', pool: 'probe' });
    expect(ses.status).toBe(201);
    const snap = await srv.api<{ detail: string; hint?: string }>('POST', `/v1/sessions/${ses.body.id}/snapshots`, {});
    expect(snap.status).toBe(409);
    expect(snap.body.detail).toMatch(/has no runner holding its workspace/);
    const fork = await srv.api<{ detail: string }>('POST', `/v1/sessions/${ses.body.id}/fork`, {});
    expect(fork.status).toBe(409);
    expect(fork.body.detail).toMatch(/has no snapshot to fork from/);
    expect((await srv.api('POST', `/v1/sessions/${ses.body.id}/fork`, { snapshot: 'snp_nope' })).status).toBe(404);
    expect((await srv.api('POST', `/v1/sessions/${ses.body.id}/snapshots`, { pin: 'yes' })).status).toBe(400);
    expect((await srv.api('GET', '/v1/workspaces/snp_nope')).status).toBe(404);
    expect((await srv.api('GET', '/v1/workspaces/snp_a/diff/snp_b')).status).toBe(404);
    expect((await srv.api('GET', '/v1/workspaces?limit=0')).status).toBe(400);
    expect((await srv.api('GET', '/v1/workspaces?session=ses_nope')).status).toBe(404);
    const w = await srv.api('GET', `/v1/sessions/${ses.body.id}/workspace`);
    expect(w.body).toEqual({ sessionId: ses.body.id, latest: null, inFlight: null });
    const gc = await srv.mctl(['-o', 'json', 'workspaces', 'gc', '--dry-run']);
    expect(gc.code, gc.stderr).toBe(0);
    expect(JSON.parse(gc.stdout)).toMatchObject({ dryRun: true, snapshotsDeleted: 0, objectsFreed: 0 });
    const cli = await srv.mctl(['sessions', 'snapshot', ses.body.id]);
    expect(cli.code).toBe(1);
    expect(cli.stderr).toMatch(/^mctl: session .* has no runner holding its workspace/);
    expect((await srv.mctl(['sessions', 'cancel', ses.body.id])).code).toBe(0);
  });
});
