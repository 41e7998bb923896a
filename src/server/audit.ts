/**
 * @module The audit log's writer on the API: every call that changes something (any method but
 * GET, HEAD and OPTIONS) and every refused call (401, 403, whatever the method) is recorded with
 * who (token id and name, org), what (the operation, method, route, the resource's id), when, from
 * where (the remote address) and the outcome. The row is written before the answer is sent, in
 * the store's own group commit (SQLite) so concurrent calls share one commit; a failure to write
 * it is logged and never turns the answer into an error.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AuditInput, AuditOutcome } from '../store/repos/audit.js';
import { operationOf } from './auth.js';
import type { ServerContext } from './context.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** A token that was refused but exists (revoked, expired): named in the audit log. */
    refusedToken?: { id: string; name: string; orgId: string };
  }
}

const READS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** The resource a call was about: its `:id` or `:name`, else the `id` of what it created. */
function resourceOf(req: FastifyRequest, payload: unknown): string | null {
  const params = req.params as Record<string, string> | undefined;
  if (params?.id) return params.id;
  if (params?.name) return params.name;
  if (typeof payload === 'string' && payload.startsWith('{')) {
    const m = /"id":"([^"\\]{1,200})"/.exec(payload.slice(0, 2000));
    if (m?.[1]) return m[1];
  }
  return null;
}

export function outcomeOf(status: number): AuditOutcome {
  return status === 401 || status === 403 ? 'refused' : status < 400 ? 'ok' : 'failed';
}

/** Records what the audit log keeps of an API call (see the module's doc). */
export function installAudit(app: FastifyInstance, ctx: ServerContext): void {
  app.addHook('onSend', async (req, reply, payload) => {
    const status = reply.statusCode;
    const outcome = outcomeOf(status);
    if (outcome !== 'refused' && READS.has(req.method)) return payload;
    const p = req.principal;
    const refused = req.refusedToken;
    const op = operationOf(req);
    const event: AuditInput = {
      orgId: p?.orgId ?? refused?.orgId ?? null,
      actorTokenId: p?.tokenId ?? refused?.id ?? null,
      actorName: p?.name ?? refused?.name ?? null,
      // A refused call keeps its operation's name (outcome `refused`); one to no route is `auth`.
      action: op ?? 'auth',
      method: req.method,
      route: req.routeOptions.url ?? req.url.split('?')[0] ?? null,
      resource: resourceOf(req, outcome === 'ok' ? payload : undefined),
      status,
      outcome,
      remoteAddr: req.ip ?? null,
      detail: outcome === 'refused' ? `${op ?? 'no such route'}: ${problemDetail(payload)}` : null,
    };
    try {
      await ctx.store.audit.record(event);
    } catch (err: unknown) {
      ctx.log.error({ err, action: event.action }, 'could not write an audit event');
    }
    return payload;
  });
}

function problemDetail(payload: unknown): string {
  if (typeof payload !== 'string') return '';
  try {
    return String((JSON.parse(payload) as { detail?: unknown }).detail ?? '').slice(0, 500);
  } catch {
    return '';
  }
}

/** Records an event from outside the API (runner registration, a runner credential used or refused). */
export function audit(
  ctx: ServerContext,
  e: Partial<AuditInput> & Pick<AuditInput, 'action' | 'outcome'>,
): Promise<void> {
  return ctx.store.audit
    .record({
      orgId: null,
      actorTokenId: null,
      actorName: null,
      method: null,
      route: null,
      resource: null,
      status: null,
      remoteAddr: null,
      detail: null,
      ...e,
    })
    .catch((err: unknown) => ctx.log.error({ err, action: e.action }, 'could not write an audit event'));
}
