/**
 * @module The only place that reads the environment and config files. One zod schema for
 * `marionette.yaml` plus env, parsed once, passed inward as typed options. Every option's default
 * is written next to it (and in docs/config.md).
 */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { InvalidRequest } from '../core/errors.js';
import { type Kit, makeKit } from '../core/kits.js';
import { FAULT_POINTS } from '../core/suspend-steps.js';
import { providerCredentialEnv } from '../providers/credentials.js';
import { type ProvidersConfig, parseProvidersConfig, poolsInProviderSections } from '../providers/registry.js';
import { duration } from './duration.js';
import { type LimitsConfig, limitsFileSchema, resolveLimits } from './limits.js';
import { resolveTls, type TlsConfig, type TlsFlags, tlsFileSchema } from './tls.js';
import { resolveWorkspaces, type WorkspacesConfig, workspacesFileSchema } from './workspaces.js';

const port = z.coerce.number().int().min(0).max(65535);

const agentCardSchema = z.strictObject({
  description: z.string().default(''),
  /** argv template; `{{prompt}}` is replaced by the task's prompt. */
  command: z.array(z.string()).min(1),
  env: z.record(z.string(), z.string()).default({}),
  required_env: z.array(z.string()).default([]),
  runtimes: z.array(z.strictObject({ kind: z.string() })).default([{ kind: 'native' }]),
  requires: z.array(z.strictObject({ kind: z.string() })).default([]),
  kits: z.array(z.string()).default([]),
  /** argv put in place of a `{{resume}}` element on a follow-up task; `{{conversation}}` is the agent's conversation id. */
  resume: z.array(z.string()).optional(),
  /** How the outcome is read: exit (default), claude, codex, gemini, opencode. */
  outcome: z.string().optional(),
  /** Shell commands run before the command, with the task's environment. */
  setup: z.array(z.string()).optional(),
  /** Task timeout for this card (e.g. 30m); default `tasks.default_timeout`. */
  task_timeout: duration.optional(),
  /** How to provide each required env var (shown when it is missing), by name. */
  env_hints: z.record(z.string(), z.string()).optional(),
  /** Run the command inside a login shell (`bash -l`: the login profile is read first). Default false. */
  login_shell: z.boolean().optional(),
});

/** A kit as written under `kits:` (snake_case). */
const kitConfigSchema = z.strictObject({
  id: z.string(),
  version: z.union([z.string(), z.number()]).transform(String),
  description: z.string().optional(),
  os: z.array(z.string()).optional(),
  detect: z.string().optional(),
  install_commands: z.array(z.string()).optional(),
  post_acquire: z.array(z.string()).optional(),
  pre_release: z.array(z.string()).optional(),
  env: z.record(z.string(), z.string()).optional(),
});

function configKit(k: z.infer<typeof kitConfigSchema>, i: number): Kit {
  return makeKit(
    {
      id: k.id,
      version: k.version,
      description: k.description,
      os: k.os,
      detect: k.detect,
      installCommands: k.install_commands,
      postAcquire: k.post_acquire,
      preRelease: k.pre_release,
      env: k.env,
    },
    `kits[${i}]`,
  );
}

const suspendConfigSchema = z.strictObject({
  strategy: z.string().optional(),
  fallback: z.string().optional(),
  min_duration: duration.optional(),
  max_duration: duration.optional(),
  /** Suspend idle sessions of this pool for waiting ones (default: `sessions.preempt_idle`). */
  preempt_idle: z.boolean().optional(),
});

