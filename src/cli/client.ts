/**
 * @module How `mctl` talks to the server: a {@link MarionetteClient} (the package's typed client)
 * built from `--server` / `--token` (or their environment), and how its errors are told to the user
 * (the problem's detail and hint; a hint about the token when the server answered 401 to a request
 * that had none). `CliError` is a mistake found by mctl itself (a bad flag value).
 */

import { nodeFetch } from '../client/http-fetch.js';
import { MarionetteApiError, MarionetteClient, MarionetteConnectionError } from '../client/index.js';
import type { CliConfig } from '../config/cli.js';

export class CliError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

export function connect(c: CliConfig): MarionetteClient {
  const client = new MarionetteClient({ baseUrl: c.server, token: c.token, fetch: nodeFetch });
  tokenFiles.set(client, { file: c.tokenFile, hasToken: c.token !== null });
  return client;
}
const tokenFiles = new WeakMap<MarionetteClient, { file: string; hasToken: boolean }>();

/** What to tell the user about an error from the server or the connection; null for anything else. */
export function describeClientError(
  e: unknown,
  client?: MarionetteClient,
): { message: string; hint?: string; status?: number } | null {
  if (e instanceof MarionetteApiError) {
    const t = client ? tokenFiles.get(client) : undefined;
    const hint =
      e.status === 401 && t && !t.hasToken
        ? `no token: pass --token, set MARIONETTE_TOKEN, or check ${t.file}`
        : e.hint;
    return { message: e.detail, ...(hint ? { hint } : {}), status: e.status };
  }
  if (e instanceof MarionetteConnectionError)
    return { message: e.message, hint: 'is `marionette serve` running? set --server or MARIONETTE_SERVER' };
  return null;
}
