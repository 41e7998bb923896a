/**
 * @module The docker provider's config schema (zod) and the parsers for its quantities
 * (`4g` memory, `0.5` CPUs) and engine address (`unix:///var/run/docker.sock`, `tcp://127.0.0.1:2375`).
 * Every key documents its default; an invalid config fails with the path of the bad key.
 */
import { z } from 'zod';
import { InvalidRequest } from '../../core/errors.js';
import { ProviderSuspendConfig } from '../descriptor.js';

/** Where the gateway unix socket appears inside every container. */
export const GATEWAY_SOCKET_IN_BOX = '/run/marionette/gateway.sock';
/** Where the package root (dist + node_modules + bin) is mounted read-only inside every container. */
export const PACKAGE_ROOT_IN_BOX = '/opt/marionette';
/** Where the host's Node binary is mounted read-only inside every container. */
export const NODE_IN_BOX = '/opt/marionette-node/bin/node';
/** The workspace volume's mount point inside every container. */
export const WORKSPACE_IN_BOX = '/workspace';
/** The default image tag, built by `marionette images build` (see `buildAgentImage`). */
export const DEFAULT_AGENT_IMAGE = 'marionette/agent:latest';

const memoryString = z
  .string()
  .regex(/^\d+(\.\d+)?\s*([bkmgt]|[kmgt]b|[KMGT]i?)?$/i, 'expected a size like "512m", "4g" or "2Gi"');

/** Docker provider config. Defaults are applied by `parseDockerConfig`. */
export const DockerProviderConfigSchema = z
  .object({
    /** Engine address: `unix:///path/to/docker.sock` (default) or `tcp://host:port`. */
    host: z
      .string()
      .regex(
        /^(unix:\/\/\/.+|tcp:\/\/[^/]+:\d+\/?|https?:\/\/[^/]+:\d+\/?)$/,
        'expected unix:///path or tcp://host:port',
      )
      .default('unix:///var/run/docker.sock'),
    /** Image the runner container starts from. Default `marionette/agent:latest`. */
    image: z.string().min(1).default(DEFAULT_AGENT_IMAGE),
    /**
     * Images a session may ask for instead of `image` (`mctl sessions create --image`): exact
     * references, or prefixes ending in `*` (`ghcr.io/acme/*`). `[]`: no override. Default: unset,
     * any image. Usually set per pool in `sandbox_config`.
     */
    allowedImages: z.array(z.string().min(1)).optional(),
    /**
     * `host`, `none`, or the name of a bridge network created on demand with our labels.
     * Default `marionette` (named bridge: egress allowed, host loopback not reachable; the agent
     * reaches the gateway through the mounted unix socket).
     */
    network: z.string().min(1).default('marionette'),
    /**
     * OCI runtime the containers run under, e.g. `runsc` (gVisor). It must be one the engine knows
     * (`docker info` Runtimes; register runsc in /etc/docker/daemon.json): checked at start and at
     * every provision, with an error naming the known ones. Default: the engine's default runtime.
     */
    runtime: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'expected a runtime name like "runsc"')
      .optional(),
    resources: z
      .object({
        /** Memory limit, docker style (`512m`, `4g`; binary units). Default: no limit. */
        memory: memoryString.optional(),
        /** CPU limit (`2`, `0.5`). Default: no limit. */
        cpus: z
          .union([z.number().positive(), z.string().regex(/^\d+(\.\d+)?$/, 'expected a number like "2" or "0.5"')])
          .optional(),
      })
      .strict()
      .default({}),
    /** Prefix of every label we put on containers, volumes, networks and images. Default `io.marionette`. */
    labelPrefix: z
      .string()
      .regex(/^[a-z0-9]+([.-][a-z0-9]+)*$/, 'expected a reverse-DNS style prefix like "io.marionette"')
      .default('io.marionette'),
    /** Max processes in the container. Default 512. */
    pidsLimit: z.number().int().positive().default(512),
    /** Non-root `uid:gid` the container runs as. Default `1000:1000` (the image's `agent` user). */
    user: z
      .string()
      .regex(/^\d+:\d+$/, 'expected numeric "uid:gid"')
      .refine((u) => !u.startsWith('0:'), 'must not be root (uid 0)')
      .default('1000:1000'),
    /**
     * Read-only root filesystem. Default true. Ignored (the rootfs is writable) when the pool's
     * suspend strategy or fallback is `snapshot`, because a snapshot of a read-only rootfs keeps nothing.
     */
    readOnlyRootfs: z.boolean().default(true),
    /**
     * Size of the `/tmp` tmpfs (and of the home-directory tmpfs when the rootfs is read-only).
     * Default `256m`. With a memory limit it is bounded by `tmpfsMemoryFraction`.
     */
    tmpfsSize: memoryString.default('256m'),
    /**
     * With a memory limit, the tmpfs mounts together hold at most this fraction of it (split evenly
     * between them). tmpfs pages count against the container's memory, so a task filling `/tmp`
     * gets ENOSPC while the agent and the task still have memory, instead of the OOM killer
     * picking a process. Default 0.5.
     */
    tmpfsMemoryFraction: z.number().gt(0).lt(1).default(0.5),
    /** Host path of the gateway unix socket (filled in by the server); bind-mounted at /run/marionette/gateway.sock. */
    gatewaySocket: z.string().startsWith('/', 'expected an absolute path').optional(),
    /** Gateway URL for the agent when no socket is mounted (e.g. `ws://10.0.0.5:9090`). */
    serverUrl: z.string().min(1).optional(),
    /** Argv that replaces the agent command (tests, debugging). */
    command: z.array(z.string()).min(1).optional(),
    /**
     * Mount the server's Node and package read-only into the box (default true). Set false for an
     * image that bakes them in (docker/Dockerfile), e.g. on a remote engine.
     */
    mountAgent: z.boolean().default(true),
    /** Host path of the Node binary mounted into the box. Default: the server's own `process.execPath`. */
    nodePath: z.string().startsWith('/', 'expected an absolute path').optional(),
    /** Host path of the marionette package root mounted into the box. Default: the package this module is in. */
    packageRoot: z.string().startsWith('/', 'expected an absolute path').optional(),
    /**
     * The seed's `providers.docker.suspend_config`: the default suspend config of docker pools (a
     * pool's own wins; unset keys come from the descriptor: pause, fallback
     * terminate_preserve_storage, max 24h). A `snapshot` strategy or fallback here also makes the
     * rootfs writable.
     */
    suspend_config: ProviderSuspendConfig.optional(),
  })
  .strict();

