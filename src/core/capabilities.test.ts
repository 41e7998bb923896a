/** @module Tests for deriveCapabilities (override, else the class default passed in, else nothing) and runtime_provides validation. */
import { describe, expect, it } from 'vitest';
import { deriveCapabilities, parseRuntimeProvides } from './capabilities.js';
import { InvalidRequest } from './errors.js';
import { FIXED_REQUIREMENT_KINDS, RUNTIME_KINDS, type RuntimeProvides } from './types.js';

/** A class default as a provider descriptor would pass it. */
const DOCKERISH: Readonly<RuntimeProvides> = Object.freeze({
  runtimeKinds: Object.freeze(['native', 'npm']) as RuntimeProvides['runtimeKinds'],
  requirementKinds: Object.freeze(['git', 'toolchain:node']) as RuntimeProvides['requirementKinds'],
});

describe('deriveCapabilities', () => {
  it('a non-null override wins over the class default', () => {
    const d = deriveCapabilities(DOCKERISH, { runtimeKinds: ['npm'], requirementKinds: ['gpu', 'toolchain:cuda'] });
    expect(d).toEqual({
      provides: { runtimeKinds: ['npm'], requirementKinds: ['gpu', 'toolchain:cuda'] },
      source: 'override',
    });
  });

  it('an empty override is still an override (declares nothing)', () => {
    expect(deriveCapabilities(DOCKERISH, { runtimeKinds: [], requirementKinds: [] })).toEqual({
      provides: { runtimeKinds: [], requirementKinds: [] },
      source: 'override',
    });
  });

  it('null or undefined override falls back to the class default, as a copy', () => {
    const d = deriveCapabilities(DOCKERISH, null);
    expect(d.source).toBe('class-default');
    expect(d.provides).toEqual(DOCKERISH);
    d.provides.requirementKinds.push('gpu');
    expect(DOCKERISH.requirementKinds).not.toContain('gpu');
    expect(deriveCapabilities(DOCKERISH, undefined).source).toBe('class-default');
  });

  it('an unknown provider with no override provides nothing', () => {
    expect(deriveCapabilities(undefined, null)).toEqual({
      provides: { runtimeKinds: [], requirementKinds: [] },
      source: 'unknown-provider',
    });
  });

  it('an unknown provider with an override uses the override', () => {
    expect(deriveCapabilities(undefined, { runtimeKinds: ['http'], requirementKinds: [] }).source).toBe('override');
  });

  it('an invalid override is refused, not ignored', () => {
    expect(() => deriveCapabilities(DOCKERISH, { runtimeKinds: ['nope'], requirementKinds: [] })).toThrow(
      InvalidRequest,
    );
  });
});

describe('parseRuntimeProvides', () => {
  it('accepts the closed sets and toolchain:<name>, dropping duplicates', () => {
    expect(
      parseRuntimeProvides({
        runtimeKinds: ['npm', 'native', 'npm'],
        requirementKinds: ['gpu', 'toolchain:go', 'toolchain:python@3.12', 'gpu'],
      }),
    ).toEqual({ runtimeKinds: ['npm', 'native'], requirementKinds: ['gpu', 'toolchain:go', 'toolchain:python@3.12'] });
  });

  it.each([
    [
      { runtimeKinds: [], requirementKinds: ['git', 'gpu', 'gpux'] },
      `runtime_provides.requirementKinds[2]: "gpux" is not a requirement kind (expected one of ${FIXED_REQUIREMENT_KINDS.join(', ')}, toolchain:<name>)`,
    ],
    [
      { runtimeKinds: ['npm', 'deno'], requirementKinds: [] },
      `runtime_provides.runtimeKinds[1]: "deno" is not a runtime kind (expected one of ${RUNTIME_KINDS.join(', ')})`,
    ],
    [
      { runtimeKinds: [], requirementKinds: ['toolchain:'] },
      'runtime_provides.requirementKinds[0]: "toolchain:" is not',
    ],
    [
      { runtimeKinds: [], requirementKinds: ['toolchain: go'] },
      'runtime_provides.requirementKinds[0]: "toolchain: go"',
    ],
    [{ runtimeKinds: [7], requirementKinds: [] }, 'runtime_provides.runtimeKinds[0]: 7 is not a runtime kind'],
    [{ runtimeKinds: [], requirementKinds: [null] }, 'runtime_provides.requirementKinds[0]: null is not'],
    [{ requirementKinds: [] }, 'runtime_provides.runtimeKinds: expected an array, got nothing'],
    [{ runtimeKinds: 'npm', requirementKinds: [] }, 'runtime_provides.runtimeKinds: expected an array, got "npm"'],
    [
      { runtimeKinds: [], requirementKinds: [], gpu: true },
      'runtime_provides.gpu: unknown field (expected only runtimeKinds and requirementKinds)',
    ],
    [null, 'runtime_provides: expected an object with runtimeKinds and requirementKinds, got null'],
    [['npm'], 'runtime_provides: expected an object'],
    ['npm', 'runtime_provides: expected an object'],
  ])('refuses %j', (input, message) => {
    expect(() => parseRuntimeProvides(input)).toThrow(InvalidRequest);
    expect(() => parseRuntimeProvides(input)).toThrow(message);
  });
});
