/** @module Tests for the capability matrix, substrate class defaults, deriveCapabilities and runtime_provides validation. */
import { describe, expect, it } from 'vitest';
import {
  deriveCapabilities,
  PROVIDER_CLASS_CAPABILITIES,
  PROVIDER_CLASS_DEFAULT_CAPABILITIES,
  parseRuntimeProvides,
} from './capabilities.js';
import { InvalidRequest } from './errors.js';
import { FIXED_REQUIREMENT_KINDS, RUNTIME_KINDS } from './types.js';

const SEED_PROVIDERS = ['local', 'docker', 'kubernetes', 'e2b', 'daytona', 'modal', 'vercel'] as const;

/**
 * The seed's "Capability matrix at a glance", written out row by row as in the seed
 * (`yes` → true, `-` → false or null). Columns: local docker kubernetes e2b daytona modal vercel.
 */
const SEED_MATRIX: Record<string, readonly unknown[]> = {
  transportModel: ['either', 'either', 'either', 'dial-in', 'dial-in', 'dial-in', 'dial-in'],
  supportsFsSnapshot: [false, false, false, true, true, true, true],
  supportsPauseResume: [false, false, false, true, false, true, false],
  supportsCapacityQuery: [true, true, true, false, false, false, false],
  supportsGpu: [false, false, false, false, false, true, false],
  supportsCustomNetworkPolicy: [false, true, true, false, false, false, true],
  idleCostModel: ['zero', 'zero', 'metered', 'zero', 'storage-only', 'metered', 'metered'],
  billingModel: ['fixed', 'fixed', 'fixed', 'wall-clock', 'wall-clock', 'wall-clock', 'active-cpu'],
  maxSessionDurationSeconds: [null, null, null, null, null, null, 18000],
  egressDefault: ['allow-all', 'allow-all', 'allow-all', 'allow-all', 'allow-all', 'allow-all', 'allow-all'],
};

/** Fields the seed's table leaves out, with the documented values. */
const UNLISTED_FIELDS: Record<string, readonly unknown[]> = {
  maxConcurrent: [null, null, null, null, null, null, null],
  regions: [['local'], ['*'], ['*'], ['*'], ['*'], ['*'], ['*']],
  os: [['linux', 'darwin'], ['linux'], ['linux'], ['linux'], ['linux'], ['linux'], ['linux']],
  maxVCpu: [null, null, null, null, null, null, null],
  maxMemoryMb: [null, null, null, null, null, null, null],
  isA2ARemote: [false, false, false, false, false, false, false],
};

const matrixCases = [...Object.entries(SEED_MATRIX), ...Object.entries(UNLISTED_FIELDS)].flatMap(([field, row]) =>
  SEED_PROVIDERS.map((provider, col) => [provider, field, row[col]] as const),
);

describe('PROVIDER_CLASS_CAPABILITIES', () => {
  it.each(matrixCases)('%s.%s is %j', (provider, field, value) => {
    const caps = PROVIDER_CLASS_CAPABILITIES[provider] as unknown as Record<string, unknown>;
    expect(caps[field]).toEqual(value);
  });

  it('every row declares every matrix field and both architectures', () => {
    const fields = Object.keys(PROVIDER_CLASS_CAPABILITIES.docker as object).sort();
    expect(fields).toHaveLength(17);
    for (const [id, caps] of Object.entries(PROVIDER_CLASS_CAPABILITIES)) {
      expect(Object.keys(caps).sort(), id).toEqual(fields);
      expect(caps.arch, id).toEqual(['x86_64', 'arm64']);
    }
  });

  it('has the Marionette rows: firecracker, pool, external', () => {
    expect(Object.keys(PROVIDER_CLASS_CAPABILITIES).sort()).toEqual(
      [...SEED_PROVIDERS, 'firecracker', 'pool', 'external'].sort(),
    );
    expect(PROVIDER_CLASS_CAPABILITIES.firecracker).toMatchObject({
      supportsPauseResume: true,
      supportsFsSnapshot: true,
      supportsGpu: false,
      os: ['linux'],
    });
    expect(PROVIDER_CLASS_CAPABILITIES.pool).toMatchObject({ transportModel: 'dial-out', os: ['linux', 'darwin'] });
    expect(PROVIDER_CLASS_CAPABILITIES.external).toMatchObject({ transportModel: 'dial-out' });
  });

  it('is frozen', () => {
    expect(() => {
      (PROVIDER_CLASS_CAPABILITIES.docker as { supportsGpu: boolean }).supportsGpu = true;
    }).toThrow(TypeError);
    const regions = PROVIDER_CLASS_CAPABILITIES.docker?.regions as string[];
    expect(() => regions.push('x')).toThrow(TypeError);
  });
});

/**
 * The seed's "Requirement kinds" table as class defaults (network-egress read as every class;
 * see capabilities.ts), plus the documented Marionette rows.
 * Columns: local docker kubernetes e2b daytona modal vercel firecracker pool external.
 */
const ALL_CLASSES = [...SEED_PROVIDERS, 'firecracker', 'pool', 'external'] as const;
const REQUIREMENT_DEFAULTS: Record<string, readonly boolean[]> = {
  //                         local  docker k8s    e2b    dayt.  modal  vercel fc     pool   external
  'persistent-storage': [true, true, true, false, false, false, false, true, true, true],
  'long-running': [true, true, true, true, false, false, false, true, true, true],
  workarea: [true, true, true, false, false, false, false, true, true, true],
  'host-binary': [true, false, false, false, false, false, false, false, false, false],
  'network-egress': [true, true, true, true, true, true, true, true, true, true],
  gpu: [false, false, false, false, false, false, false, false, false, false],
  git: [true, true, true, true, true, true, true, true, true, true],
  'full-history-clone': [true, true, true, true, true, true, true, true, true, true],
  'toolchain:go': [true, true, true, false, false, false, false, true, false, false],
  'toolchain:node': [true, true, true, false, false, false, true, true, true, true],
};

