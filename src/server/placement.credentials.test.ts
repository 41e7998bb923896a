/**
 * The server's placement over a real SQLite store with the real credential service: a pool whose
 * provider declares a credential (e2b, built here as a provider that only carries its class row;
 * nothing is ever provisioned) gets `credential_missing` for an org without one, naming the
 * variable and the command; the environment fallback or a stored credential lets the same pool be
 * chosen; another org's credential does not count.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadServerConfig } from '../config/index.js';
import { newId } from '../core/ids.js';
import { e2b } from '../providers/e2b/index.js';
import type { SandboxProvider } from '../providers/types.js';
import { openStore, orgScope, type Store } from '../store/index.js';
import type { SessionRequest } from '../store/records.js';
import { BUILT_IN_AGENTS } from './agents.js';
import type { ServerContext } from './context.js';
import { EventBus } from './events.js';
import { Placer } from './placement.js';
import { ProviderCredentials } from './provider-credentials.js';
import { Redactor } from './redact.js';
import { newSecretKeyText, parseSecretKey, SecretBox } from './secrets.js';
import { SessionCatalog } from './session-catalog.js';

let home: string;
let store: Store;
let orgId: string;
let projectId: string;
let otherOrg: string;

const request: SessionRequest = {
  agent: 'shell',
  prompt: 'true',
  provider: null,
  pool: 'cloud',
  selector: null,
  profile: null,
  authMode: 'byok',
  env: {},
};

/** A placer over the store whose credential fallbacks are `env`. */
function placer(env: Record<string, string>): { placer: Placer; credentials: ProviderCredentials } {
  const secrets = new SecretBox([parseSecretKey(newSecretKeyText(), 'test')]);
  const redactor = new Redactor();
  const credentials = new ProviderCredentials({ store, secrets, redactor, env });
  // The e2b class row only: the test asserts where a session would go, never provisions.
  const cloud = { id: 'e2b', displayName: 'E2B', capabilities: e2b.capabilities } as unknown as SandboxProvider;
  const ctx: ServerContext = {
    config: loadServerConfig({ home }, { MARIONETTE_HOME: home }),
    store,
    bus: new EventBus(),
    log: pino({ level: 'silent' }),
    providers: new Map([['e2b', cloud]]),
    defaultOrg: orgScope(orgId),
    defaultProjectId: projectId,
    secrets,
    redactor,
    credentials,
  };
  const unused = undefined as never;
  return {
    placer: new Placer(ctx, unused, new SessionCatalog(ctx), unused, unused, new Map(), () => {}),
    credentials,
  };
}

async function addPool(org: string, name: string, providerId: string): Promise<void> {
  const now = Date.now();
  await store.pools.insert({
    id: newId('pool'),
    org_id: org,
    name,
    mode: 'managed',
    provider_id: providerId,
    priority: 0,
    active: 1,
    labels: '{}',
    min_runners: 0,
    max_runners: null,
    idle_timeout_ms: null,
    selector: null,
    runtime_provides: null,
    sandbox_config: '{}',
    lifecycle: 'per-session',
    sandbox_mode: 'runner-is-sandbox',
    suspend_config: '{"strategy":"terminate","fallback":"terminate","minDurationMs":0,"maxDurationMs":null}',
    source: 'api',
    created_at: now,
    updated_at: now,
  });
}

beforeAll(async () => {
  home = mkdtempSync(join(tmpdir(), 'mrn-place-cred-'));
  store = await openStore({ home });
  ({ orgId, projectId } = await store.auth.ensureDefaultTenancy());
  otherOrg = (await store.orgs.createOrg('other')).id;
  for (const org of [orgId, otherOrg])
    for (const card of BUILT_IN_AGENTS) await store.pools.putAgentCard(orgScope(org), newId('agt'), card);
  await addPool(orgId, 'cloud', 'e2b');
  await addPool(otherOrg, 'cloud', 'e2b');
});
afterAll(async () => {
  await store?.close();
  rmSync(home, { recursive: true, force: true });
});

describe('placement and provider credentials', () => {
  it('gives credential_missing to a pool whose provider has no credential for the org', async () => {
    const { placer: p } = placer({});
    const d = await p.evaluate(orgScope(orgId), projectId, request);
    expect(d.chosen).toBeNull();
    const v = d.verdicts.find((x) => x.poolName === 'cloud');
    expect(v?.reason).toBe('credential_missing');
    expect(v?.detail).toBe(
      "provider e2b needs a credential and this org has none: run `mctl credentials set e2b --from-env E2B_API_KEY`, or set E2B_API_KEY in the server's environment",
    );
  });

  it('chooses the pool with the environment fallback, or with the org’s stored credential', async () => {
    const withEnv = await placer({ E2B_API_KEY: 'from-the-env-0123' }).placer.evaluate(
      orgScope(orgId),
      projectId,
      request,
    );
    expect(withEnv.chosen?.poolName).toBe('cloud');
    const { placer: p, credentials } = placer({});
    // Another org's credential does not count.
    await credentials.set(orgScope(otherOrg), 'e2b', { apiKey: 'other-org-key-0123' });
    expect((await p.evaluate(orgScope(orgId), projectId, request)).chosen).toBeNull();
    expect((await p.evaluate(orgScope(otherOrg), projectId, request)).chosen?.poolName).toBe('cloud');
    await credentials.set(orgScope(orgId), 'e2b', { apiKey: 'this-org-key-0123' });
    const d = await p.evaluate(orgScope(orgId), projectId, request);
    expect(d.chosen).toMatchObject({ poolName: 'cloud', action: 'provision' });
    await credentials.delete(orgScope(orgId), 'e2b');
    expect((await p.evaluate(orgScope(orgId), projectId, request)).chosen).toBeNull();
  });
});
