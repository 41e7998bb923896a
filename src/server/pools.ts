/**
 * @module Pools, profiles, agent cards and the provider matrix: validation, defaults seeded on
 * first start (the `local` pool, the built-in agents, the `gpu-large` profile, and whatever
 * marionette.yaml declares), and their REST routes.
 */
import type { z } from 'zod';
import { PoolInput, PoolUpdate, ProfileInput } from '../api/schemas.js';
import type { PoolFileConfig } from '../config/index.js';
import { deriveCapabilities, parseRuntimeProvides } from '../core/capabilities.js';
import { Conflict, InvalidRequest, NotFound } from '../core/errors.js';
import { newId } from '../core/ids.js';
import { nestedEgressCaps, parseNestedSandbox } from '../core/nested-sandbox.js';
import { formatSelector, parseSelector, selectorFromMap } from '../core/selector.js';
import {
  type Pool,
  type PoolMode,
  type Profile,
  SUSPEND_STRATEGIES,
  type SuspendConfig,
  type SuspendStrategy,
} from '../core/types.js';
import {
  defaultProviderFor,
  defaultSuspendConfig,
  findProvider,
  PROVIDERS,
  providerUnavailableReason,
  requireProvider,
} from '../providers/registry.js';
import type { OrgScope } from '../store/index.js';
import type { PoolsTable } from '../store/schema.js';
import { agentCardFromConfig, BUILT_IN_AGENTS } from './agents.js';
import type { Api } from './api.js';
import type { ServerContext } from './context.js';
import { poolEgressColumn } from './egress-input.js';
import { boundedDuration, intInRange, PRIORITY_RANGE, RUNNER_COUNT_RANGE } from './input-guards.js';
import { checkNestedSandbox, defaultLocalSandbox, localSandboxNote } from './pool-sandbox.js';
import type { SessionService } from './sessions.js';

export { PoolInput, PoolUpdate, ProfileInput };

/** The seed's example profile. */
export const BUILT_IN_PROFILES: Profile[] = [
  {
    name: 'gpu-large',
    description: 'An NVIDIA GPU with at least 16GB of VRAM',
    selector: 'gpu=nvidia,vram>=16GB',
    resources: { cpu: '8', memory: '32Gi', gpu: '1' },
    providerPreference: ['pool', 'kubernetes', 'modal'],
  },
];

function strategy(v: string, field: string): SuspendStrategy {
  if (!(SUSPEND_STRATEGIES as readonly string[]).includes(v))
    throw new InvalidRequest(
      `${field}: ${JSON.stringify(v)} is not a suspend strategy (expected one of ${SUSPEND_STRATEGIES.join(', ')})`,
    );
  return v as SuspendStrategy;
}

export class PoolService {
  constructor(
    private readonly ctx: ServerContext,
    private readonly sessions: SessionService,
  ) {}

