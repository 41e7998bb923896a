import { describe, expect, it } from 'vitest';
import {
  egressAllows,
  egressMiss,
  egressRefusal,
  narrowEgress,
  parseEgressPolicy,
  parseIp,
  poolEgress,
} from './egress.js';
import { InvalidRequest } from './errors.js';

const docker = { egressDefault: 'allow-all', supportsCustomNetworkPolicy: true } as const;
const local = { egressDefault: 'allow-all', supportsCustomNetworkPolicy: false } as const;

describe('parseEgressPolicy', () => {
  it('takes none, open and allow lists, lowercased and deduplicated', () => {
    expect(parseEgressPolicy('none')).toBe('none');
    expect(parseEgressPolicy('open')).toBe('open');
    expect(parseEgressPolicy({ allow: ['API.example.com', '*.github.com', '10.0.0.0/8', 'api.example.com'] })).toEqual({
      allow: ['api.example.com', '*.github.com', '10.0.0.0/8'],
    });
    expect(parseEgressPolicy({ allow: ['192.0.2.7', '2001:db8::/32', '::1'] })).toEqual({
      allow: ['192.0.2.7/32', '2001:db8::/32', '::1/128'],
    });
    expect(parseEgressPolicy({ allow: [] })).toEqual({ allow: [] });
  });

  it.each([
    ['closed', /network\.egress: expected none, open, or \{ allow/],
    [{ allow: 'a.com' }, /network\.egress\.allow: expected a list/],
    [{ allow: ['a.com'], deny: [] }, /network\.egress\.deny: unknown field/],
    [
      { allow: ['10.0.0.0/33'] },
      /allow\[0\]: "10\.0\.0\.0\/33" is not a CIDR: the prefix length must be 0-32 for IPv4/,
    ],
    [{ allow: ['ok.com', '10.0.0.1/8'] }, /allow\[1\]: "10\.0\.0\.1\/8" has host bits set past \/8/],
    [{ allow: ['300.1.1.1'] }, /allow\[0\]: "300\.1\.1\.1" is not an IP address or CIDR/],
    [{ allow: ['https://a.com'] }, /allow\[0\]: "https:\/\/a\.com" is not an IP address or CIDR/],
    [{ allow: ['a.*.com'] }, /allow\[0\]: "a\.\*\.com" is not a host pattern/],
    [{ allow: ['bad host'] }, /is not a host pattern/],
    [{ allow: [''] }, /allow\[0\]: expected a host pattern or a CIDR, got ""/],
    [{ allow: [7] }, /allow\[0\]: expected a host pattern or a CIDR, got 7/],
    [{ allow: ['fe80::1::2/64'] }, /is not an IP address or CIDR/],
    [{ allow: ['::/129'] }, /prefix length must be 0-128 for IPv6/],
  ])('refuses %j with a clear error', (input, msg) => {
    expect(() => parseEgressPolicy(input)).toThrow(InvalidRequest);
    expect(() => parseEgressPolicy(input)).toThrow(msg);
  });
});

describe('egressAllows', () => {
  const p = parseEgressPolicy({ allow: ['api.example.com', '*.github.com', '10.1.0.0/16', '2001:db8::/32'] });
  it.each([
    ['api.example.com', true],
    ['API.Example.com.', true],
    ['example.com', false],
    ['x.api.example.com', false],
    ['codeload.github.com', true],
    ['a.b.github.com', true],
    ['github.com', false],
    ['evilgithub.com', false],
    ['10.1.2.3', true],
    ['10.2.0.1', false],
    ['[2001:db8::5]', true],
    ['2001:db9::5', false],
    ['::ffff:10.1.2.3', false],
  ])('%s → %s', (host, ok) => {
    expect(egressAllows(p, host)).toBe(ok);
  });
  it('none allows nothing, open everything', () => {
    expect(egressAllows('none', '127.0.0.1')).toBe(false);
    expect(egressAllows('open', 'anything.example')).toBe(true);
  });
  it('a CIDR never matches a name, a host pattern never an IP', () => {
    expect(egressAllows({ allow: ['0.0.0.0/0'] }, 'example.com')).toBe(false);
    expect(egressAllows({ allow: ['localhost'] }, '127.0.0.1')).toBe(false);
  });
  it('parses IPs strictly', () => {
    expect(parseIp('1.2.3.4')?.family).toBe(4);
    expect(parseIp('01.2.3.4')).toBeNull();
    expect(parseIp('::')?.bits).toBe(0n);
    expect(parseIp('1:2:3:4:5:6:7:8')?.family).toBe(6);
    expect(parseIp('1:2:3:4:5:6:7')).toBeNull();
  });
});

describe('narrowEgress', () => {
  const pool = parseEgressPolicy({ allow: ['*.example.com', 'api.other.com', '10.0.0.0/8'] });
  it('no session policy: the pool’s', () => {
    expect(narrowEgress(pool, null)).toEqual({ policy: pool });
  });
  it('narrowing is fine', () => {
    expect(narrowEgress('open', 'none')).toEqual({ policy: 'none' });
    expect(narrowEgress('open', { allow: ['a.com'] })).toEqual({ policy: { allow: ['a.com'] } });
    expect(narrowEgress(pool, 'none')).toEqual({ policy: 'none' });
    const s = parseEgressPolicy({ allow: ['a.example.com', '*.b.example.com', 'api.other.com', '10.2.0.0/16'] });
    expect(narrowEgress(pool, s)).toEqual({ policy: s });
  });
  it.each([
    ['none', 'open', /asks for egress open; its pool allows none/],
    ['none', { allow: ['a.com'] }, /asks for egress allow \[a\.com\]; its pool allows none/],
    [{ allow: ['a.com'] }, 'open', /asks for egress open; its pool allows allow \[a\.com\] \(a session may narrow/],
    [{ allow: ['*.example.com'] }, { allow: ['example.com'] }, /asks for egress to example\.com;/],
    [{ allow: ['a.example.com'] }, { allow: ['*.example.com'] }, /to \*\.example\.com/],
    [{ allow: ['10.0.0.0/8'] }, { allow: ['10.0.0.0/7'] }, /to 10\.0\.0\.0\/7/],
    [{ allow: ['10.0.0.0/8'] }, { allow: ['::/0'] }, /to ::\/0/],
  ])('pool %j refuses session %j', (p, s, msg) => {
    const r = narrowEgress(parseEgressPolicy(p), parseEgressPolicy(s));
    expect(r.refusal).toMatch(msg);
  });
});

describe('enforcement (the capability matrix)', () => {
  it('a provider without custom network policy enforces only its default', () => {
    expect(egressRefusal('open', local, 'local')).toBeNull();
    expect(egressRefusal('none', local, 'local')).toMatch(
      /provider local cannot enforce egress none \(supportsCustomNetworkPolicy: false; its sandboxes get egress open\)/,
    );
    expect(egressRefusal({ allow: ['a.com'] }, docker, 'docker')).toBeNull();
    const denyAll = { egressDefault: 'deny-all', supportsCustomNetworkPolicy: false } as const;
    expect(egressRefusal('none', denyAll, 'x')).toBeNull();
    expect(egressRefusal('open', denyAll, 'x')).toMatch(/cannot enforce egress open/);
  });
  it('the pool default follows egressDefault', () => {
    expect(poolEgress(null, docker)).toBe('open');
    expect(poolEgress(undefined, { egressDefault: 'deny-all' })).toBe('none');
    expect(poolEgress('none', docker)).toBe('none');
  });
  it('egressMiss: nothing asked, nothing checked; widening and unenforceable policies refused', () => {
    expect(egressMiss(null, null, local, 'local')).toBeNull();
    expect(egressMiss(null, 'none', docker, 'docker')).toBeNull();
    expect(egressMiss(null, 'none', local, 'local')).toMatch(/cannot enforce egress none/);
    expect(egressMiss('none', 'open', docker, 'docker')).toMatch(/never widen/);
    expect(egressMiss('none', null, local, 'local')).toMatch(/cannot enforce/);
  });
});
