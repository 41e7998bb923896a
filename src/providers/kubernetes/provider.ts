/**
 * @module `KubernetesSandboxProvider`: one batch/v1 Job per runner whose pod runs
 * `marionette-agent` and dials the gateway the config names; the workspace on a PVC per session
 * when `storage` is set (the native fast path of terminate_preserve_storage), else an emptyDir;
 * the session's egress policy as a NetworkPolicy. A provision waits, on a watch, until the pod
 * runs, and fails with the pod's own reason (unschedulable, image not pulled, quota) when it
 * cannot or does not within `startTimeout`. Everything it creates carries `<prefix>/managed=true`
 * and owner labels, so `list` and `reapOrphans` find it after a crash.
 */
import { parseDuration } from '../../core/duration.js';
import { InvalidRequest, ProviderUnavailable, toError } from '../../core/errors.js';
import { reapOwned } from '../reap.js';
import type {
  OwnedObject,
  OwnedRole,
  OwnerCheck,
  ReapResult,
  SandboxHandle,
  SandboxProvider,
  SandboxSpec,
  SandboxStatus,
  SuspendStrategy,
} from '../types.js';
import { KUBERNETES_CAPABILITIES } from './capabilities.js';
import { apiStatus, clientNodeApi, type KubeApi, type KubeKind, type KubeObject, loadKubeConfig } from './client.js';
import {
  imageRefusal,
  type KubernetesProviderConfig,
  type KubernetesProviderConfigInput,
  mergeKubernetesConfig,
  parseKubernetesConfig,
} from './config.js';
import { type PodView, podProgress } from './explain.js';
import {
  buildJob,
  buildNetworkPolicy,
  buildPvc,
  buildTokenSecret,
  labelKeys,
  type Owner,
  policyName,
  pvcName,
  runnerSelector,
} from './manifests.js';
import { waitForPod, waitGone } from './wait.js';

export interface KubernetesProviderOptions {
  /** An API client, or a factory called once on first use. Default: @kubernetes/client-node on the configured kubeconfig. */
  api?: KubeApi | (() => KubeApi);
  /** The install's id, on every object's labels; `reapOrphans` touches only objects carrying it. */
  installId?: string;
}

/** How long terminate waits for a runner's pods to be gone before it gives up (and the server retries). */
const GONE_TIMEOUT_MS = 90_000;

const KIND_OF: Record<KubeKind, string> = {
  jobs: 'job',
  pods: 'pod',
  persistentvolumeclaims: 'persistentvolumeclaim',
  networkpolicies: 'networkpolicy',
  secrets: 'secret',
};

