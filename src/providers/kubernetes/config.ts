/**
 * @module The kubernetes provider's config schema (`providers.kubernetes` in marionette.yaml, and
 * the keys a pool's `sandbox_config` may set over it), with its defaults and the merge of a
 * session's resources over the configured requests and limits. Every key documents its default;
 * an invalid config fails with the path of the bad key.
 */
import { z } from 'zod';
import { parseDuration } from '../../core/duration.js';
import { InvalidRequest } from '../../core/errors.js';
import { ProviderSuspendConfig } from '../descriptor.js';

/** The image a runner pod runs unless the config or the session names another (docker/Dockerfile builds it). */
export const DEFAULT_K8S_IMAGE = 'marionette/agent:latest';
/** The agent command inside the image built from docker/Dockerfile. */
export const DEFAULT_AGENT_COMMAND = ['/opt/marionette-node/bin/node', '/opt/marionette/bin/marionette-agent'];
/** Where the workspace is mounted in every runner pod. */
export const WORKSPACE_IN_POD = '/workspace';

const quantity = z
  .union([z.string(), z.number()])
  .transform((v) => String(v))
  .refine(
    (v) => /^\d+(\.\d+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/.test(v),
    'expected a quantity like "1", "500m", "2Gi"',
  );

const resourceList = z.strictObject({ cpu: quantity.optional(), memory: quantity.optional() });

const labelMap = z.record(
  z
    .string()
    .regex(/^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/, 'bad label key'),
  z.string().regex(/^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/, 'bad label value'),
);

const toleration = z.strictObject({
  key: z.string().optional(),
  operator: z.enum(['Exists', 'Equal']).optional(),
  value: z.string().optional(),
  effect: z.enum(['NoSchedule', 'PreferNoSchedule', 'NoExecute']).optional(),
  tolerationSeconds: z.number().int().optional(),
});

const dnsName = z
  .string()
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'expected a DNS label (lowercase letters, digits, -)')
  .max(63);

/** What a pool's `sandbox_config` may set over the provider's section (all optional). */
export const KubernetesPoolConfigSchema = z.strictObject({
  /** Image the runner pod runs. */
  image: z.string().min(1).optional(),
  /** Images a session may ask for instead of `image` (exact, or a prefix ending in `*`); unset: any. */
  allowedImages: z.array(z.string().min(1)).optional(),
  /** The seed's `resources.requests` / `resources.limits` (Kubernetes quantities). */
  resources: z.strictObject({ requests: resourceList.optional(), limits: resourceList.optional() }).optional(),
  /** Extra labels on every Job and pod (never the provider's own label keys). */
  labels: labelMap.optional(),
  /** The pod's `nodeSelector`. */
  nodeSelector: z.record(z.string(), z.string()).optional(),
  /** The pod's `tolerations`. */
  tolerations: z.array(toleration).optional(),
  /** The pod's service account (default: none is mounted; the runner needs no API access). */
  serviceAccount: dnsName.optional(),
  /** Names of image pull secrets in the namespace. */
  imagePullSecrets: z.array(dnsName).optional(),
  /** The pod's `runtimeClassName` (gVisor and Kata are runtime classes, e.g. `gvisor`). */
  runtimeClass: dnsName.optional(),
  /** How long a pod may take to start its agent before the provision fails with the pod's reason (e.g. `90s`). */
  startTimeout: z.union([z.string(), z.number()]).optional(),
  /** A PersistentVolumeClaim per session for the workspace (`class`: storage class; default: the cluster's). Unset: an emptyDir. */
  storage: z.strictObject({ class: z.string().min(1).optional(), size: quantity }).optional(),
});

