/**
 * The at-rest key and SecretBox: a key is made 0600 once and kept; MARIONETTE_SECRET_KEY in base64
 * or hex; a bad key, a corrupted key file, a wrong key, a tampered or moved value each give a clear
 * error naming what was wrong (never the value) and change nothing.
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { InvalidRequest } from '../core/errors.js';
import { loadSecretKey, newSecretKeyText, parseSecretKey, SecretBox, SecretUnreadable } from './secrets.js';

const homes: string[] = [];
function home(): string {
  const h = mkdtempSync(join(tmpdir(), 'marionette-secrets-'));
  homes.push(h);
  return h;
}
afterEach(() => {
  for (const h of homes.splice(0)) rmSync(h, { recursive: true, force: true });
});

describe('the at-rest key', () => {
  it('is created 0600 on first start (32 random bytes) and the same key is read after', () => {
    const h = home();
    const a = loadSecretKey({ home: h });
    const file = join(h, 'secret.key');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(a.key).toHaveLength(32);
    expect(Buffer.from(readFileSync(file, 'utf8').trim(), 'base64')).toEqual(a.key);
    const b = loadSecretKey({ home: h });
    expect(b.id).toBe(a.id);
    expect(b.key).toEqual(a.key);
    expect(loadSecretKey({ home: home() }).id).not.toBe(a.id);
  });

  it('narrows a key file left readable by others to 0600', () => {
    const h = home();
    loadSecretKey({ home: h });
    chmodSync(join(h, 'secret.key'), 0o644);
    loadSecretKey({ home: h });
    expect(statSync(join(h, 'secret.key')).mode & 0o777).toBe(0o600);
  });

  it('MARIONETTE_SECRET_KEY in base64, base64url or hex wins over the file (none is written)', () => {
    const text = newSecretKeyText();
    const raw = Buffer.from(text, 'base64');
    const h = home();
    const k = loadSecretKey({ home: h, envKey: text });
    expect(k.key).toEqual(raw);
    expect(k.source).toBe('MARIONETTE_SECRET_KEY');
    expect(() => statSync(join(h, 'secret.key'))).toThrow();
    expect(parseSecretKey(raw.toString('hex'), 'x').id).toBe(k.id);
    expect(parseSecretKey(raw.toString('base64url'), 'x').id).toBe(k.id);
  });

  it('a bad MARIONETTE_SECRET_KEY is a clear error that does not echo it', () => {
    for (const bad of ['short', 'a'.repeat(63), Buffer.alloc(16).toString('base64'), `${'z'.repeat(43)}!`]) {
      const e = (() => {
        try {
          loadSecretKey({ home: home(), envKey: bad });
        } catch (err: unknown) {
          return err;
        }
        return null;
      })();
      expect(e).toBeInstanceOf(InvalidRequest);
      expect((e as Error).message).toMatch(/^MARIONETTE_SECRET_KEY: not a valid secret key \(expected 32 bytes/);
      expect((e as Error).message).not.toContain(bad);
      expect((e as InvalidRequest).hint).toContain('openssl rand -base64 32');
    }
  });

  it('a corrupted secret.key is an error naming the file, and the file is kept as it was', () => {
    for (const content of ['', 'garbage\n', Buffer.alloc(32, 7).toString('base64').slice(0, 30)]) {
      const h = home();
      const file = join(h, 'secret.key');
      writeFileSync(file, content, { mode: 0o600 });
      expect(() => loadSecretKey({ home: h })).toThrow(`${file}: not a valid secret key`);
      expect(() => loadSecretKey({ home: h })).toThrow(/the file is corrupted/);
      expect(readFileSync(file, 'utf8')).toBe(content);
    }
  });
});

describe('SecretBox', () => {
  const k1 = parseSecretKey(newSecretKeyText(), 'k1');
  const k2 = parseSecretKey(newSecretKeyText(), 'k2');

  it('seals to text naming the key that opens back to the value; equal values seal differently', () => {
    const box = new SecretBox([k1]);
    const a = box.seal('hunter2-secret', 'ctx');
    expect(a.startsWith(`mse:1:${k1.id}:`)).toBe(true);
    expect(a).not.toContain('hunter2');
    expect(box.seal('hunter2-secret', 'ctx')).not.toBe(a);
    expect(box.open(a, 'ctx')).toBe('hunter2-secret');
    expect(box.open(box.seal('', 'c'), 'c')).toBe('');
    expect(box.open(box.seal('ünïcödé ✓', 'c'), 'c')).toBe('ünïcödé ✓');
  });

  it('a value sealed with another key is a clear error naming both key ids, not the value', () => {
    const sealed = new SecretBox([k1]).seal('the-value', 'c');
    const e = (() => {
      try {
        new SecretBox([k2]).open(sealed, 'c');
      } catch (err: unknown) {
        return err as SecretUnreadable;
      }
      return null;
    })();
    expect(e).toBeInstanceOf(SecretUnreadable);
    expect(e?.message).toContain(`sealed with key ${k1.id}`);
    expect(e?.message).toContain(`this server has key ${k2.id}`);
    expect(e?.hint).toContain('MARIONETTE_SECRET_KEY_PREVIOUS');
  });

  it('rotation: the new key seals, a previous key still opens what it sealed, and it is stale', () => {
    const old = new SecretBox([k1]).seal('rotated', 'c');
    const box = new SecretBox([k2, k1]);
    expect(box.canOpen(old)).toBe(true);
    expect(box.isStale(old)).toBe(true);
    expect(box.open(old, 'c')).toBe('rotated');
    const fresh = box.seal('rotated', 'c');
    expect(SecretBox.keyIdOf(fresh)).toBe(k2.id);
    expect(box.isStale(fresh)).toBe(false);
  });

  it('a tampered, truncated or moved (other context) value does not open', () => {
    const box = new SecretBox([k1]);
    const sealed = box.seal('value-1', 'session:a:env:X');
    expect(() => box.open(sealed, 'session:b:env:X')).toThrow(/did not authenticate/);
    const flipped = `${sealed.slice(0, -2)}${sealed.endsWith('A') ? 'B' : 'A'}${sealed.slice(-1)}`;
    expect(() => box.open(flipped, 'session:a:env:X')).toThrow(SecretUnreadable);
    expect(() => box.open(sealed.slice(0, 30), 'session:a:env:X')).toThrow(/truncated/);
  });
});