function meta(h: SandboxHandle, key: string): string | undefined {
  const v = h.metadata[key];
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/**
 * @example
 * const p = new KubernetesSandboxProvider({ namespace: 'marionette', gateway: 'ws://marionette-gateway:9090' });
 * const h = await p.provision(spec); // resolves once the runner's pod runs
 */
export class KubernetesSandboxProvider implements SandboxProvider {
  readonly id = 'kubernetes';
  readonly displayName = 'Kubernetes';
  readonly capabilities = KUBERNETES_CAPABILITIES;
  readonly config: KubernetesProviderConfig;
  readonly installId: string | null;
  private client: KubeApi | undefined;
  private readonly factory: () => KubeApi;
  /**
   * Where `terminate_preserve_storage` keeps the workspace: the session's PVC with `storage`, else
   * (an emptyDir that ends with the pod) only the server's workspace store, which snapshots it
   * before `stopPreserveStorage` and whose copy the next pod's agent restores.
   */
  readonly preservedStorage: 'provider' | 'workspace-store';

  constructor(
    config: KubernetesProviderConfigInput | Record<string, unknown> = {},
    opts: KubernetesProviderOptions = {},
  ) {
    this.config = parseKubernetesConfig(config);
    this.installId = opts.installId ?? null;
    const given = opts.api;
    if (typeof given === 'function') this.factory = given;
    else if (given !== undefined) this.factory = () => given;
    else this.factory = () => clientNodeApi(loadKubeConfig(this.config));
    this.preservedStorage = this.config.storage ? 'provider' : 'workspace-store';
  }

  /** The API client (made on first use: a bad kubeconfig is a health failure, not a startup crash). */
  get api(): KubeApi {
    this.client ??= this.factory();
    return this.client;
  }

  supportedSuspendStrategies(): readonly SuspendStrategy[] {
    return ['terminate_preserve_storage', 'terminate'];
  }

  /**
   * Removes the runner's Job and pod and keeps the workspace: on the session's claim, or (no claim)
   * in the server's workspace store, snapshotted just before; the handle then says so.
   */
  async stopPreserveStorage(handle: SandboxHandle): Promise<SandboxHandle> {
    await this.removeRunner(handle, undefined);
    if (meta(handle, 'pvc') !== undefined) return handle;
    return { ...handle, metadata: { ...handle.metadata, storage: 'workspace-store' } };
  }

  /** A new Job on the session's claim, or (workspace in the store) a fresh one whose agent restores it. */
  async restore(handle: SandboxHandle, spec: SandboxSpec): Promise<SandboxHandle> {
    if (meta(handle, 'pvc') !== undefined) return this.restoreOnClaim(handle, spec);
    const image = spec.image ?? meta(handle, 'image');
    return this.provision(image === undefined ? spec : { ...spec, image });
  }

  async health(): Promise<{ ok: true } | { ok: false; message: string }> {
    try {
      // Namespaced on purpose: the provider's Role (deploy/kubernetes) grants nothing cluster-wide.
      await this.api.probe(this.config.namespace);
      return { ok: true };
    } catch (e: unknown) {
      return { ok: false, message: toError(e).message };
    }
  }

  private owner(spec: SandboxSpec): Owner {
    return {
      sessionId: spec.sessionId,
      runnerId: spec.runnerId,
      poolId: spec.poolId,
      orgId: spec.orgId,
      installId: this.installId,
    };
  }

  async provision(spec: SandboxSpec): Promise<SandboxHandle> {
    const cfg = mergeKubernetesConfig(this.config, spec.config);
    if (spec.image !== undefined) {
      const why = imageRefusal(cfg, spec.image);
      if (why !== null) throw new InvalidRequest(`image: ${why}`);
    }
    let pvc: string | null = null;
    let createdPvc = false;
    if (cfg.storage) {
      pvc = pvcName(spec.sessionId ?? spec.runnerId);
      if ((await this.api.read('persistentvolumeclaims', cfg.namespace, pvc)) === null) {
        try {
          await this.api.create('persistentvolumeclaims', cfg.namespace, buildPvc(cfg, pvc, this.owner(spec)));
          createdPvc = true;
        } catch (e: unknown) {
          if (apiStatus(e) !== 409) throw e; // created meanwhile by another replica
        }
      }
    }
    try {
      return await this.startJob(cfg, spec, spec.image ?? cfg.image, pvc);
    } catch (e: unknown) {
      const err = toError(e);
      if (createdPvc && pvc !== null)
        await this.api.remove('persistentvolumeclaims', cfg.namespace, pvc).catch((ce: unknown) => {
          err.message += ` (removing the new claim ${pvc} also failed: ${toError(ce).message})`;
        });
      throw err;
    }
  }

  /** Creates the runner's NetworkPolicy and Job, and waits for its pod to run; on failure removes both. */
  private async startJob(
    cfg: KubernetesProviderConfig,
    spec: SandboxSpec,
    image: string,
    pvc: string | null,
  ): Promise<SandboxHandle> {
    const policy = spec.egress === undefined ? null : buildNetworkPolicy(cfg, this.owner(spec), spec.egress);
    const job = buildJob({ cfg, spec, image, pvc, installId: this.installId });
    const handle: SandboxHandle = {
      providerId: this.id,
      externalId: job.metadata.name,
      metadata: {
        orgId: spec.orgId,
        runnerId: spec.runnerId,
        sessionId: spec.sessionId,
        poolId: spec.poolId,
        namespace: cfg.namespace,
        job: job.metadata.name,
        image,
        labelPrefix: cfg.labelPrefix,
        installId: this.installId,
        provisionedAt: new Date().toISOString(),
        ...(pvc === null ? {} : { pvc }),
        ...(policy === null ? {} : { networkPolicy: policyName(spec.runnerId) }),
      },
    };
    try {
      if (policy !== null) await this.api.create('networkpolicies', cfg.namespace, policy);
      const made = await this.api.create('jobs', cfg.namespace, job);
      // The token goes in a Secret the Job owns; the pod waits for it to mount.
      await this.api.create('secrets', cfg.namespace, buildTokenSecret(cfg, spec, this.installId, made));
      const timeoutMs = parseDuration(cfg.startTimeout) ?? 300_000;
      await waitForPod(this.api, {
        namespace: cfg.namespace,
        selector: runnerSelector(cfg.labelPrefix, spec.runnerId),
        job: job.metadata.name,
        timeoutMs,
        what: `the pod of runner ${spec.runnerId} (Job ${cfg.namespace}/${job.metadata.name}, image ${image})`,
      });
    } catch (e: unknown) {
      const err = e instanceof ProviderUnavailable || e instanceof InvalidRequest ? e : toError(e);
      await this.removeRunner(handle, 0).catch((ce: unknown) => {
        err.message += ` (cleanup also failed: ${toError(ce).message})`;
      });
      throw err;
    }
    return handle;
  }

  private async restoreOnClaim(handle: SandboxHandle, spec: SandboxSpec): Promise<SandboxHandle> {
    const cfg = mergeKubernetesConfig(this.config, spec.config);
    const pvc = meta(handle, 'pvc');
    if (pvc === undefined) throw new InvalidRequest('cannot restore: the handle names no workspace claim');
    const ns = meta(handle, 'namespace') ?? cfg.namespace;
    if ((await this.api.read('persistentvolumeclaims', ns, pvc)) === null)
      throw new InvalidRequest(`cannot restore: workspace claim ${ns}/${pvc} no longer exists`);
    return this.startJob({ ...cfg, namespace: ns }, spec, spec.image ?? meta(handle, 'image') ?? cfg.image, pvc);
  }

  async status(handle: SandboxHandle): Promise<SandboxStatus> {
    return (await this.inspect(handle)).status;
  }

  /**
   * Why the runner's pod is not running, as Kubernetes says it (the container's `OOMKilled`, its
   * exit code, an eviction, a Job deleted behind the server's back); null while it runs or starts.
   */
  async statusReason(handle: SandboxHandle): Promise<string | null> {
    return (await this.inspect(handle)).reason;
  }

  private async inspect(handle: SandboxHandle): Promise<{ status: SandboxStatus; reason: string | null }> {
    const ns = meta(handle, 'namespace') ?? this.config.namespace;
    const prefix = meta(handle, 'labelPrefix') ?? this.config.labelPrefix;
    const job = await this.api.read('jobs', ns, handle.externalId);
    if (job === null)
      return {
        status: 'terminated',
        reason: `its Job ${ns}/${handle.externalId} is gone (deleted outside Marionette, or removed after it finished)`,
      };
    const runner = meta(handle, 'runnerId');
    const pods = runner === undefined ? [] : await this.api.list('pods', ns, runnerSelector(prefix, runner));
    const live = pods.filter((p) => !(p.metadata as { deletionTimestamp?: unknown }).deletionTimestamp);
    for (const p of live) {
      const pr = podProgress(p as PodView);
      if (pr.kind === 'running') return { status: 'running', reason: null };
      if (pr.kind === 'starting') return { status: 'provisioning', reason: null };
      return { status: pr.kind === 'failed' ? 'failed' : 'terminated', reason: pr.reason };
    }
    const st = (job.status ?? {}) as {
      failed?: number;
      succeeded?: number;
      conditions?: Array<{ type?: string; status?: string; reason?: string; message?: string }>;
    };
    const cond = st.conditions?.find((c) => (c.type === 'Failed' || c.type === 'Complete') && c.status === 'True');
    const why = cond
      ? `Job ${cond.type}${cond.reason ? ` (${cond.reason})` : ''}${cond.message ? `: ${cond.message}` : ''}`
      : null;
    if ((st.failed ?? 0) > 0) return { status: 'failed', reason: why ?? 'its Job failed and its pod is gone' };
    if ((st.succeeded ?? 0) > 0) return { status: 'terminated', reason: why ?? 'its Job completed' };
    return pods.length > 0
      ? { status: 'terminated', reason: 'its pod is being deleted' }
      : { status: 'provisioning', reason: null };
  }

  /** Removes the runner's Job, pods and NetworkPolicy, and waits until its pods are gone. */
  private async removeRunner(handle: SandboxHandle, grace: number | undefined): Promise<void> {
    const ns = meta(handle, 'namespace') ?? this.config.namespace;
    const prefix = meta(handle, 'labelPrefix') ?? this.config.labelPrefix;
    const runner = meta(handle, 'runnerId');
    if (handle.externalId) await this.api.remove('jobs', ns, handle.externalId, grace);
    // The runner's token Secret is owned by the Job: the cluster's garbage collector removes it with it.
    const policy = meta(handle, 'networkPolicy');
    if (policy !== undefined) await this.api.remove('networkpolicies', ns, policy);
    if (runner !== undefined) await this.podsGone(ns, runnerSelector(prefix, runner), grace ?? 30);
  }

  /** Deletes the pods of a selector and waits until none is left; throws when they outlast the wait. */
  private async podsGone(ns: string, selector: string, grace: number): Promise<void> {
    await this.api.removePods(ns, selector, grace);
    await waitGone(this.api, 'pods', ns, { label: selector }, Math.max(GONE_TIMEOUT_MS, grace * 1000 + 30_000));
  }

  async terminate(handle: SandboxHandle): Promise<void> {
    await this.removeRunner(handle, undefined);
    await this.destroyStorage(handle);
  }

  /** The pod goes at once (grace period 0); the workspace claim stays. */
  async fence(handle: SandboxHandle): Promise<void> {
    await this.removeRunner(handle, 0);
  }

  /** Deletes the session's claim and waits until it is gone (the cluster removes it once no pod uses it). */
  async destroyStorage(handle: SandboxHandle): Promise<void> {
    const pvc = meta(handle, 'pvc');
    if (pvc === undefined) return;
    const ns = meta(handle, 'namespace') ?? this.config.namespace;
    await this.api.remove('persistentvolumeclaims', ns, pvc);
    await waitGone(this.api, 'persistentvolumeclaims', ns, { field: `metadata.name=${pvc}` }, GONE_TIMEOUT_MS);
  }

  async *streamLogs(handle: SandboxHandle): AsyncIterable<string> {
    const ns = meta(handle, 'namespace') ?? this.config.namespace;
    const runner = meta(handle, 'runnerId');
    if (runner === undefined) return;
    const prefix = meta(handle, 'labelPrefix') ?? this.config.labelPrefix;
    for (const pod of await this.api.list('pods', ns, runnerSelector(prefix, runner))) {
      const name = pod.metadata?.name;
      if (!name) continue;
      for (const line of (await this.api.podLog(ns, name)).split('\n')) if (line) yield line;
    }
  }

  /** Jobs, PVCs and NetworkPolicies under the label prefix in the namespace, of every install. */
  async list(): Promise<OwnedObject[]> {
    const { namespace, labelPrefix } = this.config;
    const k = labelKeys(labelPrefix);
    const out: OwnedObject[] = [];
    for (const kind of ['jobs', 'persistentvolumeclaims', 'networkpolicies'] as const) {
      for (const o of await this.api.list(kind, namespace, `${k.managed}=true`)) {
        // Already being deleted (a claim waits for its last pod): it is going, not an orphan to reap again.
        if (o.metadata?.deletionTimestamp) continue;
        const l = o.metadata?.labels ?? {};
        const name = o.metadata?.name ?? '';
        const role = (l[k.role] ?? (kind === 'persistentvolumeclaims' ? 'storage' : 'sandbox')) as OwnedRole;
        out.push({
          role,
          kind: KIND_OF[kind],
          id: name,
          name: `${namespace}/${name}`,
          owner: {
            session: l[k.session] ?? '',
            runner: l[k.runner] ?? '',
            pool: l[k.pool] ?? '',
            org: l[k.org] ?? '',
            install: l[k.install] ?? '',
          },
        });
      }
    }
    return out;
  }

  async reapOrphans(isLive: OwnerCheck, adopt?: OwnerCheck): Promise<ReapResult> {
    const { namespace, labelPrefix } = this.config;
    return reapOwned(await this.list(), {
      installId: this.installId,
      isLive,
      adopt,
      remove: async (o) => {
        if (o.kind === 'job') {
          await this.api.remove('jobs', namespace, o.id, 0);
          if (o.owner.runner) await this.podsGone(namespace, runnerSelector(labelPrefix, o.owner.runner), 0);
        } else if (o.kind === 'persistentvolumeclaim') await this.api.remove('persistentvolumeclaims', namespace, o.id);
        else await this.api.remove('networkpolicies', namespace, o.id);
        return undefined;
      },
    });
  }

  async close(): Promise<void> {
    this.client = undefined;
  }

  /** The pods of a runner as the API has them (tests, `explain`). */
  pods(runnerId: string): Promise<KubeObject[]> {
    return this.api.list('pods', this.config.namespace, runnerSelector(this.config.labelPrefix, runnerId));
  }
}
