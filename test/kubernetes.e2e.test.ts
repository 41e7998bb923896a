/**
 * @module Kubernetes pools end to end, against the Kubernetes API stand-in (test/kube-standin/)
 * whose pods are Docker containers: a pool made with `mctl pools create --provider kubernetes`
 * on the seed's provider config runs a shell session in a hardened pod (per-session), a per-task
 * pool gives every task a fresh Job, a missing image and an unschedulable request each fail the
 * session with their reason in `mctl sessions explain`, a pool's egress policy becomes a
 * NetworkPolicy (a host name it cannot express fails the session), a runner whose pod died goes offline (its
 * task lost), a pod OOM-killed while running says so in the runner's and the session's reason, a
 * session without a PVC suspends into the workspace store and resumes on a fresh pod with its
 * files, the registration token is in a Secret the Job owns (never in the pod spec), and a server
 * killed with SIGKILL while a Job was starting leaves nothing behind once restarted. Every check
 * reads the cluster through the client library, so with MARIONETTE_TEST_KUBECONFIG the file runs
 * against that cluster; the one check that needs the stand-in (killing a container from outside)
 * is skipped there, saying why.
 */
import { createServer } from 'node:net';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { docker, dockerDescribe } from '../src/providers/docker/docker.test-support.js';
import type { KubeObject } from '../src/providers/kubernetes/client.js';
import {
  createSession,
  getSession,
  getTask,
  runTask,
  type SessionObj,
  sessionIn,
  taskDone,
  taskLines,
} from './docker.support.js';
import { json, type ServerHandle, startServer, until } from './harness.js';
import { type KubeTarget, kubePrefix, kubeTarget, REAL_KUBECONFIG } from './kube.support.js';

/** A port free right now on loopback (the gateway address must be in the config before the server starts). */
async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

const NS = 'marionette';

