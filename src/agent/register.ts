/**
 * @module A runner's registration with a one-time token (`POST /v1/register` on the gateway):
 * retried with backoff while the gateway is unreachable, waiting as told when rate limited (a
 * bounded number of times), and stopped at once by a TLS failure, which does not fix itself.
 */
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AgentConfig } from '../config/agent.js';
import { VERSION } from '../paths.js';
import { PROTOCOL_VERSION, RegisterResponse } from '../protocol/messages.js';
import { AgentError, type Endpoint, loadWebSocket, postJson } from './gateway-client.js';
import { tlsFailure } from './tls-client.js';

const MAX_RATE_LIMITED_RETRIES = 10;

export interface Registered {
  runnerId: string;
  credential: string;
  heartbeatIntervalMs: number;
  poolName: string;
}

/** Registers with `config.registrationToken`; throws AgentError naming why it could not. */
export async function registerWithToken(
  ep: Endpoint,
  c: AgentConfig,
  log: (msg: string) => void,
  stopping: () => boolean,
): Promise<Registered> {
  if (!c.registrationToken)
    throw new AgentError(
      'no_token',
      'no registration token: pass --token (or set MARIONETTE_REGISTRATION_TOKEN); create one with `mctl runners tokens create --pool NAME`',
    );
  let res: { status: number; body: unknown };
  for (let attempt = 0, limited = 0; ; attempt++) {
    try {
      res = await postJson(
        ep,
        '/v1/register',
        {
          protocol: PROTOCOL_VERSION,
          token: c.registrationToken,
          runnerId: c.runnerId,
          pool: c.pool,
          name: c.name || hostname(),
          labels: c.labels,
          agentVersion: VERSION,
        },
        // The WebSocket client loads while the server registers the runner.
        () => void loadWebSocket().catch(() => {}),
      );
      // Rate limited (many runners registering with one token): wait as told, a bounded number of times.
      if (res.status === 429 && limited < MAX_RATE_LIMITED_RETRIES && !stopping()) {
        const b = res.body as { message?: string; retryAfterSeconds?: number };
        const waitS = Math.min(60, Math.max(1, Number(b.retryAfterSeconds) || 1));
        limited++;
        log(`registration rate limited (429): ${b.message ?? 'too many registrations'}; retrying in ${waitS}s`);
        await sleep(waitS * 1000 + Math.floor(Math.random() * 250));
        continue;
      }
      break;
    } catch (e: unknown) {
      // A TLS failure (no TLS there, an untrusted certificate) does not fix itself: stop, saying why.
      const tls = tlsFailure(e, ep.display);
      if (tls) throw new AgentError(tls.code, tls.message);
      if (attempt >= 20 || stopping())
        throw new AgentError('unreachable', `cannot reach the gateway at ${ep.display}: ${(e as Error).message}`);
      await sleep(Math.min(5000, 200 * 2 ** attempt));
    }
  }
  if (res.status !== 200) {
    const b = res.body as { code?: string; message?: string };
    throw new AgentError(b.code ?? 'register_failed', `registration refused: ${b.message ?? JSON.stringify(res.body)}`);
  }
  const parsed = RegisterResponse.safeParse(res.body);
  if (!parsed.success) throw new AgentError('protocol', 'registration answer did not match the protocol');
  return {
    runnerId: parsed.data.runnerId,
    credential: parsed.data.credential,
    heartbeatIntervalMs: parsed.data.heartbeatIntervalMs,
    poolName: parsed.data.poolName,
  };
}