/** The `providers.kubernetes` section. */
export const KubernetesProviderConfigSchema = KubernetesPoolConfigSchema.extend({
  /** Image the runner pods run. Default `marionette/agent:latest` (built from docker/Dockerfile). */
  image: z.string().min(1).default(DEFAULT_K8S_IMAGE),
  /** Path of a kubeconfig file. Default: the standard chain (`KUBECONFIG`, `~/.kube/config`), else in-cluster. */
  kubeconfig: z.string().min(1).optional(),
  /** The kubeconfig context to use. Default: its current context. */
  context: z.string().min(1).optional(),
  /** Use the pod's service account (running inside the cluster). Default false (the kubeconfig chain decides). */
  inCluster: z.boolean().default(false),
  /** Namespace the runner Jobs run in (must exist). Default `marionette`. */
  namespace: dnsName.default('marionette'),
  /**
   * The gateway address the runner pods dial (`ws://marionette-gateway.marionette.svc:9090`,
   * `wss://...`). Required to provision: the server's own gateway socket is not reachable from pods.
   */
  gateway: z.string().min(1).optional(),
  /** Label key prefix on everything the provider creates (`<prefix>/managed`, ...). Default `marionette.io`. */
  labelPrefix: z
    .string()
    .regex(
      /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+$/,
      'expected a DNS subdomain like "marionette.io"',
    )
    .max(200)
    .default('marionette.io'),
  /** Non-root `uid:gid` the pod runs as. Default `1000:1000` (the image's `agent` user). */
  user: z
    .string()
    .regex(/^\d+:\d+$/, 'expected numeric "uid:gid"')
    .refine((u) => !u.startsWith('0:'), 'must not be root (uid 0)')
    .default('1000:1000'),
  /** How long a pod may take to start its agent before the provision fails with the pod's reason. Default `5m` (a pool may set its own). */
  startTimeout: z.union([z.string(), z.number()]).default('5m'),
  /** `ttlSecondsAfterFinished` of each Job. Default 600. */
  ttlSecondsAfterFinished: z.number().int().nonnegative().default(600),
  /** Size of the `/tmp` and home emptyDirs (memory-backed: they count against the memory limit). Default `256Mi`. */
  tmpSize: quantity.default('256Mi'),
  /** Argv that replaces the agent command. Default: the agent of docker/Dockerfile's image. */
  command: z.array(z.string()).min(1).optional(),
  /**
   * Mount the agent from the node's filesystem (hostPath) instead of the image's copy: for
   * development clusters whose nodes share the server's files (kind with extraMounts, the test
   * stand-in). Default unset (the image carries the agent).
   */
  agentHostPath: z
    .strictObject({ packageRoot: z.string().startsWith('/'), node: z.string().startsWith('/') })
    .optional(),
  /** Whether runner pods use the node's network (`hostNetwork`). Default false. */
  hostNetwork: z.boolean().default(false),
  /**
   * Where pods under a `none` or allow-list egress policy may still connect: the gateway. Default:
   * pods labelled `app.kubernetes.io/name=marionette` in the provider's namespace (deploy/kubernetes).
   */
  gatewayPeer: z
    .strictObject({ namespace: dnsName.optional(), podLabels: z.record(z.string(), z.string()) })
    .default({ podLabels: { 'app.kubernetes.io/name': 'marionette' } }),
  /** The seed's per-provider `suspend_config` (default: terminate_preserve_storage, else terminate). */
  suspend_config: ProviderSuspendConfig.optional(),
});

export type KubernetesProviderConfigInput = z.input<typeof KubernetesProviderConfigSchema>;
export type KubernetesProviderConfig = z.output<typeof KubernetesProviderConfigSchema>;

function issues(error: z.ZodError): string {
  return error.issues
    .map((i) => {
      const keys = (i as { keys?: unknown }).keys;
      const path = i.path.map(String).join('.');
      const msg = Array.isArray(keys) ? `unknown key ${keys.join(', ')}` : i.message;
      return path ? `${path}: ${msg}` : msg;
    })
    .join('; ');
}

