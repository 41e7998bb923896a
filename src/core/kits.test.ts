/** @module Tests for kit composition: order kept, installs deduplicated, version conflicts and env clashes named, PATH chained. */
import { describe, expect, it } from 'vitest';
import { BUILTIN_KITS, composeKits, type Kit, makeKit, parseKitRef, resolveKit } from './kits.js';

const kit = (id: string, version: string, extra: Partial<Kit> = {}): Kit => ({
  ...makeKit({ id, version }, 'test'),
  ...extra,
});

describe('kit composition', () => {
  const known = [
    kit('a', '1', {
      installCommands: ['apt-get install x', 'setup-a'],
      postAcquire: ['a-post'],
      env: { A: '1', PATH: '/a/bin:$PATH' },
    }),
    kit('a', '2', { installCommands: ['setup-a2'] }),
    kit('b', '1', {
      installCommands: ['apt-get install x', 'setup-b'],
      postAcquire: ['a-post', 'b-post'],
      preRelease: ['b-pre'],
      env: { PATH: '$PATH:/b/bin' },
    }),
    kit('c', '1', { env: { A: '2' } }),
  ];

  it('keeps compose order and deduplicates kits and install commands', () => {
    const d = composeKits(
      [
        { ref: 'a@1', from: 'agent card x' },
        { ref: 'b', from: 'the session' },
        { ref: 'a@1', from: 'the session' },
      ],
      known,
    );
    expect(d.kits).toEqual(['a@1', 'b@1']);
    expect(d.installCommands).toEqual(['apt-get install x', 'setup-a', 'setup-b']);
    expect(d.postAcquire).toEqual(['a-post', 'b-post']);
    expect(d.preRelease).toEqual(['b-pre']);
    expect(d.env).toEqual({ A: '1', PATH: '/a/bin:$PATH:/b/bin' });
    expect(d.units.map((u) => u.ref)).toEqual(['a@1', 'b@1']);
    expect(d.os).toBe('linux');
  });

  it('two versions of one kit are an error naming both and where they came from', () => {
    expect(() =>
      composeKits(
        [
          { ref: 'a@1', from: 'agent card x' },
          { ref: 'a@2', from: 'the session' },
        ],
        known,
      ),
    ).toThrow('kit a: a@1 (from agent card x) conflicts with a@2 (from the session)');
  });

  it('an env clash names both kits; an unknown kit or version is named', () => {
    expect(() =>
      composeKits(
        [
          { ref: 'a@1', from: 'x' },
          { ref: 'c@1', from: 'y' },
        ],
        known,
      ),
    ).toThrow('kits a@1 and c@1 set A differently');
    expect(() => composeKits([{ ref: 'nope', from: 'x' }], known)).toThrow('unknown kit "nope"');
    expect(() => composeKits([{ ref: 'a@9', from: 'x' }], known)).toThrow('kit a has version 1, 2');
    expect(() => resolveKit('a', known)).toThrow('kit a has several versions (1, 2)');
  });

  it('references are checked', () => {
    expect(parseKitRef('node@system')).toEqual({ id: 'node', version: 'system' });
    expect(parseKitRef('node')).toEqual({ id: 'node', version: null });
    expect(() => parseKitRef('Node;rm')).toThrow('is not a kit reference');
    expect(() => parseKitRef('a@')).toThrow('is not a kit reference');
    expect(() => makeKit({ id: 'x', version: '1', env: { 'BAD-NAME': 'v' } }, 'kits[0]')).toThrow(
      'kits[0]: env name "BAD-NAME" is not valid',
    );
  });

  it('the built-in kits cover the common toolchains, each with detect', () => {
    expect(BUILTIN_KITS.map((k) => k.id)).toEqual(['node', 'python', 'go', 'rust', 'java']);
    for (const k of BUILTIN_KITS) {
      expect(k.detect).toBeTruthy();
      expect(k.installCommands.length).toBeGreaterThan(0);
    }
  });
});