/** One pool as written under `pools:` or `providers.pool.pools:` (validated fully by the pool service). */
const poolConfigSchema = z.strictObject({
  provider: z.string().optional(),
  mode: z.enum(['managed', 'pool', 'external']).optional(),
  priority: z.number().int().optional(),
  active: z.boolean().optional(),
  labels: z.record(z.string(), z.string()).optional(),
  min_runners: z.number().int().min(0).optional(),
  max_runners: z.number().int().min(0).optional(),
  idle_timeout: duration.optional(),
  selector: z.union([z.string(), z.record(z.string(), z.string())]).optional(),
  runtime_provides: z.unknown().optional(),
  sandbox_config: z.record(z.string(), z.unknown()).optional(),
  /** `egress`: none | open | { allow: [host patterns, CIDRs] } (docs/egress.md). Default: the provider's. */
  network: z.strictObject({ egress: z.unknown() }).optional(),
  lifecycle: z.enum(['per-session', 'per-task']).optional(),
  sandbox_mode: z.enum(['runner-is-sandbox', 'runner-creates-sandbox']).optional(),
  suspend_config: suspendConfigSchema.optional(),
});

const fileSchema = z.strictObject({
  /** Where state lives. Default `~/.marionette` (env `MARIONETTE_HOME`). */
  home: z.string().optional(),
  server: z
    .strictObject({
      /** REST API bind address. Default `127.0.0.1`. */
      host: z.string().optional(),
      /** REST API port. Default 8080 (env `MARIONETTE_PORT`). */
      port: port.optional(),
      /** Runner gateway bind address. Default `127.0.0.1`. */
      gateway_host: z.string().optional(),
      /** Runner gateway port. Default 9090 (env `MARIONETTE_GATEWAY_PORT`). */
      gateway_port: port.optional(),
      /** Largest accepted prompt, in bytes. Default 262144 (256 KiB). */
      max_prompt_bytes: z.number().int().positive().optional(),
      /** pino level. Default `info` (env `MARIONETTE_LOG_LEVEL`). */
      log_level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).optional(),
    })
    .optional(),
  database: z
    .strictObject({
      /** `postgres://...` to use PostgreSQL; default SQLite at `$MARIONETTE_HOME/marionette.db` (env `MARIONETTE_DATABASE_URL`). */
      url: z.string().optional(),
      /**
       * PostgreSQL row-level security on the org-owned tables, a second wall behind the
       * repositories' org scope. The server refuses to start when it cannot hold (SQLite, a
       * superuser or BYPASSRLS role, a role that does not own the tables). Default false.
       */
      row_level_security: z.boolean().optional(),
      /**
       * PostgreSQL only: how long a replica holds the singleton loops (lease reaper, reconcilers,
       * autoscaler, collection) without renewing; another replica takes them over within this
       * after the holder dies (docs/replicas.md). Default 15s.
       */
      loop_lease: duration.optional(),
    })
    .optional(),
  runners: z
    .strictObject({
      /** How often runners heartbeat. Default 5s. */
      heartbeat_interval: duration.optional(),
      /** A runner not heard from for this long is offline and its task lost. Default 30s. */
      lease_timeout: duration.optional(),
      /** Retries for a task whose runner was lost. Default 1. */
      max_retries: z.number().int().min(0).optional(),
      /** stdout + stderr lines kept per task; later output is discarded. Default 5,000,000. */
      task_output_max_lines: z.number().int().positive().optional(),
      /** stdout + stderr bytes kept per task; later output is discarded. Default 536,870,912 (512 MiB). */
      task_output_max_bytes: z.number().int().positive().optional(),
    })
    .optional(),
  sessions: z
    .strictObject({
      /** A session idle this long is completed and its runner released. Default 15m. */
      idle_timeout: duration.optional(),
      /** Suspend an idle session holding a runner a waiting session needs. Default true. */
      preempt_idle: z.boolean().optional(),
      /** ...once it has been idle this long. Default 10s. */
      preempt_min_idle: duration.optional(),
      /** How long before its provider's maximum session duration a session is suspended. Default 5m. */
      ceiling_margin: duration.optional(),
    })
    .optional(),
  /** Timeouts and connection caps on the API and gateway (src/config/limits.ts). */
  limits: limitsFileSchema.optional(),
  /** Snapshot retention, scheduled store collection, snapshot timeout (src/config/workspaces.ts). */
  workspaces: workspacesFileSchema.optional(),
  /** TLS for the API and the gateway (src/config/tls.ts). Default off. */
  tls: tlsFileSchema.optional(),
  tasks: z
    .strictObject({
      /** A task running longer is killed and ends `timed_out`. Default 1h; a card, profile or session may set its own. */
      default_timeout: duration.optional(),
    })
    .optional(),
  /** Extra agent cards, by name (built-ins `shell`, `claude`, `codex` cannot be replaced). */
  agents: z.record(z.string(), agentCardSchema).optional(),
  /** User kits (src/core/kits.ts), every org's, beside the built-in ones. */
  kits: z.array(kitConfigSchema).optional(),
  /** Provider settings by provider id; each section is checked by its provider's schema (src/providers/registry.ts). */
  providers: z.record(z.string(), z.unknown()).optional(),
  /** Pools by name. */
  pools: z.record(z.string(), poolConfigSchema).optional(),
  /** Profiles by name. */
  profiles: z
    .record(
      z.string(),
      z.strictObject({
        description: z.string().optional(),
        selector: z.string().optional(),
        resources: z
          .strictObject({ cpu: z.string().optional(), memory: z.string().optional(), gpu: z.string().optional() })
          .optional(),
        provider_preference: z.array(z.string()).optional(),
        /** Task timeout for sessions with this profile (overrides the agent card's). */
        task_timeout: duration.optional(),
      }),
    )
    .optional(),
});

