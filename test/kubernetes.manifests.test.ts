/**
 * The kubernetes provider's reasons, from the documented shapes of pod status and events: each
 * failure a user can act on reads as such (the scheduler's message, the image named, the quota
 * named, OOMKilled), and the Job, PVC and NetworkPolicy it builds are what the issue asks
 * (backoffLimit 0, a TTL, the hardened pod, session resources over the config's).
 */
import { describe, expect, it } from 'vitest';
import { mergeKubernetesConfig, parseKubernetesConfig, podResources } from '../src/providers/kubernetes/config.js';
import { jobEventReason, podProgress } from '../src/providers/kubernetes/explain.js';
import {
  AGENT_SECRET_DIR,
  buildJob,
  buildNetworkPolicy,
  buildPvc,
  buildTokenSecret,
  labelValue,
} from '../src/providers/kubernetes/manifests.js';
import type { SandboxSpec } from '../src/providers/types.js';
import { validateKubeObject } from './kube-models.js';

// biome-ignore lint/suspicious/noExplicitAny: the tests read the plain API objects the builders return
type Plain = Record<string, any>;

const spec: SandboxSpec = {
  projectId: 'p',
  orgId: 'org_1',
  registrationToken: 'mrg_x',
  env: { A: 'b' },
  config: {},
  runnerId: 'run_abc',
  poolId: 'pool_1',
  poolName: 'k8s',
  sessionId: 'ses_1',
};

describe('pod progress in words', () => {
  it('Unschedulable carries the scheduler message; it may still change, so it is not final', () => {
    const p = podProgress({
      status: {
        phase: 'Pending',
        conditions: [
          {
            type: 'PodScheduled',
            status: 'False',
            reason: 'Unschedulable',
            message: '0/3 nodes are available: 3 Insufficient memory.',
          },
        ],
      },
    });
    expect(p).toEqual({ kind: 'starting', reason: 'Unschedulable: 0/3 nodes are available: 3 Insufficient memory.' });
  });

  it('an image that cannot be pulled is named', () => {
    const p = podProgress({
      spec: { containers: [{ image: 'ghcr.io/acme/agent:9' }] },
      status: {
        phase: 'Pending',
        containerStatuses: [
          {
            name: 'agent',
            state: {
              waiting: { reason: 'ImagePullBackOff', message: 'Back-off pulling image "ghcr.io/acme/agent:9"' },
            },
          },
        ],
      },
    });
    expect(p.kind).toBe('starting');
    expect((p as { reason: string }).reason).toMatch(
      /^ImagePullBackOff: image ghcr.io\/acme\/agent:9 cannot be pulled/,
    );
  });

  it('a bad image name fails at once', () => {
    const p = podProgress({
      status: {
        phase: 'Pending',
        containerStatuses: [{ state: { waiting: { reason: 'InvalidImageName', message: 'bad' } } }],
      },
    });
    expect(p).toEqual({ kind: 'failed', reason: 'InvalidImageName: bad' });
  });

  it('OOMKilled says what to raise', () => {
    const p = podProgress({
      status: {
        phase: 'Failed',
        containerStatuses: [{ name: 'agent', state: { terminated: { reason: 'OOMKilled', exitCode: 137 } } }],
      },
    });
    expect(p.kind).toBe('failed');
    expect((p as { reason: string }).reason).toContain('OOMKilled');
    expect((p as { reason: string }).reason).toContain('resources.limits.memory');
  });

  it("an evicted pod names the eviction and the node pressure, over its containers' ends", () => {
    const p = podProgress({
      status: {
        phase: 'Failed',
        reason: 'Evicted',
        message: 'The node was low on resource: memory. Threshold quantity: 100Mi, available: 50Mi.',
        containerStatuses: [{ name: 'agent', state: { terminated: { reason: 'Error', exitCode: 137 } } }],
      },
    });
    expect(p).toEqual({
      kind: 'failed',
      reason: expect.stringMatching(/^Evicted: The node was low on resource: memory\./),
    });
  });

  it('running is running; nothing said yet is just starting', () => {
    expect(podProgress({ status: { phase: 'Running', containerStatuses: [{ state: { running: {} } }] } })).toEqual({
      kind: 'running',
    });
    expect(podProgress({ status: { phase: 'Pending' } })).toEqual({ kind: 'starting', reason: null });
  });

  it('a quota that refused the pod is named from the Job events', () => {
    const r = jobEventReason([
      { reason: 'SuccessfulCreate', message: 'x' },
      {
        reason: 'FailedCreate',
        type: 'Warning',
        message:
          'Error creating: pods "mrn-run-abc-x1" is forbidden: exceeded quota: team-quota, requested: cpu=4, used: cpu=8, limited: cpu=10',
      },
    ]);
    expect(r).toMatch(/^quota exceeded: ResourceQuota team-quota refused the pod/);
    expect(jobEventReason([])).toBeNull();
  });
});

