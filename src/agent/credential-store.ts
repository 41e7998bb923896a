/**
 * @module Where marionette-agent keeps its runner credential (`<state dir>/credential.json`,
 * 0600): loaded at start so a restart rejoins as the same runner, and replaced, atomically, when
 * the server rotates it (every hello). The file is written to a temporary name, flushed and
 * renamed, so a crash leaves either the old credential or the new one, never half of either; the
 * server accepts both until it hears `credential.saved` (see src/server/runner-credentials.ts).
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';

export interface Credential {
  runnerId: string;
  credential: string;
}

export class CredentialStore {
  /** `dir`: the agent's state dir, or null to keep the credential in memory only. */
  constructor(private readonly dir: string | null) {}

  get file(): string | null {
    return this.dir ? join(this.dir, 'credential.json') : null;
  }

  /** The saved credential, or null when there is none (or it is unreadable). */
  load(): Credential | null {
    const file = this.file;
    if (!file) return null;
    try {
      const saved = JSON.parse(readFileSync(file, 'utf8')) as Partial<Credential>;
      return typeof saved.runnerId === 'string' && typeof saved.credential === 'string'
        ? { runnerId: saved.runnerId, credential: saved.credential }
        : null;
    } catch {
      return null;
    }
  }

  /** Saves atomically (temp file, fsync, rename). True when there is nowhere to save (memory only). */
  save(cred: Credential): void {
    const file = this.file;
    if (!file || !this.dir) return;
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const tmp = `${file}.${process.pid}.tmp`;
    const fd = openSync(tmp, 'w', 0o600);
    try {
      writeSync(fd, JSON.stringify(cred));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
  }

  forget(): void {
    const file = this.file;
    if (file) rmSync(file, { force: true });
  }
}
