/**
 * @module The runner agent's configuration (flags over env). Kept apart from the server's config
 * loader so `marionette-agent` starts without loading YAML support.
 */
import { readFileSync } from 'node:fs';
import { InvalidRequest } from '../core/errors.js';

type Env = Record<string, string | undefined>;

export interface AgentConfig {
  /** Gateway address: `host:port`, `ws://host:port`, or `unix:/path/to/gateway.sock`. */
  server: string;
  registrationToken: string | null;
  runnerId: string | null;
  pool: string | null;
  labels: Record<string, string>;
  name: string;
  workspace: string | null;
  stateDir: string | null;
  /**
   * Set for a warm runner of the local provider (`MARIONETTE_SESSION_WORKSPACES`): the folder in
   * which the session it is given works, `<dir>/<session id>` (src/agent/workspaces.ts).
   */
  sessionWorkspaces?: string | null;
  /**
   * Nested sandboxes: `runtimes` limits which the agent offers (MARIONETTE_SANDBOX_RUNTIMES, a
   * comma list of gvisor, bubblewrap, or `none`; default: every one found), `gvisorPlatform` is
   * runsc's platform (MARIONETTE_GVISOR_PLATFORM: ptrace (default), systrap, kvm), `warm` keeps
   * the next bubblewrap sandbox made ahead while the runner is idle (MARIONETTE_SANDBOX_WARM=0: off).
   */
  sandbox?: { runtimes: Array<'gvisor' | 'bubblewrap'> | null; gvisorPlatform: string; warm?: boolean };
  /** Deprecation notes for the agent to print (an old environment name it still read). */
  notes?: string[];
  /**
   * TLS to a `wss://` gateway: a CA file (`--ca-file`, `MARIONETTE_CA_FILE`), a pinned SHA-256
   * fingerprint (`--tls-fingerprint`, `MARIONETTE_TLS_FINGERPRINT`), a client certificate and key
   * for mutual TLS (`--tls-cert`/`--tls-key`, `MARIONETTE_AGENT_TLS_CERT`/`_KEY`).
   */
  tls?: { caFile: string | null; fingerprint: string | null; certFile: string | null; keyFile: string | null };
  /**
   * TEST-ONLY crash point (`MARIONETTE_AGENT_FAULT`): `credential:received` (SIGKILL after a rotated
   * credential arrives, before it is saved) or `credential:saved` (after saving, before confirming).
   */
  faultPoint?: string | null;
  /**
   * Listen mode (`--listen PORT`, `MARIONETTE_LISTEN`): the server dials the agent through the
   * provider's port tunnel instead (src/agent/tunnel-listen.ts); `secret` is the runner's tunnel
   * secret (`MARIONETTE_TUNNEL_SECRET`, environment only). `server` is then the agent's own relay.
   */
  listen?: { port: number; secret: string } | null;
}

/** The agent's test-only crash points. */
export const AGENT_FAULT_POINTS = ['credential:received', 'credential:saved'];

/**
 * The gateway address from the environment: `MARIONETTE_GATEWAY`. `MARIONETTE_SERVER` is mctl's
 * API URL; the agent reads it (deprecated) only when it looks like a gateway address, never an
 * `http(s)://` URL, so exporting it for mctl does not break an agent on the same machine.
 */