  /** Validates input into a full row (merging onto `base` for updates). Throws InvalidRequest naming the field. */
  toRow(
    org: OrgScope,
    input: Partial<PoolInput> & { name: string },
    base: Pool | null,
    source: string,
    projectId: string | null,
  ): PoolsTable {
    const given = input.provider ?? base?.providerId;
    const named = given === undefined ? undefined : requireProvider(given, 'provider');
    const mode: PoolMode = input.mode ?? base?.mode ?? named?.poolMode ?? 'managed';
    const descriptor = named ?? defaultProviderFor(mode);
    const providerId = descriptor.id;
    if (mode === 'managed' && descriptor.poolMode !== 'managed')
      throw new InvalidRequest(`mode: a managed pool needs a managed provider, not ${providerId}`);
    if (mode !== 'managed' && descriptor.poolMode === 'managed')
      throw new InvalidRequest(
        `mode: ${mode} pools take runners that join with a token; provider must be one whose runners join (${PROVIDERS.filter(
          (d) => d.poolMode !== 'managed',
        )
          .map((d) => d.id)
          .join(', ')}), not ${providerId}`,
      );
    const sandboxMode = input.sandboxMode ?? base?.sandboxMode ?? 'runner-is-sandbox';
    const sandboxConfig = input.sandboxConfig ?? base?.sandboxConfig ?? {};
    checkNestedSandbox(sandboxMode, sandboxConfig, providerId, descriptor.poolMode === 'managed');
    let selector = base?.selector ?? null;
    if (input.selector !== undefined) {
      if (input.selector === null || input.selector === '') selector = null;
      else if (typeof input.selector === 'string') selector = formatSelector(parseSelector(input.selector));
      else selector = formatSelector(selectorFromMap(input.selector));
    }
    let runtimeProvides = base?.runtimeProvides ?? null;
    if (input.runtimeProvides !== undefined)
      runtimeProvides = input.runtimeProvides === null ? null : parseRuntimeProvides(input.runtimeProvides);
    const minRunners = intInRange(input.minRunners ?? base?.minRunners ?? 0, 'min_runners', RUNNER_COUNT_RANGE);
    const maxRunners =
      input.maxRunners !== undefined && input.maxRunners !== null
        ? intInRange(input.maxRunners, 'max_runners', RUNNER_COUNT_RANGE)
        : input.maxRunners === null
          ? null
          : (base?.maxRunners ?? (mode === 'managed' ? 10 : null));
    if (maxRunners !== null && minRunners > maxRunners)
      throw new InvalidRequest(`min_runners (${minRunners}) is larger than max_runners (${maxRunners})`);
    const idleTimeoutMs =
      input.idleTimeout !== undefined
        ? input.idleTimeout === null
          ? null
          : boundedDuration(input.idleTimeout, 'idle_timeout')
        : (base?.idleTimeoutMs ?? null);
    // Keys the input leaves out keep the pool's; from marionette.yaml (read at every start) they come
    // from the provider's default again, so an edited providers.<id>.suspend_config reaches its pools.
    const def =
      (source === 'config' ? null : base?.suspendConfig) ?? defaultSuspendConfig(providerId, this.ctx.config.providers);
    const sc = input.suspendConfig;
    const suspendConfig: SuspendConfig = {
      strategy: sc?.strategy ? strategy(sc.strategy, 'suspend_config.strategy') : def.strategy,
      fallback: sc?.fallback ? strategy(sc.fallback, 'suspend_config.fallback') : def.fallback,
      minDurationMs:
        sc?.minDuration !== undefined
          ? boundedDuration(sc.minDuration, 'suspend_config.min_duration')
          : def.minDurationMs,
      maxDurationMs:
        sc?.maxDuration !== undefined
          ? sc.maxDuration === null
            ? null
            : boundedDuration(sc.maxDuration, 'suspend_config.max_duration')
          : def.maxDurationMs,
      ...(sc?.preemptIdle !== undefined
        ? { preemptIdle: sc.preemptIdle }
        : def.preemptIdle !== undefined
          ? { preemptIdle: def.preemptIdle }
          : {}),
    };
    if (suspendConfig.maxDurationMs !== null && suspendConfig.maxDurationMs < suspendConfig.minDurationMs)
      throw new InvalidRequest('suspend_config.max_duration is shorter than suspend_config.min_duration');
    const now = Date.now();
    return {
      id: base?.id ?? newId('pool'),
      org_id: org.orgId,
      project_id: projectId,
      name: input.name,
      mode,
      provider_id: providerId,
      priority: intInRange(input.priority ?? base?.priority ?? 0, 'priority', PRIORITY_RANGE),
      active: (input.active ?? base?.active ?? true) ? 1 : 0,
      labels: JSON.stringify(input.labels ?? base?.labels ?? {}),
      min_runners: minRunners,
      max_runners: maxRunners,
      idle_timeout_ms: idleTimeoutMs,
      selector,
      runtime_provides: runtimeProvides === null ? null : JSON.stringify(runtimeProvides),
      sandbox_config: JSON.stringify(sandboxConfig),
      // From marionette.yaml (the truth for its pools), a removed `network` goes back to the provider's default.
      egress: poolEgressColumn(
        source === 'config' ? (input.network ?? null) : input.network,
        base?.egress ?? null,
        // A nested sandbox enforces any policy itself (docs/egress.md).
        sandboxMode === 'runner-creates-sandbox'
          ? { id: providerId, capabilities: nestedEgressCaps(parseNestedSandbox(sandboxConfig.sandbox)) }
          : descriptor,
      ),
      lifecycle: input.lifecycle ?? base?.lifecycle ?? 'per-session',
      sandbox_mode: sandboxMode,
      suspend_config: JSON.stringify(suspendConfig),
      source,
      created_at: base?.createdAt ?? now,
      updated_at: Math.max(now, (base?.updatedAt ?? 0) + 1),
    };
  }

  async get(org: OrgScope, idOrName: string): Promise<Pool> {
    const p = await this.ctx.store.pools.get(org, idOrName);
    if (!p) throw new NotFound('pool', idOrName, 'list pools with `mctl pools list`');
    return p;
  }

