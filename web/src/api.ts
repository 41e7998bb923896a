/**
 * @module The dashboard's API client: the signed-in token (kept in this tab's localStorage), JSON
 * requests that turn a problem+json answer into an Error carrying its detail, and Server-Sent Events
 * read over fetch (so the token goes in the Authorization header, never in a URL).
 */

const KEY = 'marionette.token';

export const auth = {
  get token(): string | null {
    return localStorage.getItem(KEY);
  },
  set(token: string): void {
    localStorage.setItem(KEY, token);
  },
  clear(): void {
    localStorage.removeItem(KEY);
  },
};

export class ApiError extends Error {
  constructor(
    readonly status: number,
    detail: string,
    readonly hint?: string,
  ) {
    super(detail);
  }
}

/** Listeners told when the server refuses the token (the app goes back to sign-in). */
export const onUnauthorized = new Set<() => void>();

export async function api<T>(method: string, path: string, body?: unknown, token = auth.token): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(path, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  const text = await res.text();
  const data = text ? (JSON.parse(text) as unknown) : null;
  if (!res.ok) throw refused(res.status, data, !!token);
  return data as T;
}

/** The Error for a refused request (its problem's detail), telling the app when the token is refused. */
function refused(status: number, problem: unknown, hadToken: boolean): ApiError {
  const p = (problem ?? {}) as { detail?: string; hint?: string; title?: string };
  if (status === 401 && hadToken) for (const fn of onUnauthorized) fn();
  return new ApiError(status, p.detail ?? p.title ?? `HTTP ${status}`, p.hint);
}

/**
 * Downloads `path` (sent with the token, so not a plain link) and hands it to the browser as the
 * file `filename`.
 */
export async function download(path: string, filename: string): Promise<void> {
  const headers: Record<string, string> = {};
  if (auth.token) headers.authorization = `Bearer ${auth.token}`;
  const res = await fetch(path, { headers });
  if (!res.ok) throw refused(res.status, await res.json().catch(() => null), !!auth.token);
  const url = URL.createObjectURL(await res.blob());
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

export interface SseEvent {
  event: string;
  data: string;
  id?: string;
}

/**
 * Reads an SSE stream until it ends or `signal` aborts; `onEvent` gets each event. Resolves when
 * the server ends the stream, rejects on a refusal or a broken connection (not on abort).
 */
export async function stream(
  path: string,
  onEvent: (e: SseEvent) => void,
  signal: AbortSignal,
  onOpen?: () => void,
): Promise<void> {
  const headers: Record<string, string> = { accept: 'text/event-stream' };
  if (auth.token) headers.authorization = `Bearer ${auth.token}`;
  let res: Response;
  try {
    res = await fetch(path, { headers, signal });
  } catch (e: unknown) {
    if (signal.aborted) return;
    throw e;
  }
  if (!res.ok || !res.body) throw refused(res.status, await res.json().catch(() => null), !!auth.token);
  onOpen?.();
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += value;
      let cut = buf.indexOf('\n\n');
      while (cut >= 0) {
        const block = buf.slice(0, cut);
        buf = buf.slice(cut + 2);
        const e: SseEvent = { event: 'message', data: '' };
        const data: string[] = [];
        for (const line of block.split('\n')) {
          if (line.startsWith(':')) continue;
          const i = line.indexOf(':');
          const field = i < 0 ? line : line.slice(0, i);
          const v = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
          if (field === 'event') e.event = v;
          else if (field === 'data') data.push(v);
          else if (field === 'id') e.id = v;
        }
        if (data.length) {
          e.data = data.join('\n');
          onEvent(e);
        }
        cut = buf.indexOf('\n\n');
      }
    }
  } catch (e: unknown) {
    if (signal.aborted) return;
    throw e;
  } finally {
    reader.releaseLock();
  }
}

export const enc = encodeURIComponent;

/** "3m ago" style age from a timestamp (ms). */
export function age(ts: number | null | undefined, now = Date.now()): string {
  if (!ts) return '-';
  const s = Math.max(0, Math.round((now - ts) / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

/** "3m ago" of a timestamp (ms), or `-` when there is none. */
export function ago(ts: number | null | undefined): string {
  return ts ? `${age(ts)} ago` : '-';
}

/** A byte count the way people read it: `512 B`, `1.5 kB`, `23 MB`. */
export function bytes(n: number): string {
  if (n < 1000) return `${n} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let v = n;
  let u = -1;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[u]}`;
}
