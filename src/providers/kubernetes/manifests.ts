/**
 * @module The objects the kubernetes provider creates, as plain API objects (the documented
 * shapes of batch/v1 Job, v1 PersistentVolumeClaim and networking.k8s.io/v1 NetworkPolicy): one
 * Job per runner (backoffLimit 0, a TTL after it finishes) whose pod runs `marionette-agent`
 * hardened like the docker container, a PVC per session when `storage` is set, and a
 * NetworkPolicy per runner when the session's egress policy is not `open`. Pure: no client here.
 */
import { type EgressPolicy, egressRules } from '../../core/egress.js';
import { InvalidRequest } from '../../core/errors.js';
import { runnerBoot, runnerEnv } from '../runner-boot.js';
import type { OwnedRole, SandboxSpec } from '../types.js';
import { DEFAULT_AGENT_COMMAND, type KubernetesProviderConfig, podResources, WORKSPACE_IN_POD } from './config.js';

/** Who an object belongs to, as labels. */
export interface Owner {
  sessionId: string | null;
  runnerId: string;
  poolId: string;
  orgId: string;
  installId: string | null;
}

/** A label value (63 characters of `[A-Za-z0-9_.-]`, alphanumeric at both ends; '' stays ''). */
export function labelValue(s: string): string {
  const v = s
    .replace(/[^A-Za-z0-9_.-]/g, '-')
    .slice(0, 63)
    .replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, '');
  return v;
}

/** A DNS-1123 label from an id (`run_abc` → `run-abc`), at most `max` characters. */
export function dnsLabel(s: string, max = 63): string {
  const v = s
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '-')
    .slice(0, max)
    .replace(/^-+|-+$/g, '');
  return v.length > 0 ? v : 'x';
}

/** The Job (and pod label) name of a runner. */
export const jobName = (runnerId: string) => `mrn-${dnsLabel(runnerId, 52)}`;
/** The workspace PVC of a session (or of a runner without one). */
export const pvcName = (owner: string) => `mrn-ws-${dnsLabel(owner, 56)}`;
/** The Secret holding a runner's registration token (the Job's name: another kind, another name space). */
export const tokenSecretName = (runnerId: string) => jobName(runnerId);
/** Where the runner's Secret is mounted in its pod, and its one key (the token file the agent reads). */
export const AGENT_SECRET_DIR = '/run/secrets/marionette';
export const TOKEN_KEY = 'token';
/** The NetworkPolicy of a runner. */
export const policyName = (runnerId: string) => `mrn-egress-${dnsLabel(runnerId, 52)}`;

/** The label keys under a prefix. */
export function labelKeys(prefix: string) {
  return {
    managed: `${prefix}/managed`,
    role: `${prefix}/role`,
    runner: `${prefix}/runner`,
    session: `${prefix}/session`,
    pool: `${prefix}/pool`,
    org: `${prefix}/org`,
    install: `${prefix}/install`,
  };
}

/** The labels every object of `owner` carries (empty owners are left out). */
export function ownerLabels(prefix: string, owner: Owner, role: OwnedRole): Record<string, string> {
  const k = labelKeys(prefix);
  const out: Record<string, string> = { [k.managed]: 'true', [k.role]: role };
  const put = (key: string, v: string | null) => {
    const val = v ? labelValue(v) : '';
    if (val) out[key] = val;
  };
  put(k.runner, owner.runnerId);
  put(k.session, owner.sessionId);
  put(k.pool, owner.poolId);
  put(k.org, owner.orgId);
  put(k.install, owner.installId);
  return out;
}

/** The selector of everything of one runner. */
export function runnerSelector(prefix: string, runnerId: string): string {
  const k = labelKeys(prefix);
  return `${k.managed}=true,${k.runner}=${labelValue(runnerId)}`;
}

type Obj = Record<string, unknown>;

export interface JobPlan {
  cfg: KubernetesProviderConfig;
  spec: SandboxSpec;
  image: string;
  /** The PVC holding the workspace, or null for an emptyDir. */
  pvc: string | null;
  installId: string | null;
}

