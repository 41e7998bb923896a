/**
 * @module A local stand-in of the Kubernetes API for tests (never shipped): the REST subset the
 * kubernetes provider uses (./api.ts) with controllers that run each pod as a Docker container
 * on the host network (./kubelet.ts), so a runner pod's `marionette-agent` really starts, dials
 * the test server's gateway on loopback and runs tasks. Each stand-in labels its containers and
 * volumes with its own random id, so two test runs never touch each other's; `close` removes them.
 *
 * @example
 * const k = await startKubeStandin({ docker });
 * new KubernetesSandboxProvider({ kubeconfig: k.kubeconfig, namespace: 'marionette', ... });
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import type Dockerode from 'dockerode';
import { type KObj, KubeApiServer } from './api.js';
import { Kubelet, type NodeInfo } from './kubelet.js';
import { killOnOom } from './oom.js';

/** The Docker label key of every stand-in container and volume (the value is the stand-in's id). */
export const STANDIN_LABEL = 'io.marionette.test.kube-standin';

export interface KubeStandin {
  /** The API server's URL (`https://127.0.0.1:PORT`). */
  url: string;
  /** Path of a kubeconfig for it (cluster, user with a bearer token, context `standin`). */
  kubeconfig: string;
  /** Its Docker label value. */
  id: string;
  api: KubeApiServer;
  kubelet: Kubelet;
  /** The pods of a namespace matching a label selector. */
  pods(ns: string, selector?: string): KObj[];
  /** The Docker container of a pod, if it runs. */
  containerOf(pod: KObj): string | undefined;
  /** The Docker volume behind a claim. */
  volumeOf(ns: string, claim: string): string;
  /** Containers and volumes of this stand-in still on the engine, as readable names. */
  leftovers(): Promise<string[]>;
  close(): Promise<void>;
}

export interface StandinOptions {
  docker: Dockerode;
  /** Namespaces that exist from the start. Default ['marionette']. */
  namespaces?: string[];
  /** The node (default: this machine's CPUs and memory, linux, this arch). */
  node?: Partial<NodeInfo>;
}

export async function startKubeStandin(opts: StandinOptions): Promise<KubeStandin> {
  const id = randomBytes(5).toString('hex');
  const token = randomBytes(16).toString('hex');
  const api = new KubeApiServer(token);
  const node: NodeInfo = {
    name: 'standin-node',
    labels: {
      'kubernetes.io/hostname': 'standin-node',
      'kubernetes.io/os': 'linux',
      'kubernetes.io/arch': process.arch === 'arm64' ? 'arm64' : 'amd64',
    },
    cpuMilli: cpus().length * 1000,
    memoryBytes: totalmem(),
    ...opts.node,
  };
  const kubelet = new Kubelet(api, opts.docker, { key: STANDIN_LABEL, value: id }, node);
  await api.listen();
  const oom = await killOnOom(opts.docker, `${STANDIN_LABEL}=${id}`);
  for (const ns of opts.namespaces ?? ['marionette'])
    api.create('Namespace', null, {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: ns, labels: { 'kubernetes.io/metadata.name': ns } },
    });
  const dir = await mkdtemp(join(tmpdir(), 'kstandin-'));
  const kubeconfig = join(dir, 'kubeconfig.json');
  await writeFile(
    kubeconfig,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [
        {
          name: 'standin',
          cluster: { server: api.url, 'certificate-authority-data': Buffer.from(api.cert).toString('base64') },
        },
      ],
      users: [{ name: 'standin', user: { token } }],
      contexts: [{ name: 'standin', context: { cluster: 'standin', user: 'standin', namespace: 'marionette' } }],
      'current-context': 'standin',
    }),
    { mode: 0o600 },
  );
  const filter = { label: [`${STANDIN_LABEL}=${id}`] };
  return {
    url: api.url,
    kubeconfig,
    id,
    api,
    kubelet,
    pods: (ns, selector) => api.list('Pod', ns, selector ?? null),
    containerOf: (pod) => kubelet.containerOf(pod),
    volumeOf: (ns, claim) => kubelet.volumeOf(ns, claim),
    async leftovers() {
      // As a kubelet does, the stand-in tears a pod's container down after the API object went:
      // what is still there after a grace period is left behind (each named with its pod's state).
      const read = async () => {
        const out: string[] = [];
        for (const c of await opts.docker.listContainers({ all: true, filters: filter })) {
          const pod = c.Labels[`${STANDIN_LABEL}.pod`];
          const [ns, name] = (pod ?? '/').split('/');
          const obj = pod ? api.get('Pod', ns ?? '', name ?? '') : undefined;
          out.push(
            `container ${c.Names[0] ?? c.Id} (${c.State}; pod ${pod ?? '?'} ${obj ? `in the API${obj.metadata.deletionTimestamp ? ', deleting' : ''}` : 'gone from the API'})`,
          );
        }
        for (const v of (await opts.docker.listVolumes({ filters: filter })).Volumes ?? [])
          out.push(`volume ${v.Name}`);
        return out;
      };
      const deadline = Date.now() + 20_000;
      let out = await read();
      while (out.length && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 250));
        out = await read();
      }
      return out;
    },
    async close() {
      oom.stop();
      await api.close();
      await kubelet.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
