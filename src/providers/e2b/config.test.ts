/**
 * The e2b config's transport keys: `transport` is dial-in or tunnel (default dial-in), a bad value
 * or port names the key, a pool may choose its own transport, and the tunnel URL template must be
 * a ws:// or wss:// URL naming {port}.
 */
import { describe, expect, it } from 'vitest';
import { mergeE2bConfig, parseE2bConfig } from './config.js';

describe('e2b config: transport', () => {
  it('defaults to dial-in, with the tunnel port and E2B host template', () => {
    const c = parseE2bConfig({});
    expect(c.transport).toBe('dial-in');
    expect(c.tunnelPort).toBe(49990);
    expect(c.tunnelUrl).toBe('wss://{port}-{sandboxId}.{domain}');
  });

  it('refuses a bad transport, port or URL template naming the key', () => {
    expect(() => parseE2bConfig({ transport: 'carrier-pigeon' })).toThrow(/providers\.e2b\.transport/);
    expect(() => parseE2bConfig({ tunnelPort: 70000 })).toThrow(/providers\.e2b\.tunnelPort/);
    expect(() => parseE2bConfig({ tunnelUrl: 'https://x/{port}' })).toThrow(/providers\.e2b\.tunnelUrl: expected a ws/);
    expect(() => mergeE2bConfig(parseE2bConfig({}), { transport: 'udp' })).toThrow(/sandbox_config\.transport/);
  });

  it('a pool may choose the tunnel over the provider default', () => {
    const c = mergeE2bConfig(parseE2bConfig({ gateway: 'wss://gw:9090' }), { transport: 'tunnel', tunnelPort: 4000 });
    expect(c.transport).toBe('tunnel');
    expect(c.tunnelPort).toBe(4000);
  });
});
