/**
 * @module `mctl sessions snapshot|fork` and `mctl workspaces list|show|download|diff|gc`: a
 * session's workspace in the content-addressable store (docs/workspaces.md). `sessions snapshot`
 * draws a progress bar on a TTY while the runner sends what the store lacks (sized against the
 * session's previous snapshot; counts alone for a first one).
 */

import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import type { Writable } from 'node:stream';
import type { Command } from 'commander';
import { ctx, limitOption } from '../context.js';
import { ago, type Column, print, StatusLine, table } from '../output.js';

interface SnapshotRow {
  id: string;
  sessionId: string;
  parentId: string | null;
  reason: string;
  files: number;
  bytes: number;
  bytesNew: number;
  pinned: boolean;
  createdAt: number;
}

/** `1.5 MB` style sizes (powers of 1024, one decimal). */
export function size(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(1)} ${units[u]}`;
}

const snapshotCols: Column<SnapshotRow>[] = [
  { header: 'ID', get: (s) => s.id },
  { header: 'SESSION', get: (s) => s.sessionId },
  { header: 'REASON', get: (s) => `${s.reason}${s.pinned ? ' (pinned)' : ''}` },
  { header: 'FILES', get: (s) => s.files },
  { header: 'SIZE', get: (s) => size(s.bytes) },
  { header: 'NEW', get: (s) => size(s.bytesNew) },
  { header: 'PARENT', get: (s) => s.parentId },
  { header: 'AGE', get: (s) => ago(s.createdAt) },
];

/** A text bar `[#####.....] 50%` of `done` against `total`. */
export function bar(done: number, total: number, width = 24): string {
  const f = total > 0 ? Math.min(1, done / total) : 0;
  const n = Math.round(f * width);
  return `[${'#'.repeat(n)}${'.'.repeat(width - n)}] ${Math.round(f * 100)}%`;
}

async function writeAll(stream: AsyncIterable<Uint8Array>, out: Writable): Promise<number> {
  let n = 0;
  for await (const c of stream) {
    n += c.byteLength;
    if (!out.write(c)) await once(out, 'drain');
  }
  return n;
}

export function workspaceSessionCommands(sessions: Command): void {
  sessions
    .command('snapshot <id>')
    .description("Snapshot a session's workspace into the store now (a checkpoint)")
    .option('--no-pin', 'let retention remove it like any other snapshot')
    .action(async (id: string, o: { pin: boolean }, cmd: Command) => {
      const { api, out } = ctx(cmd);
      const tty = process.stderr.isTTY === true && out === 'table';
      const status = new StatusLine(tty);
      const before = tty ? await api.getSessionWorkspace(id).catch(() => null) : null;
      const expected = before?.latest?.bytes ?? 0;
      const poll = tty
        ? setInterval(() => {
            void api.getSessionWorkspace(id).then(
              (w) => {
                const p = w.inFlight;
                if (!p) return;
                const counts = `${p.files} entries, ${size(p.bytes)} read, ${size(p.bytesNew)} sent`;
                status.set(expected > 0 ? `${bar(p.bytes, expected)} ${counts}` : `snapshotting: ${counts}`);
              },
              () => undefined,
            );
          }, 300)
        : null;
      status.set('snapshotting');
      try {
        const s = await api.snapshotSession(id, { pin: o.pin });
        status.stop();
        print(
          out,
          s,
          () => `snapshot ${s.id}: ${s.files} entries, ${size(s.bytes)}, ${size(s.bytesNew)} new to the store`,
        );
      } finally {
        if (poll) clearInterval(poll);
        status.stop();
      }
    });
  sessions
    .command('fork <id>')
    .description("Start a new session from a snapshot of this one's workspace (chunks are shared, not copied)")
    .option('--snapshot <snap>', "the snapshot to start from (default: the session's newest)")
    .option('--prompt <text>', "the new session's first task")
    .option('--provider <id>', 'place the fork on this provider instead')
    .option('--pool <name>', 'place the fork in this pool instead')
    .action(
      async (id: string, o: { snapshot?: string; prompt?: string; provider?: string; pool?: string }, cmd: Command) => {
        const { api, out } = ctx(cmd);
        const s = await api.forkSession(id, {
          ...(o.snapshot ? { snapshot: o.snapshot } : {}),
          ...(o.prompt !== undefined ? { prompt: o.prompt } : {}),
          ...(o.provider ? { provider: o.provider } : {}),
          ...(o.pool ? { pool: o.pool } : {}),
        });
        print(out, s, () => s.id);
      },
    );
}

export function workspaceCommands(program: Command): void {
  const ws = program.command('workspaces').alias('workspace').description('Session workspaces in the store');
  ws.command('list')
    .description('List snapshots, newest first')
    .option('--session <id>', "only this session's")
    .option('--limit <n>', 'how many', '50')
    .action(async (o: { session?: string; limit: string }, cmd: Command) => {
      const { api, out } = ctx(cmd);
      const r = await api.listSnapshots({ limit: limitOption(o.limit), ...(o.session ? { session: o.session } : {}) });
      print(out, r.items, () => table(r.items as SnapshotRow[], snapshotCols));
    });
  ws.command('show <snap>')
    .description('Show a snapshot and its entries')
    .option('--limit <n>', 'entries to list at most', '1000')
    .action(async (id: string, o: { limit: string }, cmd: Command) => {
      const { api, out } = ctx(cmd);
      const s = await api.getSnapshot(id, { entries: true, limit: limitOption(o.limit, '--limit') });
      print(out, s, () => {
        const rows = (s.entries ?? []).map((e) => ({
          ...e,
          mode: `0${e.mode.toString(8)}`,
          what: e.type === 'symlink' ? `-> ${e.target ?? ''}` : e.type === 'dir' ? '' : size(e.size),
        }));
        return [
          table([s as SnapshotRow], snapshotCols),
          '',
          table(rows, [
            { header: 'TYPE', get: (e) => e.type },
            { header: 'MODE', get: (e) => e.mode },
            { header: 'SIZE', get: (e) => e.what },
            { header: 'PATH', get: (e) => e.path },
          ]),
          ...(s.truncated ? [`(first ${rows.length} entries; --limit for more)`] : []),
        ].join('\n');
      });
    });
  ws.command('download <snap>')
    .description('Download a snapshot as a tar (on stdout without --file)')
    .option('--file <path>', 'write the tar here')
    .action(async (id: string, o: { file?: string }, cmd: Command) => {
      const { api } = ctx(cmd);
      const stream = await api.downloadSnapshot(id);
      if (!o.file) {
        await writeAll(stream, process.stdout);
        return;
      }
      const file = createWriteStream(o.file);
      const n = await writeAll(stream, file);
      file.end();
      await once(file, 'close');
      process.stderr.write(`wrote ${size(n)} to ${o.file}\n`);
    });
  ws.command('diff <from> <to>')
    .description('What changed between two snapshots: added (+), removed (-) and changed (~) paths')
    .action(async (from: string, to: string, _o: unknown, cmd: Command) => {
      const { api, out } = ctx(cmd);
      const d = await api.diffSnapshots(from, to);
      print(out, d, () =>
        [...d.added.map((p) => `+ ${p}`), ...d.removed.map((p) => `- ${p}`), ...d.changed.map((p) => `~ ${p}`)].join(
          '\n',
        ),
      );
    });
  ws.command('gc')
    .description('Apply retention and free what no kept snapshot uses (prints what it frees)')
    .option('--dry-run', 'print what it would free, free nothing')
    .action(async (o: { dryRun?: boolean }, cmd: Command) => {
      const { api, out } = ctx(cmd);
      const r = await api.gcWorkspaces({ dryRun: o.dryRun === true });
      print(
        out,
        r,
        () =>
          `${r.dryRun ? 'would free' : 'freed'} ${r.objectsFreed} objects (${size(r.bytesFreed)}); ${r.snapshotsDeleted} snapshots ${r.dryRun ? 'would go' : 'removed'} by retention; ${r.objectsKept} objects kept`,
      );
    });
}
