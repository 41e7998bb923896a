/**
 * @module The test-only crash point setting: `MARIONETTE_FAULT` unset is null, a known point is
 * kept, and anything else is refused at start with a message naming the variable.
 */
import { describe, expect, it } from 'vitest';
import { FAULT_POINTS } from '../core/suspend-steps.js';
import { loadServerConfig } from './index.js';

const base = { MARIONETTE_HOME: '/tmp/marionette-fault-test' };

describe('MARIONETTE_FAULT', () => {
  it('is null when unset or empty', () => {
    expect(loadServerConfig({}, base).faultPoint).toBeNull();
    expect(loadServerConfig({}, { ...base, MARIONETTE_FAULT: '' }).faultPoint).toBeNull();
  });

  it('keeps a known crash point', () => {
    const c = loadServerConfig({}, { ...base, MARIONETTE_FAULT: 'suspend:terminate_preserve_storage:stopped' });
    expect(c.faultPoint).toBe('suspend:terminate_preserve_storage:stopped');
    expect(FAULT_POINTS).toContain('resume:snapshot:provisioned');
    expect(FAULT_POINTS).toContain('suspend:release_to_pool:released');
  });

  it('refuses an unknown one, naming the variable and that it is test-only', () => {
    expect(() => loadServerConfig({}, { ...base, MARIONETTE_FAULT: 'suspend:pause:nowhere' })).toThrow(
      /MARIONETTE_FAULT: "suspend:pause:nowhere" is not a known crash point \(test-only setting/,
    );
  });
});