/** The agent's environment in the pod. */
function env(cfg: KubernetesProviderConfig, spec: SandboxSpec): Array<{ name: string; value: string }> {
  if (cfg.command === undefined && cfg.gateway === undefined)
    throw new InvalidRequest(
      'kubernetes provider: the runner pods have no gateway address to dial; set providers.kubernetes.gateway (e.g. ws://marionette-gateway.marionette.svc:9090)',
    );
  const all: Record<string, string> = {
    ...spec.env,
    ...runnerEnv(runnerBoot(spec, cfg.gateway ?? null, WORKSPACE_IN_POD)),
    HOME: '/home/agent',
  };
  // The token is in the runner's Secret (a file the agent reads), never in the pod spec.
  delete all.MARIONETTE_REGISTRATION_TOKEN;
  all.MARIONETTE_REGISTRATION_TOKEN_FILE = `${AGENT_SECRET_DIR}/${TOKEN_KEY}`;
  return Object.entries(all).map(([name, value]) => ({ name, value }));
}

/**
 * The runner's Job.
 * @example buildJob({ cfg, spec, image: 'marionette/agent:latest', pvc: null, installId }).spec.backoffLimit === 0
 */
export function buildJob(
  p: JobPlan,
): Obj & { metadata: { name: string; namespace: string; labels: Record<string, string> } } {
  const { cfg, spec } = p;
  const [uid, gid] = cfg.user.split(':').map(Number) as [number, number];
  const owner: Owner = { ...spec, installId: p.installId };
  const labels = { ...cfg.labels, ...ownerLabels(cfg.labelPrefix, owner, 'sandbox') };
  const name = jobName(spec.runnerId);
  const resources = podResources(cfg, spec.resources);
  const mounts: Obj[] = [
    { name: 'workspace', mountPath: WORKSPACE_IN_POD },
    { name: 'tmp', mountPath: '/tmp' },
    { name: 'home', mountPath: '/home/agent' },
    { name: 'runner-token', mountPath: AGENT_SECRET_DIR, readOnly: true },
  ];
  const volumes: Obj[] = [
    p.pvc === null
      ? { name: 'workspace', emptyDir: {} }
      : { name: 'workspace', persistentVolumeClaim: { claimName: p.pvc } },
    { name: 'tmp', emptyDir: { medium: 'Memory', sizeLimit: cfg.tmpSize } },
    { name: 'home', emptyDir: { medium: 'Memory', sizeLimit: cfg.tmpSize } },
    // Readable by the pod's user (its group is fsGroup), read-only; the agent reads the token file.
    { name: 'runner-token', secret: { secretName: tokenSecretName(spec.runnerId), defaultMode: 0o440 } },
  ];
  if (cfg.agentHostPath) {
    mounts.push(
      { name: 'agent-package', mountPath: '/opt/marionette', readOnly: true },
      { name: 'agent-node', mountPath: '/opt/marionette-node/bin/node', readOnly: true },
    );
    volumes.push(
      { name: 'agent-package', hostPath: { path: cfg.agentHostPath.packageRoot, type: 'Directory' } },
      { name: 'agent-node', hostPath: { path: cfg.agentHostPath.node, type: 'File' } },
    );
  }
  const seccompProfile = { type: 'RuntimeDefault' };
  const podSpec: Obj = {
    restartPolicy: 'Never',
    enableServiceLinks: false,
    automountServiceAccountToken: cfg.serviceAccount !== undefined,
    ...(cfg.serviceAccount ? { serviceAccountName: cfg.serviceAccount } : {}),
    ...(cfg.hostNetwork ? { hostNetwork: true, dnsPolicy: 'ClusterFirstWithHostNet' } : {}),
    ...(cfg.nodeSelector && Object.keys(cfg.nodeSelector).length ? { nodeSelector: cfg.nodeSelector } : {}),
    ...(cfg.tolerations?.length ? { tolerations: cfg.tolerations } : {}),
    ...(cfg.imagePullSecrets?.length ? { imagePullSecrets: cfg.imagePullSecrets.map((n) => ({ name: n })) } : {}),
    ...(cfg.runtimeClass ? { runtimeClassName: cfg.runtimeClass } : {}),
    securityContext: { runAsNonRoot: true, runAsUser: uid, runAsGroup: gid, fsGroup: gid, seccompProfile },
    containers: [
      {
        name: 'agent',
        image: p.image,
        imagePullPolicy: 'IfNotPresent',
        command: cfg.command ?? DEFAULT_AGENT_COMMAND,
        env: env(cfg, spec),
        workingDir: WORKSPACE_IN_POD,
        resources,
        securityContext: {
          runAsNonRoot: true,
          runAsUser: uid,
          runAsGroup: gid,
          privileged: false,
          allowPrivilegeEscalation: false,
          readOnlyRootFilesystem: true,
          capabilities: { drop: ['ALL'] },
          seccompProfile,
        },
        volumeMounts: mounts,
      },
    ],
    volumes,
  };
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name, namespace: cfg.namespace, labels },
    spec: {
      backoffLimit: 0,
      ttlSecondsAfterFinished: cfg.ttlSecondsAfterFinished,
      template: { metadata: { labels }, spec: podSpec },
    },
  };
}

