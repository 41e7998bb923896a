/**
 * @module How `mctl credentials set` turns `--from-env` and `--stdin` into field values: a declared
 * variable fills its field, `FIELD=VAR` names the field, any variable fills a provider's one required
 * field, stdin is the value alone or NAME=VALUE lines; every mistake is an error naming the option
 * and field and never the value.
 */
import { describe, expect, it } from 'vitest';
import { credentialFields } from '../../providers/credentials.js';
import { credentialValues } from './credentials.js';

const declared = (id: string) => credentialFields(id).map(({ name, env, required }) => ({ name, env, required }));
const SECRET = 'value-that-must-not-show-0123456789';

describe('credentialValues', () => {
  it('maps variables and stdin to fields', () => {
    const env = { E2B_API_KEY: SECRET, MY_KEY: 'k2', MODAL_TOKEN_ID: 'ak', S: 'as', DAYTONA_API_URL: 'http://x' };
    expect(credentialValues('e2b', declared('e2b'), ['E2B_API_KEY'], null, env)).toEqual({ apiKey: SECRET });
    expect(credentialValues('e2b', declared('e2b'), ['MY_KEY'], null, env)).toEqual({ apiKey: 'k2' });
    expect(credentialValues('e2b', declared('e2b'), [], `  ${SECRET}\n`, env)).toEqual({ apiKey: SECRET });
    expect(credentialValues('modal', declared('modal'), ['MODAL_TOKEN_ID', 'tokenSecret=S'], null, env)).toEqual({
      tokenId: 'ak',
      tokenSecret: 'as',
    });
    expect(credentialValues('modal', declared('modal'), [], 'MODAL_TOKEN_ID=ak\n\ntokenSecret=a=b==\n', env)).toEqual({
      tokenId: 'ak',
      tokenSecret: 'a=b==',
    });
    // Both at once; a base64-looking value with '=' is still one value.
    expect(credentialValues('daytona', declared('daytona'), ['DAYTONA_API_URL'], 'abcd==', env)).toEqual({
      apiKey: 'abcd==',
      apiUrl: 'http://x',
    });
  });

  it('refuses mistakes naming the option and field, never the value', () => {
    const bad = (id: string, fromEnv: string[], stdin: string | null, env: Record<string, string>, msg: RegExp) => {
      let err: Error | null = null;
      try {
        credentialValues(id, declared(id), fromEnv, stdin, env);
      } catch (e: unknown) {
        err = e as Error;
      }
      expect(err?.message).toMatch(msg);
      expect(`${err?.message} ${(err as { hint?: string }).hint ?? ''}`).not.toContain(SECRET);
    };
    bad('e2b', [], ' \n ', {}, /^--stdin: stdin was empty$/);
    bad('e2b', ['NOPE'], null, {}, /^--from-env NOPE: NOPE is not set \(or empty\) in this environment$/);
    bad('modal', ['X'], null, { X: SECRET }, /provider modal takes several fields; say which one/);
    bad('modal', [], SECRET, {}, /provider modal takes several fields; give them as lines NAME=VALUE/);
    bad('modal', ['bogus=X'], null, { X: SECRET }, /provider modal has no field "bogus"/);
    bad('modal', ['MODAL_TOKEN_ID'], null, { MODAL_TOKEN_ID: SECRET }, /credential field tokenSecret is required/);
    bad('e2b', ['apiKey=not a var'], null, {}, /is not a variable name/);
  });
});
