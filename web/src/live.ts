/**
 * @module The org's live event stream (`GET /v1/events`), shared by every page: one connection,
 * reconnected with a growing delay when it breaks; pages subscribe to session, task, runner, pool and
 * workspace snapshot changes and patch what they show. `useLive` also re-reads a page's data after a reconnect (it
 * may have missed changes meanwhile).
 */
import { useEffect, useState } from 'preact/hooks';
import { stream } from './api.js';
import type { Snapshot } from './types.js';

export interface LiveSession {
  id: string;
  agent: string;
  state: string;
  stateReason: string | null;
  poolId: string | null;
  runnerId: string | null;
  updatedAt: number;
}
export interface LiveTask {
  id: string;
  sessionId: string;
  ordinal: number;
  state: string;
  exitCode: number | null;
  error: string | null;
}
export interface LiveRunner {
  id: string;
  poolId: string;
  state: string;
  sessionId: string | null;
  lastHeartbeatAt: number | null;
}
export type LiveEvent =
  | { kind: 'session'; data: LiveSession }
  | { kind: 'task'; data: LiveTask }
  | { kind: 'runner'; data: LiveRunner }
  | { kind: 'snapshot'; data: Snapshot }
  | { kind: 'pool'; data: { id: string } }
  | { kind: 'connected' };

const listeners = new Set<(e: LiveEvent) => void>();
let controller: AbortController | null = null;
let connected = false;
const statusListeners = new Set<(up: boolean) => void>();

function setConnected(up: boolean): void {
  connected = up;
  for (const fn of statusListeners) fn(up);
}

async function run(signal: AbortSignal): Promise<void> {
  let delay = 500;
  while (!signal.aborted) {
    try {
      await stream(
        '/v1/events',
        (e) => {
          if (['session', 'task', 'runner', 'snapshot', 'pool'].includes(e.event)) {
            const ev = { kind: e.event, data: JSON.parse(e.data) } as LiveEvent;
            for (const fn of listeners) fn(ev);
          }
        },
        signal,
        () => {
          delay = 500;
          setConnected(true);
          for (const fn of listeners) fn({ kind: 'connected' });
        },
      );
    } catch {
      /* reconnect below */
    }
    setConnected(false);
    if (signal.aborted) return;
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 10_000);
  }
}

export function startLive(): void {
  if (controller) return;
  controller = new AbortController();
  void run(controller.signal);
}

export function stopLive(): void {
  controller?.abort();
  controller = null;
  setConnected(false);
}

/** Calls `fn` on every live event while the component is mounted. */
export function useLive(fn: (e: LiveEvent) => void, deps: unknown[]): void {
  useEffect(() => {
    listeners.add(fn);
    return () => {
      listeners.delete(fn);
    };
  }, deps);
}

/** Whether the live stream is connected now. */
export function useLiveStatus(): boolean {
  const [up, setUp] = useState(connected);
  useEffect(() => {
    statusListeners.add(setUp);
    return () => {
      statusListeners.delete(setUp);
    };
  }, []);
  return up;
}
