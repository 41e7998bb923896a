/**
 * @module Request and response schemas of the security routes: API tokens (`/v1/tokens`), the
 * caller's own identity (`/v1/whoami`) and the audit log (`/v1/audit`). Kept apart from
 * ./schemas.ts and ./responses.ts; the operations table (./operations.ts) names them.
 */
import { z } from 'zod';
import { ROLES } from './roles.js';

const ms = z.number().describe('milliseconds since the epoch');
const nullableMs = ms.nullable();
const durationInput = z.union([z.string(), z.number()]);

export const CreateApiTokenBody = z.strictObject({
  /** A label for people (default: `token`). */
  name: z.string().min(1).max(200).optional(),
  role: z.enum(ROLES, { error: `role: expected one of ${ROLES.join(', ')}` }),
  /** The org (id or name); default: the caller's. */
  org: z.string().min(1).optional(),
  /** A project (id or name) the token is limited to; default: the whole org. */
  project: z.string().min(1).optional(),
  /** How long the token works (e.g. `30d`); default: until revoked. */
  expiresIn: durationInput.optional(),
});
export const RotateApiTokenBody = z.strictObject({
  /** A new lifetime from now (e.g. `30d`); default: the expiry is kept. */
  expiresIn: durationInput.optional(),
});
export const ListAuditQuery = z.strictObject({
  /** A token id or name. */
  actor: z.string().min(1).optional(),
  /** An action (`createPool`, `runner.register`), or a prefix ending in `*` (`runner.*`). */
  action: z.string().min(1).optional(),
  resource: z.string().min(1).optional(),
  outcome: z.enum(['ok', 'refused', 'failed']).optional(),
  /** An instant (ISO 8601 or ms since the epoch) or a duration back from now (`1h`). */
  since: z.string().min(1).optional(),
  until: z.string().min(1).optional(),
  limit: z.coerce.number().int().min(1).max(1000).optional(),
});

export const ApiToken = z.looseObject({
  id: z.string(),
  name: z.string(),
  role: z.enum(ROLES),
  orgId: z.string(),
  projectId: z.string().nullable(),
  status: z.enum(['active', 'revoked', 'expired']),
  createdAt: ms,
  expiresAt: nullableMs,
  revokedAt: nullableMs,
  lastUsedAt: nullableMs,
});
/** A token with its secret: shown once, at creation or rotation. */
export const ApiTokenWithSecret = ApiToken.extend({ token: z.string() });
export const Whoami = z.looseObject({
  tokenId: z.string(),
  name: z.string(),
  role: z.enum(ROLES),
  orgId: z.string(),
  projectId: z.string().nullable(),
});
export const AuditEvent = z.looseObject({
  id: z.string(),
  at: ms,
  orgId: z.string().nullable(),
  actorTokenId: z.string().nullable(),
  actorName: z.string().nullable(),
  action: z.string(),
  method: z.string().nullable(),
  route: z.string().nullable(),
  resource: z.string().nullable(),
  status: z.number().nullable(),
  outcome: z.enum(['ok', 'refused', 'failed']),
  remoteAddr: z.string().nullable(),
  detail: z.string().nullable(),
});
