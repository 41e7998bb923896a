/**
 * @module mctl's HTTP client: bearer auth, problem+json errors turned into readable messages,
 * and Server-Sent Events for following logs.
 */
export class CliError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

export interface SseEvent {
  event: string;
  data: string;
  id: string | null;
}

export class ApiClient {
  constructor(
    readonly server: string,
    private readonly token: string | null,
    private readonly tokenFile: string,
  ) {}

  private headers(json: boolean): Record<string, string> {
    const h: Record<string, string> = {};
    if (this.token) h.authorization = `Bearer ${this.token}`;
    if (json) h['content-type'] = 'application/json';
    return h;
  }

  private async fetch(path: string, init: RequestInit): Promise<Response> {
    try {
      return await fetch(`${this.server}${path}`, init);
    } catch (e: unknown) {
      if (init.signal?.aborted) throw e;
      const cause = (e as { cause?: { code?: string; message?: string } }).cause;
      throw new CliError(
        `cannot reach the Marionette server at ${this.server}: ${cause?.code ?? cause?.message ?? (e as Error).message}`,
        'is `marionette serve` running? set --server or MARIONETTE_SERVER',
      );
    }
  }

  private async fail(res: Response): Promise<never> {
    const text = await res.text();
    let detail = text || res.statusText;
    let hint: string | undefined;
    try {
      const p = JSON.parse(text) as { detail?: string; hint?: string; verdicts?: unknown };
      if (p.detail) detail = p.detail;
      if (p.hint) hint = p.hint;
    } catch {
      /* not JSON */
    }
    if (res.status === 401 && !this.token)
      hint = `no token: pass --token, set MARIONETTE_TOKEN, or check ${this.tokenFile}`;
    throw new CliError(detail, hint, res.status);
  }

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await this.fetch(path, {
      method,
      headers: this.headers(body !== undefined),
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    if (!res.ok) return this.fail(res);
    return (await res.json()) as T;
  }

  get<T>(path: string): Promise<T> {
    return this.request<T>('GET', path);
  }

  post<T>(path: string, body: unknown = {}): Promise<T> {
    return this.request<T>('POST', path, body);
  }

  /** Reads an SSE stream until it ends (or the server closes it, or `signal` aborts it). */
  async *stream(path: string, signal?: AbortSignal): AsyncGenerator<SseEvent> {
    const res = await this.fetch(path, {
      headers: { ...this.headers(false), accept: 'text/event-stream' },
      ...(signal ? { signal } : {}),
    });
    if (!res.ok) return yield* [await this.fail(res)];
    if (!res.body) return;
    const decoder = new TextDecoder();
    let buf = '';
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buf += decoder.decode(chunk, { stream: true });
      let i = buf.indexOf('\n\n');
      while (i >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        i = buf.indexOf('\n\n');
        let event = 'message';
        let id: string | null = null;
        const data: string[] = [];
        for (const line of block.split('\n')) {
          if (line.startsWith(':')) continue;
          const c = line.indexOf(':');
          const field = c < 0 ? line : line.slice(0, c);
          const value = c < 0 ? '' : line.slice(c + 1).replace(/^ /, '');
          if (field === 'event') event = value;
          else if (field === 'data') data.push(value);
          else if (field === 'id') id = value;
        }
        if (data.length) yield { event, data: data.join('\n'), id };
      }
    }
  }
}
