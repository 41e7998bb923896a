/**
 * @module The stand-in's controllers: a Job controller (one pod per Job, backoffLimit 0 so no
 * retry, status and `ttlSecondsAfterFinished`, pods removed with the Job unless orphaned), a
 * scheduler for one node (nodeSelector against the node's labels, requests against what is left
 * of its allocatable CPU and memory, `FailedScheduling` with the scheduler's wording), and a
 * kubelet that runs each pod as a Docker container on the host network (image present locally or
 * `ErrImagePull`/`ImagePullBackOff`, never pulled: tests send no traffic off the machine), with
 * the pod's security context, limits and volumes (PVC as a Docker volume,
 * hostPath as a bind mount; a memory emptyDir as tmpfs, a disk one as a volume of the pod's) and the container's end as the pod's phase (OOMKilled included).
 * Every container and volume carries the stand-in's run label. Test support only.
 */
import { randomBytes } from 'node:crypto';
import { chmod, chown, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Dockerode from 'dockerode';
import type { KObj, KubeApiServer } from './api.js';
import { parseQuantity, quotaRefusal } from './quota.js';

// biome-ignore lint/suspicious/noExplicitAny: the stand-in walks untyped API objects as the server receives them
type Any = Record<string, any>;

/** The one node the stand-in has. */
export interface NodeInfo {
  name: string;
  labels: Record<string, string>;
  /** Allocatable CPU in millicores and memory in bytes. */
  cpuMilli: number;
  memoryBytes: number;
}

/** Docker's multiplexed log stream as text. */
function demux(buf: Buffer): string {
  let out = '';
  let i = 0;
  while (i + 8 <= buf.length) {
    const len = buf.readUInt32BE(i + 4);
    out += buf.subarray(i + 8, i + 8 + len).toString('utf8');
    i += 8 + len;
  }
  return i === 0 ? buf.toString('utf8') : out;
}

export class Kubelet {
  /** Pod key → container id. */
  private readonly containers = new Map<string, string>();
  /** Pod key → host directories holding its secret volumes' files (bind-mounted read-only). */
  private readonly secretDirs = new Map<string, string[]>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private closed = false;

  constructor(
    private readonly api: KubeApiServer,
    private readonly docker: Dockerode,
    /** Docker label every container and volume carries (`key=value`). */
    private readonly label: { key: string; value: string },
    readonly node: NodeInfo,
  ) {
    api.hooks = {
      created: (o) => this.created(o),
      deleting: (o, opts) => this.deleting(o, opts),
      podLog: (o) => this.podLog(o),
    };
  }

  /** The Docker volume of a claim. */
  volumeOf(ns: string, claim: string): string {
    return `kstandin-${this.label.value}-${ns}-${claim}`.slice(0, 200);
  }

  /** The container running a pod, if any. */
  containerOf(pod: KObj): string | undefined {
    return this.containers.get(`${pod.metadata.namespace}/${pod.metadata.name}`);
  }

  private later(ms: number, fn: () => void | Promise<void>) {
    if (this.closed) return;
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (!this.closed) void Promise.resolve(fn()).catch(() => {});
    }, ms);
    this.timers.add(t);
  }

  private labels(extra: Record<string, string> = {}): Record<string, string> {
    return { [this.label.key]: this.label.value, ...extra };
  }

  private created(o: KObj) {
    if (o.kind === 'Job') this.later(0, () => this.startJob(o));
    else if (o.kind === 'Pod') this.later(0, () => this.schedule(o));
    else if (o.kind === 'PersistentVolumeClaim') this.later(0, () => this.bindClaim(o));
    else if (o.kind === 'Secret') this.later(0, () => this.collectOrphan(o));
  }

  /** The garbage collector: an object whose owner (by uid) is gone goes too. */
  private collectOrphan(o: KObj) {
    const refs = o.metadata.ownerReferences ?? [];
    if (refs.length === 0) return;
    const alive = refs.some((r) => {
      const owner = this.api.get(r.kind, o.metadata.namespace!, r.name);
      return owner !== undefined && owner.metadata.uid === r.uid && !owner.metadata.deletionTimestamp;
    });
    const cur = this.api.get(o.kind, o.metadata.namespace!, o.metadata.name);
    if (!alive && cur && cur.metadata.uid === o.metadata.uid)
      this.api.delete(cur, { propagationPolicy: 'Background', gracePeriodSeconds: null });
  }

  // ---- Jobs ----

  private startJob(job: KObj) {
    // A Job deleted before its controller got to it gets no pod (it would outlive its Job).
    const live = this.api.get('Job', job.metadata.namespace!, job.metadata.name);
    if (!live || live.metadata.uid !== job.metadata.uid || live.metadata.deletionTimestamp) return;
    const tpl = (job.spec as Any).template as Any;
    const uid = job.metadata.uid!;
    const name = `${job.metadata.name}-${randomBytes(3).toString('hex').slice(0, 5)}`;
    const labels = {
      ...(tpl.metadata?.labels ?? {}),
      'batch.kubernetes.io/controller-uid': uid,
      'batch.kubernetes.io/job-name': job.metadata.name,
      'controller-uid': uid,
      'job-name': job.metadata.name,
    };
    const rc = (tpl.spec as Any).runtimeClassName;
    if (rc && rc !== 'runc' && rc !== 'runsc') {
      this.api.event(
        job,
        'Warning',
        'FailedCreate',
        `Error creating: pods "${name}" is forbidden: pod rejected: RuntimeClass "${rc}" not found`,
        'job-controller',
      );
      return;
    }
    // Admission: a ResourceQuota the pod would exceed refuses it; the Job controller says so and retries.
    const refused = quotaRefusal(this.api, job.metadata.namespace!, name, tpl.spec as Any);
    if (refused !== null) {
      this.api.event(job, 'Warning', 'FailedCreate', `Error creating: ${refused}`, 'job-controller');
      this.later(2000, () => this.startJob(job));
      return;
    }
    this.api.update(job, (j) => {
      j.status = { active: 1, startTime: new Date().toISOString(), ready: 0 };
    });
    this.api.create('Pod', job.metadata.namespace!, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name,
        labels,
        ownerReferences: [{ apiVersion: 'batch/v1', kind: 'Job', name: job.metadata.name, uid, controller: true }],
      },
      spec: structuredClone(tpl.spec),
    });
    this.api.event(job, 'Normal', 'SuccessfulCreate', `Created pod: ${name}`, 'job-controller');
  }

  private jobOf(pod: KObj): KObj | undefined {
    const ref = pod.metadata.ownerReferences?.find((r) => r.kind === 'Job');
    const job = ref ? this.api.get('Job', pod.metadata.namespace!, ref.name) : undefined;
    return job && job.metadata.uid === ref?.uid ? job : undefined;
  }

  private podFinished(pod: KObj, ok: boolean) {
    const job = this.jobOf(pod);
    if (!job) return;
    const now = new Date().toISOString();
    this.api.update(job, (j) => {
      j.status = {
        ...(j.status as Any),
        active: 0,
        ready: 0,
        ...(ok ? { succeeded: 1 } : { failed: 1 }),
        completionTime: ok ? now : undefined,
        conditions: [
          ok
            ? { type: 'Complete', status: 'True', lastTransitionTime: now }
            : {
                type: 'Failed',
                status: 'True',
                reason: 'BackoffLimitExceeded',
                message: 'Job has reached the specified backoff limit',
                lastTransitionTime: now,
              },
        ],
      };
    });
    const ttl = (job.spec as Any).ttlSecondsAfterFinished;
    if (typeof ttl === 'number')
      this.later(ttl * 1000, () => {
        const cur = this.api.get('Job', job.metadata.namespace!, job.metadata.name);
        if (cur && cur.metadata.uid === job.metadata.uid)
          this.api.delete(cur, { propagationPolicy: 'Background', gracePeriodSeconds: null });
      });
  }

  // ---- deletion ----

  private deleting(o: KObj, opts: { propagationPolicy: string; gracePeriodSeconds: number | null }): boolean {
    if (o.kind === 'Job') {
      if (opts.propagationPolicy !== 'Orphan')
        for (const kind of ['Pod', 'Secret'])
          for (const p of this.api.list(kind, o.metadata.namespace!))
            if (p.metadata.ownerReferences?.some((r) => r.uid === o.metadata.uid))
              this.api.delete(p, { propagationPolicy: 'Background', gracePeriodSeconds: opts.gracePeriodSeconds });
      return false;
    }
    if (o.kind === 'Pod') {
      this.later(0, () => this.killPod(o));
      return true;
    }
    if (o.kind === 'PersistentVolumeClaim') {
      this.later(0, () => this.removeClaim(o));
      return true;
    }
    return false;
  }

  private async killPod(pod: KObj) {
    const key = `${pod.metadata.namespace}/${pod.metadata.name}`;
    const removeContainer = async () => {
      const id = this.containers.get(key);
      if (!id) return;
      await this.docker
        .getContainer(id)
        .remove({ force: true })
        .catch(() => {});
      this.containers.delete(key);
    };
    await removeContainer();
    await this.dropPodVolumes(key);
    await this.dropSecretDirs(key);
    this.api.remove(pod);
    // A container or volume `run` was creating while this ran (it checks for the pod after creating).
    await removeContainer();
    await this.dropPodVolumes(key);
    await this.dropSecretDirs(key);
    // A freed node may fit a pending pod now; a deleted pod may have held a claim.
    for (const p of this.api.list('Pod', null))
      if (((p.status as Any)?.conditions ?? []).some((c: Any) => c.reason === 'Unschedulable'))
        this.later(0, () => this.schedule(p));
    for (const c of this.api.list('PersistentVolumeClaim', null))
      if (c.metadata.deletionTimestamp) this.later(0, () => this.removeClaim(c));
  }

  /** Removes the disk emptyDirs of a pod. */
  private async dropPodVolumes(key: string) {
    const own = await this.docker.listVolumes({ filters: { label: [`${this.label.key}.pod=${key}`] } });
    for (const v of own.Volumes ?? [])
      await this.docker
        .getVolume(v.Name)
        .remove({ force: true })
        .catch(() => {});
  }

  private async dropSecretDirs(key: string) {
    for (const d of this.secretDirs.get(key) ?? []) await rm(d, { recursive: true, force: true });
    this.secretDirs.delete(key);
  }

  /**
   * Writes a pod's secret volumes to host directories (each key a file, `defaultMode`, group
   * `fsGroup` as a kubelet sets them), by volume name; null while a Secret does not exist yet
   * (the pod waits in ContainerCreating with a FailedMount event, as on a node).
   */
  private async mountSecrets(pod: KObj): Promise<Map<string, string> | null> {
    const spec = pod.spec as Any;
    const key = `${pod.metadata.namespace}/${pod.metadata.name}`;
    const out = new Map<string, string>();
    for (const v of (spec.volumes ?? []) as Any[]) {
      if (!v.secret) continue;
      const secret = this.api.get('Secret', pod.metadata.namespace!, v.secret.secretName);
      if (!secret) {
        this.waiting(pod, 'ContainerCreating', '');
        this.api.event(
          pod,
          'Warning',
          'FailedMount',
          `MountVolume.SetUp failed for volume "${v.name}" : secret "${v.secret.secretName}" not found`,
          'kubelet',
        );
        await this.dropSecretDirs(key);
        return null;
      }
      const dir = await mkdtemp(join(tmpdir(), 'kstandin-secret-'));
      this.secretDirs.set(key, [...(this.secretDirs.get(key) ?? []), dir]);
      const group = spec.securityContext?.fsGroup as number | undefined;
      for (const [name, b64] of Object.entries((secret.data ?? {}) as Record<string, string>)) {
        const file = join(dir, name);
        await writeFile(file, Buffer.from(b64, 'base64'));
        await chmod(file, v.secret.defaultMode ?? 0o644);
        if (group !== undefined) await chown(file, 0, group);
      }
      await chmod(dir, 0o755);
      out.set(v.name, dir);
    }
    return out;
  }

  // ---- claims ----

  private async bindClaim(c: KObj) {
    const vol = this.volumeOf(c.metadata.namespace!, c.metadata.name);
    await this.docker.createVolume({
      Name: vol,
      Labels: this.labels({ [`${this.label.key}.claim`]: c.metadata.name }),
    });
    this.api.update(c, (x) => {
      x.status = {
        phase: 'Bound',
        accessModes: (x.spec as Any).accessModes,
        capacity: (x.spec as Any).resources?.requests,
      };
    });
  }

  private async removeClaim(c: KObj) {
    const cur = this.api.get('PersistentVolumeClaim', c.metadata.namespace!, c.metadata.name);
    if (!cur || cur.metadata.uid !== c.metadata.uid) return;
    // pvc-protection: a claim in use by a pod stays until that pod is gone.
    const used = this.api
      .list('Pod', c.metadata.namespace!)
      .some((p) =>
        ((p.spec as Any).volumes ?? []).some((v: Any) => v.persistentVolumeClaim?.claimName === c.metadata.name),
      );
    if (used) return;
    try {
      await this.docker.getVolume(this.volumeOf(c.metadata.namespace!, c.metadata.name)).remove();
    } catch (e: unknown) {
      if ((e as { statusCode?: number }).statusCode !== 404) {
        this.later(500, () => this.removeClaim(c));
        return;
      }
    }
    this.api.remove(cur);
  }

  // ---- scheduling ----

  private requests(pod: KObj): { cpu: number; memory: number } {
    let cpu = 0;
    let memory = 0;
    for (const c of ((pod.spec as Any).containers ?? []) as Any[]) {
      const r = c.resources?.requests ?? c.resources?.limits ?? {};
      if (r.cpu !== undefined) cpu += parseQuantity(r.cpu, true);
      if (r.memory !== undefined) memory += parseQuantity(r.memory, false);
    }
    return { cpu, memory };
  }

  private schedule(pod: KObj) {
    const cur = this.api.get('Pod', pod.metadata.namespace!, pod.metadata.name);
    if (!cur || cur.metadata.deletionTimestamp || (cur.spec as Any).nodeName) return;
    const spec = cur.spec as Any;
    const why: string[] = [];
    const sel = (spec.nodeSelector ?? {}) as Record<string, string>;
    if (Object.entries(sel).some(([k, v]) => this.node.labels[k] !== v))
      why.push("1 node(s) didn't match Pod's node affinity/selector");
    else {
      const used = { cpu: 0, memory: 0 };
      for (const p of this.api.list('Pod', null)) {
        if (p === cur || !(p.spec as Any).nodeName || ['Succeeded', 'Failed'].includes((p.status as Any)?.phase))
          continue;
        const r = this.requests(p);
        used.cpu += r.cpu;
        used.memory += r.memory;
      }
      const want = this.requests(cur);
      if (want.cpu + used.cpu > this.node.cpuMilli) why.push('1 Insufficient cpu');
      if (want.memory + used.memory > this.node.memoryBytes) why.push('1 Insufficient memory');
    }
    const now = new Date().toISOString();
    if (why.length) {
      const message = `0/1 nodes are available: ${why.join(', ')}. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.`;
      this.api.update(cur, (p) => {
        p.status = {
          phase: 'Pending',
          conditions: [
            { type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message, lastTransitionTime: now },
          ],
        };
      });
      this.api.event(cur, 'Warning', 'FailedScheduling', message, 'default-scheduler');
      return;
    }
    this.api.update(cur, (p) => {
      (p.spec as Any).nodeName = this.node.name;
      p.status = {
        phase: 'Pending',
        conditions: [{ type: 'PodScheduled', status: 'True', lastTransitionTime: now }],
        startTime: now,
      };
    });
    this.api.event(
      cur,
      'Normal',
      'Scheduled',
      `Successfully assigned ${cur.metadata.namespace}/${cur.metadata.name} to ${this.node.name}`,
      'default-scheduler',
    );
    this.later(0, () => this.run(cur));
  }

  // ---- running ----

  private waiting(pod: KObj, reason: string, message: string) {
    const c = ((pod.spec as Any).containers as Any[])[0]!;
    this.api.update(pod, (p) => {
      (p.status as Any).containerStatuses = [
        {
          name: c.name,
          image: c.image,
          imageID: '',
          ready: false,
          restartCount: 0,
          state: { waiting: { reason, message } },
        },
      ];
    });
  }

  private async run(pod: KObj) {
    const spec = pod.spec as Any;
    const c = (spec.containers as Any[])[0]!;
    try {
      await this.docker.getImage(c.image).inspect();
    } catch {
      const msg = `rpc error: code = NotFound desc = failed to pull and unpack image "${c.image}": not found`;
      this.waiting(pod, 'ErrImagePull', msg);
      this.api.event(pod, 'Warning', 'Failed', `Failed to pull image "${c.image}": ${msg}`, 'kubelet');
      this.later(1000, () => {
        const cur = this.api.get('Pod', pod.metadata.namespace!, pod.metadata.name);
        if (!cur || cur.metadata.deletionTimestamp) return;
        this.waiting(cur, 'ImagePullBackOff', `Back-off pulling image "${c.image}"`);
        this.api.event(cur, 'Normal', 'BackOff', `Back-off pulling image "${c.image}"`, 'kubelet');
      });
      return;
    }
    let cur = this.api.get('Pod', pod.metadata.namespace!, pod.metadata.name);
    if (!cur || cur.metadata.deletionTimestamp) return;
    const secrets = await this.mountSecrets(cur);
    if (secrets === null) {
      this.later(300, () => this.run(pod));
      return;
    }
    cur = this.api.get('Pod', pod.metadata.namespace!, pod.metadata.name);
    if (!cur || cur.metadata.deletionTimestamp) {
      await this.dropSecretDirs(`${pod.metadata.namespace}/${pod.metadata.name}`);
      return;
    }
    const sc = { ...(spec.securityContext ?? {}), ...(c.securityContext ?? {}) } as Any;
    const key = `${pod.metadata.namespace}/${pod.metadata.name}`;
    const mounts: Dockerode.MountSettings[] = [];
    const tmpfs: Record<string, string> = {};
    for (const m of (c.volumeMounts ?? []) as Any[]) {
      const v = ((spec.volumes ?? []) as Any[]).find((x) => x.name === m.name);
      if (!v) continue;
      if (v.emptyDir?.medium === 'Memory') {
        const size = v.emptyDir.sizeLimit ? `,size=${parseQuantity(v.emptyDir.sizeLimit, false)}` : '';
        tmpfs[m.mountPath] = `rw,nosuid,nodev,mode=1777${size}`;
      } else if (v.emptyDir) {
        // A disk-backed emptyDir: a Docker volume of the pod's own (it starts as the image's directory, owned as there).
        const name = `kstandin-${this.label.value}-${pod.metadata.namespace}-${pod.metadata.name}-${v.name}`.slice(
          0,
          200,
        );
        await this.docker.createVolume({ Name: name, Labels: this.labels({ [`${this.label.key}.pod`]: key }) });
        mounts.push({ Type: 'volume', Source: name, Target: m.mountPath, ReadOnly: m.readOnly === true });
      } else if (v.persistentVolumeClaim)
        mounts.push({
          Type: 'volume',
          Source: this.volumeOf(pod.metadata.namespace!, v.persistentVolumeClaim.claimName),
          Target: m.mountPath,
          ReadOnly: m.readOnly === true,
        });
      else if (v.secret && secrets.has(v.name))
        mounts.push({ Type: 'bind', Source: secrets.get(v.name)!, Target: m.mountPath, ReadOnly: true });
      else if (v.hostPath)
        mounts.push({ Type: 'bind', Source: v.hostPath.path, Target: m.mountPath, ReadOnly: m.readOnly === true });
    }
    const limits = (c.resources?.limits ?? {}) as Any;
    const memory = limits.memory !== undefined ? parseQuantity(limits.memory, false) : undefined;
    let container: Dockerode.Container;
    try {
      container = await this.docker.createContainer({
        name: `kstandin-${this.label.value}-${pod.metadata.namespace}-${pod.metadata.name}`.slice(0, 200),
        Image: c.image,
        ...(c.command ? { Entrypoint: c.command } : {}),
        Cmd: c.args ?? [],
        Env: ((c.env ?? []) as Any[]).map((e) => `${e.name}=${e.value ?? ''}`),
        ...(sc.runAsUser !== undefined ? { User: `${sc.runAsUser}:${sc.runAsGroup ?? sc.runAsUser}` } : {}),
        ...(c.workingDir ? { WorkingDir: c.workingDir } : {}),
        Labels: this.labels({ [`${this.label.key}.pod`]: key }),
        HostConfig: {
          Init: true,
          NetworkMode: 'host',
          ReadonlyRootfs: sc.readOnlyRootFilesystem === true,
          CapDrop: (sc.capabilities?.drop ?? []).map((x: string) => x.toUpperCase()),
          SecurityOpt: sc.allowPrivilegeEscalation === false ? ['no-new-privileges'] : [],
          Tmpfs: tmpfs,
          Mounts: mounts,
          ...(memory === undefined ? {} : { Memory: memory, MemorySwap: memory }),
          // A limit above the node's CPUs is allowed in Kubernetes; Docker refuses it, so it is capped here.
          ...(limits.cpu === undefined
            ? {}
            : { NanoCpus: Math.min(parseQuantity(limits.cpu, true), this.node.cpuMilli) * 1_000_000 }),
        },
      });
      this.containers.set(key, container.id);
      const now = this.api.get('Pod', pod.metadata.namespace!, pod.metadata.name);
      // Deleted while the volume and container were being made: nothing of it may stay.
      if (!now || now.metadata.deletionTimestamp) {
        await container.remove({ force: true }).catch(() => {});
        this.containers.delete(key);
        await this.dropPodVolumes(key);
        await this.dropSecretDirs(key);
        return;
      }
      await container.start();
    } catch (e: unknown) {
      const msg = (e as { json?: { message?: string } }).json?.message ?? (e as Error).message;
      this.waiting(cur, 'CreateContainerError', msg);
      this.api.event(cur, 'Warning', 'Failed', `Error: ${msg}`, 'kubelet');
      return;
    }
    const started = new Date().toISOString();
    this.api.update(cur, (p) => {
      Object.assign(p.status as Any, {
        phase: 'Running',
        podIP: '127.0.0.1',
        conditions: [
          { type: 'PodScheduled', status: 'True' },
          { type: 'Initialized', status: 'True' },
          { type: 'ContainersReady', status: 'True' },
          { type: 'Ready', status: 'True' },
        ],
        containerStatuses: [
          {
            name: c.name,
            image: c.image,
            imageID: c.image,
            ready: true,
            started: true,
            restartCount: 0,
            containerID: `docker://${container.id}`,
            state: { running: { startedAt: started } },
          },
        ],
      });
    });
    this.api.event(cur, 'Normal', 'Started', `Started container ${c.name}`, 'kubelet');
    const job = this.jobOf(cur);
    if (job) this.api.update(job, (j) => Object.assign(j.status as Any, { ready: 1 }));
    void container
      .wait()
      .then(async () => {
        if (this.closed) return;
        const info = await container.inspect().catch(() => null);
        const now = this.api.get('Pod', pod.metadata.namespace!, pod.metadata.name);
        if (!info || !now || now.metadata.deletionTimestamp) return;
        const code = info.State.ExitCode;
        const reason = info.State.OOMKilled ? 'OOMKilled' : code === 0 ? 'Completed' : 'Error';
        this.api.update(now, (p) => {
          Object.assign(p.status as Any, {
            phase: code === 0 && !info.State.OOMKilled ? 'Succeeded' : 'Failed',
            containerStatuses: [
              {
                name: c.name,
                image: c.image,
                imageID: c.image,
                ready: false,
                restartCount: 0,
                state: {
                  terminated: { exitCode: code, reason, startedAt: started, finishedAt: new Date().toISOString() },
                },
              },
            ],
          });
        });
        this.podFinished(now, code === 0 && !info.State.OOMKilled);
      })
      .catch(() => {});
  }

  private async podLog(pod: KObj): Promise<string> {
    const id = this.containerOf(pod);
    if (!id) return '';
    const buf = (await this.docker
      .getContainer(id)
      .logs({ stdout: true, stderr: true, follow: false })) as unknown as Buffer;
    return demux(buf);
  }

  /** Stops every timer and removes every container and volume of this stand-in. */
  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const key of [...this.secretDirs.keys()]) await this.dropSecretDirs(key);
    const filter = { label: [`${this.label.key}=${this.label.value}`] };
    for (const c of await this.docker.listContainers({ all: true, filters: filter }))
      await this.docker
        .getContainer(c.Id)
        .remove({ force: true })
        .catch(() => {});
    const vols = await this.docker.listVolumes({ filters: filter });
    for (const v of vols.Volumes ?? [])
      await this.docker
        .getVolume(v.Name)
        .remove({ force: true })
        .catch(() => {});
  }
}
