/**
 * @module The parts of a task assignment that come from the session's repository and kits: the
 * repository with the org's credential for its host (./git-credentials.ts) and the composed kit
 * demand (./kits.ts). Either failing (a kit deleted since, a credential this key cannot open)
 * fails the task with the reason.
 */
import { toError } from '../core/errors.js';
import type { AgentCard } from '../core/types.js';
import type { TaskAssignment } from '../protocol/messages.js';
import { orgScope } from '../store/index.js';
import type { Session } from '../store/records.js';
import type { ServerContext } from './context.js';
import { repoAssignment } from './git-credentials.js';
import { sessionDemand } from './kits.js';

/** `repo` and `toolchain` for the session's tasks, or the error that fails the task. */
export async function sessionExtras(
  ctx: ServerContext,
  session: Session,
  card: Pick<AgentCard, 'name' | 'kits'>,
): Promise<Pick<TaskAssignment, 'repo' | 'toolchain'> | string> {
  const org = orgScope(session.orgId);
  const out: Pick<TaskAssignment, 'repo' | 'toolchain'> = {};
  try {
    const demand = await sessionDemand(ctx, org, card, session.request.kits);
    if (demand) out.toolchain = demand;
  } catch (e: unknown) {
    return `the session's kits cannot be composed: ${toError(e).message}`;
  }
  if (session.request.repo) {
    try {
      out.repo = await repoAssignment(ctx, org, session.request.repo);
    } catch (e: unknown) {
      return `the session's repository credential cannot be used: ${ctx.redactor.redact(toError(e).message)}`;
    }
  }
  return out;
}
