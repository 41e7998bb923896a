/** The provider conformance suite (test/provider.conformance.ts) over `local`: real agent processes on this machine. */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { LocalSandboxProvider } from '../src/providers/local/provider.js';
import { readRecords } from '../src/providers/local/records.js';
import type { SandboxHandle } from '../src/providers/types.js';
import { describeProviderConformance } from './provider.conformance.js';

const home = mkdtempSync(join(tmpdir(), 'marionette-conf-local-'));
afterAll(() => rmSync(home, { recursive: true, force: true }));

const workspaceOf = (h: SandboxHandle) => h.metadata.workspace as string;

describeProviderConformance('local', {
  create: ({ installId, server }) =>
    new LocalSandboxProvider({ home, gateway: `unix:${server.gatewaySocket}`, installId }),
  workspace: {
    async write(h, file, text) {
      writeFileSync(join(workspaceOf(h), file), text);
    },
    async read(h, file) {
      try {
        return readFileSync(join(workspaceOf(h), file), 'utf8');
      } catch {
        return null;
      }
    },
  },
  // A runner still recorded is a process group that may still run.
  leftovers: async () => readRecords(join(home, 'runners')).map((o) => `${o.kind} ${o.id} (${o.name})`),
});
