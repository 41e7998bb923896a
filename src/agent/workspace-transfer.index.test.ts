/**
 * A runner's workspace index (state dir, one file per session) is removed when the session ends,
 * after a snapshot of it still running is over, and only that session's; the transfers run the
 * real store library against a real filesystem store.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import { FsBackend } from '../cas/index.js';
import type { RunnerMessage } from '../protocol/messages.js';
import type { GatewayChunks } from './gateway-chunks.js';
import { loadWorkspaceCas } from './workspace-cas.js';
import { WorkspaceTransfers } from './workspace-transfer.js';

let tmp: string;
beforeEach(() => {
  tmp = mkdtempSync(join(tmpdir(), 'mrn-ws-index-'));
});
afterEach(() => {
  rmSync(tmp, { recursive: true, force: true });
});

it("removes an ended session's workspace index, after its running snapshot, and no other session's", async () => {
  const store = new FsBackend(join(tmp, 'cas'));
  const sent: RunnerMessage[] = [];
  const dirOf = (id: string) => {
    const d = join(tmp, 'ws', id);
    mkdirSync(d, { recursive: true });
    return d;
  };
  const state = join(tmp, 'state');
  const t = new WorkspaceTransfers(
    store as unknown as GatewayChunks, // the store itself stands where the gateway client would
    (m) => sent.push(m) > 0,
    dirOf,
    state,
    loadWorkspaceCas,
    () => undefined,
  );
  for (const id of ['ses_a', 'ses_b'])
    for (let i = 0; i < 50; i++) writeFileSync(join(dirOf(id), `f${i}`), `${id} ${i}`);
  t.snapshot('r1', 'ses_b');
  t.snapshot('r2', 'ses_a');
  // Asked while ses_a's snapshot is still queued or running: it waits for it, then removes the index.
  await t.forget('ses_a');
  const done = () => sent.filter((m) => m.type === 'workspace.snapshotted') as { ok: boolean; ref: string }[];
  expect(done().find((m) => m.ref === 'r2')?.ok).toBe(true);
  // Sessions' transfers run side by side: ses_b's snapshot may still be going; its index stays.
  await vi.waitFor(() => expect(done().map((m) => m.ok)).toEqual([true, true]), { timeout: 20_000 });
  expect(readdirSync(join(state, 'workspace-index'))).toEqual(['ses_b']);
  await t.forget('ses_b');
  await t.forget('ses_never'); // nothing to remove is no error
  expect(readdirSync(join(state, 'workspace-index'))).toEqual([]);
  // Without a state dir there is no index, and nothing to do.
  const none = new WorkspaceTransfers(
    store as unknown as GatewayChunks,
    () => true,
    dirOf,
    null,
    loadWorkspaceCas,
    () => undefined,
  );
  await none.forget('ses_a');
  expect(existsSync(join(tmp, 'workspace-index'))).toBe(false);
  await store.close();
});