export type FileConfig = z.infer<typeof fileSchema>;
export type PoolFileConfig = z.infer<typeof poolConfigSchema>;
export type AgentCardFileConfig = z.infer<typeof agentCardSchema>;

export interface ServerConfig {
  home: string;
  host: string;
  port: number;
  gatewayHost: string;
  gatewayPort: number;
  /** Path of the gateway's unix socket (`$MARIONETTE_HOME/run/gateway.sock`). */
  gatewaySocket: string;
  databaseUrl: string | null;
  /** `OTEL_EXPORTER_OTLP_ENDPOINT`: export traces over OTLP/HTTP (JSON) to `<it>/v1/traces`; null (default): no traces. */
  otlpEndpoint: string | null;
  /** `database.row_level_security` (default false): see src/store/rls.ts. */
  rowLevelSecurity: boolean;
  /** `database.loop_lease` (default 15s): the singleton loop lease's time to live (src/server/loop-lease.ts). */
  loopLeaseMs: number;
  logLevel: string;
  maxPromptBytes: number;
  heartbeatIntervalMs: number;
  leaseTimeoutMs: number;
  /** Per-task output limits sent to runners with each assignment. */
  taskOutputLimits: { lines: number; bytes: number };
  maxRetries: number;
  sessionIdleTimeoutMs: number;
  /** Suspend idle sessions for waiting ones (`sessions.preempt_idle`, default true; pools may override). */
  preemptIdle: boolean;
  /** How long a session must have been idle before it is suspended for a waiting one (default 10s). */
  preemptMinIdleMs: number;
  /** How long before a provider's `maxSessionDurationSeconds` a session is suspended (`sessions.ceiling_margin`, default 5m). */
  ceilingMarginMs?: number;
  /** Socket timeouts and caps, hello timeout, invalid-frame budget, registration rate (`limits:`). */
  limits: LimitsConfig;
  /** Snapshot retention and the store's scheduled collection (`workspaces:`). */
  workspaces: WorkspacesConfig;
  /** TLS for the API and the gateway's TCP listener (`tls:`, `--tls-cert`...); null = off. */
  tls: TlsConfig | null;
  /** `tasks.default_timeout` (default 1h). */
  taskTimeoutMs: number;
  /** The default local pool's nested sandbox (env MARIONETTE_LOCAL_SANDBOX over `providers.local.nested_sandbox`, default auto). */
  localSandbox: 'auto' | 'bubblewrap' | 'gvisor' | 'off';
  agents: Record<string, AgentCardFileConfig>;
  /** `kits:` from the config file (default none), checked. */
  kits: Kit[];
  /** Each configured provider's section, parsed by its descriptor (only implemented, known providers). */
  providers: ProvidersConfig;
  /** `pools:` plus the pools declared inside provider sections (`providers.pool.pools`). */
  pools: Record<string, PoolFileConfig>;
  profiles: NonNullable<FileConfig['profiles']>;
  configFile: string | null;
  /**
   * TEST-ONLY crash point (env `MARIONETTE_FAULT`, e.g. `suspend:snapshot:stopped`): the server
   * kills itself with SIGKILL at that step of a suspend or resume, so crash-recovery tests can
   * stop it at an exact step. Default null (never set it outside tests).
   */
  faultPoint: string | null;
  /** Agent credentials passed to tasks whose agent card requires them (ANTHROPIC_API_KEY, OPENAI_API_KEY, and any named in MARIONETTE_PASSTHROUGH_ENV). */
  credentialsEnv: Record<string, string>;
  /** The names the server passes through when set (the built-in ones plus MARIONETTE_PASSTHROUGH_ENV). */
  credentialNames: string[];
  /**
   * The provider credential fallbacks set in the server's environment (E2B_API_KEY, DAYTONA_API_KEY,
   * MODAL_TOKEN_ID, VERCEL_TOKEN, ...: every variable a provider descriptor names), by variable name.
   * An org without a stored credential for a provider uses these (src/server/provider-credentials.ts).
   */
  providerCredentialsEnv: Record<string, string>;
  /** `MARIONETTE_SECRET_KEY`: the at-rest key (base64 or hex, 32 bytes); null: `$MARIONETTE_HOME/secret.key`. */
  secretKey: string | null;
  /** `MARIONETTE_SECRET_KEY_PREVIOUS` (comma-separated): older keys, only to open what they sealed (rotation). */
  secretKeysPrevious: string[];
}

