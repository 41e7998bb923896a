import { describe, expect, it } from 'vitest';
import { parseServerAddress } from '../agent/gateway-client.js';
import { normalizeFingerprint } from '../agent/tls-client.js';
import { resolveTls } from './tls.js';

describe('server TLS settings', () => {
  it('is off by default; flags win over env over the file', () => {
    expect(resolveTls({}, {}, undefined)).toBeNull();
    expect(resolveTls({ tls: 'self-signed' }, {}, undefined)).toEqual({ mode: 'self-signed', clientCaFile: null });
    expect(resolveTls({}, { MARIONETTE_TLS: 'self-signed' }, undefined)?.mode).toBe('self-signed');
    expect(resolveTls({}, {}, { self_signed: true })?.mode).toBe('self-signed');
    expect(resolveTls({ tls: 'off' }, {}, { self_signed: true })).toBeNull();
    expect(resolveTls({ tlsCert: '/c.pem', tlsKey: '/k.pem' }, {}, { cert: '/x', key: '/y' })).toEqual({
      mode: 'files',
      certFile: '/c.pem',
      keyFile: '/k.pem',
      clientCaFile: null,
    });
    expect(resolveTls({}, { MARIONETTE_TLS_CERT: '/c', MARIONETTE_TLS_KEY: '/k' }, undefined)?.mode).toBe('files');
  });

  it('names the mistake: half a pair, an unknown mode, both modes, a client CA without TLS', () => {
    expect(() => resolveTls({ tlsCert: '/c' }, {}, undefined)).toThrow('--tls-cert (tls.cert) given without --tls-key');
    expect(() => resolveTls({}, {}, { key: '/k' })).toThrow('without --tls-cert');
    expect(() => resolveTls({ tls: 'on' }, {}, undefined)).toThrow('--tls "on": expected self-signed or off');
    expect(() => resolveTls({ tls: 'self-signed', tlsCert: '/c', tlsKey: '/k' }, {}, undefined)).toThrow('choose one');
    expect(() => resolveTls({ tlsClientCa: '/ca' }, {}, undefined)).toThrow(
      '--tls-client-ca (tls.client_ca) needs TLS',
    );
  });
});

describe('agent server address', () => {
  it('wss:// and https:// mean TLS; HOST:PORT, ws:// and http:// are plain; unix: is local', () => {
    expect(parseServerAddress('wss://gw.example:9090')).toMatchObject({
      tls: true,
      ws: 'wss://gw.example:9090/v1/connect',
    });
    expect(parseServerAddress('https://10.0.0.1:9090').tls).toBe(true);
    expect(parseServerAddress('gw.example:9090')).toMatchObject({ tls: false, ws: 'ws://gw.example:9090/v1/connect' });
    expect(parseServerAddress('ws://gw.example:9090').tls).toBe(false);
    expect(parseServerAddress('unix:/run/g.sock').tls).toBe(false);
    expect(() => parseServerAddress('ftp://x:1')).toThrow('expected HOST:PORT');
  });

  it('reads a fingerprint with or without colons, any case, and refuses anything else', () => {
    const hex = 'ab'.repeat(32);
    const want = `${'AB:'.repeat(31)}AB`;
    expect(normalizeFingerprint(hex)).toBe(want);
    expect(normalizeFingerprint(`sha256:${want.toLowerCase()}`)).toBe(want);
    expect(() => normalizeFingerprint('abcd')).toThrow('expected a SHA-256 fingerprint');
  });
});
