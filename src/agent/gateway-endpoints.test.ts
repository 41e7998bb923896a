import { describe, expect, it } from 'vitest';
import { readAgentConfigFile } from '../config/agent.js';
import { GatewayEndpoints, parseServerAddresses } from './gateway-client.js';

describe('several gateway addresses (server replicas)', () => {
  it('parses a comma-separated list and moves through it in turn, keeping one endpoint object', () => {
    const eps = new GatewayEndpoints(parseServerAddresses('a.example:9090, b.example:9091,'));
    const cur = eps.current;
    expect(cur.display).toBe('a.example:9090');
    expect(eps.next()).toBe(true);
    expect(eps.current).toBe(cur);
    expect(cur).toMatchObject({ display: 'b.example:9091', http: { host: 'b.example', port: 9091 } });
    eps.next();
    expect(cur.display).toBe('a.example:9090');
  });

  it('a single address never moves', () => {
    const eps = new GatewayEndpoints(parseServerAddresses('unix:/run/gw.sock'));
    expect(eps.next()).toBe(false);
    expect(eps.current.display).toBe('unix:/run/gw.sock');
  });

  it('refuses an empty list, a bad address naming it, and TLS mixed with plain', () => {
    expect(() => parseServerAddresses(' , ')).toThrow(/no gateway address/);
    expect(() => parseServerAddresses('a:9090,nonsense')).toThrow(/"nonsense": expected HOST:PORT/);
    expect(() => parseServerAddresses('wss://a:9090,b:9090')).toThrow(/mixes TLS/);
  });

  it('takes a YAML list in the config file, and refuses a bad one', async () => {
    expect((await readAgentConfigFile('agent.yaml', 'server: [a:9090, b:9090]\n')).server).toBe('a:9090,b:9090');
    await expect(readAgentConfigFile('agent.yaml', 'server: []\n')).rejects.toThrow(/server: expected an address/);
    await expect(readAgentConfigFile('agent.yaml', 'server: [1, {x: 2}]\n')).rejects.toThrow(/server/);
  });
});