function gatewayFromEnv(env: Env): { server?: string; note?: string; ignored?: string } {
  if (env.MARIONETTE_GATEWAY) return { server: env.MARIONETTE_GATEWAY };
  const old = env.MARIONETTE_SERVER;
  if (!old) return {};
  if (/^https?:\/\//i.test(old)) return { ignored: old };
  return { server: old, note: 'MARIONETTE_SERVER is deprecated for marionette-agent; set MARIONETTE_GATEWAY' };
}

/** Parses `k=v,k2=v2` label lists; errors name the bad entry. */
export function parseLabels(text: string, what = '--labels'): Record<string, string> {
  const out: Record<string, string> = {};
  if (!text.trim()) return out;
  for (const part of text.split(',')) {
    const m = /^\s*([A-Za-z0-9][A-Za-z0-9._/-]*)\s*=\s*([A-Za-z0-9._:/+-]*)\s*$/.exec(part);
    if (!m)
      throw new InvalidRequest(
        `${what}: ${JSON.stringify(part.trim())} is not key=value (keys and values: letters, digits, . _ - /)`,
      );
    out[m[1] as string] = m[2] as string;
  }
  return out;
}

const RUNTIME_NAMES = ['gvisor', 'bubblewrap'] as const;
const GVISOR_PLATFORMS = ['ptrace', 'systrap', 'kvm'];

/** MARIONETTE_SANDBOX_RUNTIMES and MARIONETTE_GVISOR_PLATFORM; errors name the bad value. */
export function parseSandboxEnv(env: Env): NonNullable<AgentConfig['sandbox']> {
  const text = env.MARIONETTE_SANDBOX_RUNTIMES?.trim();
  let runtimes: Array<'gvisor' | 'bubblewrap'> | null = null;
  if (text) {
    runtimes = [];
    if (text !== 'none')
      for (const part of text.split(',').map((p) => p.trim())) {
        if (!(RUNTIME_NAMES as readonly string[]).includes(part))
          throw new InvalidRequest(
            `MARIONETTE_SANDBOX_RUNTIMES: ${JSON.stringify(part)} is not a sandbox runtime (expected gvisor, bubblewrap, or none)`,
          );
        runtimes.push(part as 'gvisor' | 'bubblewrap');
      }
  }
  const platform = env.MARIONETTE_GVISOR_PLATFORM?.trim() || 'ptrace';
  if (!GVISOR_PLATFORMS.includes(platform))
    throw new InvalidRequest(
      `MARIONETTE_GVISOR_PLATFORM: ${JSON.stringify(platform)} is not a gVisor platform (expected ${GVISOR_PLATFORMS.join(', ')})`,
    );
  const warm = env.MARIONETTE_SANDBOX_WARM?.trim();
  if (warm !== undefined && warm !== '' && warm !== '0' && warm !== '1')
    throw new InvalidRequest(`MARIONETTE_SANDBOX_WARM: ${JSON.stringify(warm)}: expected 1 (the default) or 0`);
  return { runtimes, gvisorPlatform: platform, warm: warm !== '0' };
}

/** marionette-agent's command-line flags. */
export interface AgentFlags {
  server?: string;
  token?: string;
  pool?: string;
  labels?: string;
  name?: string;
  workspace?: string;
  stateDir?: string;
  config?: string;
  caFile?: string;
  tlsFingerprint?: string;
  tlsCert?: string;
  tlsKey?: string;
  listen?: string;
}

/** What an agent config file (`marionette-agent --config FILE`, YAML or JSON) may hold. */
export interface AgentFileConfig {
  /** One gateway address, or several (a YAML list, or comma-separated) for server replicas. */
  server?: string;
  token?: string;
  pool?: string;
  labels?: Record<string, string> | string;
  name?: string;
  workspace?: string;
  state_dir?: string;
  ca_file?: string;
  tls_fingerprint?: string;
  tls_cert?: string;
  tls_key?: string;
}

const FILE_KEYS = [
  'server',
  'token',
  'pool',
  'labels',
  'name',
  'workspace',
  'state_dir',
  'ca_file',
  'tls_fingerprint',
  'tls_cert',
  'tls_key',
];

/**
 * Parses an agent config file's text. YAML support is loaded only here, so an agent started
 * without `--config` never pays for it. Errors name the file and the bad key.
 */
export async function readAgentConfigFile(path: string, text: string): Promise<AgentFileConfig> {
  const { parse } = await import('yaml');
  let raw: unknown;
  try {
    raw = parse(text) ?? {};
  } catch (e: unknown) {
    throw new InvalidRequest(`${path}: not valid YAML: ${(e as Error).message.split('\n')[0]}`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new InvalidRequest(`${path}: expected a mapping of settings`);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(raw)) {
    if (!FILE_KEYS.includes(k))
      throw new InvalidRequest(`${path}: unknown key ${k} (expected ${FILE_KEYS.join(', ')})`);
    if (k === 'labels') {
      if (typeof v === 'string') out.labels = parseLabels(v, `${path}: labels`);
      else if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
        const labels: Record<string, string> = {};
        for (const [lk, lv] of Object.entries(v)) labels[lk] = String(lv);
        out.labels = parseLabels(
          Object.entries(labels)
            .map(([a, b]) => `${a}=${b}`)
            .join(','),
          `${path}: labels`,
        );
      } else throw new InvalidRequest(`${path}: labels: expected a mapping or "k=v,k2=v2"`);
    } else if (k === 'server' && Array.isArray(v)) {
      // Several gateway addresses (server replicas): tried in turn on each reconnect.
      if (v.length === 0 || v.some((x) => typeof x !== 'string' || x.trim() === '' || x.includes(',')))
        throw new InvalidRequest(`${path}: server: expected an address or a list of addresses (HOST:PORT each)`);
      out.server = (v as string[]).join(',');
    } else if (typeof v !== 'string' && typeof v !== 'number')
      throw new InvalidRequest(`${path}: ${k}: expected a string`);
    else out[k] = String(v);
  }
  return out as AgentFileConfig;
}

function agentFault(v: string | undefined): string | null {
  if (!v) return null;
  if (!AGENT_FAULT_POINTS.includes(v))
    throw new InvalidRequest(
      `MARIONETTE_AGENT_FAULT: ${JSON.stringify(v)} is not a known crash point (test-only; one of ${AGENT_FAULT_POINTS.join(', ')})`,
    );
  return v;
}

/**
 * The registration token in `MARIONETTE_REGISTRATION_TOKEN_FILE` (a mounted Secret, so the token
 * is in no environment or pod spec), trimmed; undefined when the variable is unset.
 */
function tokenFromFile(path: string | undefined): string | undefined {
  if (!path) return undefined;
  let text: string;
  try {
    text = readFileSync(path, 'utf8').trim();
  } catch (e: unknown) {
    throw new InvalidRequest(
      `MARIONETTE_REGISTRATION_TOKEN_FILE: cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`,
    );
  }
  if (!text) throw new InvalidRequest(`MARIONETTE_REGISTRATION_TOKEN_FILE: ${path} is empty`);
  return text;
}

/** marionette-agent: flags win over env (`MARIONETTE_GATEWAY`, `MARIONETTE_REGISTRATION_TOKEN`, ...), env over the config file. */
export function loadAgentConfig(
  flags: AgentFlags,
  env: Env = process.env,
  hostname = 'runner',
  file: AgentFileConfig = {},
): AgentConfig {
  const listen = listenConfig(flags.listen ?? env.MARIONETTE_LISTEN, env.MARIONETTE_TUNNEL_SECRET);
  const fromEnv = flags.server === undefined ? gatewayFromEnv(env) : {};
  // Listening, the agent reaches the gateway only through the server's tunnel (set at start).
  const server = listen ? 'unix:/nonexistent/tunnel-relay.sock' : (flags.server ?? fromEnv.server ?? file.server);
  if (!server)
    throw new InvalidRequest('no server given', {
      hint: `pass --server HOST:9090 (or set MARIONETTE_GATEWAY, or server: in --config)${
        fromEnv.ignored ? `; MARIONETTE_SERVER=${fromEnv.ignored} is mctl's API URL, not the gateway` : ''
      }`,
    });
  const labelText = flags.labels ?? env.MARIONETTE_LABELS;
  return {
    server,
    registrationToken:
      flags.token ??
      env.MARIONETTE_REGISTRATION_TOKEN ??
      tokenFromFile(env.MARIONETTE_REGISTRATION_TOKEN_FILE) ??
      env.RUNNER_TOKEN ??
      file.token ??
      null,
    runnerId: env.MARIONETTE_RUNNER_ID ?? null,
    pool: flags.pool ?? env.MARIONETTE_POOL ?? file.pool ?? null,
    labels: labelText !== undefined ? parseLabels(labelText) : typeof file.labels === 'object' ? file.labels : {},
    name: flags.name ?? env.MARIONETTE_RUNNER_NAME ?? file.name ?? hostname,
    workspace: flags.workspace ?? env.MARIONETTE_WORKSPACE ?? file.workspace ?? null,
    stateDir: flags.stateDir ?? env.MARIONETTE_AGENT_STATE ?? file.state_dir ?? null,
    sessionWorkspaces: env.MARIONETTE_SESSION_WORKSPACES || null,
    faultPoint: agentFault(env.MARIONETTE_AGENT_FAULT),
    tls: {
      caFile: flags.caFile ?? env.MARIONETTE_CA_FILE ?? file.ca_file ?? null,
      fingerprint: flags.tlsFingerprint ?? env.MARIONETTE_TLS_FINGERPRINT ?? file.tls_fingerprint ?? null,
      certFile: flags.tlsCert ?? env.MARIONETTE_AGENT_TLS_CERT ?? file.tls_cert ?? null,
      keyFile: flags.tlsKey ?? env.MARIONETTE_AGENT_TLS_KEY ?? file.tls_key ?? null,
    },
    sandbox: parseSandboxEnv(env),
    listen,
    ...(fromEnv.note && server === fromEnv.server ? { notes: [fromEnv.note] } : {}),
  };
}

/** `--listen PORT` with `MARIONETTE_TUNNEL_SECRET`, checked; null when not listening. */
function listenConfig(port: string | undefined, secret: string | undefined): AgentConfig['listen'] {
  if (port === undefined || port.trim() === '') return null;
  const n = Number(port);
  if (!/^\d+$/.test(port.trim()) || n < 1 || n > 65535)
    throw new InvalidRequest(`--listen ${JSON.stringify(port)}: expected a port number from 1 to 65535`);
  if (!secret || secret.length < 32)
    throw new InvalidRequest(
      'MARIONETTE_TUNNEL_SECRET is missing or shorter than 32 characters: a listening agent needs the tunnel secret its provider gives it, and refuses every connection without it',
    );
  return { port: n, secret };
}
