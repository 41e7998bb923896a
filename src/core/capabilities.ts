/**
 * @module Substrate resolution: `deriveCapabilities` (a pool's `runtime_provides` override, else
 * its provider class default, else nothing) and validation of a `runtime_provides` override. The
 * class rows themselves live with each provider (`src/providers/<id>/index.ts`) and are passed in.
 */
import { InvalidRequest } from './errors.js';
import {
  FIXED_REQUIREMENT_KINDS,
  type RequirementKind,
  RUNTIME_KINDS,
  type RuntimeKind,
  type RuntimeProvides,
} from './types.js';

export type CapabilitySource = 'override' | 'class-default' | 'unknown-provider';

export interface DerivedCapabilities {
  provides: RuntimeProvides;
  source: CapabilitySource;
}

/**
 * The seed's resolution order: a non-null `runtime_provides` override wins (validated with
 * {@link parseRuntimeProvides}), else the provider class default (`classDefault`, the provider
 * descriptor's `substrate`; `undefined` for a provider id nobody knows), else nothing. Returns
 * fresh arrays the caller may keep.
 * @example deriveCapabilities(dockerDescriptor.substrate, null).source === 'class-default'
 */
export function deriveCapabilities(
  classDefault: Readonly<RuntimeProvides> | undefined,
  runtimeProvidesOverride: unknown,
): DerivedCapabilities {
  if (runtimeProvidesOverride !== null && runtimeProvidesOverride !== undefined) {
    return { provides: parseRuntimeProvides(runtimeProvidesOverride), source: 'override' };
  }
  const def = classDefault;
  if (def !== undefined) {
    return {
      provides: { runtimeKinds: [...def.runtimeKinds], requirementKinds: [...def.requirementKinds] },
      source: 'class-default',
    };
  }
  return { provides: { runtimeKinds: [], requirementKinds: [] }, source: 'unknown-provider' };
}

const RUNTIME_KIND_SET: ReadonlySet<string> = new Set(RUNTIME_KINDS);
const FIXED_REQUIREMENT_SET: ReadonlySet<string> = new Set(FIXED_REQUIREMENT_KINDS);
const TOOLCHAIN_RE = /^toolchain:\S+$/;

/** Whether `s` is a requirement kind: one of the fixed set or `toolchain:<name>` (non-empty name). */
export function isRequirementKind(s: string): s is RequirementKind {
  return FIXED_REQUIREMENT_SET.has(s) || TOOLCHAIN_RE.test(s);
}

/** Whether `s` is one of the closed set of runtime kinds. */
export function isRuntimeKind(s: string): s is RuntimeKind {
  return RUNTIME_KIND_SET.has(s);
}

function kindList<T extends string>(
  input: Record<string, unknown>,
  field: 'runtimeKinds' | 'requirementKinds',
  isKind: (s: string) => s is T,
  expected: string,
): T[] {
  const arr = input[field];
  if (!Array.isArray(arr)) {
    throw new InvalidRequest(`runtime_provides.${field}: expected an array, got ${describe(arr)}`);
  }
  const out: T[] = [];
  arr.forEach((entry: unknown, i) => {
    if (typeof entry !== 'string' || !isKind(entry)) {
      const what = field === 'runtimeKinds' ? 'a runtime kind' : 'a requirement kind';
      throw new InvalidRequest(
        `runtime_provides.${field}[${i}]: ${describe(entry)} is not ${what} (expected one of ${expected})`,
      );
    }
    if (!out.includes(entry)) out.push(entry);
  });
  return out;
}

function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  return JSON.stringify(v) ?? String(v);
}

/**
 * Validates a `runtime_provides` override: an object with exactly `runtimeKinds` (closed set) and
 * `requirementKinds` (closed set plus `toolchain:<name>`). Duplicates are dropped. Throws
 * {@link InvalidRequest} naming the bad entry, e.g.
 * `runtime_provides.requirementKinds[2]: "gpux" is not a requirement kind (expected one of ...)`.
 */
export function parseRuntimeProvides(input: unknown): RuntimeProvides {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw new InvalidRequest(
      `runtime_provides: expected an object with runtimeKinds and requirementKinds, got ${describe(input)}`,
    );
  }
  const obj = input as Record<string, unknown>;
  for (const key of Object.keys(obj)) {
    if (key !== 'runtimeKinds' && key !== 'requirementKinds') {
      throw new InvalidRequest(
        `runtime_provides.${key}: unknown field (expected only runtimeKinds and requirementKinds)`,
      );
    }
  }
  return {
    runtimeKinds: kindList(obj, 'runtimeKinds', isRuntimeKind, RUNTIME_KINDS.join(', ')),
    requirementKinds: kindList(
      obj,
      'requirementKinds',
      isRequirementKind,
      `${FIXED_REQUIREMENT_KINDS.join(', ')}, toolchain:<name>`,
    ),
  };
}
