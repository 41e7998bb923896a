/**
 * @module The checks on session and task creation requests (`POST /v1/sessions`,
 * `POST /v1/sessions/:id/tasks`; their bodies are in src/api/schemas.ts) that need no store: a
 * request is refused (400 naming the field) before anything is written.
 */
import { InvalidRequest } from '../core/errors.js';
import { PROVIDER_IDS } from '../providers/registry.js';

export { CreateSessionBody, CreateTaskBody } from '../api/schemas.js';

/** Refuses a provider id the provider registry does not know (such a session could never be placed). */
export function checkProvider(provider: string): void {
  if (!(PROVIDER_IDS as readonly string[]).includes(provider))
    throw new InvalidRequest(
      `provider: unknown provider ${JSON.stringify(provider)}; known providers: ${PROVIDER_IDS.join(', ')}`,
      { hint: 'pools and the providers they use are listed by `mctl pools list`' },
    );
}