/**
 * The runner's Secret: its one-time registration token, the file the agent reads
 * (`MARIONETTE_REGISTRATION_TOKEN_FILE`), owned by the runner's Job (`job`: the created Job, with its uid) so the cluster
 * removes it with the Job even if the server never does.
 */
export function buildTokenSecret(
  cfg: KubernetesProviderConfig,
  spec: SandboxSpec,
  installId: string | null,
  job: { metadata?: { name?: string; uid?: unknown } },
): Obj {
  const uid = job.metadata?.uid;
  if (typeof uid !== 'string' || !job.metadata?.name)
    throw new InvalidRequest('kubernetes provider: the created Job came back without a name and uid');
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'Opaque',
    metadata: {
      name: tokenSecretName(spec.runnerId),
      namespace: cfg.namespace,
      labels: ownerLabels(cfg.labelPrefix, { ...spec, installId }, 'sandbox'),
      ownerReferences: [{ apiVersion: 'batch/v1', kind: 'Job', name: job.metadata.name, uid }],
    },
    data: {
      [TOKEN_KEY]: Buffer.from(spec.registrationToken).toString('base64'),
    },
  };
}

/** The session's workspace claim (`storage`). */
export function buildPvc(cfg: KubernetesProviderConfig, name: string, owner: Owner): Obj {
  const storage = cfg.storage;
  if (!storage) throw new InvalidRequest('kubernetes provider: no storage configured for a workspace claim');
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: { name, namespace: cfg.namespace, labels: ownerLabels(cfg.labelPrefix, owner, 'storage') },
    spec: {
      accessModes: ['ReadWriteOnce'],
      resources: { requests: { storage: storage.size } },
      ...(storage.class ? { storageClassName: storage.class } : {}),
    },
  };
}

/**
 * The runner's NetworkPolicy for an egress policy, or null for `open` (the cluster's default).
 * `none` allows only DNS and the gateway; an allow list adds its CIDRs. Host names cannot be
 * expressed in a NetworkPolicy: an allow list naming one is refused with the names.
 */
export function buildNetworkPolicy(cfg: KubernetesProviderConfig, owner: Owner, policy: EgressPolicy): Obj | null {
  if (policy === 'open') return null;
  const cidrs: string[] = [];
  if (policy !== 'none') {
    const hosts: string[] = [];
    for (const rule of egressRules(policy)) {
      if (rule.kind === 'cidr') cidrs.push(rule.text);
      else hosts.push(rule.pattern);
    }
    if (hosts.length > 0)
      throw new InvalidRequest(
        `egress: a Kubernetes NetworkPolicy allows addresses, not host names (${hosts.join(', ')}); allow CIDRs, or use a pool whose egress is open`,
      );
  }
  const k = labelKeys(cfg.labelPrefix);
  const gw = cfg.gatewayPeer;
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: {
      name: policyName(owner.runnerId),
      namespace: cfg.namespace,
      labels: ownerLabels(cfg.labelPrefix, owner, 'sandbox'),
    },
    spec: {
      podSelector: { matchLabels: { [k.runner]: labelValue(owner.runnerId) } },
      policyTypes: ['Egress'],
      egress: [
        {
          ports: [
            { protocol: 'UDP', port: 53 },
            { protocol: 'TCP', port: 53 },
          ],
        },
        {
          to: [
            {
              namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': gw.namespace ?? cfg.namespace } },
              podSelector: { matchLabels: gw.podLabels },
            },
          ],
        },
        ...(cidrs.length ? [{ to: cidrs.map((cidr) => ({ ipBlock: { cidr } })) }] : []),
      ],
    },
  };
}
