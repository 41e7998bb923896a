/**
 * @module Where the egress proxies' refusals go on the server: an `egress_denied` session event
 * (host, port, method and the session's, host's and pool's counts so far) and a warning in the
 * server log, through the throttled ledger (src/egress/ledger.ts).
 */
import type { Logger } from 'pino';
import { toError } from '../core/errors.js';
import { EgressLedger } from '../egress/ledger.js';
import type { Store } from '../store/index.js';

export function recordEgressDenials(store: Store, log: Logger): EgressLedger {
  return new EgressLedger((r) => {
    const data = {
      host: r.host,
      port: r.port,
      method: r.method,
      runner: r.owner.runnerId,
      sessionDenied: r.sessionDenied,
      hostDenied: r.hostDenied,
      poolDenied: r.poolDenied,
    };
    log.warn({ sessionId: r.owner.sessionId, poolId: r.owner.poolId, ...data }, 'egress denied');
    if (r.owner.sessionId !== null)
      store.sessions
        .addEvent(r.owner.sessionId, r.owner.orgId, 'egress_denied', data)
        .catch((e: unknown) => log.error({ err: toError(e) }, 'recording an egress denial failed'));
  });
}