export interface ServerFlags extends TlsFlags {
  config?: string;
  port?: string | number;
  gatewayPort?: string | number;
  home?: string;
}

type Env = Record<string, string | undefined>;

/**
 * Formats zod issues as `source: key.path: message` lines. `within` names the section the issues
 * are relative to (an issue at its top level then reads `source: within: message`).
 */
function describeIssues(error: z.ZodError, source: string, within?: string): string {
  return error.issues
    .map((i) => {
      const path = [...(within ? [within] : []), ...i.path.map(String)].join('.');
      return `${source}: ${path || '(top level)'}: ${issueMessage(i)}`;
    })
    .join('\n');
}

/** `OTEL_EXPORTER_OTLP_ENDPOINT`, checked: an http(s) URL (unset or empty: traces off). */
function otlpEndpoint(value: string | undefined): string | null {
  if (!value) return null;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InvalidRequest(`OTEL_EXPORTER_OTLP_ENDPOINT: ${JSON.stringify(value)} is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new InvalidRequest(
      `OTEL_EXPORTER_OTLP_ENDPOINT: ${JSON.stringify(value)} must be an http:// or https:// URL`,
    );
  return value.replace(/\/+$/, '');
}

function issueMessage(i: z.core.$ZodIssue): string {
  return i.code === 'unrecognized_keys' ? `unknown key${i.keys.length > 1 ? 's' : ''} ${i.keys.join(', ')}` : i.message;
}

