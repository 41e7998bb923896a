/**
 * The compare-and-set helper's guard (src/store/transition.ts): an edge the state table does not
 * list is an IllegalTransition, the default guard is every state the table lets in. The writes
 * themselves are covered on SQLite and PostgreSQL by src/store/store.conformance.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { IllegalTransition } from '../core/errors.js';
import { RUNNER_TRANSITIONS, SESSION_TRANSITIONS, TASK_TRANSITIONS } from '../core/states.js';
import { guardStates } from './transition.js';

describe('guardStates', () => {
  it('passes an explicit guard whose every edge is in the table', () => {
    expect(guardStates('tasks', TASK_TRANSITIONS, 'cancelled', ['queued', 'assigned', 'running'])).toEqual([
      'queued',
      'assigned',
      'running',
    ]);
  });

  it('refuses a guard with one edge not in the table, naming it', () => {
    expect(() => guardStates('tasks', TASK_TRANSITIONS, 'running', ['assigned', 'queued'])).toThrow(
      new IllegalTransition('tasks', ['queued'], 'running'),
    );
    expect(() => guardStates('tasks', TASK_TRANSITIONS, 'queued', ['cancelled'])).toThrow(IllegalTransition);
    expect(() => guardStates('runners', RUNNER_TRANSITIONS, 'idle', ['terminated'])).toThrow(
      'runners: no transition terminated → idle in the state table',
    );
  });

  it('defaults to every state the table lets into the target, and refuses a target nothing leads into', () => {
    expect([...guardStates('sessions', SESSION_TRANSITIONS, 'completed')].sort()).toEqual(
      ['active', 'idle', 'suspended'].sort(),
    );
    expect(() => guardStates('sessions', SESSION_TRANSITIONS, 'pending')).toThrow(
      'sessions: no transition leads into pending in the state table',
    );
  });

  it('lists the edges the server writes (the ones the tables missed before)', () => {
    for (const [from, to] of [
      ['scheduling', 'idle'],
      ['provisioning', 'idle'],
      ['active', 'active'],
      ['idle', 'idle'],
      ['suspended', 'suspended'],
    ] as const)
      expect(guardStates('sessions', SESSION_TRANSITIONS, to, [from])).toEqual([from]);
    expect(guardStates('runners', RUNNER_TRANSITIONS, 'draining', ['busy', 'draining'])).toHaveLength(2);
    expect(guardStates('tasks', TASK_TRANSITIONS, 'timed_out', ['assigned', 'running'])).toHaveLength(2);
  });
});