dockerDescribe('kubernetes pools end to end (Kubernetes API stand-in)', () => {
  const prefix = kubePrefix();
  let target: KubeTarget;
  let srv: ServerHandle;

  /** Jobs, pods, claims, policies and Secrets of this file (through the API), and with the stand-in its containers and volumes. */
  const left = () => target.leftovers();
  const runnerLabel = (o: KubeObject) => o.metadata?.labels?.[`${prefix}/runner`];
  const expectNothingLeft = async () => {
    await until(async () => (await left()).length === 0, 'every Job, pod, claim and container to be gone', 60_000);
  };

  beforeAll(async () => {
    target = await kubeTarget(prefix);
    const gatewayPort = await freePort();
    // The seed's section (namespace, image, requests and limits), plus how to reach the stand-in.
    const section = target.config(gatewayPort, {
      resources: { requests: { memory: '2Gi', cpu: '1' }, limits: { memory: '8Gi', cpu: '4' } },
    });
    srv = await startServer({
      gatewayPort,
      config: `runners: { lease_timeout: 1m }\nproviders:\n  kubernetes: ${JSON.stringify(section)}\n`,
    });
  }, 300_000);

  afterAll(async () => {
    await srv?.destroy();
    const rest = target ? await left().catch(() => []) : [];
    await target?.close();
    expect(rest).toEqual([]);
  }, 120_000);

  it('`mctl pools create --provider kubernetes` runs a session in a hardened pod, and nothing is left when it ends', async () => {
    const made = await srv.mctl(['pools', 'create', 'k8s', '--provider', 'kubernetes', '--mode', 'managed']);
    expect(made.code, made.stderr).toBe(0);
    const pool = await srv.api<{ health: string; unavailableReason: string | null }>('GET', '/v1/pools/k8s');
    expect(pool.body.health, JSON.stringify(pool.body)).not.toBe('unavailable');

    const created = await createSession(srv, {
      pool: 'k8s',
      prompt:
        'id -u; echo made > /workspace/made.txt; cat /workspace/made.txt; touch /etc/nope 2>/dev/null && echo rootfs-writable || echo rootfs-readonly',
    });
    const done = await taskDone(srv, created.tasks![0]!.id, 120_000);
    const lines = await taskLines(srv, done.id);
    expect(done.state, lines.join('\n')).toBe('succeeded');
    expect(lines).toEqual(['1000', 'made', 'rootfs-readonly']);

    const s = await getSession(srv, created.id);
    const [job] = (await target.objects('jobs')).filter((j) => runnerLabel(j) === s.runnerId);
    expect(job, 'the runner Job').toBeDefined();
    // biome-ignore lint/suspicious/noExplicitAny: reading the Job as the API stores it
    const spec = job!.spec as Record<string, any>;
    expect(spec.backoffLimit).toBe(0);
    expect(spec.ttlSecondsAfterFinished).toBeGreaterThan(0);
    expect(job!.metadata!.labels).toMatchObject({
      [`${prefix}/session`]: created.id,
      [`${prefix}/pool`]: s.poolId,
      [`${prefix}/role`]: 'sandbox',
    });
    const pod = spec.template.spec;
    expect(pod.securityContext).toMatchObject({
      runAsNonRoot: true,
      runAsUser: 1000,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    const c = pod.containers[0];
    expect(c.securityContext).toMatchObject({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    });
    // The seed's requests and limits, as configured.
    expect(c.resources).toEqual({ requests: { memory: '2Gi', cpu: '1' }, limits: { memory: '8Gi', cpu: '4' } });
    expect(pod.automountServiceAccountToken).toBe(false);

    // The registration token is in the runner's Secret, owned by its Job, never in the Job or pod.
    const pods = await target.objects('pods', `${prefix}/runner=${s.runnerId}`);
    expect(pods.length).toBe(1);
    const leaked = JSON.stringify([job, pods]);
    expect(leaked).not.toMatch(/mrg_/);
    expect(leaked).not.toContain('"MARIONETTE_REGISTRATION_TOKEN"');
    expect(leaked).toContain('"MARIONETTE_REGISTRATION_TOKEN_FILE"');
    const [secret] = await target.objects('secrets', `${prefix}/runner=${s.runnerId}`);
    expect(secret, "the runner's token Secret").toBeDefined();
    // biome-ignore lint/suspicious/noExplicitAny: reading the Secret as the API returns it
    const sec = secret as Record<string, any>;
    expect(sec.metadata.ownerReferences).toEqual([
      expect.objectContaining({ kind: 'Job', name: job!.metadata!.name, uid: job!.metadata!.uid }),
    ]);
    expect(Buffer.from(sec.data.token, 'base64').toString('utf8')).toMatch(/^mrg_/);

    expect((await srv.api('POST', `/v1/sessions/${created.id}/cancel`)).status).toBe(200);
    // The Secret goes with the runner (the cluster removes what the Job owned), as does everything else.
    await until(
      async () => (await target.objects('secrets', `${prefix}/runner=${s.runnerId}`)).length === 0,
      "the runner's token Secret to be gone",
      60_000,
    );
    await expectNothingLeft();
  }, 300_000);

  it('a per-task pool gives every task a fresh Job', async () => {
    const r = await srv.api('POST', '/v1/pools', {
      name: 'k8s-task',
      provider: 'kubernetes',
      mode: 'managed',
      lifecycle: 'per-task',
      maxRunners: 1,
    });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    const created = await createSession(srv, { pool: 'k8s-task', prompt: 'echo first' });
    const first = await taskDone(srv, created.tasks![0]!.id, 120_000);
    expect(first.state).toBe('succeeded');
    expect(await runTask(srv, created.id, 'echo second')).toEqual(['second']);
    const tasks = (await getSession(srv, created.id)).tasks!;
    expect(new Set(tasks.map((t) => t.runnerId)).size).toBe(2);
    expect((await srv.api('POST', `/v1/sessions/${created.id}/cancel`)).status).toBe(200);
    await expectNothingLeft();
  }, 300_000);

  it('a missing image fails the session with ImagePullBackOff naming the image, shown by `mctl sessions explain`', async () => {
    const r = await srv.api('POST', '/v1/pools', {
      name: 'k8s-noimage',
      provider: 'kubernetes',
      mode: 'managed',
      sandboxConfig: { image: 'marionette/absent-image:nope', startTimeout: '5s' },
    });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    const created = await createSession(srv, { pool: 'k8s-noimage', prompt: 'true' });
    const failed = await sessionIn(srv, created.id, ['failed'], 120_000);
    expect(failed.stateReason).toMatch(/ImagePullBackOff|ErrImagePull/);
    expect(failed.stateReason).toContain('marionette/absent-image:nope');
    const explain = await srv.mctl(['sessions', 'explain', created.id]);
    expect(explain.code, explain.stderr).toBe(0);
    expect(explain.stdout).toMatch(/ImagePullBackOff|ErrImagePull/);
    expect(explain.stdout).toContain('marionette/absent-image:nope');
    await expectNothingLeft();
  }, 300_000);

  it('an unschedulable request fails the session with the scheduler message, shown by `mctl sessions explain`', async () => {
    const r = await srv.api('POST', '/v1/pools', {
      name: 'k8s-huge',
      provider: 'kubernetes',
      mode: 'managed',
      sandboxConfig: { resources: { requests: { cpu: '512' } }, startTimeout: '5s' },
    });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    const created = await createSession(srv, { pool: 'k8s-huge', prompt: 'true' });
    const failed = await sessionIn(srv, created.id, ['failed'], 120_000);
    expect(failed.stateReason).toContain('Unschedulable: 0/1 nodes are available: 1 Insufficient cpu');
    const explain = await srv.mctl(['sessions', 'explain', created.id]);
    expect(explain.code, explain.stderr).toBe(0);
    expect(explain.stdout).toContain('Unschedulable');
    expect(explain.stdout).toContain('Insufficient cpu');
    await expectNothingLeft();
  }, 300_000);

  it('a ResourceQuota that refuses the pod fails the session naming the quota, shown by `mctl sessions explain`', async () => {
    // Made through the client library, so this holds on a real cluster too.
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(target.config(0).kubeconfig!);
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const quota = `team-quota-${prefix.slice(1, 9)}`;
    await core.createNamespacedResourceQuota({
      namespace: NS,
      body: { metadata: { name: quota }, spec: { hard: { 'requests.cpu': '100m' } } },
    });
    try {
      const r = await srv.api('POST', '/v1/pools', {
        name: 'k8s-quota',
        provider: 'kubernetes',
        mode: 'managed',
        sandboxConfig: { startTimeout: '5s' },
      });
      expect(r.status, JSON.stringify(r.body)).toBe(201);
      const created = await createSession(srv, { pool: 'k8s-quota', prompt: 'true' });
      const failed = await sessionIn(srv, created.id, ['failed'], 120_000);
      expect(failed.stateReason).toContain(`quota exceeded: ResourceQuota ${quota} refused the pod`);
      expect(failed.stateReason).toContain('requests.cpu');
      const explain = await srv.mctl(['sessions', 'explain', created.id]);
      expect(explain.code, explain.stderr).toBe(0);
      expect(explain.stdout).toContain(`ResourceQuota ${quota}`);
      await expectNothingLeft();
    } finally {
      await core.deleteNamespacedResourceQuota({ name: quota, namespace: NS });
    }
  }, 300_000);

  it("a pool's egress policy becomes the runner's NetworkPolicy; a host name it cannot express fails the session naming it", async () => {
    const r = await srv.api('POST', '/v1/pools', {
      name: 'k8s-closed',
      provider: 'kubernetes',
      mode: 'managed',
      network: { egress: { allow: ['10.0.0.0/8'] } },
    });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    const s = await createSession(srv, { pool: 'k8s-closed', prompt: 'echo inside' });
    const done = await taskDone(srv, s.tasks![0]!.id, 120_000);
    expect(done.state).toBe('succeeded');
    const runner = (await getSession(srv, s.id)).runnerId!;
    const [policy] = (await target.objects('networkpolicies')).filter((p) => runnerLabel(p) === runner);
    expect(policy, 'the runner NetworkPolicy').toBeDefined();
    // biome-ignore lint/suspicious/noExplicitAny: reading the policy as the API stores it
    const spec = policy!.spec as Record<string, any>;
    expect(spec.policyTypes).toEqual(['Egress']);
    expect(spec.podSelector).toEqual({ matchLabels: { [`${prefix}/runner`]: runner } });
    expect(spec.egress.at(-1)).toEqual({ to: [{ ipBlock: { cidr: '10.0.0.0/8' } }] });
    expect((await srv.api('POST', `/v1/sessions/${s.id}/cancel`)).status).toBe(200);
    await expectNothingLeft();

    const named = await srv.api('POST', '/v1/pools', {
      name: 'k8s-named',
      provider: 'kubernetes',
      mode: 'managed',
      network: { egress: { allow: ['api.example.com'] } },
    });
    expect(named.status, JSON.stringify(named.body)).toBe(201);
    const s2 = await createSession(srv, { pool: 'k8s-named', prompt: 'true' });
    const failed = await sessionIn(srv, s2.id, ['failed'], 120_000);
    expect(failed.stateReason).toContain('api.example.com');
    expect(failed.stateReason).toContain('NetworkPolicy');
    await expectNothingLeft();
  }, 300_000);

  // Killing a pod's container from outside needs the stand-in's Docker; on a real cluster the OOM case below covers a pod that died.
  it.skipIf(REAL_KUBECONFIG !== undefined)(
    'a runner whose pod died is marked offline and its task lost; the session gets a new Job (stand-in only: kills the container from outside)',
    async () => {
      const r0 = await srv.api('POST', '/v1/pools', { name: 'k8s-die', provider: 'kubernetes', mode: 'managed' });
      expect(r0.status, JSON.stringify(r0.body)).toBe(201);
      const s = await createSession(srv, { pool: 'k8s-die', prompt: 'true' });
      await taskDone(srv, s.tasks![0]!.id, 120_000);
      const idle = await sessionIn(srv, s.id, ['idle']);
      const r = await srv.api<{ id: string }>('POST', `/v1/sessions/${s.id}/tasks`, {
        prompt: 'while :; do sleep 0.05; done',
        maxRetries: 0,
      });
      expect(r.status).toBe(201);
      await until(async () => (await getTask(srv, r.body.id)).state === 'running', 'the task to run');
      const [pod] = target.standin!.pods(NS, `${prefix}/runner=${idle.runnerId}`);
      await docker.getContainer(target.standin!.containerOf(pod!)!).kill();
      const lost = await taskDone(srv, r.body.id, 60_000);
      expect(lost.state).toBe('lost');
      // The container's real end, as the pod status reports it: killed (SIGKILL, exit code 137).
      expect(lost.error).toContain(
        `the sandbox of runner ${idle.runnerId} is failed: container agent exited with code 137 (Error)`,
      );
      expect(await runTask(srv, s.id, 'echo again')).toEqual(['again']);
      expect((await getSession(srv, s.id)).runnerId).not.toBe(idle.runnerId);
      expect((await srv.api('POST', `/v1/sessions/${s.id}/cancel`)).status).toBe(200);
      await expectNothingLeft();
    },
    300_000,
  );

  it('a running pod killed for memory says OOMKilled in the lost task, the session reason and `mctl sessions explain`', async () => {
    const r0 = await srv.api('POST', '/v1/pools', {
      name: 'k8s-oom',
      provider: 'kubernetes',
      mode: 'managed',
      sandboxConfig: { resources: { requests: { memory: '256Mi' }, limits: { memory: '256Mi' } } },
    });
    expect(r0.status, JSON.stringify(r0.body)).toBe(201);
    const s = await createSession(srv, { pool: 'k8s-oom', prompt: 'true' });
    expect((await taskDone(srv, s.tasks![0]!.id, 120_000)).state).toBe('succeeded');
    const idle = await sessionIn(srv, s.id, ['idle']);
    // `tail` keeps a line with no newline in memory: it grows past the pod's limit, and the
    // kernel's OOM killer fires in the pod (a cgroup v2 kubelet then ends the whole container).
    const r = await srv.api<{ id: string }>('POST', `/v1/sessions/${s.id}/tasks`, {
      prompt: 'head -c 2000m /dev/zero | tail; sleep 600',
      maxRetries: 0,
    });
    expect(r.status).toBe(201);
    const lost = await taskDone(srv, r.body.id, 120_000);
    expect(lost.state).toBe('lost');
    expect(lost.error).toContain(`the sandbox of runner ${idle.runnerId} is failed: OOMKilled`);
    expect(lost.error).toContain('resources.limits.memory');
    // The session side runs right after the task is lost: wait for it rather than race it.
    await until(async () => /OOMKilled/.test((await getSession(srv, s.id)).stateReason ?? ''), 'the session reason');
    const explain = await srv.mctl(['sessions', 'explain', s.id]);
    expect(explain.code, explain.stderr).toBe(0);
    expect(explain.stdout).toContain('OOMKilled');
    const events = await srv.api<{ items: Array<{ type: string; data: { reason?: string } }> }>(
      'GET',
      `/v1/sessions/${s.id}/events`,
    );
    const lostEvent = events.body.items.find((e) => e.type === 'runner_lost');
    expect(lostEvent?.data.reason).toContain('OOMKilled');
    expect((await srv.api('POST', `/v1/sessions/${s.id}/cancel`)).status).toBe(200);
    await expectNothingLeft();
  }, 300_000);

  it('without a PVC, terminate_preserve_storage keeps the workspace in the store: no pod left, and it is back on a fresh pod', async () => {
    const r0 = await srv.api('POST', '/v1/pools', { name: 'k8s-store', provider: 'kubernetes', mode: 'managed' });
    expect(r0.status, JSON.stringify(r0.body)).toBe(201);
    const created = await createSession(srv, {
      pool: 'k8s-store',
      prompt: 'mkdir -p /workspace/src && echo kept > /workspace/src/keep.txt',
    });
    expect((await taskDone(srv, created.tasks![0]!.id, 120_000)).state).toBe('succeeded');
    const before = await sessionIn(srv, created.id, ['idle']);
    const sus = await srv.mctl([
      '-o',
      'json',
      'sessions',
      'suspend',
      created.id,
      '--strategy',
      'terminate_preserve_storage',
    ]);
    expect(sus.code, sus.stderr).toBe(0);
    const suspended = json<SessionObj>(sus);
    expect(suspended.state).toBe('suspended');
    expect(suspended.suspend?.strategy).toBe('terminate_preserve_storage');
    // No Job, pod or claim of the session is left: the workspace is in the store only.
    const session = `${prefix}/session=${created.id}`;
    for (const kind of ['jobs', 'pods', 'persistentvolumeclaims'] as const)
      expect(await target.objects(kind, session), kind).toEqual([]);
    const snaps = json<{ reason: string }[]>(
      await srv.mctl(['-o', 'json', 'workspaces', 'list', '--session', created.id]),
    );
    expect(snaps.map((x) => x.reason)).toEqual(['suspend']);

    const back = await srv.mctl(['sessions', 'resume', created.id]);
    expect(back.code, back.stderr).toBe(0);
    expect(await runTask(srv, created.id, 'cat /workspace/src/keep.txt')).toEqual(['kept']);
    const after = await sessionIn(srv, created.id, ['idle']);
    expect(after.runnerId).not.toBe(before.runnerId);
    const jobs = await target.objects('jobs', session);
    expect(jobs.map(runnerLabel)).toEqual([after.runnerId]);
    expect((await srv.api('POST', `/v1/sessions/${created.id}/cancel`)).status).toBe(200);
    await expectNothingLeft();
  }, 300_000);

  it('a server killed with SIGKILL while a Job starts leaves nothing behind once restarted', async () => {
    const r = await srv.api('POST', '/v1/pools', { name: 'k8s-crash', provider: 'kubernetes', mode: 'managed' });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    const s = await createSession(srv, { pool: 'k8s-crash', prompt: 'echo survived' });
    // The Job is created before the provision returns (it waits for the pod): kill the server then.
    await until(async () => (await target.objects('jobs')).length > 0, 'the Job to be created', 60_000);
    await srv.stop(true);
    const crashedRunner = runnerLabel((await target.objects('jobs'))[0]!);
    expect(crashedRunner).toMatch(/^run_/);
    srv = await srv.restart();
    const done = await taskDone(srv, s.tasks![0]!.id, 120_000);
    expect(done.state).toBe('succeeded');
    const live = (await getSession(srv, s.id)).runnerId;
    // The crashed provision never wrote its handle: that runner was given up and its Job reaped by label.
    await until(
      async () => (await target.objects('jobs')).every((j) => runnerLabel(j) === live),
      "the crashed provision's Job to be removed",
      60_000,
    );
    if (live !== crashedRunner) {
      const runner = (await srv.api<{ state: string }>('GET', `/v1/runners/${crashedRunner}`)).body;
      expect(runner.state).toBe('terminated');
    }
    expect((await srv.api('POST', `/v1/sessions/${s.id}/cancel`)).status).toBe(200);
    await expectNothingLeft();
  }, 300_000);
});

describe('kubernetes provider without a providers.kubernetes section', () => {
  it('its pools are unavailable, saying it is not configured', async () => {
    const srv = await startServer();
    try {
      const r = await srv.api<{ health: string; unavailableReason: string }>('POST', '/v1/pools', {
        name: 'k8s',
        provider: 'kubernetes',
        mode: 'managed',
      });
      expect(r.status, JSON.stringify(r.body)).toBe(201);
      const p = await srv.api<{ health: string; unavailableReason: string }>('GET', '/v1/pools/k8s');
      expect(p.body.health).toBe('unavailable');
      expect(p.body.unavailableReason).toBe('provider kubernetes is not configured on this server');
    } finally {
      await srv.destroy();
    }
  });
});
