/**
 * @module Encryption at rest: the server's secret key (`$MARIONETTE_HOME/secret.key`, made 0600 on
 * first start, or `MARIONETTE_SECRET_KEY`) and a `SecretBox` that seals and opens strings with
 * AES-256-GCM. A sealed value names the key that sealed it, so keys can rotate: the box opens
 * values of its current key and of any previous keys it is given, and seals with the current one.
 *
 * Sealed text: `mse:1:<key id>:<base64url(iv ‖ ciphertext ‖ tag)>`, where the key id is the first
 * 8 hex digits of SHA-256 over a fixed label and the key (it names the key, it does not reveal it).
 * An optional context (for example `session:<id>:env:<NAME>`) is bound as associated data, so a
 * value copied into another row or field does not open there.
 *
 * @example
 * const box = new SecretBox([loadSecretKey({ home })]);
 * const sealed = box.seal('hunter2', 'session:ses_1:env:TOKEN');
 * box.open(sealed, 'session:ses_1:env:TOKEN') === 'hunter2';
 */
import { createCipheriv, createDecipheriv, createHash, createHmac, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, linkSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidRequest, MarionetteError } from '../core/errors.js';

/** The prefix of every sealed value (format version 1). */
export const SEALED_PREFIX = 'mse:1:';
const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;

export interface SecretKey {
  /** 8 hex digits naming the key (in every value it seals). */
  id: string;
  /** 32 bytes. */
  key: Buffer;
  /** Where it came from, for error messages (`MARIONETTE_SECRET_KEY`, a file path). */
  source: string;
}

/** A sealed value could not be opened: unknown key, tampered or corrupted text. Nothing was changed. */
export class SecretUnreadable extends MarionetteError {
  constructor(message: string, hint: string) {
    super('internal', message, { hint });
  }
}

function keyId(key: Buffer): string {
  return createHash('sha256').update('marionette secret key id\0').update(key).digest('hex').slice(0, 8);
}

/**
 * Parses a key written as base64 (standard or url-safe, 44 or 43 characters) or hex (64 digits)
 * of exactly 32 bytes. Errors name `source` and say what was wrong, never the value.
 */
