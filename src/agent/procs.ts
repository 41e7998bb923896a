/**
 * @module Process groups of task attempts, on Linux `/proc`: who is in a group, killing a group
 * and waiting until it is gone, and the `task.pid` record (`<pid> <start time>`) the agent keeps
 * in its state dir, so that whoever finds a dead agent (the agent's next start, the `local`
 * provider) can kill the task group it left behind, and never a stranger's group that happens to
 * have the same, recycled, number.
 */
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

/** A process's start time (clock ticks since boot, field 22 of /proc/PID/stat); null when gone or unknown. */
export function processStartTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19] ?? null;
  } catch {
    return null;
  }
}

/**
 * Pids of the live (not zombie) members of process group `pgid`. Without /proc, the group counts
 * as one member while `kill(-pgid, 0)` succeeds.
 */
export function groupMembers(pgid: number): number[] {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    try {
      process.kill(-pgid, 0);
      return [pgid];
    } catch {
      return [];
    }
  }
  const out: number[] = [];
  for (const e of entries) {
    if (e.charCodeAt(0) < 48 || e.charCodeAt(0) > 57) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${e}/stat`, 'utf8');
    } catch {
      continue;
    }
    // After the command name: state ppid pgrp ...
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(f[2]) === pgid && f[0] !== 'Z' && f[0] !== 'X') out.push(Number(e));
  }
  return out;
}

/** Sends `signal` to every process of group `pgid`. False when the group is already gone. */
export function signalGroup(pgid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false;
  }
}

/** Polls until group `pgid` has no live member or `ms` passed; true when it is gone. */
export async function waitGroupGone(pgid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (groupMembers(pgid).length === 0) return true;
    if (Date.now() >= deadline) return false;
    await sleep(20);
  }
}

/** SIGKILLs group `pgid` and waits (up to `ms`) until it is gone; true when it is. */
export async function killGroupNow(pgid: number, ms = 5000): Promise<boolean> {
  signalGroup(pgid, 'SIGKILL');
  return waitGroupGone(pgid, ms);
}

/** The group recorded in a `task.pid` file: its leader's pid and start time (null in files from older agents). */
export interface RecordedGroup {
  pgid: number;
  startTime: string | null;
}

/** Records the task group `pid` leads in `file` (`<pid> <start time>`). */
export function writeTaskPid(file: string, pid: number): void {
  const start = processStartTime(pid);
  writeFileSync(file, start === null ? String(pid) : `${pid} ${start}`);
}

/** Reads a `task.pid` file; null when absent or unreadable. */
export function readTaskPid(file: string): RecordedGroup | null {
  try {
    return parseTaskPid(readFileSync(file, 'utf8'));
  } catch {
    return null;
  }
}

/** Parses a `task.pid` file's text (`<pid>` or `<pid> <start time>`); null when it names no group. */
export function parseTaskPid(text: string): RecordedGroup | null {
  const [pid, start] = text.trim().split(/\s+/);
  const pgid = Number(pid);
  if (!Number.isInteger(pgid) || pgid <= 1) return null;
  return { pgid, startTime: start ?? null };
}

/**
 * Whether group `g` may still be the recorded one. A pid is never reused while a process group of
 * that number has members, so: the leader alive with the recorded start time is ours; the leader
 * gone means any members left are ours; the leader alive with another start time is a stranger
 * (ours is entirely gone, or its number could not have been reused).
 */
export function isRecordedGroup(g: RecordedGroup): boolean {
  const start = processStartTime(g.pgid);
  if (start === null) return true;
  return g.startTime === null || start === g.startTime;
}

/**
 * Kills the task group recorded in `file` (when it is still the recorded one), waits until it is
 * gone, and removes the file. Returns how many processes were still alive in it.
 */
export async function killRecordedTask(file: string, ms = 5000): Promise<number> {
  const g = readTaskPid(file);
  let killed = 0;
  if (g && isRecordedGroup(g)) {
    killed = groupMembers(g.pgid).length;
    if (killed > 0) await killGroupNow(g.pgid, ms);
  }
  rmSync(file, { force: true });
  return killed;
}