/** Config as written by the user (defaults optional). */
export type DockerProviderConfigInput = z.input<typeof DockerProviderConfigSchema>;
/** Config after defaults. */
export type DockerProviderConfig = z.output<typeof DockerProviderConfigSchema>;

/**
 * Parses and defaults a docker provider config; throws `InvalidRequest` naming the bad key.
 *
 * @example
 * parseDockerConfig({ network: 'none', resources: { memory: '1g' } }).pidsLimit // 512
 */
export function parseDockerConfig(input: unknown, what = 'docker provider config'): DockerProviderConfig {
  const r = DockerProviderConfigSchema.safeParse(input ?? {});
  if (r.success) return r.data;
  const issues = r.error.issues.map((i) => {
    const keys = (i as { keys?: unknown }).keys;
    const path = [...i.path.map(String), ...(Array.isArray(keys) ? [keys.map(String).join(', ')] : [])].join('.');
    return `${path || '(root)'}: ${i.message}`;
  });
  throw new InvalidRequest(`invalid ${what}: ${issues.join('; ')}`, { details: { issues } });
}

/**
 * Merges a pool's `sandbox_config` over the provider's config (shallow, `resources` merged key by key)
 * and parses the result. `host` cannot be changed per pool (the engine client is per provider).
 */
export function mergeDockerConfig(base: DockerProviderConfig, override: Record<string, unknown>): DockerProviderConfig {
  if (Object.keys(override).length === 0) return base;
  if ('host' in override && override.host !== base.host) {
    throw new InvalidRequest(`invalid sandbox_config: host: cannot differ from the provider's host (${base.host})`);
  }
  const res = override.resources;
  const merged: Record<string, unknown> = { ...base, ...override };
  if (res !== undefined && typeof res === 'object' && res !== null) merged.resources = { ...base.resources, ...res };
  return parseDockerConfig(merged, 'sandbox_config for the docker provider');
}

const MEM_UNITS: Readonly<Record<string, number>> = {
  '': 1,
  b: 1,
  k: 1024,
  kb: 1024,
  ki: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  mi: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1024 ** 3,
  gi: 1024 ** 3,
  t: 1024 ** 4,
  tb: 1024 ** 4,
  ti: 1024 ** 4,
};

/**
 * Docker-style memory size to bytes. Units are binary, as in `docker run -m`: `512m` = 512 MiB, `4g` = 4 GiB.
 *
 * @example
 * parseMemoryBytes('4g') // 4294967296
 */
