/**
 * @module The audit log's runner events: every registration (`runner.register`: a registration
 * token exchanged for a credential, or refused with its code) and every use of a runner credential
 * to connect (`runner.connect`: accepted, or refused as unknown or revoked), with the address it
 * came from. Written before the answer, so a refusal is on record when the runner hears of it.
 */

import type { RegisterRequest } from '../protocol/messages.js';
import type { Runner } from '../store/records.js';
import { audit } from './audit.js';
import type { ServerContext } from './context.js';

export async function auditRegistration(
  ctx: ServerContext,
  req: RegisterRequest,
  r: { status: number; body: unknown },
  from: string | undefined,
): Promise<void> {
  const body = (r.body ?? {}) as { runnerId?: string; poolName?: string; code?: string; message?: string };
  const ok = r.status < 300 && typeof body.runnerId === 'string';
  const runner = ok ? await ctx.store.runners.get(body.runnerId!) : null;
  await audit(ctx, {
    action: 'runner.register',
    outcome: ok ? 'ok' : 'refused',
    orgId: runner?.orgId ?? null,
    actorName: req.name,
    resource: ok ? body.runnerId! : (req.pool ?? null),
    status: r.status,
    remoteAddr: from ?? null,
    detail: ok
      ? `pool ${body.poolName ?? '?'}${req.name ? `, name ${req.name}` : ''}`
      : `${body.code ?? 'refused'}: ${body.message ?? ''}`.slice(0, 500),
  });
}

export async function auditConnect(
  ctx: ServerContext,
  accepted: Runner | null,
  found: Runner | null,
  from: string | undefined,
): Promise<void> {
  await audit(ctx, {
    action: 'runner.connect',
    outcome: accepted ? 'ok' : 'refused',
    orgId: found?.orgId ?? null,
    actorName: found?.name ?? null,
    resource: found?.id ?? null,
    status: accepted ? 101 : 401,
    remoteAddr: from ?? null,
    detail: accepted ? null : found ? `runner ${found.id} is ${found.state}` : 'unknown runner credential',
  });
}