/** Parses and defaults a `providers.kubernetes` section; InvalidRequest naming the bad key. */
export function parseKubernetesConfig(input: unknown): KubernetesProviderConfig {
  const r = KubernetesProviderConfigSchema.safeParse(input ?? {});
  if (!r.success) throw new InvalidRequest(`kubernetes provider config: ${issues(r.error)}`);
  if (parseDuration(r.data.startTimeout) === null)
    throw new InvalidRequest(
      `kubernetes provider config: startTimeout: ${JSON.stringify(r.data.startTimeout)} is not a duration (e.g. 90s, 5m)`,
    );
  return r.data;
}

/** The provider's section with a pool's `sandbox_config` over it; InvalidRequest naming the bad key. */
export function mergeKubernetesConfig(
  base: KubernetesProviderConfig,
  sandboxConfig: Record<string, unknown>,
): KubernetesProviderConfig {
  const r = KubernetesPoolConfigSchema.safeParse(sandboxConfig ?? {});
  if (!r.success) throw new InvalidRequest(`sandbox_config (kubernetes): ${issues(r.error)}`);
  const o = r.data;
  if (o.startTimeout !== undefined && parseDuration(o.startTimeout) === null)
    throw new InvalidRequest(
      `sandbox_config (kubernetes): startTimeout: ${JSON.stringify(o.startTimeout)} is not a duration (e.g. 90s, 5m)`,
    );
  return {
    ...base,
    ...Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)),
    resources: {
      requests: { ...base.resources?.requests, ...o.resources?.requests },
      limits: { ...base.resources?.limits, ...o.resources?.limits },
    },
    labels: { ...base.labels, ...o.labels },
    nodeSelector: { ...base.nodeSelector, ...o.nodeSelector },
  };
}

/** Whether a pool (its config) lets a session run `image`: null when it does, else why not. */
export function imageRefusal(cfg: KubernetesProviderConfig, image: string): string | null {
  const allowed = cfg.allowedImages;
  if (allowed === undefined) return null;
  const ok = allowed.some((a) => (a.endsWith('*') ? image.startsWith(a.slice(0, -1)) : a === image));
  return ok
    ? null
    : allowed.length === 0
      ? 'this pool runs only its own image (allowedImages is empty)'
      : `image ${image} is not in this pool's allowedImages (${allowed.join(', ')})`;
}

/** A session's CPU ask (`0.5`) as a Kubernetes quantity (`500m`). */
export function cpuQuantity(cpu: string): string {
  const n = Number(cpu);
  if (!Number.isFinite(n) || n <= 0)
    throw new InvalidRequest(`resources.cpu: ${JSON.stringify(cpu)} is not a CPU count`);
  return Number.isInteger(n) ? String(n) : `${Math.round(n * 1000)}m`;
}

/**
 * The pod's requests and limits: the config's (provider, then pool), with the session's asks
 * (its profile's under its own) over both, for what the session names. A session's CPU or
 * memory is what it asked to have, so it becomes the request and the limit.
 */
export function podResources(
  cfg: KubernetesProviderConfig,
  ask: { cpu?: string; memoryMB?: number } | undefined,
): { requests: Record<string, string>; limits: Record<string, string> } {
  const requests: Record<string, string> = { ...(cfg.resources?.requests as Record<string, string>) };
  const limits: Record<string, string> = { ...(cfg.resources?.limits as Record<string, string>) };
  if (ask?.cpu !== undefined) {
    const q = cpuQuantity(ask.cpu);
    requests.cpu = q;
    limits.cpu = q;
  }
  if (ask?.memoryMB !== undefined) {
    requests.memory = `${ask.memoryMB}Mi`;
    limits.memory = `${ask.memoryMB}Mi`;
  }
  for (const k of Object.keys(requests)) if (requests[k] === undefined) delete requests[k];
  for (const k of Object.keys(limits)) if (limits[k] === undefined) delete limits[k];
  return { requests, limits };
}