describe('what the provider creates', () => {
  const cfg = parseKubernetesConfig({
    namespace: 'marionette',
    gateway: 'ws://gw:9090',
    resources: { requests: { memory: '2Gi', cpu: '1' }, limits: { memory: '8Gi', cpu: 4 } },
    nodeSelector: { pool: 'agents' },
    tolerations: [{ key: 'agents', operator: 'Exists', effect: 'NoSchedule' }],
    imagePullSecrets: ['regcred'],
    runtimeClass: 'gvisor',
    storage: { size: '10Gi', class: 'fast' },
  });

  it('a Job with backoffLimit 0, a TTL, and a hardened pod that fits the models', () => {
    const job = buildJob({ cfg, spec, image: 'marionette/agent:latest', pvc: 'mrn-ws-ses-1', installId: 'ins_1' });
    expect(validateKubeObject(job)).toEqual([]);
    const s = job.spec as Plain;
    expect(s.backoffLimit).toBe(0);
    expect(s.ttlSecondsAfterFinished).toBe(600);
    const pod = s.template.spec;
    expect(pod).toMatchObject({
      restartPolicy: 'Never',
      automountServiceAccountToken: false,
      nodeSelector: { pool: 'agents' },
      runtimeClassName: 'gvisor',
      imagePullSecrets: [{ name: 'regcred' }],
      securityContext: { runAsNonRoot: true, runAsUser: 1000, seccompProfile: { type: 'RuntimeDefault' } },
    });
    const c = pod.containers[0];
    expect(c.securityContext).toMatchObject({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      privileged: false,
      capabilities: { drop: ['ALL'] },
    });
    expect(c.resources).toEqual({ requests: { memory: '2Gi', cpu: '1' }, limits: { memory: '8Gi', cpu: '4' } });
    const env = Object.fromEntries(c.env.map((e: { name: string; value: string }) => [e.name, e.value]));
    expect(env).toMatchObject({ A: 'b', MARIONETTE_GATEWAY: 'ws://gw:9090', MARIONETTE_RUNNER_ID: 'run_abc' });
    expect(pod.volumes[0]).toEqual({ name: 'workspace', persistentVolumeClaim: { claimName: 'mrn-ws-ses-1' } });
    expect(job.metadata.labels).toMatchObject({
      'marionette.io/managed': 'true',
      'marionette.io/runner': 'run_abc',
      'marionette.io/session': 'ses_1',
      'marionette.io/install': 'ins_1',
    });
  });

  it('the registration token is in a Secret the Job owns, mounted as the file the agent reads; the pod spec holds no token', () => {
    const secretSpec = { ...spec, registrationToken: 'mrg_secret-token-value-0123456789' };
    const job = buildJob({ cfg, spec: secretSpec, image: 'marionette/agent:latest', pvc: null, installId: 'ins_1' });
    // Anything that can read the Job or its pod (`kubectl get -o yaml`, `describe`) sees no token.
    expect(JSON.stringify(job)).not.toContain('mrg_secret-token-value-0123456789');
    const pod = (job.spec as Plain).template.spec;
    const c = pod.containers[0];
    expect(c.env.map((e: { name: string }) => e.name)).not.toContain('MARIONETTE_REGISTRATION_TOKEN');
    expect(c.env).toContainEqual({ name: 'MARIONETTE_REGISTRATION_TOKEN_FILE', value: `${AGENT_SECRET_DIR}/token` });
    expect(c.volumeMounts).toContainEqual({ name: 'runner-token', mountPath: AGENT_SECRET_DIR, readOnly: true });
    expect(pod.volumes).toContainEqual({
      name: 'runner-token',
      secret: { secretName: 'mrn-run-abc', defaultMode: 0o440 },
    });

    const made = { metadata: { name: job.metadata.name, uid: 'uid-1' } };
    const secret = buildTokenSecret(cfg, secretSpec, 'ins_1', made) as Plain;
    expect(validateKubeObject(secret)).toEqual([]);
    expect(secret.metadata).toMatchObject({
      name: 'mrn-run-abc',
      namespace: 'marionette',
      ownerReferences: [{ apiVersion: 'batch/v1', kind: 'Job', name: 'mrn-run-abc', uid: 'uid-1' }],
      labels: { 'marionette.io/runner': 'run_abc', 'marionette.io/install': 'ins_1' },
    });
    expect(Buffer.from(secret.data.token, 'base64').toString('utf8')).toBe('mrg_secret-token-value-0123456789');
    // Without the created Job's uid there is no owner to give it: refused, not left ownerless.
    expect(() => buildTokenSecret(cfg, secretSpec, null, { metadata: { name: 'x' } })).toThrow(/uid/);
  });

  it("the session's resources go over the configured requests and limits", () => {
    expect(podResources(cfg, { cpu: '0.5', memoryMB: 1024 })).toEqual({
      requests: { memory: '1024Mi', cpu: '500m' },
      limits: { memory: '1024Mi', cpu: '500m' },
    });
    const pool = mergeKubernetesConfig(cfg, { resources: { limits: { memory: '16Gi' } } });
    expect(podResources(pool, undefined).limits).toEqual({ memory: '16Gi', cpu: '4' });
  });

  it('without a gateway the provision is refused naming the key', () => {
    expect(() => buildJob({ cfg: parseKubernetesConfig({}), spec, image: 'x', pvc: null, installId: null })).toThrow(
      /providers\.kubernetes\.gateway/,
    );
  });

  it('a PVC per session and a NetworkPolicy for a none or CIDR policy; host names are refused', () => {
    const owner = { ...spec, installId: null };
    expect(validateKubeObject(buildPvc(cfg, 'mrn-ws-ses-1', owner))).toEqual([]);
    expect(buildNetworkPolicy(cfg, owner, 'open')).toBeNull();
    const none = buildNetworkPolicy(cfg, owner, 'none')!;
    expect(validateKubeObject(none)).toEqual([]);
    const cidr = buildNetworkPolicy(cfg, owner, { allow: ['10.0.0.0/8'] }) as Plain;
    expect(cidr.spec.egress.at(-1)).toEqual({ to: [{ ipBlock: { cidr: '10.0.0.0/8' } }] });
    expect(() => buildNetworkPolicy(cfg, owner, { allow: ['api.github.com'] })).toThrow(/api\.github\.com/);
  });

  it('bad config is refused naming the key; label values are made valid', () => {
    expect(() => parseKubernetesConfig({ namespace: 'Bad_NS' })).toThrow(/namespace/);
    expect(() => parseKubernetesConfig({ startTimeout: 'soon' })).toThrow(/startTimeout/);
    expect(() => mergeKubernetesConfig(cfg, { kubeconfig: '/x' })).toThrow(/unknown key kubeconfig/);
    expect(labelValue('a/b:c')).toBe('a-b-c');
  });
});