export function parseMemoryBytes(s: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(s.trim());
  const unit = m?.[2]?.toLowerCase() ?? '';
  const factor = MEM_UNITS[unit];
  if (!m || factor === undefined) throw new InvalidRequest(`invalid memory size ${JSON.stringify(s)}`);
  return Math.round(Number(m[1]) * factor);
}

/**
 * CPU count to Docker's NanoCpus.
 *
 * @example
 * parseNanoCpus('0.5') // 500000000
 */
export function parseNanoCpus(s: string | number): number {
  const n = typeof s === 'number' ? s : Number(s);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidRequest(`invalid cpus ${JSON.stringify(s)}`);
  return Math.round(n * 1e9);
}

/** Where dockerode should connect, from a `host` value. */
export type EngineAddress =
  | { kind: 'unix'; socketPath: string; display: string }
  | { kind: 'tcp'; host: string; port: number; protocol: 'http' | 'https'; display: string };

/**
 * Parses the `host` key.
 *
 * @example
 * parseEngineAddress('tcp://127.0.0.1:2375') // { kind: 'tcp', host: '127.0.0.1', port: 2375, ... }
 */
export function parseEngineAddress(host: string): EngineAddress {
  if (host.startsWith('unix://')) {
    const socketPath = host.slice('unix://'.length);
    return { kind: 'unix', socketPath, display: socketPath };
  }
  const u = new URL(host.replace(/^tcp:/, 'http:'));
  const port = Number(u.port);
  if (!u.hostname || !Number.isInteger(port) || port <= 0) {
    throw new InvalidRequest(`invalid docker provider config: host: expected tcp://host:port, got ${host}`);
  }
  return {
    kind: 'tcp',
    host: u.hostname,
    port,
    protocol: u.protocol === 'https:' ? 'https' : 'http',
    display: `${u.hostname}:${port}`,
  };
}

/** The strategy and fallback the pool asked for; used to decide whether the rootfs must be writable. */
export function wantsSnapshot(cfg: DockerProviderConfig): boolean {
  return cfg.suspend_config?.strategy === 'snapshot' || cfg.suspend_config?.fallback === 'snapshot';
}

/**
 * The size of each tmpfs mount (`/tmp`, and `/home/agent` on a read-only rootfs): `tmpfsSize`,
 * bounded with a memory limit so that all `mounts` together stay within `tmpfsMemoryFraction` of it.
 *
 * @example
 * tmpfsSizeFor(parseDockerConfig({ tmpfsSize: '256m' }), 256 * 2 ** 20, 2) // 67108864 (64 MiB each)
 */
export function tmpfsSizeFor(cfg: DockerProviderConfig, memoryBytes: number | undefined, mounts: number): string {
  if (memoryBytes === undefined) return cfg.tmpfsSize;
  const cap = Math.floor((memoryBytes * cfg.tmpfsMemoryFraction) / Math.max(1, mounts));
  return parseMemoryBytes(cfg.tmpfsSize) <= cap ? cfg.tmpfsSize : String(cap);
}

/**
 * Null when a session may run `image` under `cfg` (its own `image`, or one `allowedImages`
 * admits), else why not.
 * @example imageRefusal(parseDockerConfig({ allowedImages: ['ghcr.io/acme/*'] }), 'ghcr.io/acme/go:1') // null
 */
export function imageRefusal(cfg: DockerProviderConfig, image: string): string | null {
  const allowed = cfg.allowedImages;
  if (allowed === undefined || image === cfg.image) return null;
  const ok = allowed.some((a) => (a.endsWith('*') ? image.startsWith(a.slice(0, -1)) : image === a));
  if (ok) return null;
  return allowed.length === 0
    ? `image ${image} is refused: this pool allows no image but its own (${cfg.image}; allowedImages is empty)`
    : `image ${image} is refused: not in this pool's allowedImages (${allowed.join(', ')})`;
}

/**
 * Refuses (InvalidRequest) what a session asks for that this pool does not give: an image its
 * `allowedImages` does not admit (when `image`, the one about to run, is the session's own; a
 * restore runs its snapshot, made from an image already admitted), or a GPU.
 */
export function refuseSessionAsks(
  cfg: DockerProviderConfig,
  spec: { image?: string; resources?: { gpu?: string } },
  image: string,
): void {
  const refused = spec.image !== undefined && image === spec.image ? imageRefusal(cfg, spec.image) : null;
  if (refused !== null) throw new InvalidRequest(`docker provider: ${refused}`);
  const gpu = spec.resources?.gpu;
  if (gpu !== undefined && Number(gpu) !== 0)
    throw new InvalidRequest(
      `docker provider: the session asks for gpu ${gpu}; this provider runs no GPU containers (use a pool that provides gpu)`,
    );
}
