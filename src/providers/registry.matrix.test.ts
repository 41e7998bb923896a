/**
 * @module Tests for the provider descriptors' class rows: the seed's capability matrix and the
 * substrate class defaults, read from the registry's list (src/providers/<id>/index.ts).
 */
import { describe, expect, it } from 'vitest';
import { CLASSES } from '../core/provider-classes.test-support.js';
import { FIXED_REQUIREMENT_KINDS, RUNTIME_KINDS, type RuntimeProvides } from '../core/types.js';
import { PROVIDERS } from './registry.js';
import type { SandboxProviderCapabilities } from './types.js';

const PROVIDER_CLASS_CAPABILITIES: Record<string, Readonly<SandboxProviderCapabilities>> = Object.fromEntries(
  PROVIDERS.map((d) => [d.id, d.capabilities]),
);
const PROVIDER_CLASS_DEFAULT_CAPABILITIES: Record<string, Readonly<RuntimeProvides>> = Object.fromEntries(
  PROVIDERS.map((d) => [d.id, d.substrate]),
);

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

describe('the capability matrix (descriptor capabilities)', () => {
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
 * see substrate.ts), plus the documented Marionette rows.
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

describe('the substrate class defaults (descriptor substrate)', () => {
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

describe("the core tests' provider classes (src/core/provider-classes.test-support.ts)", () => {
  it.each(PROVIDERS.map((d) => [d.id, d] as const))('%s matches its descriptor', (id, d) => {
    const c = CLASSES[id];
    expect(c?.onServerHost === true, id).toBe(d.onServerHost === true);
    expect([...(c?.substrate?.runtimeKinds ?? [])].sort(), id).toEqual([...d.substrate.runtimeKinds].sort());
    expect([...(c?.substrate?.requirementKinds ?? [])].sort(), id).toEqual([...d.substrate.requirementKinds].sort());
  });
});