  /** The project a pool is given to (`project` in the input: a name or id of the org's, or null). */
  private async projectOf(org: OrgScope, given: string | null | undefined, base: Pool | null): Promise<string | null> {
    if (given === undefined) return base?.projectId ?? null;
    if (given === null) return null;
    const p = await this.ctx.store.orgs.getProject(org, given);
    if (!p)
      throw new InvalidRequest(`project: unknown project ${JSON.stringify(given)}`, {
        hint: 'list projects with `mctl projects list`',
      });
    return p.id;
  }

  async create(org: OrgScope, input: PoolInput, source = 'api'): Promise<Pool> {
    if (await this.ctx.store.pools.get(org, input.name))
      throw new Conflict(`pool ${input.name} already exists`, { hint: 'use `mctl pools update`' });
    const projectId = await this.projectOf(org, input.project, null);
    const pool = await this.ctx.store.pools.insert(this.toRow(org, input, null, source, projectId));
    this.changed(pool);
    return pool;
  }

  /** `source` `config`: marionette.yaml at start, which is the truth for the pool (see toRow). */
  async update(org: OrgScope, idOrName: string, input: z.infer<typeof PoolUpdate>, source = 'api'): Promise<Pool> {
    const base = await this.get(org, idOrName);
    const projectId = await this.projectOf(org, input.project, base);
    const row = this.toRow(org, { ...input, name: base.name }, base, source, projectId);
    const { id: _id, org_id: _o, created_at: _c, ...patch } = row;
    await this.ctx.store.pools.update(base.id, patch);
    this.changed(base, projectId);
    return this.get(org, base.id);
  }

  async delete(org: OrgScope, idOrName: string): Promise<void> {
    const pool = await this.get(org, idOrName);
    // The checks and the cascade (tokens, runner rows noted in the ChangeLog, the pool) are one transaction.
    await this.ctx.store.transaction(async (tx) => {
      const live = await tx.runners.live({ poolId: pool.id });
      if (live.length)
        throw new Conflict(`pool ${pool.name} still has ${live.length} live runner(s)`, {
          hint: 'drain them, or deactivate the pool with `mctl pools update NAME --active=false`',
        });
      const open = await tx.sessions.countOpenInPool(pool.id);
      if (open) throw new Conflict(`pool ${pool.name} still has ${open} open session(s)`);
      await tx.pools.deleteCascade(pool.id);
    });
    this.changed(pool);
  }

  /** `projectId`: the project the pool is given to now, when a change moved it. */
  private changed(pool: Pool, projectId = pool.projectId ?? null): void {
    const projectIds = [...new Set([pool.projectId ?? null, projectId])];
    this.ctx.bus.emit('pool:changed', { poolId: pool.id, orgId: pool.orgId, projectIds });
    this.sessions.poolsChanged();
  }

  /** Derived substrate and where each entry came from. */
  substrate(pool: Pool) {
    const cls = findProvider(pool.providerId);
    const d = deriveCapabilities(cls?.substrate, pool.runtimeProvides);
    const classDefault = deriveCapabilities(cls?.substrate, null);
    return {
      pool: pool.name,
      providerId: pool.providerId,
      source: d.source,
      runtimeKinds: d.provides.runtimeKinds,
      requirementKinds: d.provides.requirementKinds,
      classDefault: classDefault.provides,
      capabilities: this.ctx.providers.get(pool.providerId)?.capabilities ?? cls?.capabilities ?? null,
    };
  }

  /** First start and every start: built-ins, the local pool, and marionette.yaml's agents, pools and profiles. */
  async seed(): Promise<void> {
    const { store, config, defaultOrg: orgId } = this.ctx;
    await this.seedOrg(orgId);
    for (const [name, c] of Object.entries(config.agents))
      await store.pools.putAgentCard(orgId, newId('agt'), agentCardFromConfig(name, c));
    for (const [name, p] of Object.entries(config.profiles)) {
      for (const id of p.provider_preference ?? []) requireProvider(id, `profiles.${name}.provider_preference`);
      const selector = p.selector ? formatSelector(parseSelector(p.selector)) : null;
      await store.pools.putProfile(
        orgId,
        newId('prf'),
        {
          name,
          description: p.description ?? '',
          selector,
          resources: p.resources ?? {},
          providerPreference: p.provider_preference ?? [],
          taskTimeoutMs: p.task_timeout ?? null,
        },
        false,
      );
    }
    // The default pool: named after the default managed provider (the server's own host).
    const hostProvider = defaultProviderFor('managed').id;
    // It keeps `providers.<id>.warm_runners` runners warm (local: default 1), set when it is created.
    if (!(await store.pools.get(orgId, hostProvider)) && !config.pools[hostProvider]) {
      const warm = (config.providers[hostProvider] as { warm_runners?: number } | undefined)?.warm_runners ?? 1;
      try {
        await this.create(
          orgId,
          {
            name: hostProvider,
            provider: hostProvider,
            mode: 'managed',
            priority: 0,
            maxRunners: 8,
            minRunners: warm,
            ...defaultLocalSandbox(hostProvider, config.localSandbox),
          },
          'default',
        );
      } catch (e: unknown) {
        throw new InvalidRequest(`providers.${hostProvider}.warm_runners: ${(e as Error).message}`);
      }
    }
    const local = await store.pools.get(orgId, hostProvider);
    if (local) {
      const note = localSandboxNote(local);
      if (note) this.ctx.log.warn({ pool: local.name }, note);
    }
    const declared: [string, PoolFileConfig][] = Object.entries(config.pools);
    for (const [name, p] of declared) {
      const input = fileToInput(name, p);
      const existing = await store.pools.get(orgId, name);
      try {
        if (existing) await this.update(orgId, existing.id, input, 'config');
        else await this.create(orgId, input as PoolInput, 'config');
      } catch (e: unknown) {
        throw new InvalidRequest(`pools.${name}: ${(e as Error).message}`);
      }
    }
    this.sessions.poolsChanged();
  }

