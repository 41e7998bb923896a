/**
 * The session ceiling's deadline: from the runner's start, the handle's own ceiling over the
 * provider row's, the margin never more than half the ceiling, and none without a ceiling.
 */
import { describe, expect, it } from 'vitest';
import type { SandboxProvider } from '../providers/types.js';
import { ceilingDeadline, ceilingSeconds } from './session-ceiling.js';

const provider = (max: number | null) =>
  ({ capabilities: { maxSessionDurationSeconds: max } }) as unknown as SandboxProvider;
const handle = (meta: Record<string, unknown>) => ({ providerId: 'x', externalId: 'e', metadata: meta });

describe('session ceiling', () => {
  it('takes the handle ceiling over the provider row, and none when neither has one', () => {
    expect(ceilingSeconds(provider(18_000), null)).toBe(18_000);
    expect(ceilingSeconds(provider(18_000), handle({ maxSessionDurationSeconds: 600 }))).toBe(600);
    expect(ceilingSeconds(provider(null), handle({}))).toBeNull();
    expect(ceilingSeconds(provider(0), null)).toBeNull();
    expect(ceilingSeconds(undefined, null)).toBeNull();
  });

  it('is due the margin before the runner start plus the ceiling, the margin at most half of it', () => {
    const created = 1_000_000;
    expect(ceilingDeadline({ createdAt: created, handle: null }, provider(18_000), 300_000)).toEqual({
      at: created + 18_000_000 - 300_000,
      ceilingS: 18_000,
      marginMs: 300_000,
    });
    expect(ceilingDeadline({ createdAt: created, handle: null }, provider(20), 300_000)?.at).toBe(created + 10_000);
    expect(ceilingDeadline({ createdAt: created, handle: null }, provider(null), 300_000)).toBeNull();
  });
});