function readConfigFile(path: string): FileConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e: unknown) {
    throw new InvalidRequest(`cannot read config file ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  let raw: unknown;
  try {
    raw = parseYaml(text) ?? {};
  } catch (e: unknown) {
    throw new InvalidRequest(`${path}: not valid YAML: ${(e as Error).message.split('\n')[0]}`);
  }
  const parsed = fileSchema.safeParse(raw);
  if (!parsed.success) throw new InvalidRequest(describeIssues(parsed.error, path));
  return parsed.data;
}

function parseEnvPort(env: Env, name: string): number | undefined {
  const v = env[name];
  if (v === undefined || v === '') return undefined;
  const p = port.safeParse(v);
  if (!p.success) throw new InvalidRequest(`${name}: ${JSON.stringify(v)} is not a port number (0-65535)`);
  return p.data;
}

function credentialNames(env: Env): string[] {
  return [
    'ANTHROPIC_API_KEY',
    'OPENAI_API_KEY',
    'GEMINI_API_KEY',
    ...(env.MARIONETTE_PASSTHROUGH_ENV ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  ];
}

function pickCredentials(env: Env): Record<string, string> {
  const names = credentialNames(env);
  const out: Record<string, string> = {};
  for (const n of names) {
    const v = n ? env[n] : undefined;
    if (v) out[n] = v;
  }
  return out;
}

/** The default state directory: `$MARIONETTE_HOME`, else `~/.marionette`. */

/**
 * Resolves the server's configuration: flags win over env, env over the file, the file over defaults.
 * Throws InvalidRequest naming the bad key.
 */
export function loadServerConfig(flags: ServerFlags = {}, env: Env = process.env): ServerConfig {
  const configFile = flags.config ?? env.MARIONETTE_CONFIG ?? null;
  const file: FileConfig = configFile ? readConfigFile(configFile) : {};
  const flagPort = flags.port === undefined ? undefined : port.safeParse(flags.port);
  if (flagPort && !flagPort.success)
    throw new InvalidRequest(`--port: ${JSON.stringify(flags.port)} is not a port number`);
  const flagGw = flags.gatewayPort === undefined ? undefined : port.safeParse(flags.gatewayPort);
  if (flagGw && !flagGw.success)
    throw new InvalidRequest(`--gateway-port: ${JSON.stringify(flags.gatewayPort)} is not a port number`);
  const home = resolve(flags.home ?? env.MARIONETTE_HOME ?? file.home ?? join(homedir(), '.marionette'));
  const logLevel = env.MARIONETTE_LOG_LEVEL ?? file.server?.log_level ?? 'info';
  const levels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
  if (!levels.includes(logLevel))
    throw new InvalidRequest(`MARIONETTE_LOG_LEVEL: ${JSON.stringify(logLevel)} is not one of ${levels.join(', ')}`);
  const leaseTimeoutMs = file.runners?.lease_timeout ?? 30_000;
  const { providers, pools } = providersAndPools(file, configFile ?? 'config');
  return {
    home,
    host: file.server?.host ?? '127.0.0.1',
    port: flagPort?.data ?? parseEnvPort(env, 'MARIONETTE_PORT') ?? file.server?.port ?? 8080,
    gatewayHost: file.server?.gateway_host ?? '127.0.0.1',
    gatewayPort: flagGw?.data ?? parseEnvPort(env, 'MARIONETTE_GATEWAY_PORT') ?? file.server?.gateway_port ?? 9090,
    gatewaySocket: join(home, 'run', 'gateway.sock'),
    databaseUrl: env.MARIONETTE_DATABASE_URL || file.database?.url || null,
    otlpEndpoint: otlpEndpoint(env.OTEL_EXPORTER_OTLP_ENDPOINT),
    rowLevelSecurity: file.database?.row_level_security ?? false,
    loopLeaseMs: file.database?.loop_lease ?? 15_000,
    logLevel,
    maxPromptBytes: file.server?.max_prompt_bytes ?? 256 * 1024,
    heartbeatIntervalMs: file.runners?.heartbeat_interval ?? 5_000,
    leaseTimeoutMs,
    maxRetries: file.runners?.max_retries ?? 1,
    taskOutputLimits: {
      lines: file.runners?.task_output_max_lines ?? 5_000_000,
      bytes: file.runners?.task_output_max_bytes ?? 512 * 1024 * 1024,
    },
    sessionIdleTimeoutMs: file.sessions?.idle_timeout ?? 15 * 60_000,
    preemptIdle: file.sessions?.preempt_idle ?? true,
    preemptMinIdleMs: file.sessions?.preempt_min_idle ?? 10_000,
    ceilingMarginMs: file.sessions?.ceiling_margin ?? 5 * 60_000,
    limits: resolveLimits(file.limits),
    workspaces: resolveWorkspaces(file.workspaces),
    tls: resolveTls(flags, env, file.tls),
    taskTimeoutMs: file.tasks?.default_timeout ?? 60 * 60_000,
    localSandbox: localSandbox(env, providers),
    agents: file.agents ?? {},
    kits: (file.kits ?? []).map((k, i) => configKit(k, i)),
    providers,
    pools,
    profiles: file.profiles ?? {},
    configFile,
    credentialsEnv: pickCredentials(env),
    faultPoint: parseFaultPoint(env),
    credentialNames: credentialNames(env),
    providerCredentialsEnv: providerCredentialEnv(env),
    secretKey: env.MARIONETTE_SECRET_KEY || null,
    secretKeysPrevious: (env.MARIONETTE_SECRET_KEY_PREVIOUS ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  };
}

const LOCAL_SANDBOX = ['auto', 'bubblewrap', 'gvisor', 'off'] as const;

function localSandbox(env: Env, providers: ProvidersConfig): ServerConfig['localSandbox'] {
  const v = env.MARIONETTE_LOCAL_SANDBOX;
  if (v !== undefined && v !== '') {
    if (!(LOCAL_SANDBOX as readonly string[]).includes(v))
      throw new InvalidRequest(
        `MARIONETTE_LOCAL_SANDBOX: ${JSON.stringify(v)} is not one of ${LOCAL_SANDBOX.join(', ')}`,
      );
    return v as ServerConfig['localSandbox'];
  }
  return (providers.local as { nested_sandbox?: ServerConfig['localSandbox'] } | undefined)?.nested_sandbox ?? 'auto';
}

/** `providers:` checked by each provider's descriptor, and `pools:` plus the pools declared in provider sections. */
function providersAndPools(file: FileConfig, source: string) {
  const providers = parseProvidersConfig(file.providers ?? {}, source);
  const pools: Record<string, PoolFileConfig> = { ...file.pools };
  for (const { providerId, name, pool } of poolsInProviderSections(providers)) {
    const where = `providers.${providerId}.pools.${name}`;
    if (Object.hasOwn(pools, name))
      throw new InvalidRequest(`${source}: ${where}: pool ${name} is also declared under pools:; declare it once`);
    const r = poolConfigSchema.safeParse(pool);
    if (!r.success) throw new InvalidRequest(describeIssues(r.error, source, where));
    pools[name] = r.data;
  }
  return { providers, pools };
}

/** `MARIONETTE_FAULT` (test-only): one of `FAULT_POINTS`, else a clear error; unset is null. */
function parseFaultPoint(env: Env): string | null {
  const v = env.MARIONETTE_FAULT;
  if (v === undefined || v === '') return null;
  if (!FAULT_POINTS.includes(v))
    throw new InvalidRequest(
      `MARIONETTE_FAULT: ${JSON.stringify(v)} is not a known crash point (test-only setting; one of ${FAULT_POINTS.join(', ')})`,
    );
  return v;
}

export { type AgentConfig, loadAgentConfig, parseLabels } from './agent.js';
export { type CliConfig, defaultHome, loadCliConfig } from './cli.js';
export type { GatewayLimits, LimitsConfig, ListenerLimits } from './limits.js';
export type { TlsConfig } from './tls.js';