const RUNTIME_DEFAULTS: Record<string, readonly boolean[]> = {
  //                         local  docker k8s    e2b    dayt.  modal  vercel fc     pool   external
  native: [true, true, true, true, true, true, true, true, true, true],
  npm: [true, true, true, false, false, false, true, true, true, true],
  'python-pip': [true, false, false, false, false, false, false, false, false, false],
  http: [true, true, true, true, true, true, true, true, true, true],
  'mcp-server': [true, true, true, true, true, true, true, true, true, true],
  'a2a-protocol': [true, true, true, true, true, true, true, true, true, true],
  'host-binary': [true, false, false, false, false, false, false, false, false, false],
  workarea: [true, true, true, false, false, false, false, true, true, true],
  'vendor-hosted': [true, true, true, true, true, true, true, true, true, true],
  'langchain-runnable': [true, true, true, false, false, false, true, true, true, true],
};

describe('PROVIDER_CLASS_DEFAULT_CAPABILITIES', () => {
  it('the tables cover every kind', () => {
    expect(Object.keys(REQUIREMENT_DEFAULTS).sort()).toEqual(
      [...FIXED_REQUIREMENT_KINDS, 'toolchain:go', 'toolchain:node'].sort(),
    );
    expect(Object.keys(RUNTIME_DEFAULTS).sort()).toEqual([...RUNTIME_KINDS].sort());
    expect(Object.keys(PROVIDER_CLASS_DEFAULT_CAPABILITIES).sort()).toEqual([...ALL_CLASSES].sort());
  });

  const reqCases = Object.entries(REQUIREMENT_DEFAULTS).flatMap(([kind, row]) =>
    ALL_CLASSES.map((provider, col) => [kind, provider, row[col]] as const),
  );
  it.each(reqCases)('requirement %s on %s: %s', (kind, provider, expected) => {
    const provides = PROVIDER_CLASS_DEFAULT_CAPABILITIES[provider];
    expect(provides?.requirementKinds.includes(kind as never)).toBe(expected);
  });

  const rtCases = Object.entries(RUNTIME_DEFAULTS).flatMap(([kind, row]) =>
    ALL_CLASSES.map((provider, col) => [kind, provider, row[col]] as const),
  );
  it.each(rtCases)('runtime %s on %s: %s', (kind, provider, expected) => {
    const provides = PROVIDER_CLASS_DEFAULT_CAPABILITIES[provider];
    expect(provides?.runtimeKinds.includes(kind as never)).toBe(expected);
  });

  it('declares nothing beyond the tables (no other toolchains, no duplicates)', () => {
    for (const [id, p] of Object.entries(PROVIDER_CLASS_DEFAULT_CAPABILITIES)) {
      for (const k of p.requirementKinds) expect(Object.keys(REQUIREMENT_DEFAULTS), id).toContain(k);
      expect(new Set(p.requirementKinds).size, id).toBe(p.requirementKinds.length);
      expect(new Set(p.runtimeKinds).size, id).toBe(p.runtimeKinds.length);
    }
  });

  it('no class defaults gpu, matching the seed: gpu is operator-declared only', () => {
    for (const p of Object.values(PROVIDER_CLASS_DEFAULT_CAPABILITIES)) expect(p.requirementKinds).not.toContain('gpu');
  });
});

describe('deriveCapabilities', () => {
  it('a non-null override wins over the class default', () => {
    const d = deriveCapabilities('docker', { runtimeKinds: ['npm'], requirementKinds: ['gpu', 'toolchain:cuda'] });
    expect(d).toEqual({
      provides: { runtimeKinds: ['npm'], requirementKinds: ['gpu', 'toolchain:cuda'] },
      source: 'override',
    });
  });

  it('an empty override is still an override (declares nothing)', () => {
    expect(deriveCapabilities('local', { runtimeKinds: [], requirementKinds: [] })).toEqual({
      provides: { runtimeKinds: [], requirementKinds: [] },
      source: 'override',
    });
  });

  it('null or undefined override falls back to the class default, as a copy', () => {
    const d = deriveCapabilities('docker', null);
    expect(d.source).toBe('class-default');
    expect(d.provides).toEqual(PROVIDER_CLASS_DEFAULT_CAPABILITIES.docker);
    d.provides.requirementKinds.push('gpu');
    expect(PROVIDER_CLASS_DEFAULT_CAPABILITIES.docker?.requirementKinds).not.toContain('gpu');
    expect(deriveCapabilities('e2b', undefined).source).toBe('class-default');
  });

  it('an unknown provider with no override provides nothing', () => {
    expect(deriveCapabilities('acme-cloud', null)).toEqual({
      provides: { runtimeKinds: [], requirementKinds: [] },
      source: 'unknown-provider',
    });
    expect(deriveCapabilities('constructor', null).source).toBe('unknown-provider');
  });

  it('an unknown provider with an override uses the override', () => {
    expect(deriveCapabilities('acme-cloud', { runtimeKinds: ['http'], requirementKinds: [] }).source).toBe('override');
  });

  it('an invalid override is refused, not ignored', () => {
    expect(() => deriveCapabilities('docker', { runtimeKinds: ['nope'], requirementKinds: [] })).toThrow(
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