  /** The built-in agent cards and profiles every org starts with (at first start, and for each new org). */
  async seedOrg(org: OrgScope): Promise<void> {
    const { store } = this.ctx;
    for (const card of BUILT_IN_AGENTS) await store.pools.putAgentCard(org, newId('agt'), card);
    const existingProfiles = new Set((await store.pools.profiles(org)).map((p) => p.name));
    for (const p of BUILT_IN_PROFILES)
      if (!existingProfiles.has(p.name)) await store.pools.putProfile(org, newId('prf'), p, true);
  }

  routes(api: Api): void {
    const { store } = this.ctx;
    api.route('GET', '/v1/pools', { summary: 'List pools', tag: 'pools' }, async ({ org }) => {
      const pools = await store.pools.list(org);
      const live = await store.runners.liveIn(org);
      return { items: pools.map((p) => ({ ...p, ...this.counts(p, live) })) };
    });
    api.route(
      'GET',
      '/v1/pools/:id',
      { summary: 'Get a pool, its runner counts, health and derived substrate', tag: 'pools' },
      async ({ params, org }) => {
        const p = await this.get(org, params.id!);
        const live = await store.runners.live({ poolId: p.id });
        return { ...p, ...this.counts(p, live), substrate: this.substrate(p) };
      },
    );
    api.route(
      'POST',
      '/v1/pools',
      { summary: 'Create a pool', tag: 'pools', body: PoolInput, status: 201 },
      async ({ body, org }) => this.create(org, body),
    );
    api.route(
      'PATCH',
      '/v1/pools/:id',
      { summary: 'Update a pool', tag: 'pools', body: PoolUpdate },
      async ({ params, body, org }) => this.update(org, params.id!, body),
    );
    api.route(
      'DELETE',
      '/v1/pools/:id',
      { summary: 'Delete a pool (no live runners or open sessions)', tag: 'pools' },
      async ({ params, org }) => {
        await this.delete(org, params.id!);
        return { deleted: params.id };
      },
    );
    api.route('GET', '/v1/profiles', { summary: 'List profiles', tag: 'profiles' }, async ({ org }) => ({
      items: await store.pools.profiles(org),
    }));
    api.route('GET', '/v1/profiles/:name', { summary: 'Get a profile', tag: 'profiles' }, async ({ params, org }) => {
      const p = (await store.pools.profiles(org)).find((x) => x.name === params.name);
      if (!p) throw new NotFound('profile', params.name!, 'list profiles with `mctl profiles list`');
      return p;
    });
    api.route(
      'POST',
      '/v1/profiles',
      { summary: 'Create or replace a profile', tag: 'profiles', body: ProfileInput, status: 201 },
      async ({ body, org }) => {
        const selector = body.selector ? formatSelector(parseSelector(body.selector)) : null;
        for (const p of body.providerPreference) requireProvider(p, 'providerPreference');
        const profile: Profile = {
          name: body.name,
          description: body.description,
          selector,
          resources: body.resources,
          providerPreference: body.providerPreference,
          taskTimeoutMs: body.taskTimeoutMs ?? null,
        };
        await store.pools.putProfile(org, newId('prf'), profile, false);
        this.sessions.poolsChanged();
        return this.sessions.profile(org, body.name);
      },
    );
    api.route(
      'DELETE',
      '/v1/profiles/:name',
      { summary: 'Delete a profile', tag: 'profiles' },
      async ({ params, org }) => {
        if (!(await store.pools.deleteProfile(org, params.name!))) throw new NotFound('profile', params.name!);
        this.sessions.poolsChanged();
        return { deleted: params.name };
      },
    );
    api.route(
      'GET',
      '/v1/providers',
      { summary: 'Providers and their capability matrix rows', tag: 'providers' },
      async () => ({
        items: PROVIDERS.map((d) => {
          const registered = this.ctx.providers.get(d.id);
          return {
            id: d.id,
            displayName: registered?.displayName ?? d.displayName,
            implemented: d.create !== undefined,
            registered: Boolean(registered),
            unavailable: providerUnavailableReason(d.id, this.ctx.providers, this.sessions.providerHealth.get(d.id)),
            capabilities: registered?.capabilities ?? d.capabilities,
            substrate: deriveCapabilities(d.substrate, null).provides,
            suspend: defaultSuspendConfig(d.id, this.ctx.config.providers),
          };
        }),
      }),
    );
  }

