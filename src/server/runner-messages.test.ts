/**
 * The runner protocol's message handling is exhaustive on both sides: a message type neither side
 * knows (a newer peer) gets a clear answer instead of silence. At compile time the `never` check
 * in each `switch` makes a new message type an error until it is handled.
 */
import { describe, expect, it } from 'vitest';
import { Agent } from '../agent/agent.js';
import type { AgentConfig } from '../config/agent.js';
import type { ServerMessage } from '../protocol/messages.js';
import type { ServerContext } from './context.js';
import type { RunnerControl } from './runner-control.js';
import { GatewayLinks, type RunnerConnection } from './runner-links.js';
import { type RunnerEvents, RunnerService } from './runners.js';

describe('runner protocol: unknown message types', () => {
  it('the server answers a runner message of unknown type with a protocol error', async () => {
    const sent: ServerMessage[] = [];
    const conn = {
      runnerId: 'run_1',
      helloDone: true,
      send: (m: ServerMessage) => sent.push(m) > 0,
      close: () => {},
    } as unknown as RunnerConnection;
    const runners = new RunnerService(
      {} as ServerContext,
      { gateway: new GatewayLinks() } as RunnerControl,
      {} as RunnerEvents,
    );
    await runners.onMessage(conn, { type: 'task.paused', taskId: 't' } as never);
    expect(sent).toEqual([{ type: 'error', code: 'protocol', message: 'unknown message type "task.paused"' }]);
  });

  it('the agent logs a server message of unknown type and ignores it', () => {
    const logs: string[] = [];
    const agent = new Agent({ config: { server: '127.0.0.1:9' } as AgentConfig, log: (m) => logs.push(m) });
    (agent as unknown as { onMessage(m: unknown): void }).onMessage({ type: 'migrate', to: 'elsewhere' });
    expect(logs).toEqual(['ignoring a server message of unknown type "migrate"']);
  });
});