export function parseSecretKey(text: string, source: string): SecretKey {
  const t = text.trim();
  let key: Buffer | null = null;
  if (/^[0-9a-fA-F]{64}$/.test(t)) key = Buffer.from(t, 'hex');
  else if (/^[A-Za-z0-9+/_-]{43}={0,1}$/.test(t)) key = Buffer.from(t.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  if (!key || key.length !== KEY_BYTES)
    throw new InvalidRequest(
      `${source}: not a valid secret key (expected ${KEY_BYTES} bytes as base64, 44 characters, or hex, 64 digits; got ${t.length} characters)`,
      {
        hint: 'make one with `openssl rand -base64 32`; a key that encrypted existing data must be restored exactly, never replaced',
      },
    );
  return { id: keyId(key), key, source };
}

/** A new random key as text (base64), as secret.key and MARIONETTE_SECRET_KEY hold it. */
export function newSecretKeyText(): string {
  return randomBytes(KEY_BYTES).toString('base64');
}

/**
 * The server's key: `envKey` (MARIONETTE_SECRET_KEY) when given, else `$MARIONETTE_HOME/secret.key`,
 * created (0600, 32 random bytes as base64) when absent. An existing file that is not a valid key
 * is an error (never replaced: it may be the only copy of the key that sealed the data).
 */
export function loadSecretKey(opts: { home: string; envKey?: string | null }): SecretKey {
  if (opts.envKey) return parseSecretKey(opts.envKey, 'MARIONETTE_SECRET_KEY');
  const file = join(opts.home, 'secret.key');
  if (!existsSync(file)) {
    // Written whole to a temporary name, then linked into place: two servers starting on one home
    // at once end with one key, and a crash never leaves a half-written key file behind.
    const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
    writeFileSync(tmp, `${newSecretKeyText()}\n`, { mode: 0o600, flag: 'wx' });
    try {
      linkSync(tmp, file);
    } catch (e: unknown) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    } finally {
      rmSync(tmp, { force: true });
    }
  }
  if ((statSync(file).mode & 0o077) !== 0) chmodSync(file, 0o600);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e: unknown) {
    throw new InvalidRequest(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  try {
    return parseSecretKey(text, file);
  } catch (e: unknown) {
    throw new InvalidRequest(`${(e as Error).message}; the file is corrupted`, {
      hint: `restore ${file} from a backup (or set MARIONETTE_SECRET_KEY to the key); delete it only if nothing was ever encrypted with it: values it sealed cannot be read without it`,
    });
  }
}

/** Seals and opens strings with a current key (and opens with previous ones, for rotation). */
export class SecretBox {
  private readonly byId = new Map<string, SecretKey>();
  readonly current: SecretKey;

  /** `keys[0]` seals; every key opens what it sealed. */
  constructor(keys: readonly SecretKey[]) {
    if (!keys[0]) throw new Error('SecretBox needs a key');
    this.current = keys[0];
    for (const k of keys) if (!this.byId.has(k.id)) this.byId.set(k.id, k);
  }

  /** Is `text` a sealed value (of any key)? */
  static isSealed(text: string): boolean {
    return text.startsWith(SEALED_PREFIX);
  }

  /** The id of the key that sealed `text`, or null when it is not sealed. */
  static keyIdOf(text: string): string | null {
    if (!SecretBox.isSealed(text)) return null;
    return text.slice(SEALED_PREFIX.length, SEALED_PREFIX.length + 8);
  }

  /** Can this box open `text` (sealed with one of its keys)? */
  canOpen(text: string): boolean {
    const id = SecretBox.keyIdOf(text);
    return id !== null && this.byId.has(id);
  }

  /** Was `text` sealed with a key other than the current one (it should be sealed again)? */
  isStale(text: string): boolean {
    const id = SecretBox.keyIdOf(text);
    return id !== null && id !== this.current.id;
  }

  /**
   * A secret derived from each key for `label` (HMAC-SHA256, hex), the current key's first: what a
   * restarted server computes again instead of storing it (a runner's tunnel secret).
   */
  derive(label: string): string[] {
    const keys = [this.current, ...[...this.byId.values()].filter((k) => k !== this.current)];
    return keys.map((k) => createHmac('sha256', k.key).update(`derive:${label}`).digest('hex'));
  }

  seal(plain: string, context = ''): string {
    const iv = randomBytes(IV_BYTES);
    const c = createCipheriv('aes-256-gcm', this.current.key, iv);
    c.setAAD(Buffer.from(context, 'utf8'));
    const body = Buffer.concat([iv, c.update(plain, 'utf8'), c.final(), c.getAuthTag()]);
    return `${SEALED_PREFIX}${this.current.id}:${body.toString('base64url')}`;
  }

  /** Opens a sealed value; throws SecretUnreadable (naming the key ids, never the value) when it cannot. */
  open(sealed: string, context = ''): string {
    const id = SecretBox.keyIdOf(sealed);
    if (id === null) throw new SecretUnreadable('value is not sealed', 'a defect: open only sealed values');
    const key = this.byId.get(id);
    if (!key)
      throw new SecretUnreadable(
        `a stored secret was sealed with key ${id}, but this server has key ${this.current.id} (${this.current.source})`,
        'start the server with the key that sealed it (MARIONETTE_SECRET_KEY, or restore $MARIONETTE_HOME/secret.key); to rotate, give the old key in MARIONETTE_SECRET_KEY_PREVIOUS. Nothing was changed.',
      );
    const body = Buffer.from(sealed.slice(SEALED_PREFIX.length + 9), 'base64url');
    if (body.length < IV_BYTES + TAG_BYTES)
      throw new SecretUnreadable(`a stored secret sealed with key ${id} is truncated`, 'the stored value is corrupted');
    try {
      const d = createDecipheriv('aes-256-gcm', key.key, body.subarray(0, IV_BYTES));
      d.setAAD(Buffer.from(context, 'utf8'));
      d.setAuthTag(body.subarray(body.length - TAG_BYTES));
      return Buffer.concat([d.update(body.subarray(IV_BYTES, body.length - TAG_BYTES)), d.final()]).toString('utf8');
    } catch {
      throw new SecretUnreadable(
        `a stored secret sealed with key ${id} did not authenticate (altered, or moved from another record)`,
        'the stored value is corrupted or was tampered with; it cannot be read',
      );
    }
  }
}