  /**
   * Runner counts: `idle` is what a new session could take (idle, bound to no session); `bound` is
   * idle but held by a session between its tasks (not free for anyone else); `busy` runs a task.
   */
  private counts(p: Pool, live: { poolId: string; state: string; sessionId: string | null }[]) {
    const mine = live.filter((r) => r.poolId === p.id);
    const idle = mine.filter((r) => r.state === 'idle' && r.sessionId === null).length;
    const bound = mine.filter((r) => r.state === 'idle' && r.sessionId !== null).length;
    const warnings: string[] = [];
    if (p.mode !== 'managed' && mine.length < p.minRunners)
      warnings.push(`${mine.length} live runner(s), fewer than min_runners ${p.minRunners}`);
    const unavailable = providerUnavailableReason(
      p.providerId,
      this.ctx.providers,
      this.sessions.providerHealth.get(p.providerId),
    );
    if (unavailable) warnings.unshift(`provider_unavailable: ${unavailable}`);
    return {
      runners: { live: mine.length, idle, bound, busy: mine.filter((r) => r.state === 'busy').length },
      /** `unavailable`: its provider cannot run anything (the reason is the first warning); `warning`: it can, but see warnings. */
      health: unavailable ? 'unavailable' : warnings.length ? 'warning' : 'ok',
      ...(unavailable ? { unavailableReason: unavailable } : {}),
      warnings,
    };
  }
}

/** marionette.yaml's snake_case pool into the API's input. */
function fileToInput(name: string, p: PoolFileConfig): Partial<PoolInput> & { name: string } {
  return {
    name,
    ...(p.mode !== undefined ? { mode: p.mode } : {}),
    ...(p.provider !== undefined ? { provider: p.provider } : {}),
    ...(p.priority !== undefined ? { priority: p.priority } : {}),
    ...(p.active !== undefined ? { active: p.active } : {}),
    ...(p.labels !== undefined ? { labels: p.labels } : {}),
    ...(p.min_runners !== undefined ? { minRunners: p.min_runners } : {}),
    ...(p.max_runners !== undefined ? { maxRunners: p.max_runners } : {}),
    ...(p.idle_timeout !== undefined ? { idleTimeout: `${p.idle_timeout}ms` } : {}),
    ...(p.selector !== undefined ? { selector: p.selector } : {}),
    ...(p.runtime_provides !== undefined ? { runtimeProvides: p.runtime_provides } : {}),
    ...(p.sandbox_config !== undefined ? { sandboxConfig: p.sandbox_config } : {}),
    ...(p.network !== undefined ? { network: p.network } : {}),
    ...(p.lifecycle !== undefined ? { lifecycle: p.lifecycle } : {}),
    ...(p.sandbox_mode !== undefined ? { sandboxMode: p.sandbox_mode } : {}),
    ...(p.suspend_config !== undefined
      ? {
          suspendConfig: {
            ...(p.suspend_config.strategy ? { strategy: p.suspend_config.strategy } : {}),
            ...(p.suspend_config.fallback ? { fallback: p.suspend_config.fallback } : {}),
            ...(p.suspend_config.min_duration !== undefined
              ? { minDuration: `${p.suspend_config.min_duration}ms` }
              : {}),
            ...(p.suspend_config.max_duration !== undefined
              ? { maxDuration: `${p.suspend_config.max_duration}ms` }
              : {}),
            ...(p.suspend_config.preempt_idle !== undefined ? { preemptIdle: p.suspend_config.preempt_idle } : {}),
          },
        }
      : {}),
  };
}
